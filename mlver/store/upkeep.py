"""Upkeep of a local object store: removing dead writers' leftovers, merging small packs.

Both run as side work of writing (the first batch of a process sweeps ``tmp/``, the end of
a commit merges packs when they multiply) and both are safe beside other writers. Split from
:mod:`.objects`, which reads and locates objects.
"""

from __future__ import annotations

import errno
import fcntl
import os
import stat
import time
from typing import Protocol

from mlver.store import packs as packmod
from mlver.store.safefs import sync_filesystem

_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)


class Packed(Protocol):
    """What a merge needs of the store: its folders, its packs, and a re-listing."""

    tmp_dir: str
    pack_dir: str
    _indexes: tuple[packmod.PackIndex, ...]

    def _refresh(self, force: bool = False) -> bool: ...


def dead_writer(name: str) -> bool:
    """True when ``name`` (``PID-…``, as every writer names what it stages) names a
    process that no longer runs. This store's tmp/ is written on this host only."""
    head = name.split("-", 1)[0]
    if not head.isdigit() or len(head) > 9 or int(head) in (0, os.getpid()):
        return False
    try:
        os.kill(int(head), 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # alive, someone else's
    return False


def sweep(tmp_dir: str, older_than: float, by_pid: bool = True) -> int:
    """Remove files in ``tmp_dir`` left by writers that died: those named after a process
    (``PID-…``) that no longer runs (unless not ``by_pid``: a folder other hosts write to,
    whose pids mean nothing here), and any older than ``older_than`` seconds (a live batch
    is younger). Lock files stay. A folder (a table diff's DuckDB spill folder,
    ``PID-duck-…``) goes only when its process is dead: a live diff may run for long.
    Returns how many were removed."""
    cutoff = time.time() - older_than
    n = 0
    try:
        entries = list(os.scandir(tmp_dir))
    except FileNotFoundError:
        return 0
    for e in entries:
        try:
            st = e.stat(follow_symlinks=False)
            if (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) \
                    and (st.st_mtime < cutoff or (by_pid and dead_writer(e.name))) \
                    and not e.name.endswith(".lock"):
                os.unlink(e.path)
                n += 1
            elif by_pid and stat.S_ISDIR(st.st_mode) and "-duck-" in e.name \
                    and dead_writer(e.name):
                import shutil
                shutil.rmtree(e.path, ignore_errors=True)
                n += 1
        except OSError:
            continue
    return n


def merge_packs(store: Packed, limit: int) -> int:
    """Merge the smallest packs of ``store`` into one (crash-safe: the merged pack is
    durable before the old ones go) unless another process is merging; return how many
    packs were merged away."""
    os.makedirs(store.tmp_dir, exist_ok=True)
    lock_path = os.path.join(store.tmp_dir, "pack-merge.lock")
    lock = os.open(lock_path, os.O_RDWR | os.O_CREAT | _NOFOLLOW, 0o644)
    try:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                return 0  # another process is merging
            raise
        store._refresh(force=True)
        # a damaged index (checked lazily since it was opened) is left for verify to name
        packs = sorted((p for p in store._indexes if p.damage() is None),
                       key=lambda p: (p.pack_size, p.name))
        n = packmod.pick_merge([p.pack_size for p in packs], limit)
        if n < 2:
            return 0
        sources = packs[:n]
        name = f"pack-{os.urandom(16).hex()}"
        staged = f"{store.tmp_dir}/{os.getpid()}-merge-{name}"  # a dead merger's: swept
        tmp_pack, tmp_idx = staged + ".pack", staged + ".idx"

        def publish() -> None:
            sync_filesystem(store.tmp_dir)
            os.rename(tmp_pack, f"{store.pack_dir}/{name}.pack")
            os.rename(tmp_idx, f"{store.pack_dir}/{name}.idx")
            sync_filesystem(store.pack_dir)  # merged pack durable before the old go

        try:
            packmod.merge(sources, tmp_pack, tmp_idx, publish)
        except FileNotFoundError:
            return 0  # a source went away (merged by someone else): nothing lost
        store._refresh(force=True)
        return n
    finally:
        os.close(lock)


__all__ = ["dead_writer", "merge_packs", "sweep"]
