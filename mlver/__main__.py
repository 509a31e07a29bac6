"""``python -m mlver``."""

import sys

if sys.argv[1:3] == ["hooks", "run"]:  # what git hooks run: skip the command line's imports
    from mlver.integrations.hooks import main as _hooks_main

    sys.exit(_hooks_main(sys.argv[3:]))

from mlver.cli import main

main(prog_name="mlver")
