"""The command line starts in the time of click alone: `import mlver.cli`, `mlver --help`
and `mlver --version` load no part of the library beyond errors and text safety, and none
of the heavy packages (each command imports what it uses when it runs)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

HEAVY = ("mlver.api", "mlver.store", "mlver.core", "mlver.diff", "mlver.ops", "pandas",
         "pyarrow", "numpy", "git", "sqlite3", "duckdb", "xxhash", "fsspec")

PROBE = """
import json, sys
from mlver.cli import main
args = json.loads(sys.argv[1])
if args:
    try:
        main(args, standalone_mode=False)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in sys.modules
                        if m.split('.')[0] in {'pandas', 'pyarrow', 'numpy', 'git', 'sqlite3',
                                               'duckdb', 'xxhash', 'fsspec'}
                        or m.startswith('mlver.'))))
"""


def _loaded(args: list[str]) -> set[str]:
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], capture_output=True,
                       text=True, check=True)
    return set(json.loads(r.stdout.strip().splitlines()[-1]))


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["snapshot", "--help"]])
def test_the_command_line_starts_without_the_library(args):
    loaded = _loaded(args)
    heavy = sorted(m for m in loaded if any(m == h or m.startswith(h + ".") for h in HEAVY))
    assert heavy == [], f"mlver {' '.join(args)} imported {heavy}"
    # what it does load: the command table and the leaf utilities of the base layer, and
    # a command's own module only when it is looked up
    assert "mlver.cli.root" in loaded and "mlver.base.errors" in loaded
    assert ("mlver.cli.capture" in loaded) == (args[:1] == ["snapshot"] or args == ["--help"])
    assert args == ["--help"] or "mlver.cli.diffing" not in loaded


def test_a_command_still_imports_what_it_uses(tmp_path):
    """The same probe sees the library once a command runs: the check above can fail."""
    r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(["log"])], capture_output=True,
                       text=True, cwd=tmp_path)
    assert "mlver.api" in set(json.loads(r.stdout.strip().splitlines()[-1]))


def test_the_kinds_the_command_line_offers_are_the_libraries():
    from mlver.api import KINDS
    from mlver.cli.capture import KINDS as CLI_KINDS

    assert CLI_KINDS == KINDS


def test_public_names_still_import_from_the_package():
    import mlver

    assert mlver.Repo.__name__ == "Repo" and mlver.Record.__module__ == "mlver.core.record"
    assert "Repo" in dir(mlver)
    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        mlver.Nope  # noqa: B018


def test_snapshot_and_status_run_git_without_gitpython(git_repo):
    """Code capture runs the git binary: a real ``mlver snapshot`` and ``mlver status`` in
    a repository with a commit and an uncommitted change never import gitpython (``git``),
    which costs tens of milliseconds of every command and hook (issue 24)."""
    from conftest import git, write

    write(git_repo / "data" / "a.csv", "x\n1\n")
    write(git_repo / "model.bin", "weights")  # made from data: its code counts in status
    (git_repo / "train.py").write_text("print('changed')\n")  # dirty: a patch to capture
    assert git(git_repo, "status", "--porcelain").strip()
    subprocess.run([sys.executable, "-c", "import sys; from mlver.cli import main; "
                    "main(['init'], standalone_mode=False)"], cwd=git_repo, check=True,
                   capture_output=True)
    for args in (["snapshot", "m", "-i", "data=data", "-o", "model=model.bin"],
                 ["status", "m"]):
        r = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)], cwd=git_repo,
                           capture_output=True, text=True, check=True)
        loaded = set(json.loads(r.stdout.strip().splitlines()[-1]))
        # the probe saw the capture run (so that it could have seen gitpython too)
        assert "mlver.capture.git" in loaded, f"mlver {args[0]} did not capture code"
        assert not {m for m in loaded if m == "git" or m.startswith("git.")}, \
            f"mlver {args[0]} imported gitpython"
        if args[0] == "status":  # nothing to hash or write: no thread pool, no logging
            assert not {"concurrent.futures", "logging", "shutil"} & loaded, \
                sorted({"concurrent.futures", "logging", "shutil"} & loaded)
    # and the snapshot did capture the commit and the patch
    log = "from mlver.cli import main; main(['log', '--json'])"
    r = subprocess.run([sys.executable, "-c", log], cwd=git_repo, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0, r.stderr
    code = json.loads(r.stdout)[0]["code"]
    assert code["commit"] == git(git_repo, "rev-parse", "HEAD").strip()
    assert code["dirty"] is True and code["branch"] == "main"
