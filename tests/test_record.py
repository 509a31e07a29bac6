"""mlver.core.record: frozen records with one canonical JSON form whose hash is the oid."""

from __future__ import annotations

import copy
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlver.base import canonical
from mlver.base.errors import RecordFormatError
from mlver.base.hashing import oid_of
from mlver.core.record import Artifact, Code, Env, Record, Run, Scope, Trace, check_path

O_EMPTY = "99aa06d3014798d86001c324468d497f"
O_A = "a96faf705af16834e6c632b61e964e1f"
O_ABC = "06b05ab6733a618578af5f94892f3950"
O_HELLO = "eefac9d87100cd1336b2e733a5484425"
O_KB = "83885e853bb6640ca870f92984398d22"
O_TREE = "610765491281ef65fe5ce4b354aa1630"


def golden_record() -> Record:
    return Record(
        name="price-model", version=3, kind="model", created="2024-05-01T12:00:00.000000Z",
        parents=(O_KB,), author="Ada Lovelace <ada@example.com>", message="retrain on May data",
        inputs={"train": Artifact("data/listings.csv", O_HELLO, "blob", 12, 1),
                "images": Artifact("data/images", O_TREE, "tree", 1040, 5),
                "features": Artifact("features/out.parquet", O_ABC, "blob", 3, 1, source=O_A)},
        outputs={"model": Artifact("model/model.pkl", O_EMPTY, "blob", 0, 1)},
        code=Code(commit="0123456789abcdef0123456789abcdef01234567", branch="main",
                  remote="https://example.com/acme/price.git", dirty=True, patch=O_A,
                  untracked=("notes.md", "scratch/")),
        params={"lr": 0.1, "model": {"depth": 6, "name": "gbm"}, "tags": ["a", "b"], "seed": None},
        params_files=("params.yaml",),
        metrics={"rmse": 1234.5, "r2": 0.87},
        metrics_files=("metrics.json",),
        env=Env(python="3.11.7", implementation="CPython", platform="Linux-x86_64",
                packages=O_KB, packages_count=42),
        run=Run(command=("python", "train.py"), exit_code=0,
                started="2024-05-01T11:59:00.000000Z", duration_s=59.5),
    )


GOLDEN_BYTES = (
    b'{"author":"Ada Lovelace <ada@example.com>",'
    b'"code":{"branch":"main","commit":"0123456789abcdef0123456789abcdef01234567","dirty":true,'
    b'"patch":"a96faf705af16834e6c632b61e964e1f","remote":"https://example.com/acme/price.git",'
    b'"untracked":["notes.md","scratch/"]},'
    b'"created":"2024-05-01T12:00:00.000000Z",'
    b'"env":{"implementation":"CPython","packages":"83885e853bb6640ca870f92984398d22",'
    b'"packages_count":42,"platform":"Linux-x86_64","python":"3.11.7"},'
    b'"format":1,'
    b'"inputs":{"features":{"files":1,"oid":"06b05ab6733a618578af5f94892f3950",'
    b'"path":"features/out.parquet","size":3,"source":"a96faf705af16834e6c632b61e964e1f","type":"blob"},'
    b'"images":{"files":5,"oid":"610765491281ef65fe5ce4b354aa1630","path":"data/images","size":1040,"type":"tree"},'
    b'"train":{"files":1,"oid":"eefac9d87100cd1336b2e733a5484425","path":"data/listings.csv","size":12,"type":"blob"}},'
    b'"kind":"model","message":"retrain on May data","metrics":{"r2":0.87,"rmse":1234.5},'
    b'"metrics_files":["metrics.json"],"name":"price-model",'
    b'"outputs":{"model":{"files":1,"oid":"99aa06d3014798d86001c324468d497f","path":"model/model.pkl","size":0,"type":"blob"}},'
    b'"params":{"lr":0.1,"model":{"depth":6,"name":"gbm"},"seed":null,"tags":["a","b"]},'
    b'"params_files":["params.yaml"],"parents":["83885e853bb6640ca870f92984398d22"],'
    b'"run":{"command":["python","train.py"],"duration_s":59.5,"exit_code":0,'
    b'"started":"2024-05-01T11:59:00.000000Z"},'
    b'"type":"record","version":3}'
)
GOLDEN_OID = "f768c84104f487db08b66c83070048af"


def test_golden_record_bytes_and_oid():
    rec = golden_record()
    assert rec.encode() == GOLDEN_BYTES
    assert rec.oid == GOLDEN_OID == oid_of(GOLDEN_BYTES)


