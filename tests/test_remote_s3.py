"""Remotes on S3 through s3fs, against a moto server the tests start on 127.0.0.1 (no
internet, dummy credentials): a byte-identical round trip, compare-and-swap by conditional
writes, data on demand, and credentials written nowhere."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

pytest.importorskip("s3fs")
pytest.importorskip("moto")

from mlver.api import Repo  # noqa: E402
from mlver.store.remote import open_backend  # noqa: E402
from mlver.store.remote_s3 import S3Backend  # noqa: E402

from _remotes import clone, files_of, git, moto_server, ok, project, run  # noqa: E402

KEY_ID = "AKIAMLVERTESTKEY0042"
SECRET = "mlver-test-secret-9f8e7d6c5b4a"


@pytest.fixture(scope="module")
def server():
    srv, endpoint = moto_server()
    yield endpoint
    srv.stop()


@pytest.fixture
def s3(server, monkeypatch):
    """The endpoint, with dummy credentials in the environment and a fresh bucket."""
    import uuid

    import s3fs

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for var in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    bucket = f"b-{uuid.uuid4().hex[:12]}"
    fs = s3fs.S3FileSystem(endpoint_url=server, skip_instance_cache=True)
    fs.mkdir(bucket)
    return server, bucket, fs


@pytest.fixture
def pair(tmp_path, s3):
    endpoint, bucket, fs = s3
    a = project(tmp_path / "a", {"train.py": "print(1)\n", "data/t.csv": "id,x\n1,2\n",
                                 "data/bin/blob.bin": os.urandom(300_000),
                                 "data/small/s1.txt": "one\n", "data/small/s2.txt": "two\n"})
    ok(a, "init")
    ok(a, "remote", "add", "origin", f"s3://{bucket}/team/store", "--endpoint-url", endpoint,
       "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    return a, bucket, fs


def test_round_trip_through_s3_is_byte_identical(pair, tmp_path):
    a, bucket, fs = pair
    ok(a, "tag", "ds", "production")
    out = ok(a, "push")
    assert "ds: new" in out
    assert fs.exists(f"{bucket}/team/store/refs/names/ds")
    assert fs.exists(f"{bucket}/team/store/refs/tags/ds/production")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    for rel in ("data/t.csv", "data/bin/blob.bin", "data/small/s1.txt"):
        (b / rel).unlink()
    ok(b, "checkout", "ds@production")
    assert files_of(b) == files_of(a)
    # the local stores hold the same objects, byte for byte
    ra, rb = Repo(str(a)), Repo(str(b))
    oids = list(ra.store.objects.iter_oids())
    assert oids == list(rb.store.objects.iter_oids())
    assert all(ra.store.objects.read(o) == rb.store.objects.read(o) for o in oids)
    assert "no problems" in ok(b, "verify", "--remote", "origin")


def test_s3_refs_move_by_conditional_writes(pair):
    a, bucket, fs = pair
    ok(a, "push")
    backend = open_backend("origin", f"s3://{bucket}/team/store",
                           Repo(str(a)).remotes()[0]["origin"].endpoint_url)
    assert isinstance(backend, S3Backend)
    data, token = backend.read_ref("refs/names/ds")
    other = b"0" * 32 + b"\n"
    assert backend.swap("refs/names/ds", token, other) is True
    assert backend.swap("refs/names/ds", token, data) is False  # the etag moved on
    assert backend.read_ref("refs/names/ds")[0] == other
    assert backend.swap("refs/names/ds", None, data) is False  # exists: no create
    assert backend.swap("refs/names/new", None, data) is True


def test_diverged_clones_through_s3(pair, tmp_path):
    a, bucket, fs = pair
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    (a / "data" / "t.csv").write_text("id,x\n1,3\n")
    ok(a, "snapshot", "ds", "-o", "d=data")
    (b / "data" / "t.csv").write_text("id,x\n1,4\n")
    ok(b, "snapshot", "ds", "-o", "d=data")
    ok(a, "push")
    r = run(b, "push")
    assert r.exit_code == 1 and "run mlver pull origin" in r.stderr
    assert "replayed ds@2" in ok(b, "pull")
    ok(b, "push")
    ok(a, "pull")
    assert [x["version"] for x in json.loads(ok(a, "log", "ds", "--json"))] == [3, 2, 1]


def test_no_data_pull_then_diff_fetches_from_s3(pair, tmp_path):
    a, bucket, fs = pair
    (a / "data" / "t.csv").write_text("id,x\n1,2\n7,8\n")
    ok(a, "snapshot", "ds", "-o", "d=data")
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    ok(b, "pull", "--no-data")
    rb = Repo(str(b))
    rec = rb.record(rb.resolve("ds@2"))
    big = next(e for e in rb.tree(next(e.oid for e in rb.tree(rec.outputs["d"].oid).entries
                                       if e.name == "bin")).entries)
    assert not rb.store.objects.has(big.oid)  # not fetched yet
    out = ok(b, "diff", "ds@1", "ds@2")
    assert "t.csv" in out
    ok(b, "checkout", "ds", "--force")
    assert (b / "data" / "t.csv").read_text() == "id,x\n1,2\n7,8\n"


def test_credentials_are_written_nowhere(pair, tmp_path):
    a, bucket, fs = pair
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    ok(b, "verify", "--remote", "origin")
    secrets = (KEY_ID.encode(), SECRET.encode())
    for repo in (a, b):
        for dirpath, _dirs, files in os.walk(repo):
            for f in files:
                data = (Path(dirpath) / f).read_bytes()
                assert not any(s in data for s in secrets), Path(dirpath) / f
    for key in fs.find(bucket):
        data = fs.cat_file(key)
        assert not any(s in data for s in secrets), key


def test_few_requests_for_many_small_files(s3, tmp_path):
    endpoint, bucket, fs = s3
    files = {f"data/f{i:04d}.txt": f"row {i}\n" * (i % 7 + 1) for i in range(600)}
    a = project(tmp_path / "many", files)
    ok(a, "init")
    ok(a, "remote", "add", "origin", f"s3://{bucket}/p", "--endpoint-url", endpoint)
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    ok(a, "snapshot", "many", "-o", "d=data", "--kind", "dataset")
    res = json.loads(ok(a, "push", "--json"))
    assert res["objects"] >= 600
    assert res["requests"] <= 0.02 * res["objects"] + 10, res
    b = clone(a, tmp_path / "many2")
    pulled = json.loads(ok(b, "pull", "--json"))
    assert pulled["objects"] >= 600 and pulled["requests"] <= 20, pulled


def _logged(backend):
    """Record the medium's requests by kind: listings, GETs (by path), HEADs."""
    seen = {"list": [], "get": [], "head": []}
    fs = backend.fs
    find, info, call = fs.find, fs.info, backend._call

    def logged_find(path, *a, **kw):
        seen["list"].append(path)
        return find(path, *a, **kw)

    def logged_info(path, *a, **kw):
        seen["head"].append(path)
        return info(path, *a, **kw)

    def logged_call(method, *a, **kw):
        if method == "get_object":
            seen["get"].append(kw["Key"])
        return call(method, *a, **kw)

    fs.find, fs.info, backend._call = logged_find, logged_info, logged_call
    return seen


