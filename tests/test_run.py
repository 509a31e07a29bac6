"""``mlver run`` and ``repo.run(...)`` (issue 4): the run section, inputs hashed before
the command, output streaming, failures that record nothing (or a failed record on
request), bad commands, missing or overlapping outputs, mlver.toml commands, and the
Python context manager."""

from __future__ import annotations

import json
import os
import sys
from datetime import datetime, timedelta, timezone

import pytest

import mlver
from mlver.base.hashing import hash_file, oid_of
from mlver.core.record import Scope, Trace
from mlver.ops.trace import NOT_TRACED
from _fixtures import (assert_error, assert_ok, cli, commit_all, mrepo, proj, run_mlver,
                       tmp_listing, write)

__all__ = ["mrepo", "proj"]

PY = sys.executable

COPY = """
import sys, time
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
data = open("d.txt").read()
open("out.txt", "w").write(data.upper())
print("hello from the script")
"""


def nothing_recorded(repo) -> None:
    assert repo.names() == []
    assert os.listdir(os.path.join(repo.store.path, "refs", "names")) == []
    assert repo.log() == []
    assert tmp_listing(repo.root) == []


def parse_time(s: str) -> datetime:
    assert s.endswith("Z")
    return datetime.strptime(s, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=timezone.utc)


def test_run_records_run_section(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "shout.py", COPY)
    t0 = datetime.now(timezone.utc)
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "-p", "lr=0.1",
              "--", PY, "shout.py", "0.2")
    out = assert_ok(res)
    t1 = datetime.now(timezone.utc)
    assert out.startswith("m@1  ")
    oid, rec = mrepo.show("m@1")
    assert rec.run.command == (PY, "shout.py", "0.2")
    assert rec.run.exit_code == 0
    assert 0.2 <= rec.run.duration_s < 30
    started = parse_time(rec.run.started)
    assert t0 - timedelta(seconds=1) <= started <= t1
    assert rec.outputs["out"].oid == hash_file(str(proj / "out.txt"))[0]
    assert (proj / "out.txt").read_text() == "ABC\n"
    assert rec.params == {"lr": 0.1}
    j = json.loads(assert_ok(cli("show", "m@1", "--json")))
    assert j["run"]["command"] == [PY, "shout.py", "0.2"]
    assert set(j["run"]) == {"command", "exit_code", "started", "duration_s", "trace"}
    assert j["run"]["trace"] == {"traced": True, "unrecorded": []}  # it read d.txt, an input
    assert j["code"]["scope"] == {"from": "traced", "paths": ["shout.py"]}