def test_golden_record_decodes_back():
    assert Record.decode(GOLDEN_BYTES) == golden_record()
    assert Record.decode(GOLDEN_BYTES).encode() == GOLDEN_BYTES


def test_minimal_record_form():
    rec = Record(name="m", version=1, kind="dataset", created="t")
    d = rec.to_dict()
    assert d["code"] == {} and d["run"] is None and d["inputs"] == {} and d["parents"] == []
    assert d["format"] == 1 and d["type"] == "record"
    assert Record.decode(rec.encode()) == rec


def test_label_and_with_version():
    rec = golden_record()
    assert rec.label == "price-model@3"
    r2 = rec.with_version(4, (GOLDEN_OID,))
    assert (r2.version, r2.parents) == (4, (GOLDEN_OID,))
    assert r2.oid != rec.oid


def test_content_ignores_when_who_why_and_order():
    rec = golden_record()
    other = Record(**{**rec.__dict__, "created": "2030-01-01T00:00:00Z", "message": "other",
                      "author": None, "parents": (), "version": 9, "run": None})
    assert other.oid != rec.oid
    assert other.content() == rec.content()
    changed = Record(**{**rec.__dict__, "params": {"lr": 0.2}})
    assert changed.content() != rec.content()


def test_artifact_source_only_when_set():
    a = Artifact("x.csv", O_A, "blob", 1, 1)
    assert "source" not in a.to_dict()
    assert Artifact("x.csv", O_A, "blob", 1, 1, source=O_KB).to_dict()["source"] == O_KB


def test_empty_code_means_not_in_git():
    assert Code().to_dict() == {}
    assert Code.from_dict({}) == Code()


@pytest.mark.parametrize("path", ["../../etc/passwd", "..", "/etc/passwd", "a/../../b", "a/../b",
                                  "./a", "a//b", "a/", "a\\b", "", "a\0b", "../x"])
def test_check_path_refuses_escaping_paths(path):
    with pytest.raises(RecordFormatError, match="not a plain relative path"):
        check_path(path, "input 'x'")


@pytest.mark.parametrize("path", ["a", "data/train.csv", "..a/b", "a../b", "é/ü.csv", "a b/c"])
def test_check_path_accepts_plain_paths(path):
    assert check_path(path, "input") == path


def _tampered(mutate) -> dict:
    d = json.loads(GOLDEN_BYTES)
    mutate(d)
    return d


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["inputs"]["train"].update(path="../../etc/passwd"), "../../etc/passwd"),
    (lambda d: d["outputs"]["model"].update(path="/etc/passwd"), "/etc/passwd"),
    (lambda d: d["inputs"]["train"].update(oid="zz"), "bad oid"),
    (lambda d: d["inputs"]["train"].update(type="fifo"), "bad oid, type"),
    (lambda d: d["inputs"]["features"].update(source="../x"), "source"),
    (lambda d: d["inputs"]["train"].pop("size"), "malformed"),
    (lambda d: d.update(params_files=["../secrets.yaml"]), "params file"),
    (lambda d: d.update(metrics_files=["/m.json"]), "metrics file"),
    (lambda d: d.update(format=2), "format 2"),
    (lambda d: d.update(type="tree"), "not a record"),
    (lambda d: d.update(kind="robot"), "kind"),
    (lambda d: d.update(version=0), "version"),
    (lambda d: d.update(name="../evil"), "name"),
    (lambda d: d.update(parents=["nope"]), "parents"),
    (lambda d: d["code"].update(patch="../p"), "code.patch"),
    (lambda d: d["env"].update(packages="x"), "env.packages"),
    (lambda d: d.pop("created"), "malformed"),
])
def test_from_dict_rejects_tampered_records(mutate, needle):
    with pytest.raises(RecordFormatError) as ei:
        Record.from_dict(_tampered(mutate))
    assert needle in str(ei.value)


@pytest.mark.parametrize("data", [b"\xff\xfe", b"{not json", b"[]", b"null"])
def test_decode_rejects_non_records(data):
    with pytest.raises(RecordFormatError, match="not a record"):
        Record.decode(data)


# -- round trips ------------------------------------------------------------------------------

oids = st.text("0123456789abcdef", min_size=32, max_size=32)
names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,20}\Z").filter(lambda n: not n.endswith(".lock"))
segments = st.text(st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/\\"),
                   min_size=1, max_size=8).filter(lambda s: s not in (".", ".."))
