"""Adversarial: crafted chunk manifests and packs under a chunked file (issue 22).

Every case must end in one clear CorruptObjectError (the CLI's ``Error: …``) or a correct
result; never a hang, a RecursionError or a killed process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import xxhash

from mlver.base.errors import CorruptObjectError
from mlver.store import Store
from mlver.store.manifest import Manifest
from mlver.store.objects import LocalObjectStore

DATA = b"".join(xxhash.xxh3_128_digest(i.to_bytes(8, "little")) for i in range((3 << 19) // 16))


@pytest.fixture(autouse=True)
def small_threshold(monkeypatch):
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 256 << 10)


@pytest.fixture
def chunked(tmp_path) -> tuple[str, str]:
    """A store holding DATA chunked; returns (store path, the file's oid)."""
    path = str(tmp_path / ".mlver")
    Store.create(path)
    objects = Store(path).objects
    with objects.batch() as b:
        oid = b.add_bytes(DATA)
    assert objects.manifest(oid) is not None
    return path, oid


def _forge(path: str, m: Manifest) -> LocalObjectStore:
    """Overwrite the manifest of ``m.oid`` with ``m`` (canonical, so it passes decode)."""
    mp = Store(path).objects.manifest_path(m.oid)
    os.chmod(mp, 0o644)
    with open(mp, "wb") as f:
        f.write(m.encode())
    return Store(path).objects


def test_a_manifest_naming_its_own_file_as_a_chunk_is_refused_not_recursed(chunked):
    # Found: the reader's slow path read the chunk through store.read, which opened the
    # manifest again: RecursionError (a traceback, not `Error: …`) on read, verify, range.
    path, oid = chunked
    objects = _forge(path, Manifest(oid, len(DATA), Store(path).objects.manifest(oid).chunker,
                                    ((oid, len(DATA)),)))
    for read in (lambda: objects.read(oid), lambda: objects.read_range(oid, 0, 10)):
        with pytest.raises(CorruptObjectError, match=f"chunk {oid} of object {oid}"):
            read()
    assert objects.verify_file(oid) is False


def test_two_manifests_naming_each_other_are_refused(chunked, tmp_path):
    # A -> B -> A: the cycle is longer than one, the guard must see it too.
    path, a = chunked
    objects = Store(path).objects
    other = DATA[::-1]
    with objects.batch() as b:
        b_oid = b.add_bytes(other)
    chunker = objects.manifest(a).chunker
    _forge(path, Manifest(a, len(DATA), chunker, ((b_oid, len(DATA)),)))
    objects = _forge(path, Manifest(b_oid, len(other), chunker, ((a, len(other)),)))
    with pytest.raises(CorruptObjectError):
        objects.read(a)
    assert objects.verify_file(b_oid) is False


def test_a_fifo_in_place_of_a_manifest_is_refused_without_hanging(chunked):
    # Found: open_regular opened without O_NONBLOCK, so a FIFO at objects/xx/….chunks
    # blocked every read of the file (and verify) forever, waiting for a writer.
    path, oid = chunked
    code = textwrap.dedent(f"""
        import os
        from mlver.store import Store
        from mlver.base.errors import CorruptObjectError
        objects = Store({path!r}).objects
        mp = objects.manifest_path({oid!r})
        os.unlink(mp)
        os.mkfifo(mp)
        try:
            objects.manifest({oid!r})
        except CorruptObjectError as e:
            print("refused:", e)
        print("verify", objects.verify_file({oid!r}))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=30)
    assert out.returncode == 0, out.stderr
    assert "not a regular file" in out.stdout and "verify False" in out.stdout


def test_a_manifest_listing_chunks_out_of_order_fails_a_full_read(chunked):
    path, oid = chunked
    m = Store(path).objects.manifest(oid)
    rows = list(m.chunks)
    rows[0], rows[1] = rows[1], rows[0]
    objects = _forge(path, Manifest(oid, m.size, m.chunker, tuple(rows)))
    with pytest.raises(CorruptObjectError, match="its chunks hash to"):
        objects.read(oid)
    assert objects.verify_file(oid) is False


def test_a_manifest_repeating_a_chunk_fails_a_full_read(chunked):
    path, oid = chunked
    m = Store(path).objects.manifest(oid)
    rows = (m.chunks[0],) * 3 + m.chunks[1:]
    objects = _forge(path, Manifest(oid, m.size + 2 * m.chunks[0][1], m.chunker, rows))
    with pytest.raises(CorruptObjectError):
        objects.read(oid)
    assert objects.verify_file(oid) is False


def test_rechunk_does_not_drop_a_whole_copy_for_a_manifest_that_names_itself(tmp_path,
                                                                            monkeypatch):
    # Found: gc --rechunk reuses a manifest that "rebuilds" the file (a killed run's) and
    # then removes the loose copy. A planted manifest listing the file itself as its one
    # chunk rebuilt it, through that very loose copy: the only copy was removed and the
    # file was lost.
    from mlver.ops import rechunk

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 4 << 20)
    path = str(tmp_path / ".mlver")
    Store.create(path)
    store = Store(path)
    data = DATA[: 300 << 10]  # above the pack threshold: stored loose, whole (as format 2)
    with store.objects.batch() as b:
        oid = b.add_bytes(data)
    assert store.objects.local_file(oid) is not None
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    from mlver.store.chunker import CHUNKER_ID
    mp = store.objects.manifest_path(oid)
    with open(mp, "wb") as f:
        f.write(Manifest(oid, len(data), CHUNKER_ID, ((oid, len(data)),)).encode())
    rechunk.rechunk(Store(path))
    objects = Store(path).objects
    assert objects.read(oid) == data
    assert objects.verify_file(oid)


def test_push_refuses_a_local_manifest_that_lies_and_the_remote_stays_clean(chunked, tmp_path):
    # A manifest listing the file's real chunks in a wrong order is canonical, so only a
    # whole-file hash finds it. Pull reads every arrived manifest back (Batch._check_arrived);
    # push does not, so the remote takes it, then reports the file present: a clean clone's
    # push never replaces it, and every pull of it fails.
    from mlver.store.remote import RemoteStore, open_backend
    from mlver.store.transfer import transfer

    path, oid = chunked
    m = Store(path).objects.manifest(oid)
    rows = list(m.chunks)
    rows[0], rows[1] = rows[1], rows[0]
    objects = _forge(path, Manifest(oid, m.size, m.chunker, tuple(rows)))
    url = str(tmp_path / "remote")
    remote = RemoteStore("origin", url, open_backend("origin", url), str(tmp_path / "c"),
                         str(tmp_path / "s"))
    remote.check(create=True)
    with pytest.raises(CorruptObjectError):
        transfer(objects, remote.objects, [oid])
    assert remote.objects.missing([oid]) == [oid]


def test_a_pack_truncated_while_its_chunks_are_viewed_does_not_kill_the_process(chunked):
    # views() used to hand out views of the mapped pack: a pack cut short while a checkout
    # wrote them (a restore with rsync --inplace, a full disk under another tool) faulted
    # on the first page past the new end, and SIGBUS killed the process with no `Error: …`
    # and no cleanup. Runs are read with pread now: the cut is a short read, named.
    path, oid = chunked
    code = textwrap.dedent(f"""
        import os
        import mlver.store.chunker as ch
        import mlver.store.chunked as reader
        ch.CHUNK_THRESHOLD = 256 << 10
        reader.VIEW_RUN = 300 << 10  # a few chunks a read: the cut comes before the rest
        from mlver.store import Store
        from mlver.base.errors import CorruptObjectError
        objects = Store({path!r}).objects
        try:
            with objects.open({oid!r}) as f:
                views = f.views()
                first = next(views)
                pack = objects.find_packed(objects.manifest({oid!r}).chunks[0][0])[0]
                os.truncate(pack.pack_path, 4096)
                total = len(bytes(first)) + sum(len(bytes(v)) for v in views)
            print("read", total)
        except CorruptObjectError as e:
            print("refused:", e)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, (out.returncode, out.stderr[-500:])
    assert out.stdout.startswith("refused: chunk "), out.stdout  # the damage, named


def test_re_snapshotting_a_file_repairs_a_damaged_chunk(chunked, tmp_path):
    # The read error advises "re-snapshot the file", and for a whole object a fresh copy
    # does repair (Batch._claim -> _repair). For a chunked file the chunk is found in the
    # pack (has_packed) and skipped, and the manifest is present already: nothing is
    # written, the file stays unreadable although the user has its bytes.
    path, oid = chunked
    objects = Store(path).objects
    pack, i = objects.find_packed(objects.manifest(oid).chunks[3][0])
    at = pack.offsets[i] + 10
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))
    assert not Store(path).objects.verify_file(oid)
    (tmp_path / "again").write_bytes(DATA)
    with Store(path).objects.batch() as b:
        assert b.add_file(str(tmp_path / "again"))[0] == oid
    assert Store(path).objects.read(oid) == DATA


