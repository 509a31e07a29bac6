"""Runs and project config that mislead: a failed run's leftover output becoming a
producer in lineage (issue item 13), stale metrics (14), one path as input and
output (15), a bad ``mlver.toml`` — unknown keys, wrong types, shell vs argv
commands (16), a store nested inside another (17)."""

from __future__ import annotations

import json
import os
import time

import pytest

from . import craft
from .craft import assert_clean_error, mlver


def _strings(v):
    if isinstance(v, dict):
        for x in v.values():
            yield from _strings(x)
    elif isinstance(v, list):
        for x in v:
            yield from _strings(x)
    elif isinstance(v, str):
        yield v


# --------------------------------------------------------------------------- item 13


def test_13_failed_run_is_not_a_producer(adv):
    craft.ok(mlver(adv, "run", "producer", "-o", "out=out.txt", "--", "sh", "-c",
                   "echo made > out.txt"))
    proc = mlver(adv, "run", "--record-failed", "bad", "-o", "out=out.txt", "--", "sh", "-c",
                 "exit 3")
    assert proc.returncode == 3, proc.stderr
    craft.ok(mlver(adv, "snapshot", "consumer", "-i", "data=out.txt"))
    graph = json.loads(craft.ok(mlver(adv, "lineage", "consumer", "--upstream",
                                      "--format", "json")))
    names = {n.get("name") for n in graph["nodes"]}
    assert "producer" in names, graph
    assert "bad" not in names, f"a failed run became a producer: {graph}"
    text = craft.ok(mlver(adv, "lineage", "consumer"))
    assert "bad@1" not in text
    # and the failed record itself is not linked as a parent of later records
    later = craft.record_dict(adv, craft.ref_oid(adv, "consumer"))
    bad_oid = craft.ref_oid(adv, "bad")
    assert bad_oid not in json.dumps(later)


# --------------------------------------------------------------------------- item 14


def _stale_metrics_run(adv):
    craft.write(adv / "metrics.json", json.dumps({"acc": 0.5}))
    past = time.time() - 3600
    os.utime(adv / "metrics.json", (past, past))
    before = craft.store_state(adv)
    proc = mlver(adv, "run", "m", "-M", "metrics.json", "-o", "o=out.txt", "--", "sh", "-c",
                 "echo x > out.txt")
    return before, proc


def test_14_stale_metrics_refused(adv):
    _before, proc = _stale_metrics_run(adv)
    assert_clean_error(proc, "metrics.json")
    assert not craft.ref_path(adv, "m").exists()


def test_14_stale_metrics_refused_records_nothing(adv):
    """Inputs, code and env are stored before the command starts (by design: what the run
    read is kept even if it then fails); a refused run adds no version and leaves no
    staged file behind."""
    _before, proc = _stale_metrics_run(adv)
    assert proc.returncode == 1
    assert not craft.ref_path(adv, "m").exists()
    assert craft.tmp_listing(adv) == []


def test_14_fresh_metrics_accepted(adv):
    """Control: the same run that rewrites metrics.json records it."""
    craft.write(adv / "metrics.json", json.dumps({"acc": 0.5}))
    past = time.time() - 3600
    os.utime(adv / "metrics.json", (past, past))
    craft.ok(mlver(adv, "run", "m", "-M", "metrics.json", "-o", "o=out.txt", "--", "sh", "-c",
                   "echo x > out.txt; echo '{\"acc\": 0.9}' > metrics.json"))
    assert craft.record_dict(adv, craft.ref_oid(adv, "m"))["metrics"] == {"acc": 0.9}


# --------------------------------------------------------------------------- item 15


@pytest.mark.parametrize("args", [("-i", "t=c.csv", "-o", "t2=c.csv"),
                                  ("-i", "t=c.csv", "-o", "t2=./c.csv"),
                                  ("-i", "t=d", "-o", "t2=d/c.csv"),
                                  ("-i", "t=d/c.csv", "-o", "t2=d")],
                         ids=["same", "dot", "in_folder", "folder_of"])
def test_15_same_path_input_and_output(adv, args):
    craft.write(adv / "c.csv", "id\n1\n")
    craft.write(adv / "d" / "c.csv", "id\n1\n")
    before = craft.store_state(adv)
    proc = mlver(adv, "snapshot", "m", *args)
    assert_clean_error(proc)
    assert craft.store_state(adv) == before


# --------------------------------------------------------------------------- item 16


def _toml(adv, text):
    craft.write(adv / "mlver.toml", text)
    craft.write(adv / "c.csv", "id\n1\n")
    craft.write(adv / "metrics.json", "{}")


