"""mlver.core.config: the store's config.json (format, hash) and the project's mlver.toml."""

from __future__ import annotations

import json

import pytest

from mlver.core import config as cfgmod
from mlver.core.config import SnapshotSpec, load_project
from mlver.store.settings import read_store_config, write_store_config
from mlver.base.errors import ConfigError, StoreFormatError


@pytest.fixture
def store_dir(tmp_path):
    d = tmp_path / ".mlver"
    d.mkdir()
    return d


def test_write_then_read_store_config(store_dir):
    write_store_config(str(store_dir))
    raw = (store_dir / "config.json").read_text()
    want = {"format": 3, "hash": "xxh3-128", "chunker": "fastcdc2020-nc1-16k-64k-256k"}
    assert json.loads(raw) == want
    assert read_store_config(str(store_dir)) == want
    assert sorted(p.name for p in store_dir.iterdir()) == ["config.json"]  # no tmp left


def test_format_1_store_config_is_still_read(store_dir):
    (store_dir / "config.json").write_text(json.dumps({"format": 1, "hash": "xxh3-128"}))
    assert read_store_config(str(store_dir))["format"] == 1


def test_newer_store_format_is_refused(store_dir):
    (store_dir / "config.json").write_text(json.dumps({"format": 99, "hash": "xxh3-128"}))
    with pytest.raises(StoreFormatError) as ei:
        read_store_config(str(store_dir))
    msg = str(ei.value)
    assert "format 99" in msg and "upgrade mlver" in msg and str(store_dir) in msg


@pytest.mark.parametrize("cfg,needle", [
    ({"format": "1", "hash": "xxh3-128"}, "format '1'"),
    ({"hash": "xxh3-128"}, "format None"),
    ({"format": 1, "hash": "sha256"}, "hash 'sha256'"),
    ({"format": 1}, "hash None"),
])
def test_unreadable_store_configs(store_dir, cfg, needle):
    (store_dir / "config.json").write_text(json.dumps(cfg))
    with pytest.raises(StoreFormatError, match=needle):
        read_store_config(str(store_dir))


def test_missing_and_invalid_store_config(store_dir):
    with pytest.raises(StoreFormatError, match="missing"):
        read_store_config(str(store_dir))
    (store_dir / "config.json").write_text("{format: 1")
    with pytest.raises(StoreFormatError, match="not valid JSON"):
        read_store_config(str(store_dir))


def test_absent_project_file_is_empty(tmp_path):
    p = load_project(str(tmp_path))
    assert p.snapshots == {} and p.tables == {} and p.python is None
    assert p.table_key("x.csv") is None


PROJECT = """
[snapshot.features]
kind = "dataset"
inputs = { raw = "raw" }
outputs = { features = "features/listings.csv" }
params = ["params.yaml"]
command = "python prepare.py"

[snapshot.price-model]
inputs = { train = "features/listings.csv" }
outputs = { model = "model/model.pkl" }
params = "params.yaml"
metrics = ["metrics.json", "extra.json"]
message = "nightly"

[tables."features/listings.csv"]
key = ["listing_id"]
target = "price"

[tables."raw/a.csv"]
key = "id"

[env]
python = "/opt/py/bin/python"
"""


def test_load_project(tmp_path):
    (tmp_path / "mlver.toml").write_text(PROJECT)
    p = load_project(str(tmp_path))
    assert p.snapshots["features"] == SnapshotSpec(
        kind="dataset", inputs={"raw": "raw"}, outputs={"features": "features/listings.csv"},
        params=("params.yaml",), metrics=(), command="python prepare.py", message=None)
    pm = p.snapshots["price-model"]
    assert pm.kind is None and pm.params == ("params.yaml",)
    assert pm.metrics == ("metrics.json", "extra.json") and pm.message == "nightly"
    assert p.table_key("features/listings.csv") == ["listing_id"]
    assert p.table_key("raw/a.csv") == ["id"]
    assert p.table_key("other.csv") is None
    assert p.table_target("features/listings.csv") == "price"
    assert p.table_target("raw/a.csv") is None and p.table_target("other.csv") is None
    assert p.python == "/opt/py/bin/python"