def test_a_push_lists_the_remote_once_and_asks_for_no_absent_file(pair, monkeypatch):
    """One listing of the whole remote answers the command's listings and absences: the
    second push of a changed version lists once, HEADs nothing, GETs nothing (the config and
    the name's ref are what this store expects, as their ETags prove), and sends one pack
    (data, trees and records together)."""
    from mlver.sync import pushpull

    a, bucket, fs = pair
    ok(a, "push")
    (a / "data" / "t.csv").write_text("id,x\n1,2\n3,4\n")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    opened = []
    real = pushpull.open_remote

    def spy(store, spec):
        r = real(store, spec)
        opened.append(_logged(r.backend))
        return r

    monkeypatch.setattr(pushpull, "open_remote", spy)
    before = set(fs.find(f"{bucket}/team/store"))
    res = json.loads(ok(a, "push", "--json"))
    seen = opened[0]
    assert seen["list"] == [f"{bucket}/team/store"], seen
    assert seen["head"] == [], seen
    assert seen["get"] == [], seen
    added = sorted(k.rsplit("/", 1)[1].rsplit(".", 1)[1] for k in
                   set(fs.find(f"{bucket}/team/store")) - before)
    assert added == ["idx", "pack"], added
    assert res["requests"] == 4, res  # the listing, the pack, its index, the ref's swap


