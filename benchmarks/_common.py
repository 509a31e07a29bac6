"""What the benchmarks share: their scratch folder and how they report correctness."""

from __future__ import annotations

import os
import sys
import tempfile
from contextlib import contextmanager

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@contextmanager
def work_dir(path: str | None, prefix: str):
    """Yield an empty folder outside the repository; a temporary one is removed after."""
    if path:
        os.makedirs(path, exist_ok=True)
        if os.listdir(path):
            sys.exit(f"--dir {path} is not empty; give an empty or new folder")
        work, cleanup = os.path.abspath(path), None
    else:
        cleanup = tempfile.TemporaryDirectory(prefix=prefix)
        work = cleanup.name
    if os.path.commonpath([work, REPO_ROOT]) == REPO_ROOT:
        sys.exit(f"--dir {work} is inside the repository; choose a folder outside it")
    try:
        yield work
    finally:
        if cleanup is not None:
            cleanup.cleanup()


def report_problems(problems: list[str], ok_text: str) -> None:
    """Print the correctness verdict that closes each benchmark's output."""
    if problems:
        print("CORRECTNESS PROBLEMS:")
        for p in problems:
            print("  - " + p)
    else:
        print(ok_text)
