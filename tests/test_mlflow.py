"""MLflow (issue 25, part 2): ``mlver mlflow log`` / ``Repo.to_mlflow`` put a record into
an MLflow run (inputs as datasets, params, metrics, tags), and ``mlflow.autolog()`` runs
inside ``mlver run`` untouched. MLflow logs to a local file store in a temporary folder
(never a server). Importing MLflow is slow: one module-scoped store, where the examples of
docs/mlflow.md run once (fit.py with autolog under ``mlver run``, then the commands)."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

import mlver
from _fixtures import assert_error, assert_ok, cli, make_git_repo, write

mlflow = pytest.importorskip("mlflow")
from mlflow.tracking import MlflowClient  # noqa: E402

DOCS = Path(__file__).resolve().parents[1] / "docs" / "mlflow.md"


def doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOCS.read_text(), re.S)


@pytest.fixture(scope="module")
def flow(tmp_path_factory):
    """A store where docs/mlflow.md's fit.py ran under ``mlver run`` (MLflow autolog on),
    then each command of its bash block; yields (root, client, {command: stdout})."""
    base = tmp_path_factory.mktemp("mlf")
    root = make_git_repo(base / "shop", {"README.md": "# shop\n",
                                         ".gitignore": ".mlver/\ndata/\nmodel.txt\n"})
    mp = pytest.MonkeyPatch()
    mp.chdir(root)
    uri = f"file:{base / 'mlruns'}"  # outside the repository, as the docs advise
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    mlflow.set_tracking_uri(uri)
    write(root / "data/train.csv", "id,price\n1,2.5\n2,3.0\n3,4.0\n")
    write(root / "fit.py", doc_blocks("python")[0])
    mlver.Repo.init(str(root)).close()
    client = MlflowClient(tracking_uri=uri)
    outputs = {}
    for line in doc_blocks("bash")[0].splitlines():
        args = line.split()[1:]
        if args[:1] == ["run"]:
            args = [sys.executable if a == "python" else a for a in args]
        if "RUN_ID" in args:  # the run fit.py made, found as the docs say
            (run,) = client.search_runs(["0"])
            args = [run.info.run_id if a == "RUN_ID" else a for a in args]
        outputs[line] = assert_ok(cli(*args))
    yield root, client, outputs
    mp.undo()


def record(root, rev):
    with mlver.Repo(str(root)) as repo:
        return repo.show(rev)


def test_autolog_inside_mlver_run_then_log_into_its_run(flow):
    root, client, _out = flow
    oid, rec = record(root, "fit@1")
    assert rec.run is not None and rec.run.exit_code == 0
    assert rec.metrics == {"rows": 3}
    (run,) = client.search_runs(["0"])  # the run the script made, with autolog on
    assert run.data.metrics["rows"] == 3.0
    # mlver mlflow log --run-id added the record to it
    assert run.data.tags["mlver.version"] == "fit@1"
    assert run.data.tags["mlver.oid"] == oid
    assert run.data.tags["mlver.output.model"] == rec.outputs["model"].oid
    (inp,) = run.inputs.dataset_inputs
    assert (inp.dataset.name, inp.dataset.digest, inp.dataset.source_type) == (
        "data", rec.inputs["data"].oid, "mlver")
    assert json.loads(inp.dataset.source) == {"uri": "mlver://fit@1/data"}
    assert run.info.status == "FINISHED"


def test_new_run_in_experiment_named_after_the_name(flow):
    root, client, out = flow
    oid, rec = record(root, "fit@1")
    result = json.loads(out["mlver mlflow log fit@1 --json"])
    assert result["created"] is True and result["version"] == "fit@1"
    assert (result["inputs"], result["params"], result["metrics"]) == (1, 0, 1)
    run = client.get_run(result["run_id"])
    assert client.get_experiment(run.info.experiment_id).name == "fit"
    assert run.info.run_name == "fit@1" and run.info.status == "FINISHED"
    assert run.data.metrics == {"rows": 3.0}
    assert [m.step for m in client.get_metric_history(run.info.run_id, "rows")] == [1]
    assert run.inputs.dataset_inputs[0].dataset.digest == rec.inputs["data"].oid
    assert run.data.tags["mlflow.source.git.commit"] == rec.code.commit
    # the URI in the source opens the very bytes of that input
    import pandas as pd
    frame = pd.read_csv(json.loads(run.inputs.dataset_inputs[0].dataset.source)["uri"])
    assert list(frame["price"]) == [2.5, 3.0, 4.0]


def test_params_flattened_failed_run_and_api(flow):
    root, client, _out = flow
    res = cli("run", "tune", "-i", "data=data/train.csv", "-p", "model.depth=3", "-p",
              "tag=fast", "--record-failed", "--", sys.executable, "-c", "raise SystemExit(2)")
    assert res.exit_code == 2  # the command's status; the record was kept
    with mlver.Repo(str(root)) as repo:
        result = repo.to_mlflow("tune@1")
    run = client.get_run(result.run_id)
    assert run.info.status == "FAILED"
    assert run.data.params == {"model.depth": "3", "tag": "fast"}
    assert result.to_dict()["params"] == 2


def test_errors_are_one_line(flow, monkeypatch):
    assert_error(cli("mlflow", "log", "nope@1"), "nope@1")
    assert_error(cli("mlflow", "log", "fit@1", "--run-id", "0123456789abcdef"),
                 "fit@1", "0123456789abcdef")
    monkeypatch.setitem(sys.modules, "mlflow.entities", None)
    assert_error(cli("mlflow", "log", "fit@1"), "pip install 'mlver[mlflow]'")


def test_file_store_refusal_names_the_fix(flow, monkeypatch, tmp_path):
    """MLflow 3's refusal of a file: store ends with its fix, past the 300 characters the
    one line keeps: the line names MLFLOW_ALLOW_FILE_STORE instead."""
    monkeypatch.delenv("MLFLOW_ALLOW_FILE_STORE")
    res = cli("mlflow", "log", "fit@1", "--tracking-uri", f"file:{tmp_path / 'runs'}")
    if res.exit_code == 0:
        pytest.skip("this MLflow takes a file: store without MLFLOW_ALLOW_FILE_STORE")
    assert_error(res, "fit@1", "MLFLOW_ALLOW_FILE_STORE=true")


def test_sqlite_store_without_full_mlflow_says_so(flow, monkeypatch, tmp_path):
    """mlflow-skinny cannot open MLflow 3's default sqlite:///mlflow.db: the one line says
    which package it needs and how to log elsewhere."""
    res = cli("mlflow", "log", "fit@1", "--tracking-uri", f"sqlite:///{tmp_path}/m.db")
    if res.exit_code == 0:
        pytest.skip("the full mlflow package is installed: sqlite works")
    assert_error(res, "fit@1", "pip install mlflow", "--tracking-uri")


def test_refused_record_leaves_no_running_run_and_no_secret(flow, tmp_path, monkeypatch):
    """A param name MLflow refuses: one line, and the run made for it is deleted, not left
    RUNNING; a tracking folder that cannot be made is one line, not a traceback; a
    password in the tracking URI is never printed."""
    root, client, _out = flow
    assert_ok(cli("snapshot", "odd", "-i", "data=data/train.csv", "-p", 'bad<key>="v"'))
    assert_error(cli("mlflow", "log", "odd@1"), "MLflow refused to log odd@1", "bad<key>")
    exp = client.get_experiment_by_name("odd")
    assert exp is not None and client.search_runs([exp.experiment_id]) == []
    (tmp_path / "file").write_text("x")
    assert_error(cli("mlflow", "log", "fit@1", "--tracking-uri", f"file:{tmp_path}/file/x"),
                 "NotADirectoryError")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # else minutes of backoff
    line = assert_error(cli("mlflow", "log", "fit@1", "--tracking-uri",
                            "http://me:s3cret@127.0.0.1:1"), "MLflow refused")
    assert "s3cret" not in line
