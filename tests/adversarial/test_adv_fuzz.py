"""Fuzzing every untrusted input a read command parses: random bytes and random
JSON-ish values written as a record object (+ ref), a tree object referenced by a
record, a ref file, ``.mlver/config.json``, ``mlver.toml`` and a params file. Each
read command run in-process must exit 0, or 1 with exactly one ``Error:`` line —
never an unhandled exception (issue: fuzz test)."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st

from . import craft
from mlver.base import canonical

COMMANDS = [("log",), ("log", "m"), ("show", "m"), ("status",), ("diff", "m@1", "m@2"),
            ("diff", "m@1", "m"),
            ("diff", "m"), ("lineage", "m"), ("reindex",)]

# No shrinking (a failure is reported as found, fast) and no example database (nothing
# written outside tests/adversarial); derandomized so a run is repeatable.
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=list(HealthCheck))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-2**70, max_value=2**70)
    | st.floats(allow_nan=False) | st.text(max_size=20)
    | st.sampled_from(["", "..", "../x", "/etc/passwd", "--output=x", "a" * 32, "0" * 32,
                       "record", "tree", "blob", "m", "m@1", "\x1b[2J", "\u202e"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=10) | st.sampled_from(
        ["type", "format", "name", "version", "oid", "entries", "inputs", "path"]),
        children, max_size=4),
    max_leaves=12)


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """A store with m@1, m@2 (CSV input, params file) built once, copied per example."""
    old = os.getcwd()
    root = craft.make_project(tmp_path_factory.mktemp("fuzz") / "proj")
    craft.write(root / "params.yaml", "lr: 0.1\n")
    craft.write(root / "d" / "a.csv", "id,x\n1,10\n2,20\n")
    craft.snapshot(root, "m", "-i", "data=d", "-p", "params.yaml")
    craft.write(root / "d" / "a.csv", "id,x\n1,10\n2,20\n3,30\n")
    craft.snapshot(root, "m", "-i", "data=d", "-p", "params.yaml")
    os.chdir(old)
    return root


def _run_all(template, mutate, commands=COMMANDS):
    work = Path(tempfile.mkdtemp(prefix="fuzz-"))
    root = work / "proj"
    shutil.copytree(template, root, symlinks=True)
    old = os.getcwd()
    try:
        os.chdir(root)
        mutate(root)
        for args in commands:
            result = craft.cli(*args)
            try:
                craft.assert_cli_ok_or_error(result)
            except AssertionError:
                raise AssertionError(f"mlver {' '.join(args)}: exit {result.exit_code}, "
                                     f"{result.exception!r}\n{result.output[-1500:]}") from None
    finally:
        os.chdir(old)
        shutil.rmtree(work, ignore_errors=True)


def _mutated_record(template, value, where):
    d = craft.record_dict(template, craft.ref_oid(template, "m"))
    keys = sorted(d)
    k = keys[where % len(keys)]
    d[k] = value
    return canonical.dumps(d)


def _payloads(mutated):
    return st.one_of(
        st.binary(max_size=600),
        json_values.map(lambda v: json.dumps(v).encode()),
        mutated,
    )


@SETTINGS
@given(data=st.data())
def test_fuzz_record_object(template, data):
    mutated = st.tuples(json_values, st.integers(0, 30)).map(
        lambda t: _mutated_record(template, *t))
    payload = data.draw(_payloads(mutated))

    def mutate(root):
        craft.set_ref(root, "m", craft.write_object(root, payload))
    _run_all(template, mutate)


@SETTINGS
@given(data=st.data())
def test_fuzz_tree_object(template, data):
    def mutated_tree(t):
        value, where = t
        d = {"entries": [{"exec": False, "name": "a.csv", "oid": "0" * 32, "size": 1,
                          "type": "blob"}], "format": 1, "type": "tree"}
        if where % 3 == 0:
            d["entries"][0][sorted(d["entries"][0])[where % 5]] = value
        else:
            d[sorted(d)[where % 3]] = value
        return canonical.dumps(d)

    payload = data.draw(_payloads(st.tuples(json_values, st.integers(0, 30)).map(mutated_tree)))

    def mutate(root):
        toid = craft.write_object(root, payload)

        def point(d):
            d["inputs"]["data"]["oid"] = toid
        craft.set_ref(root, "m", craft.craft_record(root, craft.ref_oid(root, "m"), point))
    _run_all(template, mutate)


@SETTINGS
@given(payload=st.one_of(st.binary(max_size=300),
                         st.text(alphabet="0123456789abcdefABCDEF\n \r\t-", max_size=80)
                         .map(str.encode)))
def test_fuzz_ref_file(template, payload):
    def mutate(root):
        craft.ref_path(root, "m").write_bytes(payload)
    _run_all(template, mutate)


@SETTINGS
@given(payload=_payloads(st.tuples(json_values, st.sampled_from(["format", "hash", "x"])).map(
    lambda t: json.dumps({"format": 1, "hash": "xxh3-128", t[1]: t[0]}).encode())))
def test_fuzz_config_json(template, payload):
    def mutate(root):
        (root / ".mlver" / "config.json").write_bytes(payload)
    _run_all(template, mutate)


toml_keys = st.sampled_from(["snapshot", "env", "tables", "inputs", "outputs", "params",
                             "metrics", "command", "kind", "python", "key", "input", "m", "x"])


def _toml_value(v):
    return json.dumps(v) if not isinstance(v, bool) else ("true" if v else "false")


toml_docs = st.one_of(
    st.binary(max_size=300).map(lambda b: b),
    st.lists(st.tuples(st.lists(toml_keys, min_size=1, max_size=3),
                       st.lists(st.tuples(toml_keys, st.one_of(
                           st.integers(-5, 5), st.text(max_size=8), st.booleans(),
                           st.lists(st.text(max_size=5), max_size=3))), max_size=4)),
             max_size=4).map(lambda tables: "".join(
                 f"[{'.'.join(path)}]\n" + "".join(f"{k} = {_toml_value(v)}\n" for k, v in kv)
                 for path, kv in tables).encode()),
)


@SETTINGS
@given(payload=toml_docs)
def test_fuzz_mlver_toml(template, payload):
    def mutate(root):
        (root / "mlver.toml").write_bytes(payload)
    _run_all(template, mutate, COMMANDS + [("snapshot", "m")])


@SETTINGS
@given(payload=st.one_of(st.binary(max_size=400), st.text(max_size=200).map(str.encode),
                         json_values.map(lambda v: json.dumps(v).encode())))
def test_fuzz_params_file(template, payload):
    def mutate(root):
        (root / "params.yaml").write_bytes(payload)
    _run_all(template, mutate, [("status",), ("status", "m"), ("diff", "m"),
                                ("snapshot", "m", "-i", "data=d", "-p", "params.yaml")])
