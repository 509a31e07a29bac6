"""The one layout (mlver/store/layout.py) and the folder medium shared by the local store and a
folder remote (mlver/store/publish.py, refs.update_file): both name and list files alike, and
a folder remote now makes a push durable as the local store does, one sync a group of files
rather than an fsync a file."""

from __future__ import annotations

import os
from pathlib import Path

from mlver.store import Store, layout
from mlver.store import publish as publishmod
from mlver.store import remote_folder
from mlver.store.manifest import ManifestCache, Manifest
from mlver.store.objects import LocalObjectStore
from mlver.store.refs import Refs
from mlver.store.remote import RemoteStore, open_backend
from mlver.store.transfer import transfer


def _local(tmp_path: Path, name: str = "a") -> LocalObjectStore:
    Store.create(str(tmp_path / name))
    return LocalObjectStore(str(tmp_path / name))


def _loose_and_remote(tmp_path: Path) -> tuple[LocalObjectStore, str, RemoteStore]:
    """A local store holding one loose object (200 kB), and a new folder remote."""
    src = _local(tmp_path)
    with src.batch() as b:
        oid = b.add_bytes(os.urandom(200_000))
    url = str(tmp_path / "remote")
    r = RemoteStore("origin", url, open_backend("origin", url), str(tmp_path / "c"),
                    str(tmp_path / "s"))
    r.check(create=True)
    return src, oid, r


def _files(root: Path) -> dict[str, int]:
    out = {}
    for d, _dirs, files in os.walk(root):
        for f in files:
            p = Path(d) / f
            out[p.relative_to(root).as_posix()] = p.stat().st_size
    return out


def test_the_local_store_names_and_lists_its_files_as_the_layout_says(tmp_path):
    objects = _local(tmp_path)
    with objects.batch() as b:
        small = b.add_bytes(b"small")  # packed
        loose = b.add_bytes(os.urandom(200_000))  # loose
    assert objects._loose_path(loose) == f"{objects.store_dir}/{layout.loose_rel(loose)}"
    assert objects.manifest_path(loose) == f"{objects.store_dir}/{layout.manifest_rel(loose)}"
    listing = layout.parse_objects(_files(tmp_path / "a"))
    assert set(listing.loose) == {loose}
    assert set(listing.packs) == set(listing.indexes) == set(objects.packs())
    assert sorted([small, loose]) == list(objects.iter_oids())


def test_refs_are_named_and_listed_alike_by_the_local_store_and_the_layout(tmp_path):
    objects = _local(tmp_path)
    refs = Refs(objects.store_dir)
    refs.update("ds", "a" * 32, None)
    refs.update_tag("ds", "prod", "b" * 32, None)
    rels = [r for r in _files(tmp_path / "a") if r.startswith("refs/")]
    assert layout.parse_refs(rels) == (refs.names(), {"ds": ["prod"]})
    assert layout.ref_rel("ds") in rels and layout.tag_rel("ds", "prod") in rels


def test_publish_order_is_objects_then_indexes_then_manifests():
    rels = [layout.manifest_rel("c" * 32), layout.idx_rel("pack-" + "1" * 32),
            layout.pack_rel("pack-" + "1" * 32), layout.loose_rel("d" * 32)]
    ranks = {r: layout.publish_rank(r) for r in rels}
    assert ranks[layout.pack_rel("pack-" + "1" * 32)] < ranks[layout.idx_rel("pack-" + "1" * 32)]
    assert ranks[layout.idx_rel("pack-" + "1" * 32)] < ranks[layout.manifest_rel("c" * 32)]
    assert not layout.is_object_file(layout.ref_rel("x")) and not layout.is_object_file(
        layout.CONFIG_REL)


def test_a_folder_remote_syncs_once_a_group_not_an_fsync_a_file(tmp_path, monkeypatch):
    src = _local(tmp_path)
    blobs = [os.urandom(200_000) for _ in range(40)]  # loose objects: 40 files to publish
    with src.batch() as b:
        oids = [b.add_bytes(x) for x in blobs]
    fsynced: list[str] = []
    syncs: list[str] = []
    real_fsync = os.fsync
    remote_dir = str(tmp_path / "remote")

    def fsync(fd: int) -> None:
        try:
            path = os.readlink(f"/proc/self/fd/{fd}")
        except OSError:
            path = "?"
        if path == "?" or path.startswith(remote_dir):
            fsynced.append(path)  # a file of the remote (or one we cannot tell)
        real_fsync(fd)
    monkeypatch.setattr(os, "fsync", fsync)
    monkeypatch.setattr(remote_folder, "sync_filesystem", syncs.append)
    url = str(tmp_path / "remote")
    r = RemoteStore("origin", url, open_backend("origin", url), str(tmp_path / "c"),
                    str(tmp_path / "s"))
    r.check(create=True)
    before = len(fsynced)  # the config.json of a new remote: written alone, fsynced
    result = transfer(src, r.objects, oids)
    assert result.objects == 40
    assert fsynced[before:] == []  # no file of the remote was fsynced on its own
    groups = -(-40 // remote_folder.GROUP_FILES)
    # the staged bytes, then their names: two syncs a group (parallel uploads may make a
    # group larger, never smaller)
    assert len(syncs) % 2 == 0 and 2 <= len(syncs) <= 2 * groups
    got = RemoteStore("origin", url, open_backend("origin", url), str(tmp_path / "c2"),
                      str(tmp_path / "s2"))
    assert got.objects.missing(oids) == []
    assert got.objects.read(oids[7]) == blobs[7]
    assert os.listdir(tmp_path / "remote" / "tmp") == []  # nothing staged is left


def test_a_folder_remote_batch_dropped_midway_keeps_what_it_sent(tmp_path):
    src, oid, r = _loose_and_remote(tmp_path)
    batch = r.objects.batch()
    with open(src._loose_path(oid), "rb") as f:
        batch.add_bytes(f.read())
    batch.abort()  # whole objects sent stay, as on any remote
    assert os.path.exists(tmp_path / "remote" / layout.loose_rel(oid))
    assert os.listdir(tmp_path / "remote" / "tmp") == []


def test_place_never_replaces_an_object_unless_repairing(tmp_path):
    final = tmp_path / "obj"
    final.write_bytes(b"theirs")
    for replace, want in ((False, b"theirs"), (True, b"mine")):
        tmp = tmp_path / "tmp"
        tmp.write_bytes(b"mine")
        publishmod.place(str(tmp), str(final), replace)
        assert final.read_bytes() == want and not tmp.exists()


def test_the_manifest_cache_is_bounded_by_entries():
    cache = ManifestCache(rows_max=5)
    ms = [Manifest(f"{i:032x}", 3, "x", tuple((f"{j:032x}", 1) for j in range(3)))
          for i in range(3)]
    for m in ms:
        cache.keep(m)
        assert sum(len(x.chunks) for x in cache.values()) <= 5
    assert cache.get(ms[-1].oid) == ms[-1]
    cache.retain(set())
    assert cache.values() == []


def test_a_folder_remote_sweeps_what_a_killed_push_staged_long_ago(tmp_path):
    src, oid, r = _loose_and_remote(tmp_path)
    tmp = tmp_path / "remote" / "tmp"
    old, young = tmp / "999999-old", tmp / "1-young"  # pids mean nothing on a shared folder
    for p in (old, young):
        p.write_bytes(b"x")
    os.utime(old, (1, 1))
    transfer(src, r.objects, [oid])
    assert sorted(os.listdir(tmp)) == ["1-young"]
