"""``python -m mlver``."""

from .cli import main

main(prog_name="mlver")
