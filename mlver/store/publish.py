"""Publishing a batch in a folder: the medium's half of the layout's publish order.

A batch's files are staged in the store's ``tmp/``, made durable together by one sync of
the file system, then given their final names here in the layout's order
(:func:`~mlver.store.layout.publish_rank`: objects and packs, then each pack's index, then
chunk manifests); one more sync makes the names durable before any ref may point at them.
A loose object or a manifest is published by hard link, so it never replaces one that
exists (unless it repairs a damaged copy); a pack, whose name is new, by rename.

The local store's batches (:mod:`.batch`) and a folder remote's
(:class:`~mlver.store.remote_folder.LocalBackend`) both publish through
:func:`publish_staged`: a folder remote has the local store's durability, one sync a batch
rather than an fsync a file.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Collection, Iterable

from mlver.store import layout

THREADS_FROM = 1000  # loose objects from which links are spread over a few threads


def place(tmp: str, final: str, replace: bool = False) -> None:
    """Give the staged file ``tmp`` its final name ``final``: by hard link, which never
    replaces an existing object (another writer's copy is kept), or by rename with
    ``replace`` (a damaged copy repaired) or on a file system without hard links."""
    if replace:
        os.replace(tmp, final)
        return
    try:
        os.link(tmp, final)
    except FileExistsError:
        try:
            mode = os.lstat(final).st_mode
        except FileNotFoundError:
            mode = stat.S_IFREG  # gone meanwhile: whoever removed it decides
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            # A link or a fifo is never an object (readers refuse it, so the object reads
            # as absent and every pull would fetch it again): the fresh copy takes its name.
            os.replace(tmp, final)
            return
        # else written meanwhile by another process: keep theirs
    except OSError:  # a file system without hard links
        if not os.path.exists(final):
            os.replace(tmp, final)
            return
    os.unlink(tmp)


def publish_staged(root: str, staged: Iterable[tuple[str, str]],
                   replace: Collection[str] = ()) -> None:
    """Publish ``(rel, tmp)`` pairs below the store folder ``root`` in the layout's order;
    the rels in ``replace`` overwrite what is there. The caller syncs before (the staged
    bytes) and after (the names)."""
    by_rank: dict[int, list[tuple[str, str]]] = {}
    for rel, tmp in staged:
        by_rank.setdefault(layout.publish_rank(rel), []).append((rel, tmp))
    made: set[str] = set()
    for rank in sorted(by_rank):
        group = by_rank[rank]
        for d in {rel.rsplit("/", 1)[0] for rel, _tmp in group} - made:
            os.makedirs(f"{root}/{d}", exist_ok=True)
            made.add(d)
        renamed = [(r, t) for r, t in group if r.startswith("objects/pack/")]
        for rel, tmp in renamed:
            os.rename(tmp, f"{root}/{rel}")
        linked = [(r, t) for r, t in group if not r.startswith("objects/pack/")]
        if len(linked) < THREADS_FROM:
            _link_all(root, linked, replace)
        else:  # link syscalls overlap well: spread them over a few threads
            # imported here: concurrent.futures brings logging (4 ms), and status, which
            # imports this module through capture, never publishes anything
            from concurrent.futures import ThreadPoolExecutor

            with ThreadPoolExecutor(4) as pool:
                list(pool.map(lambda part: _link_all(root, part, replace),
                              [linked[i::4] for i in range(4)]))


def _link_all(root: str, staged: list[tuple[str, str]], replace: Collection[str]) -> None:
    for rel, tmp in staged:
        place(tmp, f"{root}/{rel}", rel in replace)
