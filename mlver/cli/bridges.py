"""Commands that hand records to other tools: ``mlflow log`` and ``export openlineage``
(``lineage --format openlineage`` is in :mod:`mlver.cli.history`)."""

from __future__ import annotations

import json
from typing import Any

import click

from mlver.cli.root import echo, main, open_repo, out


def ndjson(events: list[dict[str, Any]]) -> str:
    """OpenLineage events one per line (JSON Lines, as OpenLineage's file transport
    writes them)."""
    return "\n".join(json.dumps(e, ensure_ascii=True, separators=(",", ":")) for e in events)


@main.group(name="mlflow")
def mlflow_group() -> None:
    """Send records to MLflow (needs: pip install 'mlver[mlflow]')."""


@mlflow_group.command(name="log")
@click.argument("rev")
@click.option("--run-id", metavar="ID",
              help="Log into this existing MLflow run (default: a new run named NAME@N in "
                   "the experiment named NAME).")
@click.option("--tracking-uri", metavar="URI",
              help="MLflow tracking store (default: MLflow's, MLFLOW_TRACKING_URI).")
@click.option("--json", "as_json", is_flag=True, help="The run id and counts as JSON.")
def mlflow_log(rev: str, run_id: str | None, tracking_uri: str | None, as_json: bool) -> None:
    """Log the record REV to an MLflow run and print the run id.

    Its inputs become MLflow datasets (digest: the oid; source: mlver://NAME@N/SLOT),
    with its params, metrics and the tag mlver.version=NAME@N.
    """
    result = open_repo().to_mlflow(rev, run_id, tracking_uri)
    if as_json:
        out(result.to_dict())
    else:
        echo(result.run_id)


@main.group(name="export")
def export_group() -> None:
    """Send records to other tools' servers."""


@export_group.command(name="openlineage")
@click.option("--url", required=True, metavar="URL",
              help="The lineage server (events go to URL/api/v1/lineage), e.g. Marquez's.")
@click.option("--since", metavar="REV",
              help="Only the records recorded after REV (default: every version of every "
                   "name).")
@click.option("--namespace", metavar="NS",
              help="Namespace of jobs and datasets (default: mlver://<repository folder>).")
@click.option("--json", "as_json", is_flag=True, help="What was sent, as JSON.")
def export_openlineage(url: str, since: str | None, namespace: str | None,
                       as_json: bool) -> None:
    """Send the OpenLineage RunEvents of every record to a lineage server.

    Needs: pip install 'mlver[openlineage]'. Sending again is harmless: a run's id is
    its record's.
    """
    result = open_repo().export_openlineage(url, since, namespace)
    if as_json:
        out(result.to_dict())
    else:
        echo(f"Sent {result.events} events of {result.records} "
             f"record{'' if result.records == 1 else 's'} to {result.url}")