def _cli_chunked(adv):
    """Snapshot DATA as m's output in the ``adv`` project (in process, threshold lowered);
    returns the file's oid."""
    from . import craft

    (adv / "w.bin").write_bytes(DATA)
    r = craft.cli("snapshot", "m", "-o", "model=w.bin")
    assert r.exit_code == 0, r.output
    objects = Store(str(adv / ".mlver")).objects
    (oid,) = list(objects.iter_manifests())
    return craft, oid


def test_cli_verify_and_checkout_of_a_self_naming_manifest_end_in_one_error(adv, tmp_path):
    craft, oid = _cli_chunked(adv)
    path = str(adv / ".mlver")
    chunker = Store(path).objects.manifest(oid).chunker
    _forge(path, Manifest(oid, len(DATA), chunker, ((oid, len(DATA)),)))
    v = craft.cli("verify")
    assert v.exit_code == 1, v.output
    assert oid in v.output + v.stderr
    c = craft.cli("checkout", "m", "--to", str(tmp_path / "out"))
    craft.assert_cli_ok_or_error(c)
    assert c.exit_code == 1
    assert not (tmp_path / "out" / "w.bin").exists()


def test_cli_exactly_threshold_sized_and_empty_files_round_trip(adv, tmp_path, monkeypatch):
    from . import craft

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 300_000)
    exact = DATA[:300_000]
    (adv / "exact.bin").write_bytes(exact)
    (adv / "empty.bin").write_bytes(b"")
    (adv / "below.bin").write_bytes(DATA[:299_999])
    r = craft.cli("snapshot", "m", "-o", "a=exact.bin", "-o", "b=empty.bin", "-o", "c=below.bin")
    assert r.exit_code == 0, r.output
    objects = Store(str(adv / ".mlver")).objects
    from mlver.base.hashing import oid_of
    assert objects.manifest(oid_of(exact)) is not None  # at the threshold: chunked
    assert objects.manifest(oid_of(DATA[:299_999])) is None
    c = craft.cli("checkout", "m", "--to", str(tmp_path / "out"))
    assert c.exit_code == 0, c.output + c.stderr
    assert (tmp_path / "out" / "exact.bin").read_bytes() == exact
    assert (tmp_path / "out" / "empty.bin").read_bytes() == b""
    assert craft.cli("verify").exit_code == 0