def test_inputs_are_hashed_before_the_command(mrepo, proj):
    original = b"original content\n"
    write(proj / "d.txt", original)
    write(proj / "edit.py", "open('d.txt', 'a').write('edited during the run\\n')\n"
                            "open('out.txt', 'w').write('done')\n")
    assert_ok(cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", PY, "edit.py"))
    rec = mrepo.show("m@1")[1]
    assert (proj / "d.txt").read_bytes() != original
    assert rec.inputs["data"].oid == oid_of(original)
    assert rec.inputs["data"].size == len(original)
    assert mrepo.store.objects.read(rec.inputs["data"].oid) == original


def test_command_output_streams_through(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "shout.py", COPY)
    p = run_mlver(proj, "run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", PY, "shout.py")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert "hello from the script" in lines
    assert lines.index("hello from the script") < next(
        i for i, x in enumerate(lines) if x.startswith("m@1"))


def test_failing_command_records_nothing_and_exits_with_its_code(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "fail.py", "open('out.txt', 'w').write('partial')\nraise SystemExit(3)\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", PY, "fail.py")
    assert_error(res, "status 3", "nothing recorded", code=3)
    nothing_recorded(mrepo)


def test_record_failed_keeps_a_failed_record(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "fail.py", "raise SystemExit(4)\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--record-failed",
              "--", PY, "fail.py")
    assert res.exit_code == 4
    assert res.stderr.strip().startswith("Error: ") and len(res.stderr.strip().splitlines()) == 1
    rec = mrepo.show("m@1")[1]
    assert rec.run.exit_code == 4
    assert rec.outputs == {}  # the failed command never wrote out.txt
    assert list(mrepo.records()["status"]) == ["failed"]
    assert "FAILED" in assert_ok(cli("log"))


def test_command_not_found(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", "no-such-command-xyz")
    assert_error(res, "no-such-command-xyz")
    nothing_recorded(mrepo)


def test_command_killed_by_a_signal(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "die.py", "import os, signal\nopen('out.txt', 'w').write('x')\n"
                           "os.kill(os.getpid(), signal.SIGKILL)\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", PY, "die.py")
    assert_error(res, "SIGKILL", code=128 + 9)
    nothing_recorded(mrepo)


def test_output_never_written_is_an_error(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "noop.py", "pass\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", PY, "noop.py")
    assert_error(res, "out.txt")
    nothing_recorded(mrepo)


def test_stale_output_the_command_did_not_write_is_an_error(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "out.txt", "left over from an earlier run\n")
    write(proj / "noop.py", "pass\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--", PY, "noop.py")
    assert_error(res, "out.txt")
    nothing_recorded(mrepo)


@pytest.mark.parametrize("inp,out", [("data", "data/out.txt"), ("data/d.txt", "data/d.txt"),
                                     ("data/d.txt", "data")])
def test_output_overlapping_an_input_is_an_error(mrepo, proj, inp, out):
    write(proj / "data/d.txt", "abc\n")
    write(proj / "mark.py", "open('ran.marker', 'w').write('1')\n")
    res = cli("run", "m", "-i", f"data={inp}", "-o", f"out={out}", "--", PY, "mark.py")
    assert_error(res, "overlaps")
    assert not (proj / "ran.marker").exists(), "the command ran despite the error"
    nothing_recorded(mrepo)


def test_command_from_mlver_toml(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "shout.py", COPY)
    write(proj / "mlver.toml", f'[snapshot.m]\nkind = "dataset"\n'
                               f'inputs = {{ data = "d.txt" }}\noutputs = {{ out = "out.txt" }}\n'
                               f'command = "{PY} shout.py"\n')
    os.mkdir(proj / "sub")
    os.chdir(proj / "sub")  # the command runs at the repository root all the same
    res = cli("run", "m")
    assert_ok(res)
    rec = mrepo.show("m@1")[1]
    assert rec.run.command == ("/bin/sh", "-c", f"{PY} shout.py")  # a string: the shell
    assert rec.kind == "dataset"
    assert rec.inputs["data"].path == "d.txt" and rec.outputs["out"].path == "out.txt"
    assert (proj / "out.txt").read_text() == "ABC\n"


def test_no_command_anywhere_is_an_error(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "mlver.toml", '[snapshot.m]\ninputs = { data = "d.txt" }\n')
    assert_error(cli("run", "m"), "command")
    nothing_recorded(mrepo)


def test_metrics_file_written_by_the_command(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "train.py", "import json\nopen('model.bin', 'wb').write(b'm')\n"
                             "json.dump({'acc': 0.9, 'loss': {'val': 0.1}}, open('metrics.json', 'w'))\n")
    assert_ok(cli("run", "m", "-i", "data=d.txt", "-o", "model=model.bin", "-M", "metrics.json",
                  "--", PY, "train.py"))
    rec = mrepo.show("m@1")[1]
    assert rec.metrics == {"acc": 0.9, "loss": {"val": 0.1}}
    assert rec.metrics_files == ("metrics.json",)


def test_execute_through_python(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "shout.py", COPY)
    res = mrepo.execute("m", [PY, "shout.py"], inputs={"data": "d.txt"},
                        outputs={"out": "out.txt"}, cwd=str(proj))
    assert res.created and res.record.run.exit_code == 0
    with pytest.raises(mlver.MlverError):
        mrepo.execute("m", [PY, "-c", "raise SystemExit(2)"], inputs={"data": "d.txt"},
                      outputs={"out": "out.txt"}, cwd=str(proj))
    assert [r.version for _o, r in mrepo.log("m")] == [1]


def test_context_manager_records_on_clean_exit(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"model": "model.bin"}) as run:
        write(proj / "model.bin", b"weights")
        run.log_params({"lr": 0.1}, model={"depth": 3})
        run.log_metrics(rmse=1.5)
        run.log_metrics({"acc": 0.9})
        assert mrepo.names() == []  # nothing written before the block ends
    rec = run.result.record
    assert rec.label == "m@1"
    assert rec.params == {"lr": 0.1, "model": {"depth": 3}}
    assert rec.metrics == {"rmse": 1.5, "acc": 0.9}
    assert rec.run.exit_code == 0
    assert rec.outputs["model"].oid == oid_of(b"weights")
    df = mrepo.records()
    assert df.loc[0, "params.model.depth"] == 3 and df.loc[0, "metrics.rmse"] == 1.5


def test_context_manager_exception_records_nothing(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    with pytest.raises(ValueError):
        with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"model": "model.bin"}) as run:
            write(proj / "model.bin", b"weights")
            run.log_metrics(rmse=1.5)
            raise ValueError("training blew up")
    nothing_recorded(mrepo)


