"""OpenLineage RunEvents (spec 2-0-2) of records: what a lineage catalogue reads.

Each record is one run of a job (the job is the record's name): a START event at the time
the run started and a COMPLETE event (FAIL, with an ``errorMessage`` facet, for a failed
run) when it ended. The run id is the record's oid as a UUID, so sending the same record
twice names the same run. Inputs and outputs are datasets named by their path in the
repository, with ``version`` = oid (the ``datasetVersion`` facet), so a catalogue links
the job that wrote ``data/features.parquet`` to the one that read that version of it; a
table gets a ``schema`` facet (:func:`schema_fields`). The job carries
``sourceCodeLocation`` (the git commit) and ``jobType``; the run carries a custom
``mlver`` facet (version, params, metrics, the environment digest). Events are plain
dicts (JSON-able): printing them needs no OpenLineage package
(:mod:`mlver.integrations.olexport` sends them with one).
"""

from __future__ import annotations

import io
import os
import uuid
from datetime import datetime, timedelta, UTC
from typing import Any

from mlver._version import __version__
from mlver.base.errors import MlverError
from mlver.core.params import flatten
from mlver.core.record import Artifact, Record
from mlver.diff.tablecache import cached_profile
from mlver.diff.tableerrors import TableError
from mlver.diff.tableformat import EXTENSIONS, sniff_delimiter
from mlver.store import Store

SPEC = "https://openlineage.io/spec/2-0-2/OpenLineage.json"
EVENT_SCHEMA = SPEC + "#/$defs/RunEvent"
PRODUCER = f"https://pypi.org/project/mlver/{__version__}/"
_FACETS = "https://openlineage.io/spec/facets/"
#: The facets this module writes, with the schema versions they follow.
FACET_SCHEMAS = {
    "version": _FACETS + "1-0-1/DatasetVersionDatasetFacet.json#/$defs/DatasetVersionDatasetFacet",
    "schema": _FACETS + "1-2-0/SchemaDatasetFacet.json#/$defs/SchemaDatasetFacet",
    "sourceCodeLocation": _FACETS + "1-1-0/SourceCodeLocationJobFacet.json"
                                    "#/$defs/SourceCodeLocationJobFacet",
    "jobType": _FACETS + "2-0-4/JobTypeJobFacet.json#/$defs/JobTypeJobFacet",
    "errorMessage": _FACETS + "1-0-1/ErrorMessageRunFacet.json#/$defs/ErrorMessageRunFacet",
    # mlver's own run facet; its JSON schema is in docs/openlineage.md
    "mlver": PRODUCER + "#/$defs/MlverRunFacet",
}


def default_namespace(root: str) -> str:
    """The namespace of jobs and datasets when none is given: ``mlver://<folder name>``."""
    return "mlver://" + (os.path.basename(os.path.abspath(root)) or "repo")


def run_id(oid: str) -> str:
    """The OpenLineage run id of record ``oid``: its 128 bits as a UUID, with the version
    (8: custom, RFC 9562) and variant bits set, so it is a valid UUID and always the same
    one for the same record (two records differing only in those 6 bits are 2**-122 apart)."""
    n = int(oid, 16)
    n = (n & ~(0xF << 76)) | (0x8 << 76)   # version 8
    n = (n & ~(0x3 << 62)) | (0x2 << 62)   # variant RFC 4122/9562
    return str(uuid.UUID(int=n))


def _facet(kind: str, /, **fields: Any) -> dict[str, Any]:
    return {"_producer": PRODUCER, "_schemaURL": FACET_SCHEMAS[kind], **fields}


def _times(rec: Record) -> tuple[str, str]:
    """When the run started and ended (ISO 8601 with a zone); a snapshot's are both its
    creation time."""
    start = rec.run.started if rec.run else rec.created
    try:
        t0 = datetime.fromisoformat(start.replace("Z", "+00:00"))
    except ValueError:  # a foreign record's odd timestamp: the record's creation time
        t0 = datetime.fromisoformat(rec.created.replace("Z", "+00:00"))
    if t0.tzinfo is None:
        t0 = t0.replace(tzinfo=UTC)
    t1 = t0 + timedelta(seconds=rec.run.duration_s) if rec.run else t0
    return t0.isoformat(), t1.isoformat()


def code_url(remote: str | None, root: str) -> str:
    """A URI of the code's repository: the git remote (``git@host:path`` written as
    ``ssh://git@host/path``), else the local folder as a ``file://`` URI."""
    if remote:
        if "://" in remote:
            return remote
        head, sep, path = remote.partition(":")
        if sep and "/" not in head:
            return f"ssh://{head}/{path.lstrip('/')}"
    return "file://" + os.path.abspath(root)


def _dataset(store: Store, namespace: str, art: Artifact) -> dict[str, Any]:
    facets: dict[str, Any] = {"version": _facet("version", datasetVersion=art.oid)}
    fields = schema_fields(store, art)
    if fields is not None:
        facets["schema"] = _facet("schema", fields=fields)
    return {"namespace": namespace, "name": art.path, "facets": facets}


def _mlver_facet(oid: str, rec: Record) -> dict[str, Any]:
    """mlver's run facet. Empty and unknown values are left out, as the OpenLineage
    client leaves them out when it sends: what is printed is what is sent."""
    env = {"packages": rec.env.packages, "python": rec.env.python,
           "platform": rec.env.platform}
    fields = {"version": rec.label, "oid": oid, "kind": rec.kind,
              "params": flatten(rec.params), "metrics": flatten(rec.metrics),
              "environment": {k: v for k, v in env.items() if v is not None},
              "command": list(rec.run.command) if rec.run else None}
    return _facet("mlver", **{k: v for k, v in fields.items() if v not in (None, {}, [])})