@pytest.mark.parametrize("bad,known", [("input", "inputs"), ("output", "outputs"),
                                       ("metric", "metrics"), ("param", "params")])
def test_16_unknown_key_suggests_known(adv, bad, known):
    value = '{t = "c.csv"}' if bad in ("input", "output") else '"metrics.json"'
    _toml(adv, f'[snapshot.m]\ninputs = {{t = "c.csv"}}\n{bad} = {value}\n'
          if bad != "input" else f'[snapshot.m]\n{bad} = {value}\n')
    before = craft.store_state(adv)
    line = assert_clean_error(mlver(adv, "snapshot", "m"), bad)
    assert f"'{known}'" in line or f'"{known}"' in line or f" {known}" in line, line
    assert craft.store_state(adv) == before


def test_16_unknown_top_level_key(adv):
    _toml(adv, '[snapshots.m]\ninputs = {t = "c.csv"}\n')
    line = assert_clean_error(mlver(adv, "snapshot", "m"), "snapshots")
    assert "snapshot" in line.replace("snapshots", "", 1)


@pytest.mark.parametrize("text,key,typ", [
    ("snapshot = 5\n", "snapshot", "table"),
    ('[snapshot.m]\ncommand = 5\ninputs = {t = "c.csv"}\n', "command", "string"),
    ('[snapshot.m]\ninputs = {t = "c.csv"}\noutputs = {o = ["a.txt", "b.txt"]}\n', "o", "string"),
    ('[snapshot.m]\ninputs = {t = 5}\n', "t", "string"),
    ('[snapshot.m]\ninputs = {t = "c.csv"}\nkind = 7\n', "kind", ""),
    ('[snapshot.m]\ninputs = {t = "c.csv"}\nmessage = ["a"]\n', "message", "string"),
    ('[env]\npython = 3\n[snapshot.m]\ninputs = {t = "c.csv"}\n', "python", "string"),
    ('env = "x"\n[snapshot.m]\ninputs = {t = "c.csv"}\n', "env", "table"),
    ('[tables."c.csv"]\nkey = 5\n[snapshot.m]\ninputs = {t = "c.csv"}\n', "key", "string"),
], ids=["snapshot", "command", "output_list", "input_int", "kind", "message", "python", "env",
        "table_key"])
def test_16_wrong_types(adv, text, key, typ):
    _toml(adv, text)
    before = craft.store_state(adv)
    assert_clean_error(mlver(adv, "snapshot", "m"), key, typ)
    assert craft.store_state(adv) == before


def test_16_wrong_type_in_run(adv):
    _toml(adv, '[snapshot.m]\ncommand = 5\ninputs = {t = "c.csv"}\n')
    assert_clean_error(mlver(adv, "run", "m"), "command", "string")


def test_16_string_command_runs_through_shell(adv):
    _toml(adv, '[snapshot.m]\ncommand = "echo hi > out.txt"\ninputs = {t = "c.csv"}\n'
               'outputs = {o = "out.txt"}\n')
    craft.ok(mlver(adv, "run", "m"))
    assert (adv / "out.txt").read_text().strip() == "hi"


def test_16_argv_command_runs_without_shell(adv):
    _toml(adv, '[snapshot.m]\ncommand = ["touch", "a b; touch pwned"]\n'
               'inputs = {t = "c.csv"}\noutputs = {o = "a b; touch pwned"}\n')
    proc = mlver(adv, "run", "m")
    assert not (adv / "pwned").exists(), "an argv command went through a shell"
    assert (adv / "a b; touch pwned").exists()
    craft.ok(proc)


def test_16_argv_echo_has_no_redirect(adv):
    _toml(adv, '[snapshot.m]\ncommand = ["echo", "hi > x"]\ninputs = {t = "c.csv"}\n')
    proc = mlver(adv, "run", "m")
    assert not (adv / "x").exists()
    assert "Traceback" not in proc.stderr


# --------------------------------------------------------------------------- item 17


def test_17_nested_store_refused(adv):
    sub = adv / "sub" / "deeper"
    sub.mkdir(parents=True)
    line = assert_clean_error(mlver(sub, "init"))
    assert str(adv) in line or str(adv / ".mlver") in line, line
    assert not (sub / ".mlver").exists()
    line = assert_clean_error(mlver(adv, "init", "sub"))
    assert str(adv) in line
    assert not (adv / "sub" / ".mlver").exists()


def test_17_nested_store_with_force(adv):
    sub = adv / "sub"
    sub.mkdir()
    craft.ok(mlver(sub, "init", "--force"))
    assert (sub / ".mlver" / "config.json").exists()


def test_17_reinit_same_store_is_fine(adv):
    craft.ok(mlver(adv, "init"))