def test_the_decoded_manifest_cache_is_bounded_by_entries_not_count(tmp_path, monkeypatch):
    # Found: the cache kept up to 256 decoded manifests whatever their size; a manifest may
    # be 64 MiB (~1.5M entries, ~250 MB decoded, measured), so a crafted store whose one
    # tree names a few hundred such files held tens of GB. Bounded by entries now.
    monkeypatch.setattr("mlver.store.objects._ROWS_MAX", 50)
    path = str(tmp_path / ".mlver")
    Store.create(path)
    objects = Store(path).objects
    with objects.batch() as b:
        oids = [b.add_bytes(DATA[i:] + DATA[:i]) for i in (0, 1000, 2000)]
    objects = Store(path).objects
    for oid in oids:
        assert objects.manifest(oid) is not None
        assert sum(len(m.chunks) for m in objects._decoded.values()) <= 50


def _folder_remote(tmp_path, tag: str):
    from mlver.store.remote import RemoteStore, open_backend

    url = str(tmp_path / "remote")
    r = RemoteStore("origin", url, open_backend("origin", url), str(tmp_path / f"c-{tag}"),
                    str(tmp_path / f"s-{tag}"))
    r.check(create=True)
    return r


def test_pull_of_a_remote_manifest_naming_its_own_file_is_refused_not_recursed(chunked,
                                                                               tmp_path):
    # Found: the remote assembles an object stored chunked from its chunks; a chunk that
    # is that object (or one listing it) recursed until RecursionError, on pull and read.
    from mlver.store.transfer import transfer

    path, oid = chunked
    transfer(Store(path).objects, _folder_remote(tmp_path, "a").objects, [oid])
    m = Store(path).objects.manifest(oid)
    rel = f"objects/{oid[:2]}/{oid[2:]}.chunks"
    full = tmp_path / "remote" / rel
    os.chmod(full, 0o644)
    full.write_bytes(Manifest(oid, m.size, m.chunker, ((oid, m.size),)).encode())
    (tmp_path / "b").mkdir()
    dst = str(tmp_path / "b" / ".mlver")
    Store.create(dst)
    with pytest.raises(CorruptObjectError, match="stored as chunks itself"):
        transfer(_folder_remote(tmp_path, "b").objects, Store(dst).objects, [oid])
    assert Store(dst).objects.missing([oid]) == [oid]
    with pytest.raises(CorruptObjectError, match="stored as chunks itself"):
        _folder_remote(tmp_path, "c").objects.read(oid)


