"""OpenLineage (issue 25, part 3): ``mlver lineage --format openlineage`` prints RunEvents
that validate against the 2-0-2 spec and the facet schemas (committed in
tests/openlineage_spec/, Apache-2.0, from OpenLineage/OpenLineage spec/), and
``mlver export openlineage`` posts them to a real HTTP receiver started here.

One store for the module: prep (a CSV in, a Parquet out), train (the Parquet in, a failed
run) and a later snapshot; every test reads it."""

from __future__ import annotations

import json
import re
import socket
import sys
import threading
import uuid
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import jsonschema
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from referencing import Registry, Resource

import mlver
from _fixtures import assert_error, assert_ok, cli, head_sha, make_git_repo, write

from mlver.integrations.openlineage import run_id

SPEC_DIR = Path(__file__).parent / "openlineage_spec"
DOCS = Path(__file__).resolve().parents[1] / "docs" / "openlineage.md"


def _registry() -> Registry:
    resources = []
    for f in sorted(SPEC_DIR.glob("*.json")):
        doc = json.loads(f.read_text())
        resources.append((doc["$id"], Resource.from_contents(doc)))
    return Registry().with_resources(resources)


REGISTRY = _registry()


def validate(event: dict) -> None:
    """``event`` against the RunEvent schema, and each facet against its own schema (found
    by its ``_schemaURL``, which must name one of the committed files)."""
    def check(instance: dict, url: str) -> None:
        jsonschema.Draft202012Validator({"$ref": url}, registry=REGISTRY,
                                        format_checker=jsonschema.FormatChecker()
                                        ).validate(instance)

    check(event, event["schemaURL"])
    assert event["schemaURL"] == "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
    datetime.fromisoformat(event["eventTime"])  # date-time (the checker needs an extra package)
    assert uuid.UUID(event["run"]["runId"]).variant == uuid.RFC_4122
    facets = [event["run"]["facets"], event["job"]["facets"]]
    facets += [d["facets"] for d in event["inputs"] + event["outputs"]]
    for group in facets:
        for name, facet in group.items():
            # the facet schema's own top level: {"properties": {name: {"$ref": def}}}
            check({name: facet}, facet["_schemaURL"].split("#")[0])
            check(facet, facet["_schemaURL"])


def events_of(result) -> list[dict]:
    return [json.loads(line) for line in assert_ok(result).splitlines()]


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = make_git_repo(tmp_path_factory.mktemp("ol") / "shop",
                         {"README.md": "# shop\n", ".gitignore": ".mlver/\ndata/\n"})
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    repo = mlver.Repo.init(str(root))
    write(root / "data/raw.csv", "id,price\n1,2.5\n2,3.0\n")
    pq.write_table(pa.table({"id": [1, 2], "price": [2.5, 3.0]}), root / "data/feat.parquet")
    oids = {"prep": repo.snapshot("prep", inputs={"raw": "data/raw.csv"},
                                  outputs={"feat": "data/feat.parquet"}, kind="dataset",
                                  params=["clean.drop=true"]).oid}
    res = cli("run", "train", "-i", "feat=data/feat.parquet", "-p", "lr=0.1",
              "--record-failed", "--json", "--", sys.executable, "-c", "raise SystemExit(3)")
    oids["train"] = json.loads(res.stdout)["oid"]
    write(root / "data/other.csv", "a\n1\n")
    oids["later"] = repo.snapshot("later", inputs={"x": "data/other.csv"}).oid
    repo.close()
    yield root, oids
    mp.undo()


@pytest.fixture(scope="module")
def receiver():
    """A local HTTP server that keeps every JSON body POSTed to it."""
    got: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append((self.path, json.loads(body)))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", got
    server.shutdown()
    server.server_close()


