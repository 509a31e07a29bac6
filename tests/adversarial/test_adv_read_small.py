"""``safefs.read_small`` reads what a file holds, never allocating its limit, and never
truncates a file whose size lied (issue 20, §3 follow-up).

It used to ask ``os.read`` for the whole limit (256 MiB for each pack index: 8 GB for a
pull of crafted indexes), then for ``st_size + 1`` bytes in one read: a file whose size is
stale (growing, a short read, a file system that reports 0 like /proc) came back cut,
which for ``refs/origins`` silently drops marks.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from mlver.base.errors import StoreFormatError
from mlver.store.safefs import read_small

PROC = "/proc/self/status"  # a regular file whose st_size is 0, holding about 1.4 KB


@pytest.mark.skipif(not os.path.exists(PROC), reason="no /proc")
def test_a_file_whose_size_lies_is_read_whole_or_refused():
    assert os.stat(PROC).st_size == 0
    data = read_small(PROC, 1 << 20)
    assert data.startswith(b"Name:\t") and data.endswith(b"\n") and len(data) > 500
    with pytest.raises(StoreFormatError) as e:
        read_small(PROC, 64)
    assert str(e.value) == (f"{PROC} is at least 65 bytes, more than the 64 a file of its kind "
                            "may hold; it was not written by mlver (remove it, or restore it "
                            "from a backup)")


def test_exact_limits(tmp_path):
    p = tmp_path / "f"
    p.write_bytes(b"x" * 100)
    assert read_small(str(p), 100) == b"x" * 100
    with pytest.raises(StoreFormatError, match=r"is 100 bytes, more than the 99 "):
        read_small(str(p), 99)
    p.write_bytes(b"")
    assert read_small(str(p), 0) == b""
    assert read_small(str(tmp_path / "absent"), 10) is None


def test_a_huge_limit_allocates_nothing_like_it(tmp_path):
    """Under a 1.5 GiB data limit, a 64 GiB limit on a small file costs nothing."""
    p = tmp_path / "f"
    p.write_bytes(b"y" * 4096)
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_DATA, (1610612736,) * 2)\n"
            "from mlver.store.safefs import read_small\n"
            f"assert read_small({str(p)!r}, 64 << 30) == b'y' * 4096\nprint('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert (out.returncode, out.stdout, out.stderr) == (0, "ok\n", "")