def test_context_manager_hashes_inputs_on_entry(mrepo, proj):
    write(proj / "d.txt", "before\n")
    with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"model": "model.bin"}) as run:
        write(proj / "d.txt", "after\n")
        write(proj / "model.bin", b"w")
    assert run.result.record.inputs["data"].oid == oid_of(b"before\n")


def test_context_manager_missing_output_records_nothing(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    with pytest.raises(mlver.MlverError, match="model.bin"):
        with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"model": "model.bin"}):
            pass
    nothing_recorded(mrepo)


def test_exit_status_follows_the_command_even_when_content_is_unchanged(mrepo, proj):
    """Same inputs and outputs as the latest version must not hide the command's status."""
    write(proj / "d.txt", "abc\n")
    ok = ["run", "m", "-i", "data=d.txt", "-o", "out=o.txt", "--", "sh", "-c", "echo ok > o.txt"]
    assert_ok(cli(*ok))
    assert_ok(cli(*ok))  # unchanged: no new version, exit 0
    failed = cli("run", "m", "-i", "data=d.txt", "-o", "out=o.txt", "--record-failed", "--",
                 "sh", "-c", "echo ok > o.txt; exit 3")
    assert failed.exit_code == 3, failed.output
    rec = mrepo.show("m")[1]
    assert rec.version == 2 and rec.run.exit_code == 3  # the failure is its own version
    again = cli(*ok)
    assert again.exit_code == 0, again.output
    assert mrepo.show("m")[1].run.exit_code == 0


def test_a_run_that_fails_before_the_command_leaves_no_staged_copies(mrepo, proj):
    write(proj / "big" / "a.bin", os.urandom(50_000))
    write(proj / "big" / "b.bin", os.urandom(50_000))
    res = cli("run", "m", "-i", "a=big", "-i", "b=nope.txt", "-o", "o=o.txt", "--", "true")
    assert_error(res, "nope.txt")
    assert tmp_listing(proj) == []
    nothing_recorded(mrepo)


def test_run_json_prints_only_json_the_command_output_goes_to_stderr(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "talk.py", "print('trained!')\nopen('out.txt', 'w').write('x')\n")
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--json", "--", PY, "talk.py")
    assert_ok(res)
    doc = json.loads(res.stdout)  # nothing but the record
    assert doc["name"] == "m" and doc["version"] == 1


