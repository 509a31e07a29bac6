"""The columns of a table artifact, as the OpenLineage ``schema`` dataset facet lists them.

Cheap by design, since every event of every version may ask: the cached profile of the
table (written by ``mlver diff``) when there is one; else a Parquet file's footer (read
through the store's seekable object, which reads only the chunks it needs) or the head of
a CSV/TSV file (:data:`HEAD_BYTES`, types inferred by pyarrow from those rows). Content that
is not here (pulled with ``--no-data``) is not fetched: the facet is left out. Anything
that does not read as a table gives no facet, never an error: lineage is still lineage
without column names.
"""

from __future__ import annotations

import io
import os
from typing import Any

from mlver.base.errors import MlverError
from mlver.core.record import Artifact
from mlver.diff.tablecache import cached_profile
from mlver.diff.tableformat import EXTENSIONS, sniff_delimiter
from mlver.diff.tableerrors import TableError
from mlver.store import Store

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