def test_push_refuses_a_manifest_naming_a_big_loose_object_as_a_chunk(tmp_path, monkeypatch):
    # Found: transfer read every chunk it sends whole into memory, whatever the object; a
    # local manifest naming a big loose file as a 1,000-byte chunk made push read it all
    # and send it packed as a "chunk", then publish the lying manifest on the remote.
    from mlver.base.hashing import oid_of
    from mlver.store.chunker import CHUNKER_ID
    from mlver.store.transfer import transfer

    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 4 << 20)
    path = str(tmp_path / ".mlver")
    Store.create(path)
    objects = Store(path).objects
    with objects.batch() as b:
        big = b.add_bytes(DATA)  # 1.5 MiB, below this threshold: one loose object
    assert objects.local_file(big) is not None
    fake = oid_of(b"x" * 1000)
    mp = objects.manifest_path(fake)
    os.makedirs(os.path.dirname(mp), exist_ok=True)
    with open(mp, "wb") as f:
        f.write(Manifest(fake, 1000, CHUNKER_ID, ((big, 1000),)).encode())
    remote = _folder_remote(tmp_path, "a")
    with pytest.raises(CorruptObjectError, match=f"chunk {big} of (file|object) {fake}"):
        transfer(Store(path).objects, remote.objects, [fake])
    fresh = _folder_remote(tmp_path, "b").objects
    assert fresh.missing([fake, big]) == [fake, big]


def test_a_damaged_loose_copy_beside_good_chunks_does_not_hide_them(adv, tmp_path):
    # Found: a file both loose and chunked (gc --rechunk killed before the whole copy
    # went) whose loose copy rots was unreadable: read() and verify_file() tried the loose
    # copy and the packs, never the chunks, although they hold the file intact.
    craft, oid = _cli_chunked(adv)
    objects = Store(str(adv / ".mlver")).objects
    loose = objects._loose_path(oid)
    os.makedirs(os.path.dirname(loose), exist_ok=True)
    with open(loose, "wb") as f:
        f.write(b"rot" * 1000)
    objects = Store(str(adv / ".mlver")).objects
    assert objects.read(oid) == DATA
    assert objects.verify_file(oid)
    assert objects.read_many([oid]) == {oid: DATA}
    c = craft.cli("checkout", "m", "--to", str(tmp_path / "out"))
    assert c.exit_code == 0, c.output + c.stderr
    assert (tmp_path / "out" / "w.bin").read_bytes() == DATA
    v = craft.cli("verify")
    assert v.exit_code == 0 and "holds a damaged copy" in v.stderr, v.output + v.stderr


def test_a_file_of_one_repeated_chunk_round_trips_through_a_remote(tmp_path):
    # Repeated content lists the same chunk many times: the reader, the views, read_many
    # and transfer must each serve it at every place it is listed.
    from mlver.store.transfer import transfer

    data = bytes(3 << 20)
    path = str(tmp_path / ".mlver")
    Store.create(path)
    objects = Store(path).objects
    with objects.batch() as b:
        oid = b.add_bytes(data)
    m = objects.manifest(oid)
    assert len(m.chunk_oids()) < len(m.chunks)
    with objects.open(oid) as f:
        assert b"".join(bytes(v) for v in f.views()) == data
    transfer(objects, _folder_remote(tmp_path, "a").objects, [oid])
    (tmp_path / "b").mkdir()
    dst = str(tmp_path / "b" / ".mlver")
    Store.create(dst)
    transfer(_folder_remote(tmp_path, "b").objects, Store(dst).objects, [oid])
    assert Store(dst).objects.read(oid) == data
    assert Store(dst).objects.read_range(oid, (1 << 20) - 5, 10) == bytes(10)


def _flip_chunk(path: str, oid: str, j: int) -> str:
    """Flip one byte of chunk ``j`` of ``oid`` in its pack; return the chunk's oid."""
    objects = Store(path).objects
    coid = objects.manifest(oid).chunks[j][0]
    pack, i = objects.find_packed(coid)
    at = pack.offsets[i] + 10
    os.chmod(pack.pack_path, 0o644)
    with open(pack.pack_path, "r+b") as f:
        f.seek(at)
        b = f.read(1)
        f.seek(at)
        f.write(bytes([b[0] ^ 0xFF]))
    return coid