def test_execute_a_string_runs_through_the_shell(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    res = mrepo.execute("m", "cat d.txt > out.txt && echo done", inputs={"data": "d.txt"},
                        outputs={"out": "out.txt"}, cwd=str(proj))
    assert res.record.run.command == ("/bin/sh", "-c", "cat d.txt > out.txt && echo done")
    assert (proj / "out.txt").read_text() == "abc\n"


def test_context_manager_records_this_interpreter_and_json_safe_metrics(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"out": "out.txt"}) as run:
        write(proj / "out.txt", "x")
        run.log_metrics(loss=float("nan"), best=float("inf"), acc=0.5)
    rec = run.result.record
    assert rec.metrics == {"loss": "nan", "best": "inf", "acc": 0.5}
    assert rec.env.python == ".".join(map(str, sys.version_info[:3]))


def test_inputs_must_be_a_mapping(mrepo, proj):
    write(proj / "model.pkl", "m")
    with pytest.raises(mlver.MlverError, match="outputs must map slot names to paths"):
        mrepo.snapshot("k", outputs="model.pkl")


def test_declared_slots_ignored_by_explicit_ones_are_warned_about(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "e.txt", "e\n")
    write(proj / "mlver.toml", '[snapshot.m]\ninputs = { data = "d.txt" }\n')
    res = cli("snapshot", "m", "-i", "other=e.txt")
    assert_ok(res)
    assert ("Warning: [snapshot.m] in mlver.toml is ignored because inputs or outputs were "
            "given; give none to use it") in res.stderr


# -- read tracing and the code scope (issue 10) -----------------------------------------------

TRAIN = """
import helper
data = open("data/d.csv").read()
extra = open("data/extra.csv").read() if __import__("os").path.exists("data/extra.csv") else ""
open("model.bin", "w").write(str(helper.scale(len(data) + len(extra))))
"""


def traced_project(proj, extra: str | None = None):
    write(proj / ".gitignore", ".mlver/\ndata/\nmodel.bin\n")
    write(proj / "helper.py", "def scale(x):\n    return 2 * x\n")
    write(proj / "other.py", "X = 1\n")
    write(proj / "train.py", TRAIN)
    write(proj / "data" / "d.csv", "a\n1\n")
    if extra is not None:
        write(proj / "data" / "extra.csv", extra)
    commit_all(proj, "training code")


def run_train(*extra):
    return cli("run", "m", "-i", "data=data/d.csv", "-o", "model=model.bin", *extra,
               "--", PY, "train.py")


def test_a_run_is_traced_and_its_sources_are_the_code_scope(mrepo, proj):
    traced_project(proj)
    assert_ok(run_train())
    rec = mrepo.show("m@1")[1]
    assert rec.code.scope == Scope("traced", ("helper.py", "train.py"))
    assert rec.run.trace == Trace(traced=True, unrecorded=())
    write(proj / "other.py", "X = 2\n")
    commit_all(proj, "unrelated module")
    assert cli("diff", "m", "--exit-code").exit_code == 0
    write(proj / "helper.py", "def scale(x):\n    return 3 * x\n")
    sha = commit_all(proj, "helper: triple")
    res = cli("diff", "m", "--exit-code")
    assert res.exit_code == 1
    assert res.stdout.splitlines()[3] == (
        f'    code   1 commit ({rec.code.commit[:7]}..{sha[:7]}): "helper: triple"; '
        "helper.py +1 -1; 1 commit outside the code scope")


def test_a_declared_scope_wins_over_the_trace(mrepo, proj):
    traced_project(proj)
    assert_ok(run_train("--code", "train.py"))
    assert mrepo.show("m@1")[1].code.scope == Scope("declared", ("train.py",))


def test_diff_names_an_unrecorded_read_when_nothing_recorded_explains(mrepo, proj):
    traced_project(proj, extra="x\n")
    assert_ok(run_train())
    rec = mrepo.show("m@1")[1]
    assert rec.run.trace == Trace(traced=True, unrecorded=("data/extra.csv",))
    write(proj / "data" / "extra.csv", "x, and much more\n")
    assert_ok(run_train())
    res = assert_ok(cli("diff", "m@1", "m@2"))
    assert res.splitlines() == [
        "m@1 -> m@2", "  model.bin changed (2 B -> 2 B)",
        "  no recorded input changed: the result is not explained by recorded inputs; the run "
        "also read data/extra.csv, which is not recorded"]
    j = json.loads(assert_ok(cli("diff", "m@1", "m@2", "--json")))
    assert j["unrecorded_reads"] == ["data/extra.csv"]


