"""The tables a DuckDB diff reads (see :mod:`mlver.diff.duckdiff`): a parquet file as it
is, a text table (CSV, TSV, JSON lines, compressed or not) parsed by pyarrow, batch by
batch, exactly as the in-memory path parses it, into a parquet file in the spill folder
(DuckDB's own CSV reader infers other types and nulls). Sample rows are read back by
position with pyarrow, so that their values are those of the in-memory path.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlver.diff import rows as _rows
from mlver.diff.profile import scan
from mlver.diff.tableformat import split_format

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

    from mlver.base.progress import Progress


class Unsupported(Exception):  # noqa: N818 (a signal to the caller, not a failure)
    """This pair of tables cannot be diffed on DuckDB with the in-memory path's exact
    results (duplicate or case-folded column names, a type compared differently): the
    caller diffs them in memory instead."""


@dataclass(frozen=True)
class Source:
    """A table as DuckDB reads it: a parquet ``path`` and the pyarrow ``schema`` the
    in-memory path would read (normalized)."""
    path: str
    schema: pyarrow.Schema

    def sql(self) -> str:
        """The table expression, with each row's position as ``file_row_number``."""
        return f"read_parquet({quote_str(self.path)}, file_row_number = true)"


def quote(name: str) -> str:
    """A column name as a DuckDB identifier."""
    return '"' + name.replace('"', '""') + '"'


def quote_str(text: str) -> str:
    """A string literal."""
    return "'" + text.replace("'", "''") + "'"


def _check_names(names: list[str]) -> None:
    # DuckDB matches identifiers without regard to case, and renames duplicates its own way
    folded = [n.lower() for n in names]
    if len(set(folded)) != len(folded) or "file_row_number" in folded:
        raise Unsupported("column names that DuckDB cannot tell apart")


class _ParquetCopy:
    """A :func:`scan` consumer writing each (normalized) batch to a parquet file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.writer: Any = None
        self.rows = 0

    def add(self, table: Any) -> None:
        import pyarrow.parquet as pq
        if self.writer is None:
            self.writer = pq.ParquetWriter(self.path, table.schema, store_schema=True)
        if table.num_rows:
            self.writer.write_table(table, row_group_size=1 << 20)
            self.rows += table.num_rows

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


def prepare(path: str, fmt: str, spill: str, name: str, progress: Progress) -> Source:
    """The :class:`Source` of the table file ``path`` read as ``fmt``; a text table is
    copied to ``spill/name.parquet`` first. Unsupported for names DuckDB confuses."""
    import pyarrow.parquet as pq

    from mlver.diff.colhash import normalize
    kind, codec = split_format(fmt)
    if kind == "parquet" and codec is None:
        schema = pq.read_schema(path)
        if len(set(schema.names)) != len(schema.names):
            raise Unsupported("duplicate column names")
        schema = normalize(schema.empty_table()).schema
        _check_names(schema.names)
        return Source(path, schema)
    progress.step(f"reading {os.path.basename(path)}")
    target = os.path.join(spill, f"{name}.parquet")
    copies: list[_ParquetCopy] = []

    def make() -> _ParquetCopy:
        for c in copies:  # a retry (a column retyped): start the copy over
            c.close()
        copies.append(_ParquetCopy(target))
        return copies[-1]
    try:
        scan(path, fmt, make)
    finally:
        for c in copies:
            c.close()
    schema = pq.read_schema(target)
    _check_names(schema.names)
    return Source(target, schema)


def fetch_rows(src: Source, positions: list[int], raw: bool = False) -> list[dict[str, Any]]:
    """The rows at ``positions`` (in that order) as JSON-able dicts (``raw``: as pyarrow's
    ``to_pylist`` gives them), read with pyarrow from only the row groups that hold them
    (see :func:`mlver.diff.rows.rows_as_json`)."""
    import bisect

    import pyarrow as pa
    import pyarrow.parquet as pq

    from mlver.diff.colhash import normalize
    if not positions:
        return []
    pf = pq.ParquetFile(src.path)
    starts = [0]
    for i in range(pf.metadata.num_row_groups):
        starts.append(starts[-1] + pf.metadata.row_group(i).num_rows)
    groups = sorted({bisect.bisect_right(starts, p) - 1 for p in positions})
    parts, offset = [], {}
    n = 0
    for g in groups:
        parts.append(normalize(pf.read_row_group(g)))
        offset[g] = n
        n += parts[-1].num_rows
    table = pa.concat_tables(parts)
    at = [offset[bisect.bisect_right(starts, p) - 1] + p - starts[bisect.bisect_right(starts, p)
                                                              - 1] for p in positions]
    if raw:
        return list(table.take(pa.array(at, type=pa.int64())).to_pylist())
    return _rows.rows_as_json(table, at)


def hashes_in_order(src: Source, columns: list[str]) -> Any:
    """The row hashes over ``columns`` in row order (streamed), a numpy array."""
    import numpy as np

    from mlver.diff.colhash import row_hashes_unsorted

    class Parts:
        def __init__(self) -> None:
            self.parts: list[Any] = []

        def add(self, table: Any) -> None:
            self.parts.append(row_hashes_unsorted(table, columns))
    parts = scan(src.path, "parquet", Parts, columns=columns).parts
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.uint64)


def _positioned(h: Any) -> Any:
    import numpy as np
    import pyarrow as pa
    return pa.table({"pos": pa.array(np.arange(len(h), dtype=np.int64)), "h": pa.array(h)})


def surplus_rows(con: Any, old_h: Any, new_h: Any, rows: int) -> tuple[list[int], list[int]]:
    """(added, removed): the positions of the first ``rows`` rows of each side that the
    multiset of row hashes (``old_h``, ``new_h``: in row order) counts as added
    (removed), in row order, as
    :func:`mlver.diff.rowdiff.surplus` picks them: the occurrences of a hash beyond
    the other side's count, earlier occurrences matching first."""
    from mlver.diff.duckengine import query
    tables = {"mlver_old_h": _positioned(old_h), "mlver_new_h": _positioned(new_h)}
    out = []
    for mine, other in (("mlver_new_h", "mlver_old_h"), ("mlver_old_h", "mlver_new_h")):
        sql = (f"WITH o AS (SELECT h, count(*) AS c FROM {other} GROUP BY h), "
               f"m AS (SELECT pos, h, row_number() OVER (PARTITION BY h ORDER BY pos) - 1 "
               f"AS r FROM {mine}) "
               f"SELECT m.pos FROM m LEFT JOIN o ON m.h = o.h "
               f"WHERE m.r >= coalesce(o.c, 0) ORDER BY m.pos LIMIT {int(rows)}")
        out.append([int(r[0]) for r in query(con, sql, tables=tables)])
    return out[0], out[1]
