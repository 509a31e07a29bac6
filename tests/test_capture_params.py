"""mlver.core.params: YAML/JSON/TOML files and KEY=VALUE pairs (JSON when it parses)."""

from __future__ import annotations

import pytest

from mlver.core.params import collect, flatten, is_pair, parse_file, parse_pair
from mlver.base.errors import ParamsError

from conftest import write

NESTED = {"lr": 0.1, "epochs": 10, "model": {"depth": 6, "name": "gbm"}, "tags": ["a", "b"],
          "flag": True}


@pytest.mark.parametrize("name,text", [
    ("params.yaml", "lr: 0.1\nepochs: 10\nmodel:\n  depth: 6\n  name: gbm\ntags: [a, b]\nflag: true\n"),
    ("params.yml", "lr: 0.1\nepochs: 10\nmodel: {depth: 6, name: gbm}\ntags: [a, b]\nflag: yes\n"),
    ("params.json", '{"lr": 0.1, "epochs": 10, "model": {"depth": 6, "name": "gbm"}, '
                    '"tags": ["a", "b"], "flag": true}'),
    ("params.toml", 'lr = 0.1\nepochs = 10\ntags = ["a", "b"]\nflag = true\n'
                    '[model]\ndepth = 6\nname = "gbm"\n'),
    ("PARAMS.YAML", "lr: 0.1\nepochs: 10\nmodel:\n  depth: 6\n  name: gbm\ntags: [a, b]\nflag: true\n"),
])
def test_files_of_each_format(tmp_path, name, text):
    write(tmp_path / name, text)
    assert parse_file(str(tmp_path / name), name) == NESTED


def test_empty_yaml_is_empty(tmp_path):
    write(tmp_path / "p.yaml", "")
    assert parse_file(str(tmp_path / "p.yaml"), "p.yaml") == {}


def test_yaml_values_become_json(tmp_path):
    write(tmp_path / "p.yaml", "day: 2024-05-01\nn: .nan\ninf: .inf\n1: one\n")
    assert parse_file(str(tmp_path / "p.yaml"), "p.yaml") == {
        "day": "2024-05-01", "n": "nan", "inf": "inf", "1": "one"}


@pytest.mark.parametrize("name,text,needle", [
    ("params.yaml", "lr: [0.1\nbad: : :\n", "cannot parse 'params.yaml'"),
    ("params.json", '{"lr": 0.1,}', "cannot parse 'params.json'"),
    ("params.toml", "lr = = 1", "cannot parse 'params.toml'"),
    ("params.yaml", "- 1\n- 2\n", "'params.yaml' must hold a mapping"),
    ("params.json", "3", "must hold a mapping of keys to values, not a int"),
    ("params.txt", "lr=1", "'params.txt' is not a .yaml, .yml, .json or .toml file"),
    ("params.yaml", b"\xff\xfe\x00", "cannot parse 'params.yaml'"),
])
def test_malformed_files(tmp_path, name, text, needle):
    write(tmp_path / name, text)
    with pytest.raises(ParamsError) as ei:
        parse_file(str(tmp_path / name), name)
    msg = str(ei.value)
    assert needle in msg
    assert "\n" not in msg  # one line, whatever the parser said


def test_missing_file(tmp_path):
    with pytest.raises(ParamsError, match="'nope.yaml' does not exist"):
        parse_file(str(tmp_path / "nope.yaml"), "nope.yaml")


@pytest.mark.parametrize("text,keys,value", [
    ("lr=0.1", ["lr"], 0.1),
    ("name=abc", ["name"], "abc"),
    ("epochs=3", ["epochs"], 3),
    ("flag=true", ["flag"], True),
    ("none=null", ["none"], None),
    ('tags=["a",1]', ["tags"], ["a", 1]),
    ('obj={"k": 2}', ["obj"], {"k": 2}),
    ('quoted="3"', ["quoted"], "3"),
    ("empty=", ["empty"], ""),
    ("eq=a=b", ["eq"], "a=b"),
    ("model.depth=6", ["model", "depth"], 6),
    (" spaced =1", ["spaced"], 1),
    ("x=NaN", ["x"], "nan"),
])
def test_parse_pair(text, keys, value):
    assert parse_pair(text) == (keys, value)


@pytest.mark.parametrize("text", ["noequals", "=3", "  =x"])
def test_parse_pair_rejects(text):
    with pytest.raises(ParamsError, match="neither a params file nor KEY=VALUE"):
        parse_pair(text)


def test_collect_merges_in_order_and_nests_dotted_keys(tmp_path):
    write(tmp_path / "params.yaml", "lr: 0.1\nmodel:\n  depth: 6\n  name: gbm\n")
    values, files = collect(["params.yaml", "model.depth=8", "model.extra.x=1", "lr=0.2",
                             "name=abc"], str(tmp_path))
    assert values == {"lr": 0.2, "model": {"depth": 8, "name": "gbm", "extra": {"x": 1}},
                      "name": "abc"}
    assert files == ["params.yaml"]


def test_later_file_wins(tmp_path):
    write(tmp_path / "a.json", '{"lr": 1, "m": {"x": 1, "y": 1}}')
    write(tmp_path / "b.toml", "lr = 2\n[m]\ny = 2\n")
    values, files = collect(["a.json", "b.toml"], str(tmp_path))
    assert values == {"lr": 2, "m": {"x": 1, "y": 2}}
    assert files == ["a.json", "b.toml"]


def test_a_file_named_like_a_pair_is_a_file(tmp_path):
    write(tmp_path / "lr=1.json", '{"lr": 5}')
    assert not is_pair("lr=1.json", str(tmp_path))
    assert is_pair("lr=1", str(tmp_path))
    assert collect(["lr=1.json"], str(tmp_path)) == ({"lr": 5}, ["lr=1.json"])


def test_flatten():
    assert flatten({"a": {"b": 1, "c": {"d": 2}}, "e": 3, "f": {}}) == {
        "a.b": 1, "a.c.d": 2, "e": 3, "f": {}}