def test_two_copies_of_a_file_repairing_one_chunk_at_once_write_it_once(chunked, tmp_path,
                                                                        monkeypatch):
    # Found: _repair_chunks checked "staged already?" and staged the chunk in two steps
    # with a file read between: two identical files captured by two threads both wrote
    # the damaged chunk into the batch's pack, whose index then held one key twice.
    # The nested add below is the other thread, run inside that window.
    from mlver.store import batch as batchmod

    path, oid = chunked
    _flip_chunk(path, oid, 3)
    for name in ("a", "b"):
        (tmp_path / name).write_bytes(DATA)
    real = batchmod._source_bytes
    b = Store(path).objects.batch()
    calls = []

    def racing(f, off, n):
        if not calls:
            calls.append(1)
            b.add_file(str(tmp_path / "b"))  # the other thread, in the window
        return real(f, off, n)

    monkeypatch.setattr(batchmod, "_source_bytes", racing)
    with b:
        assert b.add_file(str(tmp_path / "a"))[0] == oid
    assert Store(path).objects.read(oid) == DATA


def test_a_merge_after_a_repair_keeps_the_good_copy_and_goes_on(chunked, tmp_path):
    # Found: a repair writes a second copy of a damaged chunk in a new pack and leaves the
    # damaged one; merging the packs then raised on the damaged copy whenever it came
    # first, so packs were never merged again (each commit re-read them and gave up).
    path, oid = chunked
    _flip_chunk(path, oid, 3)
    (tmp_path / "again").write_bytes(DATA)
    with Store(path).objects.batch() as b:
        b.add_file(str(tmp_path / "again"))
        for i in range(20):  # the repair's pack the larger one: merged second
            b.add_bytes(os.urandom(100_000) + bytes([i]))
    objects = Store(path).objects
    assert len(objects.packs()) == 2
    assert objects.maybe_merge(limit=1) == 2
    objects = Store(path).objects
    assert objects.packs() and len(objects.packs()) == 1
    assert objects.read(oid) == DATA


def test_re_adding_a_file_replaces_a_manifest_that_names_a_wrong_chunk(chunked, tmp_path):
    # Found: a manifest damaged in one chunk oid still decodes (canonical JSON, sizes
    # add up); the file reads as "chunk … missing" and advises re-snapshotting, but adding
    # the file again kept that manifest (checked by its size only), so nothing changed.
    path, oid = chunked
    objects = Store(path).objects
    m = objects.manifest(oid)
    (c, n), rest = m.chunks[2], list(m.chunks)
    rest[2] = (("0" if c[0] != "0" else "1") + c[1:], n)
    objects = _forge(path, Manifest(oid, m.size, m.chunker, tuple(rest)))
    assert not objects.verify_file(oid)
    (tmp_path / "again").write_bytes(DATA)
    with Store(path).objects.batch() as b:
        assert b.add_file(str(tmp_path / "again"))[0] == oid
    assert Store(path).objects.read(oid) == DATA


def test_the_remote_manifest_cache_notes_many_manifests_in_linear_time(tmp_path):
    # Found: RemoteListing._keep summed the chunk rows of every cached manifest on each
    # call: noting the manifests of a push of 30k big files took quadratic time (~minutes
    # at 100k). One counter now.
    import time

    from mlver.store import remote_listing

    listing = remote_listing.RemoteListing(None, str(tmp_path / "c"), str(tmp_path / "s"))  # type: ignore[arg-type]
    ms = tuple(Manifest(f"{i:032x}", 1, "x", ((f"{i + 1:032x}", 1),)) for i in range(30_000))
    t0 = time.perf_counter()
    listing.remember(None, None, {}, ms)
    assert time.perf_counter() - t0 < 3.0
    assert len(listing._decoded) == 30_000 and listing._decoded.rows == 30_000


