"""A record, logged to an MLflow run: its inputs as datasets, its params, metrics and tags.

What goes to the run:

- each input slot as an MLflow dataset (``log_inputs``, what ``mlflow.log_input`` calls)
  named after the slot, with ``digest`` = the content's oid and ``source`` =
  ``{"uri": "mlver://NAME@N/SLOT"}`` (source type ``mlver``): the URI opens the same bytes
  with pandas, pyarrow, polars or duckdb through mlver's fsspec protocol;
- the params and metrics, flattened to dotted keys (``model.depth``); a metric that is not
  a number is left out, and metrics are logged at ``step`` = the version number, so logging
  several versions of a name into one run draws their history;
- tags: ``mlver.version`` (``NAME@N``), ``mlver.oid``, ``mlver.name``, ``mlver.kind``,
  ``mlver.output.SLOT`` (each output's oid) and MLflow's ``mlflow.source.git.commit``.

Without a run id, a new run named ``NAME@N`` is made in the experiment named after the
record's name (created when missing) and ended FINISHED (FAILED for a failed run). With
one, the existing run gets the same data and keeps its status. MLflow (``mlflow-skinny``
is enough) is imported only here, on first use.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from mlver.base.errors import MlverError
from mlver.base.textsafe import redact_userinfo
from mlver.core.params import flatten
from mlver.core.record import Record
from datetime import UTC

INSTALL = "pip install 'mlver[mlflow]'"
MAX_PARAM = 6000  # characters of a param value (MLflow refuses a longer one)
CONTEXT = "mlver.input"  # the mlflow.data.context tag of each dataset input


class MlflowLogError(MlverError):
    """MLflow refused what was logged, or the run or tracking store cannot be used."""


@dataclass(frozen=True)
class MlflowLogResult:
    """Where a record went: ``run_id`` in ``experiment_id`` (``created``: a new run)."""

    run_id: str
    experiment_id: str
    created: bool
    version: str
    inputs: int
    params: int
    metrics: int

    def to_dict(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {"run_id": self.run_id, "experiment_id": self.experiment_id,
                "created": self.created, "version": self.version, "inputs": self.inputs,
                "params": self.params, "metrics": self.metrics}


def source_uri(rec: Record, slot: str) -> str:
    """``mlver://NAME@N/SLOT`` (``inputs.SLOT`` when an output has the same slot name)."""
    part = f"inputs.{slot}" if slot in rec.outputs else slot
    return f"mlver://{rec.label}/{part}"


def _numbers(values: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in flatten(values).items()
            if isinstance(v, (int, float)) and not isinstance(v, bool)}


def to_mlflow(oid: str, rec: Record, run_id: str | None = None,
              tracking_uri: str | None = None) -> MlflowLogResult:
    """Log record ``oid`` to MLflow run ``run_id`` (None: a new run); see the module."""
    try:
        from mlflow.entities import (Dataset, DatasetInput, InputTag, Metric, Param,
                                     RunStatus, RunTag)
        from mlflow.exceptions import MlflowException
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise MlflowLogError(f"logging to MLflow needs the mlflow package: {INSTALL}") from None
    created = run_id is None
    client: Any = None
    try:
        client = MlflowClient(tracking_uri=tracking_uri)
        if run_id is None:
            exp = client.get_experiment_by_name(rec.name)
            exp_id = exp.experiment_id if exp else client.create_experiment(rec.name)
            run_id = client.create_run(exp_id, run_name=rec.label).info.run_id
        else:
            exp_id = client.get_run(run_id).info.experiment_id
        when = _millis(rec)
        params = {k: json.dumps(v) if not isinstance(v, str) else v
                  for k, v in flatten(rec.params).items()}
        metrics = _numbers(rec.metrics)
        tags = {"mlver.version": rec.label, "mlver.oid": oid, "mlver.name": rec.name,
                "mlver.kind": rec.kind}
        tags.update({f"mlver.output.{s}": a.oid for s, a in sorted(rec.outputs.items())})
        if rec.code.commit:
            tags["mlflow.source.git.commit"] = rec.code.commit
        client.log_batch(run_id,
                         metrics=[Metric(k, v, when, rec.version) for k, v in metrics.items()],
                         params=[Param(k, v[:MAX_PARAM]) for k, v in params.items()],
                         tags=[RunTag(k, v) for k, v in tags.items()])
        datasets = [DatasetInput(Dataset(name=slot, digest=a.oid, source_type="mlver",
                                         source=json.dumps({"uri": source_uri(rec, slot)}),
                                         profile=json.dumps({"path": a.path, "size": a.size,
                                                             "files": a.files})),
                                 tags=[InputTag("mlflow.data.context", CONTEXT)])
                    for slot, a in sorted(rec.inputs.items())]
        if datasets:
            client.log_inputs(run_id, datasets=datasets)
        if created:
            failed = rec.run is not None and rec.run.exit_code != 0
            client.set_terminated(run_id, RunStatus.to_string(
                RunStatus.FAILED if failed else RunStatus.FINISHED))
    except (MlflowException, OSError) as e:
        text = str(e.message) if isinstance(e, MlflowException) else f"{type(e).__name__}: {e}"
        first = (text.strip().splitlines() or ["no message"])[0][:300]
        if "MLFLOW_ALLOW_FILE_STORE" in text:  # MLflow 3 names the fix last
            first = ("MLflow 3 writes to a file: store only when MLFLOW_ALLOW_FILE_STORE=true "
                     "is set (a sqlite:/// store needs the full mlflow package)")
        elif "unsupported URI 'sqlite:" in text:  # mlflow-skinny, and MLflow 3's default
            uri = text.split("unsupported URI '", 1)[1].split("'", 1)[0]
            first = (f"the store {uri} (MLflow's default when no tracking URI is set) needs "
                     "the full mlflow package: pip install mlflow, or give --tracking-uri "
                     "(a server's http:// URL, or a file: folder outside the repository)")
        if created and run_id is not None:  # no half-logged run left RUNNING
            with contextlib.suppress(Exception):  # the store that refused may refuse this
                client.delete_run(run_id)
        raise MlflowLogError(redact_userinfo(f"MLflow refused to log {rec.label}: {first}")
                             ) from None
    return MlflowLogResult(run_id, exp_id, created, rec.label, len(datasets), len(params),
                           len(metrics))


def _millis(rec: Record) -> int:
    """The record's creation time in milliseconds since the epoch (MLflow's timestamps)."""
    from datetime import datetime

    try:
        t = datetime.fromisoformat(rec.created.replace("Z", "+00:00"))
    except ValueError:
        return 0
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return int(t.timestamp() * 1000)