def test_every_event_validates_and_carries_the_record(store):
    root, oids = store
    events = events_of(cli("lineage", "prep@1", "--format", "openlineage"))
    # prep and train (downstream of prep), oldest first: START/COMPLETE, START/FAIL
    assert [(e["job"]["name"], e["eventType"]) for e in events] == [
        ("prep", "START"), ("prep", "COMPLETE"), ("train", "START"), ("train", "FAIL")]
    for e in events:
        validate(e)
    start, done, _t0, fail = events
    # the validation is not vacuous: a job without namespace, a facet without its field fail
    bad = json.loads(json.dumps(start))
    del bad["job"]["namespace"]
    with pytest.raises(jsonschema.ValidationError, match="namespace"):
        validate(bad)
    bad = json.loads(json.dumps(start))
    del bad["inputs"][0]["facets"]["version"]["datasetVersion"]
    with pytest.raises(jsonschema.ValidationError, match="datasetVersion"):
        validate(bad)
    assert start["run"]["runId"] == done["run"]["runId"] == run_id(oids["prep"])
    assert uuid.UUID(run_id(oids["prep"])).hex[:12] == oids["prep"][:12]
    assert start["job"]["namespace"] == "mlver://shop"
    code = start["job"]["facets"]["sourceCodeLocation"]
    assert code["version"] == head_sha(root) and code["type"] == "git"
    assert code["url"] == f"file://{root}"
    facet = done["run"]["facets"]["mlver"]
    assert facet["version"] == "prep@1" and facet["oid"] == oids["prep"]
    assert facet["params"] == {"clean.drop": True}
    assert re.fullmatch(r"[0-9a-f]{32}", facet["environment"]["packages"])
    rec = mlver.Repo(str(root)).record(oids["prep"])
    (inp,), (outp,) = start["inputs"], start["outputs"]
    assert (inp["name"], inp["facets"]["version"]["datasetVersion"]) == (
        "data/raw.csv", rec.inputs["raw"].oid)
    assert inp["facets"]["schema"]["fields"] == [{"name": "id", "type": "int64"},
                                                 {"name": "price", "type": "double"}]
    assert outp["facets"]["schema"]["fields"] == [{"name": "id", "type": "int64"},
                                                  {"name": "price", "type": "double"}]
    # the dataset prep wrote is the one train read: same namespace, name and version
    assert fail["inputs"] == [outp]
    assert "status 3" in fail["run"]["facets"]["errorMessage"]["message"]


def test_depth_zero_namespace_and_api(store):
    root, oids = store
    events = events_of(cli("lineage", "train@1", "--format", "openlineage", "--depth", "0",
                           "--namespace", "prod"))
    assert [e["eventType"] for e in events] == ["START", "FAIL"]
    assert {e["job"]["namespace"] for e in events} == {"prod"}
    for e in events:
        validate(e)
    with mlver.Repo(str(root)) as repo:
        assert repo.openlineage("train@1", namespace="prod") == events
    res = cli("lineage", "train@1", "--namespace", "x")  # a usage error, as click's: exit 2
    assert res.exit_code == 2
    assert "Error: --namespace works only with --format openlineage" in res.output


def test_export_posts_every_event(store, receiver):
    root, oids = store
    url, got = receiver
    got.clear()
    res = cli("export", "openlineage", "--url", url, "--json")
    assert json.loads(assert_ok(res)) == {"url": url, "records": 3, "events": 6}
    assert {p for p, _e in got} == {"/api/v1/lineage"}
    bodies = [e for _p, e in got]
    for e in bodies:
        validate(e)
    printed = events_of(cli("lineage", "prep@1", "--format", "openlineage"))
    assert bodies[:4] == printed  # what is sent is what is printed
    assert [e["job"]["name"] for e in bodies[4:]] == ["later", "later"]
    got.clear()
    res = cli("export", "openlineage", "--url", url, "--since", "train@1")
    assert assert_ok(res).strip() == f"Sent 2 events of 1 record to {url}"
    assert [e["run"]["runId"] for _p, e in got] == [run_id(oids["later"])] * 2
    # the endpoint itself, or a path before it: still one POST to .../api/v1/lineage
    for given, path in [(f"{url}/api/v1/lineage", "/api/v1/lineage"),
                        (f"{url}/api/v1/lineage/", "/api/v1/lineage"),
                        (f"{url}/", "/api/v1/lineage"),
                        (f"{url}/marquez", "/marquez/api/v1/lineage")]:
        got.clear()
        assert_ok(cli("export", "openlineage", "--url", given, "--since", "train@1"))
        assert [p for p, _e in got] == [path] * 2, given


def test_errors_are_one_line(store, monkeypatch):
    assert_error(cli("lineage", "nope@1", "--format", "openlineage"), "nope@1")
    assert_error(cli("export", "openlineage", "--url", "http://x", "--since", "nope@2"),
                 "nope@2")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    line = assert_error(cli("export", "openlineage", "--url", f"http://127.0.0.1:{port}"),
                        f"http://127.0.0.1:{port}", "0 of 6 sent")
    assert "Traceback" not in line
    assert_error(cli("export", "openlineage", "--url", "ftp://h"), "ftp://h", code=2)
    monkeypatch.setitem(sys.modules, "openlineage.client.transport.http", None)
    assert_error(cli("export", "openlineage", "--url", "http://x"),
                 "pip install 'mlver[openlineage]'")