paths = st.lists(segments, min_size=1, max_size=4).map("/".join)
texts = st.text(max_size=30)
artifacts = st.builds(Artifact, path=paths, oid=oids, type=st.sampled_from(["blob", "tree", "link"]),
                      size=st.integers(0, 2**53), files=st.integers(0, 10**6),
                      source=st.none() | oids)
json_leaf = (st.none() | st.booleans() | st.integers(-2**63, 2**63)
             | st.floats(allow_nan=False, allow_infinity=False) | texts)
json_values = st.recursive(json_leaf, lambda c: st.lists(c, max_size=3)
                           | st.dictionaries(texts, c, max_size=3), max_leaves=8)
json_dicts = st.dictionaries(texts, json_values, max_size=4)
codes = st.just(Code()) | st.builds(
    Code, commit=st.text("0123456789abcdef", min_size=40, max_size=40), branch=st.none() | texts,
    remote=st.none() | texts, dirty=st.booleans(), patch=st.none() | oids,
    untracked=st.lists(paths, max_size=3).map(tuple))
envs = st.builds(Env, python=st.none() | texts, implementation=st.none() | texts,
                 platform=st.none() | texts, packages=st.none() | oids,
                 packages_count=st.integers(0, 10**4))
runs = st.none() | st.builds(Run, command=st.lists(texts, min_size=1, max_size=3).map(tuple),
                             exit_code=st.integers(-255, 255), started=texts,
                             duration_s=st.floats(0, 1e6, allow_nan=False))
records = st.builds(
    Record, name=names, version=st.integers(1, 10**6), kind=st.sampled_from(["model", "dataset"]),
    created=texts, parents=st.lists(oids, max_size=2).map(tuple), author=st.none() | texts,
    message=texts, inputs=st.dictionaries(names, artifacts, max_size=3),
    outputs=st.dictionaries(names, artifacts, max_size=3), code=codes, params=json_dicts,
    params_files=st.lists(paths, max_size=2).map(tuple), metrics=json_dicts,
    metrics_files=st.lists(paths, max_size=2).map(tuple), env=envs, run=runs)


@settings(max_examples=60, deadline=None)
@given(records)
def test_to_dict_from_dict_round_trip(rec):
    d = rec.to_dict()
    snapshot = copy.deepcopy(d)
    assert Record.from_dict(d) == rec
    assert d == snapshot  # from_dict does not mutate its input


@settings(max_examples=60, deadline=None)
@given(records)
def test_encode_decode_round_trip(rec):
    data = rec.encode()
    back = Record.decode(data)
    assert back == rec
    assert back.encode() == data
    assert back.oid == rec.oid == oid_of(data)


# -- code scope and run trace (issue 10): written only when set -------------------------------

def test_scope_and_trace_are_written_only_when_set():
    rec = golden_record()
    assert "scope" not in rec.to_dict()["code"] and "trace" not in rec.to_dict()["run"]
    scoped = Record(**{**rec.__dict__,
                       "code": replace(rec.code, scope=Scope("declared", ("src/**/*.py", "train.py"))),
                       "run": replace(rec.run, trace=Trace(True, ("data/extra.csv",)))})
    d = json.loads(scoped.encode())
    assert d["code"]["scope"] == {"from": "declared", "paths": ["src/**/*.py", "train.py"]}
    assert d["run"]["trace"] == {"traced": True, "unrecorded": ["data/extra.csv"]}
    assert canonical.dumps(d["run"]) == (
        b'{"command":["python","train.py"],"duration_s":59.5,"exit_code":0,'
        b'"started":"2024-05-01T11:59:00.000000Z",'
        b'"trace":{"traced":true,"unrecorded":["data/extra.csv"]}}')
    assert Record.decode(scoped.encode()) == scoped
    # the scope is content (another scope is another version); the trace is not
    assert scoped.content() != rec.content()
    assert Record(**{**scoped.__dict__, "run": rec.run}).content() == scoped.content()
    untraced = Trace(False, (), "not a Python command")
    assert untraced.to_dict() == {"traced": False, "unrecorded": [], "note": "not a Python command"}
    assert Trace.from_dict(untraced.to_dict()) == untraced


def test_a_scope_needs_a_commit():
    assert Code(scope=Scope("traced", ("a.py",))).to_dict() == {}