def events(store: Store, root: str, oid: str, rec: Record,
           namespace: str | None = None) -> list[dict[str, Any]]:
    """The START and COMPLETE (or FAIL) RunEvents of record ``oid``."""
    ns = namespace or default_namespace(root)
    started, ended = _times(rec)
    code = _facet("sourceCodeLocation", type="git", url=code_url(rec.code.remote, root))
    if rec.code.commit:
        code["version"] = rec.code.commit
    if rec.code.branch:
        code["branch"] = rec.code.branch
    job = {"namespace": ns, "name": rec.name,
           "facets": {"sourceCodeLocation": code,
                      "jobType": _facet("jobType", processingType="BATCH", integration="MLVER",
                                        jobType="JOB")}}
    inputs = [_dataset(store, ns, a) for _slot, a in sorted(rec.inputs.items())]
    outputs = [_dataset(store, ns, a) for _slot, a in sorted(rec.outputs.items())]
    rid = run_id(oid)
    def event(kind: str, time: str, facets: dict[str, Any]) -> dict[str, Any]:
        return {"eventType": kind, "eventTime": time, "run": {"runId": rid, "facets": facets},
                "job": job, "inputs": inputs, "outputs": outputs, "producer": PRODUCER,
                "schemaURL": EVENT_SCHEMA}

    start = event("START", started, {"mlver": _mlver_facet(oid, rec)})
    end_facets: dict[str, Any] = {"mlver": _mlver_facet(oid, rec)}
    failed = rec.run is not None and rec.run.exit_code != 0
    if failed and rec.run is not None:
        end_facets["errorMessage"] = _facet(
            "errorMessage", message=f"{' '.join(rec.run.command)[:500]} exited with status "
                                    f"{rec.run.exit_code}", programmingLanguage="shell")
    end = event("FAIL" if failed else "COMPLETE", ended, end_facets)
    return [start, end]


def events_of(store: Store, root: str, records: list[tuple[str, Record]],
              namespace: str | None = None) -> list[dict[str, Any]]:
    """The events of ``records``, oldest run first (a producer's before its consumer's)."""
    ordered = sorted(records, key=lambda r: (_times(r[1])[0], r[1].name, r[1].version))
    return [e for oid, rec in ordered for e in events(store, root, oid, rec, namespace)]


# -- the schema facet: a table's columns, cheaply ---------------------------------------

# From the cached profile of the table (written by ``mlver diff``) when there is one; else
# a Parquet file's footer (read through the store's seekable object, which reads only the
# chunks it needs) or the head of a CSV/TSV file (HEAD_BYTES, types inferred by pyarrow
# from those rows). Content that is not here (pulled with ``--no-data``) is not fetched:
# the facet is left out. What does not read as a table gives no facet, never an error:
# lineage is still lineage without column names.

HEAD_BYTES = 1 << 16  # of a CSV: the header and enough rows to infer the column types
MAX_FIELDS = 10_000   # columns listed (a wider table is listed up to this many)


def table_format(path: str) -> str | None:
    """``"parquet"``, ``"csv"`` or ``"tsv"`` by the file name (compressed text: None)."""
    fmt = EXTENSIONS.get(os.path.splitext(path.lower())[1])
    return fmt if fmt in ("parquet", "csv", "tsv") else None


def schema_fields(store: Store, art: Artifact) -> list[dict[str, Any]] | None:
    """``[{"name", "type"}]`` of the table ``art`` holds, or None (not a table file, or
    its bytes are not here, or they do not read as one)."""
    fmt = table_format(art.path)
    if art.type != "blob" or fmt is None:
        return None
    profile = cached_profile(store, art.oid)
    columns = profile.get("columns") if profile else None
    if isinstance(columns, list) and all(isinstance(c, dict) for c in columns):
        return [{"name": str(c.get("name")), "type": str(c.get("type"))}
                for c in columns[:MAX_FIELDS]]
    if not store.objects.has(art.oid):
        return None
    try:
        schema = _parquet(store, art.oid) if fmt == "parquet" else _text(store, art, fmt)
    except (MlverError, OSError, ValueError, TableError, ImportError):
        return None
    except Exception as e:  # pyarrow's own errors (ArrowInvalid is a ValueError; others not)
        if type(e).__module__.startswith("pyarrow"):
            return None
        raise
    return [{"name": f.name, "type": str(f.type)} for f in list(schema)[:MAX_FIELDS]]


def _parquet(store: Store, oid: str) -> Any:
    import pyarrow.parquet as pq

    with store.objects.open(oid) as f:
        return pq.read_schema(f)


def _text(store: Store, art: Artifact, fmt: str) -> Any:
    import pyarrow.csv as pacsv

    head = store.objects.read_range(art.oid, 0, HEAD_BYTES)
    whole = len(head) >= art.size
    if not whole:  # the last row may be cut: keep whole lines only
        head = head[:head.rfind(b"\n") + 1]
    delim = "\t" if fmt == "tsv" else sniff_delimiter(head, whole)
    table = pacsv.read_csv(io.BytesIO(head), parse_options=pacsv.ParseOptions(delimiter=delim))
    return table.schema
