"""``mlver.track`` / ``repo.track``: a version recorded from inside this process
(mlver/ops/track.py), in real git repositories with real stores."""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import mlver
from mlver.base.errors import RunError
from tests.conftest import tmp_files, write


def test_inputs_hashed_on_entry_outputs_on_exit_metrics_and_env(repo, git_repo: Path) -> None:
    write(git_repo / "data.csv", "a,b\n1,2\n")
    with repo.track("m", inputs={"train": "data.csv"}, outputs={"model": "model.txt"},
                    params={"lr": 0.1}) as t:
        # an input edited inside the block is not what the version was made from
        write(git_repo / "data.csv", "a,b\n9,9\n")
        write(git_repo / "model.txt", "fitted")
        t.log_metrics({"acc": 0.75})
    rec = t.result.record
    assert t.result.created and rec.name == "m" and rec.version == 1
    blob = repo.store.objects.read(rec.inputs["train"].oid)
    assert blob == b"a,b\n1,2\n"  # hashed on entry
    assert repo.store.objects.read(rec.outputs["model"].oid) == b"fitted"  # on exit
    assert rec.metrics == {"acc": 0.75} and rec.params == {"lr": 0.1}
    assert rec.run is not None and rec.run.exit_code == 0 and not rec.failed
    assert rec.env.python and sys.version.split()[0] == rec.env.python
    assert rec.run.command[0] == sys.executable  # the env: the running interpreter
    assert tmp_files(git_repo) == []


def test_output_changed_inside_the_block_is_recorded(repo, git_repo: Path) -> None:
    write(git_repo / "model.txt", "old")
    with pytest.raises(RunError, match="was not written by the block"):
        with repo.track("m", outputs={"model": "model.txt"}):
            pass  # an output left from before is not this block's work
    assert repo.names() == []
    with repo.track("m", outputs={"model": "model.txt"}) as t:
        write(git_repo / "model.txt", "new")
    assert repo.store.objects.read(t.result.record.outputs["model"].oid) == b"new"


def test_failure_records_a_failed_run_and_reraises(repo, git_repo: Path) -> None:
    write(git_repo / "data.csv", "x\n1\n")
    with pytest.raises(ZeroDivisionError):
        with repo.track("m", inputs={"train": "data.csv"},
                        outputs={"model": "model.txt"}) as t:
            t.log_metrics(loss=3.5)
            1 / 0  # noqa: B018
    rec = t.result.record
    assert rec.failed and rec.run.exit_code == 1 and rec.status == "failed"
    assert rec.outputs == {} and rec.metrics == {"loss": 3.5}  # no model was written
    (oid, logged), = repo.log("m")
    assert logged.failed and oid == t.result.oid
    assert tmp_files(git_repo) == []


def test_keyboard_interrupt_records_nothing(repo, git_repo: Path) -> None:
    with pytest.raises(KeyboardInterrupt):
        with repo.track("m", outputs={"model": "model.txt"}):
            raise KeyboardInterrupt
    assert repo.names() == [] and tmp_files(git_repo) == []


def test_python_c_records_its_code(repo, git_repo: Path, monkeypatch) -> None:
    """``python -c CODE``: sys.argv is ["-c"]; the command recorded holds CODE."""
    monkeypatch.setattr(sys, "argv", ["-c"])
    monkeypatch.setattr(sys, "orig_argv", ["python3", "-c", "work()", "x"])
    with repo.track("m", outputs={"model": "model.txt"}) as t:
        write(git_repo / "model.txt", "m")
    assert t.result.record.run.command == (sys.executable, "-c", "work()", "x")


def test_script_is_the_code_scope(repo, git_repo: Path, monkeypatch) -> None:
    script = write(git_repo / "src" / "job.py", "print('job')\n")
    monkeypatch.setattr(sys, "argv", [str(script), "--fast"])
    with repo.track("m", outputs={"model": "model.txt"}) as t:
        write(git_repo / "model.txt", "m")
    rec = t.result.record
    assert rec.code.scope is not None
    assert (rec.code.scope.origin, rec.code.scope.paths) == ("declared", ("src/job.py",))
    assert rec.run.command == (sys.executable, str(script), "--fast")


def test_notebook_cells_and_file_are_captured(repo, git_repo: Path, monkeypatch) -> None:
    nb = write(git_repo / "nb" / "explore.ipynb", "{}")
    cells = ["", "import mlver", "x = 1\n\n", "   ", "with mlver.track('m') as t:\n    pass"]
    shell = types.SimpleNamespace(user_ns={"In": cells})
    monkeypatch.setitem(sys.modules, "IPython",
                        types.SimpleNamespace(get_ipython=lambda: shell))
    monkeypatch.setenv("MLVER_NOTEBOOK", str(nb))
    with repo.track("m", outputs={"model": "model.txt"}) as t:
        write(git_repo / "model.txt", "m")
    rec = t.result.record
    assert rec.code.scope.paths == ("nb/explore.ipynb",)
    assert rec.run.command == (sys.executable, "-c", "import mlver\n\nx = 1\n\n\n\n"
                               "with mlver.track('m') as t:\n    pass")


def test_module_level_track_opens_and_closes_the_store(repo, git_repo: Path) -> None:
    write(git_repo / "data.csv", "a\n1\n")
    with mlver.track("m", inputs={"d": "data.csv"}, outputs={"o": "o.txt"},
                     path=str(git_repo)) as t:
        write(git_repo / "o.txt", "o")
        t.log_metrics({"n": 1})
    assert t.result.record.metrics == {"n": 1}
    assert [r.version for _, r in repo.log("m")] == [1]