@pytest.mark.parametrize("mutate,needle", [
    (lambda d: d["code"].update(scope={"from": "guessed", "paths": []}), "code.scope"),
    (lambda d: d["code"].update(scope={"from": "declared", "paths": ["../x.py"]}), "../x.py"),
    (lambda d: d["code"].update(scope={"from": "declared", "paths": ["/etc/*"]}), "/etc/*"),
    (lambda d: d["code"].update(scope={"from": "declared", "paths": "a.py"}), "code.scope"),
    (lambda d: d["code"].update(scope={"from": "traced", "paths": ["a"] * 10001}), "at most 10000"),
    (lambda d: d["code"].update(scope={"from": "traced", "paths": ["a" * 5000]}), "short text"),
    (lambda d: d["code"].update(scope=["a.py"]), "code.scope"),
    (lambda d: d["run"].update(trace={"traced": "yes"}), "run.trace"),
    (lambda d: d["run"].update(trace={"traced": True, "unrecorded": ["a/../../x"]}), "a/../../x"),
    (lambda d: d["run"].update(trace={"traced": True, "unrecorded": [3]}), "short text"),
    (lambda d: d["run"].update(trace={"traced": False, "note": ["x"]}), "run.trace.note"),
])
def test_from_dict_rejects_tampered_scopes_and_traces(mutate, needle):
    with pytest.raises(RecordFormatError) as ei:
        Record.from_dict(_tampered(mutate))
    assert needle in str(ei.value)


scopes = st.none() | st.builds(Scope, origin=st.sampled_from(["declared", "traced"]),
                               paths=st.lists(paths | st.just("src/**/*.py"), max_size=3).map(tuple))
traces = st.none() | st.builds(Trace, traced=st.booleans(),
                               unrecorded=st.lists(paths, max_size=3).map(tuple),
                               note=st.none() | st.text(min_size=1, max_size=20))


@settings(max_examples=60, deadline=None)
@given(records, scopes, traces)
def test_scope_and_trace_round_trip(rec, scope, trace):
    code = replace(rec.code, scope=scope) if rec.code.commit else rec.code
    run = replace(rec.run, trace=trace) if rec.run else None
    rec = Record(**{**rec.__dict__, "code": code, "run": run})
    back = Record.decode(rec.encode())
    assert back == rec and back.encode() == rec.encode()


# -- content missing at a DVC import (issue 13): written only when set --------------------------

MD5 = "e5ebd4c02cefbe7955977c67ada242b7"


def test_missing_artifact_is_written_only_when_set_and_round_trips():
    from mlver.core.record import missing_oid, missing_placeholder

    assert "missing" not in Artifact("x.csv", O_A, "blob", 1, 1).to_dict()
    assert missing_placeholder(MD5) == (
        b"mlver: missing from the DVC cache at import (md5 e5ebd4c02cefbe7955977c67ada242b7)\n")
    a = Artifact("data/raw.csv", missing_oid(MD5), "blob", 8, 1, missing=MD5)
    assert a.to_dict() == {"path": "data/raw.csv", "oid": oid_of(missing_placeholder(MD5)),
                           "type": "blob", "size": 8, "files": 1, "missing": {"md5": MD5}}
    assert a.missing_note == f"missing from the DVC cache at import (md5 {MD5})"
    assert Artifact.from_dict(a.to_dict(), "output 'raw'") == a
    folder = Artifact("feat", missing_oid(MD5 + ".dir"), "blob", 27, 3, missing=MD5 + ".dir")
    assert Artifact.from_dict(folder.to_dict(), "input 'feat'") == folder
    # the golden record (no missing field) keeps its bytes and oid
    assert golden_record().oid == GOLDEN_OID


@pytest.mark.parametrize("change,needle", [
    ({"missing": {"md5": "../../etc/passwd"}}, "bad 'missing'"),
    ({"missing": {"md5": MD5.upper()}}, "bad 'missing'"),
    ({"missing": MD5}, "bad 'missing'"),
    ({"missing": {"md5": MD5, "x": 1}}, "bad 'missing'"),
    ({"oid": O_A}, "placeholder"),
    ({"type": "tree"}, "placeholder"),
])
def test_missing_artifact_is_validated(change, needle):
    from mlver.core.record import missing_oid

    d = {"path": "data/raw.csv", "oid": missing_oid(MD5), "type": "blob", "size": 8,
         "files": 1, "missing": {"md5": MD5}}
    d.update(change)
    with pytest.raises(RecordFormatError, match=needle):
        Artifact.from_dict(d, "output 'raw'")