def test_strict_fails_a_run_that_reads_an_unrecorded_file(mrepo, proj):
    traced_project(proj, extra="x\n")
    res = run_train("--strict")
    assert_error(res)
    assert res.output == ("Error: the command read data/extra.csv, which is not recorded; "
                          "nothing recorded (add it as an input with -i extra=data/extra.csv, "
                          "or drop --strict)\n")
    nothing_recorded(mrepo)
    res = cli("run", "m", "-i", "data=data/d.csv", "-i", "extra=data/extra.csv",
              "-o", "model=model.bin", "--strict", "--", PY, "train.py")
    assert_ok(res)
    assert mrepo.show("m@1")[1].run.trace == Trace(traced=True, unrecorded=())


def test_a_command_that_is_not_python_is_not_traced(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    assert_ok(cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--",
                  "/bin/sh", "-c", "tr a-z A-Z < d.txt > out.txt"))
    rec = mrepo.show("m@1")[1]
    assert rec.code.scope is None  # the whole repository
    assert rec.run.trace == Trace(traced=False, unrecorded=(), note=NOT_TRACED)
    assert assert_ok(cli("show", "m")).splitlines()[-1] == f"  not traced: {NOT_TRACED}"
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--strict", "--",
              "/bin/sh", "-c", "tr a-z A-Z < d.txt > out.txt")
    assert_error(res)
    assert res.output == (f"Error: --strict cannot check this run: {NOT_TRACED}; nothing "
                          "recorded (run the Python command directly, or drop --strict)\n")


def test_a_shell_script_running_python_keeps_the_script_in_the_scope(mrepo, proj):
    traced_project(proj)
    write(proj / "run.sh", f"{PY} train.py\n")
    commit_all(proj, "wrapper")
    assert_ok(cli("run", "m", "-i", "data=data/d.csv", "-o", "model=model.bin", "--",
                  "/bin/sh", "run.sh"))
    assert mrepo.show("m@1")[1].code.scope == Scope("traced", ("helper.py", "run.sh", "train.py"))


def test_context_manager_is_traced_in_process(mrepo, proj):
    write(proj / "d.txt", "abc\n")
    write(proj / "side.csv", "s\n")
    with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"model": "model.bin"}) as run:
        open(proj / "side.csv").read()
        open(proj / "model.bin", "w").write("m")
    assert run.result.record.run.trace == Trace(traced=True, unrecorded=("side.csv",))
    with pytest.raises(mlver.base.errors.RunError) as ei:
        with mrepo.run("m", inputs={"data": "d.txt"}, outputs={"model": "model.bin"},
                       strict=True):
            open(proj / "side.csv").read()
            open(proj / "model.bin", "w").write("m2")
    assert str(ei.value) == ("the command read side.csv, which is not recorded; nothing "
                             "recorded (add it as an input with -i side=side.csv, or drop --strict)")
    assert [r.version for _o, r in mrepo.log("m")] == [1]


@pytest.mark.parametrize("failed", [False, True])
def test_output_the_command_made_a_link_out_of_the_repository_is_refused(mrepo, proj,
                                                                          tmp_path, failed):
    """snapshot refuses an output that leads out through a link; a run whose command made
    the output such a link stored the outside file's bytes (a failed one too)."""
    secret = tmp_path / "secret.txt"
    secret.write_text("not the project's\n")
    write(proj / "d.txt", "d\n")
    code = f"import os, sys; os.symlink({str(secret)!r}, 'out.txt'); sys.exit({int(failed)})"
    res = cli("run", "m", "-i", "data=d.txt", "-o", "out=out.txt", "--record-failed", "--",
              PY, "-c", code)
    assert res.exit_code != 0 and "leads outside the repository" in res.output
    assert mrepo.records().empty  # nothing recorded
    assert not mrepo.store.objects.has(oid_of(secret.read_bytes()))