def test_a_pull_replaces_a_local_manifest_naming_a_chunk_that_is_nowhere(chunked, tmp_path):
    # Found: a local manifest damaged in one chunk oid makes the file missing (its chunks
    # are not all here), so every pull transfers it again; but add_manifest kept the local
    # manifest (checked by size only): the pull "succeeded", the file stayed unreadable,
    # and the next pull did the same. The arriving manifest is verified before it is used.
    from mlver.store.transfer import transfer

    path, oid = chunked
    other_path = str(tmp_path / "other" / ".mlver")
    os.makedirs(os.path.dirname(other_path))
    Store.create(other_path)
    transfer(Store(path).objects, Store(other_path).objects, [oid])
    m = Store(other_path).objects.manifest(oid)
    rest = list(m.chunks)
    c, n = rest[2]
    rest[2] = (("0" if c[0] != "0" else "1") + c[1:], n)
    other = _forge(other_path, Manifest(oid, m.size, m.chunker, tuple(rest)))
    assert other.missing([oid]) == [oid]
    transfer(Store(path).objects, other, [oid])
    other = Store(other_path).objects
    assert other.missing([oid]) == [] and other.read(oid) == DATA


def test_a_chunk_stored_loose_by_the_same_batch_leaves_its_file_complete(tmp_path):
    # Found: a small file whose bytes are one chunk (> 128 KiB) of a big file added in the
    # same batch is staged loose, and the chunk is then not written to the pack again. The
    # file reads fine, but missing() looked in packs only: it counted as missing forever,
    # and every pull moved it again.
    path = str(tmp_path / ".mlver")
    Store.create(path)
    objects = Store(path).objects
    with objects.batch() as b:
        oid = b.add_bytes(DATA)
    m = Store(path).objects.manifest(oid)
    j = next(j for j, (_c, n) in enumerate(m.chunks) if n > 128 << 10)
    piece = DATA[m.offsets[j]:m.offsets[j] + m.chunks[j][1]]
    path2 = str(tmp_path / "two" / ".mlver")
    os.makedirs(os.path.dirname(path2))
    Store.create(path2)
    with Store(path2).objects.batch() as b:
        b.add_bytes(piece)
        b.add_bytes(DATA)
    objects = Store(path2).objects
    assert objects.local_file(m.chunks[j][0]) is not None  # the chunk is loose
    assert objects.read(oid) == DATA
    assert objects.missing([oid]) == []


def test_a_pack_writer_given_one_oid_twice_refuses_to_write_its_index(tmp_path):
    # Guard for the race above: an index listing a key twice is refused by every reader,
    # so a batch that published one left a store whose listing fails. The writer now
    # refuses before the index exists (the batch then publishes nothing).
    from mlver.base.hashing import oid_of
    from mlver.store import packs

    w = packs.PackWriter(str(tmp_path / "p.pack"), str(tmp_path / "p.idx"))
    w.add(oid_of(b"a"), b"a")
    w.add(oid_of(b"b"), b"b")
    w.add(oid_of(b"a"), b"a")
    with pytest.raises(CorruptObjectError, match=oid_of(b"a")):
        w.finish()
    assert not (tmp_path / "p.idx").exists()


def test_a_pull_repairs_an_undecodable_manifest_and_a_lost_chunk_together(chunked, tmp_path):
    from mlver.store.transfer import transfer

    path, oid = chunked
    other_path = str(tmp_path / "other" / ".mlver")
    os.makedirs(os.path.dirname(other_path))
    Store.create(other_path)
    transfer(Store(path).objects, Store(other_path).objects, [oid])
    other = Store(other_path).objects
    pack, _i = other.find_packed(other.manifest(oid).chunks[1][0])
    os.unlink(pack.idx_path)  # every chunk lost
    mp = other.manifest_path(oid)
    os.chmod(mp, 0o644)
    with open(mp, "r+b") as f:
        f.write(b"\xff")  # and the manifest no longer decodes
    other = Store(other_path).objects
    assert other.missing([oid]) == [oid]
    transfer(Store(path).objects, other, [oid])
    other = Store(other_path).objects
    assert other.missing([oid]) == [] and other.read(oid) == DATA


def test_the_transfer_chunk_bound_names_a_true_size(chunked, tmp_path, monkeypatch):
    # Found: the message computed rows x 80 bytes, "~0 GB of big files", for ~262 GB.
    from mlver.store import transfer as transfermod

    path, oid = chunked
    other_path = str(tmp_path / "other" / ".mlver")
    os.makedirs(os.path.dirname(other_path))
    Store.create(other_path)
    monkeypatch.setattr(transfermod, "MAX_CHUNK_ROWS", 2)
    with pytest.raises(CorruptObjectError, match=r"more than 2 chunks in all \(~131\.1 KB"):
        transfermod.transfer(Store(path).objects, Store(other_path).objects, [oid])