def test_a_ref_created_after_the_listing_is_not_overwritten(pair):
    """The listing may be stale: a ref another push created after it reads as absent, but
    the create is conditional, so it is refused, and the next read asks S3 again."""
    from mlver.store.remote import RemoteStore

    a, bucket, fs = pair
    url = f"s3://{bucket}/team/store"
    endpoint = Repo(str(a)).remotes()[0]["origin"].endpoint_url
    ok(a, "push")

    def opened(tag):
        r = RemoteStore("origin", url, open_backend("origin", url, endpoint),
                        str(a / f"cache-{tag}"), str(a / f"scratch-{tag}"))
        r.check()
        return r

    mine, theirs = opened("mine"), opened("theirs")
    one, two = "1" * 32, "2" * 32
    assert theirs.refs.update("fresh", one, None) is True
    assert mine.refs.read("fresh") == (None, None)  # as listed
    assert mine.refs.update("fresh", two, None) is False  # If-None-Match refused it
    assert mine.refs.get("fresh") == one  # asked again, not the listing
    assert fs.cat_file(f"{bucket}/team/store/refs/names/fresh") == (one + "\n").encode()


class _Seen:
    """What a remote-tracking ref says the remote held at the last pull."""

    def __init__(self, oid):
        self.oid = oid

    def get(self, name):
        return self.oid

    def get_tag(self, name, tag):
        return None


def test_a_ref_is_known_without_a_get_only_when_its_etag_proves_it(pair):
    """A ref whose listed ETag is the MD5 of the value last seen is not read; one that moved
    since (another value, same size) is read, and its token is the real ETag."""
    from mlver.store.remote import RemoteStore

    a, bucket, fs = pair
    url = f"s3://{bucket}/team/store"
    endpoint = Repo(str(a)).remotes()[0]["origin"].endpoint_url
    one, two = "1" * 32, "2" * 32
    fs.pipe_file(f"{bucket}/team/store/refs/names/m", (one + "\n").encode())
    r = RemoteStore("origin", url, open_backend("origin", url, endpoint), str(a / "c"),
                    str(a / "s"))
    r.check(create=True)
    gets = _logged(r.backend)["get"]
    assert r.refs.read("m", [_Seen(one)])[0] == one and gets == []
    assert r.refs.read("m", [_Seen(two)])[0] == one and gets == ["team/store/refs/names/m"]
    oid, token = r.refs.read("m", [_Seen(one)])
    assert r.refs.update("m", two, token) is True  # the proven token is S3's own ETag
    assert fs.cat_file(f"{bucket}/team/store/refs/names/m") == (two + "\n").encode()


def test_unreachable_endpoint_is_one_clear_error(tmp_path, monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY_ID)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    a = project(tmp_path / "a")
    ok(a, "init")
    ok(a, "remote", "add", "origin", "s3://bucket/p", "--endpoint-url", "http://127.0.0.1:9")
    ok(a, "snapshot", "ds", "-o", "d=data")
    r = run(a, "push")
    assert r.exit_code == 1
    assert r.stderr.startswith("Error: remote 'origin' (s3://bucket/p) cannot be reached")
    assert len(r.stderr.splitlines()) == 1