@pytest.mark.parametrize("text,needle", [
    ("[snapshot.m\ninputs = 1", "not valid TOML"),
    ("snapshot = { m = 3 }", "[snapshot.m]"),
    ("[snapshot.m]\ninputs = \"data\"", "[snapshot.m] inputs in"),
    ("[snapshot.m]\noutputs = [\"a\"]", "[snapshot.m] outputs in"),
    ("[snapshot.m]\noutputs = { o = [\"a\"] }", "[snapshot.m] outputs.o in"),
    ("[snapshot.m]\nparams = 3", "[snapshot.m] params"),
    ("[snapshot.m]\nmetrics = [1, 2]", "[snapshot.m] metrics"),
    ("[snapshot.m]\ncommand = 5", "[snapshot.m] command in mlver.toml must be a string (run by "
                                 "the shell) or a non-empty list of arguments, not a number"),
    ("snapshot = 5", "[snapshot] in"),
    ("tables = 3", "[tables]"),
    ("[snapshot.m]\ninput = { a = \"a\" }", "unknown key 'input' in [snapshot.m] of"),
    ("[snapshot.m]\nmetric = \"m.json\"", "did you mean 'metrics'?"),
    ("[snapshots.m]\ninputs = { a = \"a\" }", "unknown key 'snapshots' in the top level"),
    ("[env]\npyhton = \"python3\"", "did you mean 'python'?"),
    ("[tables.\"a.csv\"]\ntarget = [\"y\"]", "[tables.\"a.csv\"] target in mlver.toml must be a "
                                             "string, not a list"),
    ("[tables.\"a.csv\"]\ntargte = \"y\"", "did you mean 'target'?"),
])
def test_malformed_project_file(tmp_path, text, needle):
    (tmp_path / "mlver.toml").write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_project(str(tmp_path))
    assert needle in str(ei.value)
    assert cfgmod.PROJECT_FILE in str(ei.value)


# -- [snapshot.NAME] code: the declared code scope (issue 10) ----------------------------------

def test_snapshot_code_scope(tmp_path):
    (tmp_path / "mlver.toml").write_text(
        '[snapshot.a]\ncode = ["train.py", "src/**/*.py"]\n[snapshot.b]\ncode = "fetch.py"\n'
        '[snapshot.c]\noutputs = {raw = "raw"}\n')
    snaps = load_project(str(tmp_path)).snapshots
    assert snaps["a"].code == ("train.py", "src/**/*.py")
    assert snaps["b"].code == ("fetch.py",)
    assert snaps["c"].code == ()


@pytest.mark.parametrize("text,message", [
    ('[snapshot.a]\ncode = 3\n',
     "[snapshot.a] code in mlver.toml must be a string or a list of strings, not a number; fix it"),
    ('[snapshot.a]\ncode = ["a.py", 1]\n',
     "[snapshot.a] code in mlver.toml must be a string or a list of strings, not a list; fix it"),
])
def test_snapshot_code_scope_must_be_strings(tmp_path, text, message):
    (tmp_path / "mlver.toml").write_text(text)
    with pytest.raises(ConfigError) as ei:
        load_project(str(tmp_path))
    assert str(ei.value) == message


def test_snapshot_code_typo_is_suggested(tmp_path):
    (tmp_path / "mlver.toml").write_text('[snapshot.a]\ncod = ["a.py"]\n')
    with pytest.raises(ConfigError) as ei:
        load_project(str(tmp_path))
    assert str(ei.value) == (f"unknown key 'cod' in [snapshot.a] of {tmp_path / 'mlver.toml'}; "
                             "did you mean 'code'?")
