"""The bridge methods of :class:`mlver.api.Repo`: a record sent to MLflow, and records as
OpenLineage events (printed or posted to a lineage server). Kept in a module of their own
so the facade stays readable; ``Repo`` inherits them. The work is done in
:mod:`mlver.integrations.mlflowlog`, :mod:`mlver.integrations.openlineage` and
:mod:`mlver.integrations.olexport`, which import MLflow and OpenLineage only when called."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # imported when a method needs them: the command line starts fast
    from mlver.core.lineage import Lineage
    from mlver.core.record import Record
    from mlver.integrations.mlflowlog import MlflowLogResult
    from mlver.integrations.olexport import ExportResult
    from mlver.store import Store


class BridgeMethods:
    """MLflow and OpenLineage, over the ``store`` of a ``Repo``."""

    root: str
    store: Store

    def warn(self, message: str) -> None:  # pragma: no cover - Repo defines it
        raise NotImplementedError

    def show(self, rev: str) -> tuple[str, Record]:  # pragma: no cover - Repo defines it
        raise NotImplementedError

    def lineage(self, rev: str) -> Lineage:  # pragma: no cover - Repo defines it
        raise NotImplementedError

    def to_mlflow(self, rev: str, run_id: str | None = None,
                  tracking_uri: str | None = None) -> MlflowLogResult:
        """Log the record ``rev`` to MLflow: its inputs as datasets (digest = oid, source =
        ``mlver://NAME@N/SLOT``), params, metrics and an ``mlver.version`` tag; into run
        ``run_id``, else a new run in the experiment named after the name. ``tracking_uri``:
        MLflow's own default (``MLFLOW_TRACKING_URI``) when None."""
        from mlver.integrations.mlflowlog import to_mlflow

        oid, rec = self.show(rev)
        return to_mlflow(oid, rec, run_id, tracking_uri)

    def openlineage(self, rev: str, direction: str = "both", depth: int | None = 0,
                    namespace: str | None = None) -> list[dict[str, Any]]:
        """OpenLineage RunEvents (spec 2-0-2, as dicts) of ``rev`` (``depth=0``) or of the
        records of its lineage (``direction`` and ``depth`` as :meth:`Lineage.graph`),
        oldest run first. ``namespace``: ``mlver://<folder of the repository>`` when None."""
        from mlver.integrations.openlineage import events_of

        graph = self.lineage(rev).subgraph(direction, depth)
        records = [self.show(n.oid) for n in graph.nodes]
        return events_of(self.store, self.root, records, namespace)

    def export_openlineage(self, url: str, since: str | None = None,
                           namespace: str | None = None) -> ExportResult:
        """Post the OpenLineage events of every record (or of those recorded after
        ``since``) to the server at ``url`` (its ``/api/v1/lineage`` endpoint)."""
        from mlver.integrations.olexport import export

        return export(self.store, self.root, url, since, namespace, self.warn)