def _push_proc(cwd, killer=None):
    import subprocess
    import sys

    root = Path(__file__).resolve().parents[1]
    env = dict(os.environ, PYTHONPATH=str(root))
    argv = [sys.executable, str(killer)] if killer else [sys.executable, "-m", "mlver", "push"]
    return subprocess.Popen(argv, cwd=cwd, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_sigkilled_push_to_s3_completes_on_the_next_run(pair, tmp_path):
    import signal

    a, bucket, fs = pair
    big = a / "big"
    big.mkdir()
    for i in range(12):
        (big / f"f{i}.bin").write_bytes(os.urandom(150_000))
    ok(a, "snapshot", "big", "-o", "d=big", "--kind", "dataset")
    killer = tmp_path / "kill.py"
    killer.write_text(
        "import os, signal, sys\n"
        "from mlver.store import remote\n"
        "n = [0]\n"
        "orig = remote.Backend.put_file\n"
        "def put_file(self, rel, local):\n"
        "    orig(self, rel, local)\n"
        "    n[0] += 1\n"
        "    if n[0] == 4: os.kill(os.getpid(), signal.SIGKILL)  # 4 uploads done\n"
        "remote.Backend.put_file = put_file\n"
        "from mlver.cli import main\n"
        "sys.argv = ['mlver', 'push']\n"
        "main()\n")
    p = _push_proc(a, killer)
    p.wait(120)
    assert p.returncode == -signal.SIGKILL
    assert not fs.exists(f"{bucket}/team/store/refs/names/big")
    out = ok(a, "push")
    assert "big: new" in out and "; 0 already" not in out
    assert "no problems" in ok(a, "verify", "--remote", "origin")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    ok(b, "checkout", "big")
    assert (b / "big" / "f3.bin").read_bytes() == (big / "f3.bin").read_bytes()


def test_two_clones_push_to_s3_at_once(pair, tmp_path):
    a, bucket, fs = pair
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    for repo, text in ((a, "id,x\n1,5\n"), (b, "id,x\n1,6\n")):
        (repo / "data" / "t.csv").write_text(text)
        ok(repo, "snapshot", "ds", "-o", "d=data", "-m", repo.name)
    procs = [_push_proc(repo) for repo in (a, b)]
    codes = [p.wait(120) for p in procs]
    assert sorted(codes) == [0, 1], [p.stderr.read() for p in procs]
    loser = (a, b)[codes.index(1)]
    assert "replayed" in ok(loser, "pull")
    ok(loser, "push")
    winner = (a, b)[codes.index(0)]
    ok(winner, "pull")
    log = json.loads(ok(winner, "log", "ds", "--json"))
    assert sorted(x["message"] for x in log[:2]) == ["a", "b"]
    assert [x["version"] for x in log] == [3, 2, 1]


def test_a_pull_with_nothing_new_is_one_listing(pair, tmp_path):
    """Refs unchanged since the last pull are proven by the listing, and no manifest or
    object of a version already here is fetched again: one request in all."""
    a, bucket, fs = pair
    (a / "data" / "big.bin").write_bytes(os.urandom(5 << 20))  # stored chunked
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    first = json.loads(ok(b, "pull", "--json"))
    assert first["chunks"] > 0, first
    again = json.loads(ok(b, "pull", "--json"))
    assert again["requests"] == 1 and again["bytes"] == 0, again


@pytest.mark.parametrize("command", [["push"], ["pull"], ["verify", "--remote", "origin"]])
def test_a_bucket_that_does_not_exist_is_named(s3, tmp_path, command):
    """A missing bucket is not an empty remote: one line names it, nothing is created."""
    endpoint, _bucket, fs = s3
    a = project(tmp_path / "a")
    ok(a, "init")
    ok(a, "remote", "add", "origin", "s3://no-such-bucket-mlver/p", "--endpoint-url", endpoint,
       "--default")
    ok(a, "snapshot", "m", "-i", "t=data/a.csv")
    r = run(a, *command)
    assert r.exit_code == 1, (r.stdout, r.stderr)
    assert r.stderr.strip().splitlines() == [
        "Error: remote 'origin' (s3://no-such-bucket-mlver/p): the bucket no-such-bucket-mlver "
        "does not exist; create it (mlver never creates buckets) or fix the remote's URL "
        "(mlver remote remove, then mlver remote add)"], r.stderr
    assert not fs.exists("no-such-bucket-mlver")


def test_a_head_pushed_between_the_listing_and_its_read_is_pulled_whole(pair, tmp_path,
                                                                        monkeypatch):
    """The listing comes first, the refs after: a push that lands in between moves a head
    to a version whose objects the listing does not hold. The GET of that ref sees an ETag
    other than the listed one, so the listing is dropped and the pull sees the new version
    whole (it once stopped with the remote's objects "missing")."""
    from mlver.store.remote import RemoteStore

    a, bucket, fs = pair
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    (a / "data" / "t.csv").write_text("id,x\n1,2\n5,6\n")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    real = RemoteStore.check
    armed = [True]

    def check(self, create=False):
        real(self, create)
        if armed[0]:
            armed[0] = False
            ok(a, "push")  # lands after b's listing, before b reads the head

    monkeypatch.setattr(RemoteStore, "check", check)
    ok(b, "pull")
    assert not armed[0]
    assert [x["version"] for x in json.loads(ok(b, "log", "ds", "--json"))] == [2, 1]
    assert "no problems" in ok(b, "verify")


def test_a_push_cut_short_leaves_no_record_without_its_data(pair, tmp_path, monkeypatch):
    """format.md, rule 1: a record on a remote has its trees and data. A push whose data
    does not all arrive (here: killed before a chunked file's manifest is up, the last
    upload of a batch) must not have sent the record: records go in their own batch after
    the data's unless all of it is one pack. The next push completes it."""
    from mlver.store.remote import RemoteStore

    a, bucket, fs = pair
    ok(a, "push")
    (a / "data" / "big.bin").write_bytes(os.urandom(5 << 20))  # stored chunked
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    rec = Repo(str(a)).store.refs.get("ds")
    real = S3Backend.put

    def put(self, rel, data):
        if rel.endswith(".chunks"):
            raise KeyboardInterrupt  # as a kill would stop it, before the manifest is up
        return real(self, rel, data)

    monkeypatch.setattr(S3Backend, "put", put)
    assert run(a, "push").exit_code != 0
    monkeypatch.setattr(S3Backend, "put", real)
    url = f"s3://{bucket}/team/store"
    endpoint = Repo(str(a)).remotes()[0]["origin"].endpoint_url
    r = RemoteStore("origin", url, open_backend("origin", url, endpoint), str(tmp_path / "c"),
                    str(tmp_path / "s"))
    r.check()
    assert not r.objects.has(rec), "the record is on the remote without its data"
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    ok(b, "pull")
    assert "no problems" in ok(b, "verify", "--remote", "origin")


@pytest.mark.parametrize("verify", [False, True], ids=["pull", "verify-remote"])
def test_a_push_landing_while_a_big_remote_is_listed_is_pulled_whole(pair, tmp_path,
                                                                     monkeypatch, verify):
    """S3 lists a big remote a page (1,000 keys) at a time, in key order: ``objects/``
    before ``refs/``. A push that lands between those pages leaves the listing with its
    new head but without its objects (and the head's GET has the listed ETag). A pull
    that misses an object lists the remote again, once, before calling it missing."""
    from mlver.sync import pushpull

    a, bucket, fs = pair
    ok(a, "push")
    b = clone(a, tmp_path / "b")
    if verify:
        ok(b, "pull")  # a store to verify from
    (a / "data" / "t.csv").write_text("id,x\n1,2\n7,8\n")
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    armed = [True]
    real = pushpull.open_remote

    def spy(store, spec):
        r = real(store, spec)
        find = r.backend.fs.find

        def paged(path, *args, **kw):
            first = find(path, *args, **kw)
            if not armed[0] or not kw.get("detail"):
                return first
            armed[0] = False
            ok(a, "push")  # lands after the objects' pages, before the refs' page
            then = find(path, *args, **kw)
            return {**{k: v for k, v in first.items() if "/objects/" in k},
                    **{k: v for k, v in then.items() if "/objects/" not in k}}

        monkeypatch.setattr(r.backend.fs, "find", paged)
        return r

    monkeypatch.setattr(pushpull, "open_remote", spy)
    if verify:  # the same miss is not reported as damage
        assert "no problems" in ok(b, "verify", "--remote", "origin")
        assert not armed[0]
        return
    ok(b, "pull")
    assert not armed[0]
    assert [x["version"] for x in json.loads(ok(b, "log", "ds", "--json"))] == [2, 1]
    assert "no problems" in ok(b, "verify")


def test_the_survey_keeps_etags_of_refs_and_config_only(pair):
    """A big remote's listing is held for the command: the ETags it keeps are only those
    a proof may use (refs, config.json), not one per object."""
    a, bucket, fs = pair
    ok(a, "push")
    url = f"s3://{bucket}/team/store"
    b = open_backend("origin", url, Repo(str(a)).remotes()[0]["origin"].endpoint_url)
    b.survey()
    assert any(p.startswith("objects/") for p in b.list("objects"))
    assert "config.json" in b._etags and "refs/names/ds" in b._etags
    assert not [p for p in b._etags if p.startswith("objects/")]


def test_a_push_with_a_big_file_sends_trees_and_records_in_one_pack_after_its_data(pair):
    """Rule 1 keeps a record from arriving before a big file's data, but trees and records
    that fit one pack appear at once: two packs (data, then trees and records), not three."""
    a, bucket, fs = pair
    ok(a, "push")
    before = set(fs.find(f"{bucket}/team/store"))
    (a / "data" / "big.bin").write_bytes(os.urandom(5 << 20))  # stored chunked
    ok(a, "snapshot", "ds", "-o", "d=data", "--kind", "dataset")
    ok(a, "push")
    added = set(fs.find(f"{bucket}/team/store")) - before
    assert sum(k.endswith(".pack") for k in added) == 2, sorted(added)
    assert sum(k.endswith(".chunks") for k in added) == 1, sorted(added)