def test_export_hides_credentials_and_follows_no_redirect(store):
    """user:password@ of --url never printed (ours or requests' message), still sent as
    basic auth; a redirect to another host is refused, not followed with the events."""
    seen: list[tuple[str, str | None]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802 (http.server's name)
            self.rfile.read(int(self.headers["Content-Length"]))
            seen.append((self.path, self.headers.get("Authorization")))
            if self.path.startswith("/moved"):
                self.send_response(500)
            else:
                self.send_response(307)
                self.send_header("Location", "/moved/api/v1/lineage")
            self.end_headers()

        def log_message(self, *args):  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        port = server.server_address[1]
        line = assert_error(cli("export", "openlineage", "--url",
                                f"http://me:s3cret@127.0.0.1:{port}"), "redirect")
        assert "s3cret" not in line and f"http://127.0.0.1:{port}" in line
        assert [p for p, _a in seen] == ["/api/v1/lineage"]  # not followed
        assert seen[0][1] == "Basic bWU6czNjcmV0"  # me:s3cret, still sent
        line = assert_error(cli("export", "openlineage", "--url",
                                f"http://me:s3cret@127.0.0.1:{port}/moved/"), "500")
        assert "s3cret" not in line
        assert "s3cret" not in assert_error(
            cli("export", "openlineage", "--url", "ftp://me:s3cret@h"), "ftp://h", code=2)
    finally:
        server.shutdown()
        server.server_close()


def test_docs_examples_run(store, receiver):
    """Every ``mlver`` command of docs/openlineage.md's bash blocks runs here (the server
    URL replaced by the test receiver's) and succeeds."""
    url, got = receiver
    text = DOCS.read_text()
    commands = [ln.strip() for block in re.findall(r"```bash\n(.*?)```", text, re.S)
                for ln in block.splitlines() if ln.strip().startswith("mlver ")]
    assert len(commands) >= 3
    for command in commands:
        args = command.split()[1:]
        args = [url if a.startswith("http://localhost") else a for a in args]
        assert_ok(cli(*args))


def test_schema_of_a_chunked_parquet_and_of_what_is_not_a_table(tmp_path, monkeypatch):
    """A chunked Parquet file's columns come from its footer (the chunks that hold it);
    a file that only looks like a table by name gives no facet, and no error."""
    from mlver.integrations.openlineage import schema_fields

    root = make_git_repo(tmp_path / "big", {"README.md": "# big\n", ".gitignore": "data/\n"})
    monkeypatch.chdir(root)
    mlver.Repo.init(str(root)).close()
    monkeypatch.setattr("mlver.store.chunker.CHUNK_THRESHOLD", 64 << 10)
    n = 40_000
    (root / "data").mkdir()
    pq.write_table(pa.table({"k": list(range(n)), "v": [f"row{i}" for i in range(n)]}),
                   root / "data/big.parquet", compression="none")
    write(root / "data/fake.parquet", b"not a parquet file at all")
    with mlver.Repo(str(root)) as repo:
        oid = repo.snapshot("big", inputs={"t": "data/big.parquet",
                                           "f": "data/fake.parquet"}).oid
        rec = repo.record(oid)
        assert repo.store.objects.manifest(rec.inputs["t"].oid) is not None  # chunked
        assert schema_fields(repo.store, rec.inputs["t"]) == [
            {"name": "k", "type": "int64"}, {"name": "v", "type": "string"}]
        assert schema_fields(repo.store, rec.inputs["f"]) is None
        events = repo.openlineage("big@1")
    for e in events:
        validate(e)
    (fake,) = [d for d in events[0]["inputs"] if d["name"] == "data/fake.parquet"]
    assert set(fake["facets"]) == {"version"}


def test_code_url_is_a_uri():
    from mlver.integrations.openlineage import code_url

    assert code_url("git@github.com:acme/shop.git", "/r") == "ssh://git@github.com/acme/shop.git"
    assert code_url("https://github.com/acme/shop", "/r") == "https://github.com/acme/shop"
    assert code_url(None, "/work/shop") == "file:///work/shop"
