"""Keyed row diffs and sample rows of two large tables on DuckDB, out of core: the same
figures as :func:`mlver.diff.rowdiff.keyed_rows` and
:func:`mlver.diff.rowdiff.unkeyed_samples`, with memory bounded by the engine's limit
(see :mod:`mlver.diff.duckengine`) instead of the tables' size.

Rows match by key with ``IS NOT DISTINCT FROM`` (null keys match each other); cells are
compared by the in-memory path's rules (null equals NaN; numbers of different types by
their float64 value; values of different kinds differ unless both are missing). Key and
column types whose comparison DuckDB would not make the same way (float keys, nested
columns, a key that is a number in one version and text in the other) raise
:class:`~mlver.diff.ducksource.Unsupported`: the caller diffs those in memory.
"""
from __future__ import annotations

import os

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from mlver.diff.ducksource import Source, Unsupported, fetch_rows, quote
from mlver.diff.duckengine import query
from mlver.diff.rowdiff import KeyedRows, _shown
from mlver.diff.tableerrors import KeyColumnError, TableError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow

    from mlver.base.progress import Progress
    from mlver.diff.profiler import Profile
    from mlver.diff.tables import TableDiff


def _base(t: pyarrow.DataType) -> pyarrow.DataType:
    import pyarrow as pa
    return t.value_type if pa.types.is_dictionary(t) else t


def _kind(t: pyarrow.DataType) -> str:
    """The kinds of :func:`mlver.diff.rowdiff._cells_differ`: values of two types of one
    kind are compared after a cast; of different kinds they always differ."""
    import pyarrow as pa
    if pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t):
        return "num"
    return "str" if pa.types.is_string(t) or pa.types.is_large_string(t) else str(t)


def _comparable(t: pyarrow.DataType) -> bool:
    """Types whose ``=`` in DuckDB is pyarrow's ``equal``."""
    import pyarrow as pa
    ty = pa.types
    return bool(ty.is_integer(t) or ty.is_floating(t) or ty.is_decimal(t) or ty.is_string(t)
                or ty.is_large_string(t) or ty.is_binary(t) or ty.is_large_binary(t)
                or ty.is_boolean(t) or ty.is_date(t) or ty.is_timestamp(t) or ty.is_time(t))


def _missing(x: str, t: pyarrow.DataType) -> str:
    import pyarrow as pa
    return f"({x} IS NULL OR isnan({x}))" if pa.types.is_floating(t) else f"({x} IS NULL)"


def _nulls_hash_alike(ta: pyarrow.DataType, tb: pyarrow.DataType) -> bool:
    """True when a null of type ``ta`` and one of ``tb`` have the same row hash (numbers'
    nulls hash alike, and other types' alike, but not a number's and a text's)."""
    import pyarrow as pa

    from mlver.diff.colhash import column_hash
    return bool(column_hash(pa.nulls(1, ta))[0] == column_hash(pa.nulls(1, tb))[0])


def differ(name: str, ta: pyarrow.DataType, tb: pyarrow.DataType) -> str:
    """SQL, true where column ``name`` of the old row ``o`` and the new row ``n`` differ."""
    import pyarrow as pa
    a, b = f"o.{quote(name)}", f"n.{quote(name)}"
    ta, tb = _base(ta), _base(tb)
    if ta == tb:
        if pa.types.is_null(ta):
            return "false"
        if not _comparable(ta):
            raise Unsupported(f"column {name!r} of type {ta}")
        equal = f"{a} = {b}"
    elif _kind(ta) == _kind(tb) == "num":
        equal = f"{a}::DOUBLE = {b}::DOUBLE"
    elif _kind(ta) == _kind(tb) == "str":
        equal = f"{a} = {b}"
    else:  # e.g. numbers and text: their hashes differ, unless both are missing ...
        if {_kind(ta), _kind(tb)} == {"str", str(pa.binary())} or \
                {_kind(ta), _kind(tb)} == {"str", str(pa.large_binary())}:
            raise Unsupported(f"column {name!r} of types {ta} and {tb}")  # equal bytes hash alike
        if not _nulls_hash_alike(ta, tb):  # ... and a number's null hashes unlike a text's
            return "true"
        equal = "false"
    return f"(NOT (coalesce({equal}, false) OR ({_missing(a, ta)} AND {_missing(b, tb)})))"


def _check_key_types(old: Source, new: Source, keys: Sequence[str]) -> None:
    import pyarrow as pa
    ty = pa.types
    for k in keys:
        ta, tb = _base(old.schema.field(k).type), _base(new.schema.field(k).type)
        if ty.is_integer(ta) and ty.is_integer(tb):
            continue
        if _kind(ta) == _kind(tb) == "str":
            continue
        if ta == tb and (ty.is_boolean(ta) or ty.is_date(ta) or ty.is_timestamp(ta)):
            continue
        raise Unsupported(f"key column {k!r} of types {ta} and {tb}")


def keyed(con: Any, old: Source, new: Source, keys: Sequence[str], rows: int,
          progress: Progress) -> KeyedRows:
    """:func:`mlver.diff.rowdiff.keyed_rows` of two sources, on DuckDB. KeyColumnError
    for a missing key column or a duplicate key (the same one, and the same message, as
    the in-memory path)."""
    from mlver.diff.profile import _check_key
    keys = list(keys)
    for src in (old, new):  # as the in-memory path reads them: the old version first
        _check_key(list(src.schema.names), keys)
    _check_key_types(old, new, keys)
    new_names = set(new.schema.names)
    compare = [c for c in old.schema.names if c in new_names - set(keys)]
    exprs = [differ(c, old.schema.field(c).type, new.schema.field(c).type) for c in compare]
    progress.step("checking keys")
    _duplicates(con, old, new, keys)
    on = " AND ".join(f"o.{quote(k)} IS NOT DISTINCT FROM n.{quote(k)}" for k in keys)
    joined = f"{old.sql()} AS o JOIN {new.sql()} AS n ON {on}"
    flags = ", ".join(f"{e} AS d{i}" for i, e in enumerate(exprs))
    inner = (f"SELECT o.file_row_number AS po, n.file_row_number AS pn"
             f"{', ' + flags if flags else ''} FROM {joined}")
    anyd = " OR ".join(f"d{i}" for i in range(len(exprs))) or "false"
    sums = "".join(f", sum(d{i}::BIGINT)" for i in range(len(exprs)))
    progress.step("joining and counting rows")
    row = query(con, f"SELECT count(*), count(*) FILTER (WHERE {anyd}){sums} FROM ({inner})")[0]
    matched, changed = int(row[0]), int(row[1])
    counts = [int(x or 0) for x in row[2:]]
    cells = tuple((c, n) for c, n in zip(compare, counts, strict=True) if n)
    rows_old, rows_new = _count(con, old), _count(con, new)
    samples = None
    if rows > 0:
        progress.step("picking sample rows")
        picked = query(con, f"SELECT * FROM ({inner}) WHERE {anyd} ORDER BY po LIMIT {rows}")
        olds = fetch_rows(old, [int(r[0]) for r in picked])
        news = fetch_rows(new, [int(r[1]) for r in picked])
        changed_rows = [{"key": {k: o[k] for k in keys}, "old": o, "new": n,
                         "columns": [c for i, c in enumerate(compare) if r[2 + i]]}
                        for r, o, n in zip(picked, olds, news, strict=True)]
        samples = {"added": fetch_rows(new, _unmatched(con, new, old, on, rows, "n", "o")),
                   "removed": fetch_rows(old, _unmatched(con, old, new, on, rows, "o", "n")),
                   "changed": changed_rows}
    return KeyedRows(rows_new - matched, rows_old - matched, changed, cells, samples)


def _count(con: Any, src: Source) -> int:
    import pyarrow.parquet as pq
    return int(pq.ParquetFile(src.path).metadata.num_rows)


def _unmatched(con: Any, mine: Source, other: Source, on: str, rows: int, me: str,
               them: str) -> list[int]:
    """Positions of the first ``rows`` rows of ``mine`` whose key ``other`` lacks."""
    sql = (f"SELECT {me}.file_row_number FROM {mine.sql()} AS {me} ANTI JOIN {other.sql()} "
           f"AS {them} ON {on} ORDER BY 1 LIMIT {rows}")
    return [int(r[0]) for r in query(con, sql)]


def _duplicates(con: Any, old: Source, new: Source, keys: list[str]) -> None:
    """KeyColumnError naming the duplicate key the in-memory path names: the old version
    first; among several, the first in the order of its key codes (an integer key
    without nulls: the smallest; else by where each key value first appears, in the
    old version then the new one, column by column)."""
    import pyarrow as pa
    cols = ", ".join(quote(k) for k in keys)
    rows_old = _count(con, old)
    for side, src in (("old", old), ("new", new)):
        dups = (f"SELECT {cols}, count(*) AS c, min(file_row_number) AS first "
                f"FROM {src.sql()} GROUP BY ALL HAVING count(*) > 1")
        if not query(con, f"SELECT count(*) FROM ({dups})")[0][0]:
            continue
        types = [_base(s.schema.field(keys[0]).type) for s in (old, new)]
        no_nulls = len(keys) == 1 and all(pa.types.is_integer(t) for t in types) and not any(
            query(con, f"SELECT count(*) FROM {s.sql()} WHERE {cols} IS NULL")[0][0]
            for s in (old, new))
        if no_nulls:
            order, joins = f"d.{quote(keys[0])}", ""
        else:
            parts, order_by = [], []
            for j, k in enumerate(keys):
                q = quote(k)
                union = f"SELECT {q} AS v, file_row_number AS g FROM {old.sql()}"
                if side == "new":
                    union += f" UNION ALL SELECT {q}, {rows_old} + file_row_number FROM {new.sql()}"
                parts.append(f" LEFT JOIN (SELECT v, min(g) AS g FROM ({union}) GROUP BY v) "
                             f"AS f{j} ON d.{q} IS NOT DISTINCT FROM f{j}.v")
                order_by.append(f"f{j}.g")
            order, joins = ", ".join(order_by), "".join(parts)
        first, count = query(con, f"SELECT d.first, d.c FROM ({dups}) AS d{joins} "
                                  f"ORDER BY {order} LIMIT 1")[0]
        row = fetch_rows(src, [int(first)], raw=True)[0]
        value = _shown(row[keys[0]]) if len(keys) == 1 else \
            "(" + ", ".join(_shown(row[k]) for k in keys) + ")"
        raise KeyColumnError(f"duplicate key {', '.join(keys)} = {value} in the {side} "
                             f"version ({int(count)} rows)")


def diff_files(old_file: tuple[str, str], new_file: tuple[str, str],
               profiles: tuple[Profile, Profile], key: Sequence[str] | None, rows: int,
               target: str | None, tmp_root: str, memory: str | None,
               progress: Progress) -> TableDiff:
    """The TableDiff of two table files ``(local path, format)`` whose ``profiles``
    (streamed, see :func:`mlver.diff.profile.profile_file`) are given: a keyed diff, or
    an unkeyed one with ``rows`` sample rows, on DuckDB; the same figures as
    :func:`mlver.diff.tables.diff_tables`, with ``engine`` "duckdb". Unsupported when
    the tables need the in-memory path; DuckDB works in a spill folder under
    ``tmp_root``, removed afterwards."""
    old_p, new_p = profiles
    key = [key] if isinstance(key, str) else key
    names = [{c["name"] for c in p["columns"]} for p in profiles]
    if any("content" not in c for p, only in ((old_p, names[0] - names[1]),
                                               (new_p, names[1] - names[0]))
           for c in p["columns"] if c["name"] in only):
        raise Unsupported("a profile without column digests (renames need the tables)")
    import duckdb
    try:
        return _diff_on(old_file, new_file, old_p, new_p, key, rows, target, tmp_root, memory,
                        progress)
    except (duckdb.OutOfMemoryException, duckdb.IOException) as e:
        # out of memory or of disk for the spill folder: a note names it, not a crash
        raise TableError(f"too big to diff by key here ({str(e).splitlines()[0][:200]}); "
                         "raise [diff] memory in mlver.toml or free disk space") from e
    except duckdb.Error as e:  # a type DuckDB reads otherwise: the in-memory engine decides
        raise Unsupported(str(e)) from e


def _diff_on(old_file: tuple[str, str], new_file: tuple[str, str], old_p: Profile,
             new_p: Profile, key: Sequence[str] | None, rows: int, target: str | None,
             tmp_root: str, memory: str | None, progress: Progress) -> TableDiff:
    import numpy as np

    from mlver.diff.duckengine import connect
    from mlver.diff.ducksource import hashes_in_order, prepare, surplus_rows
    from mlver.diff.rowdiff import multiset_diff
    from mlver.diff.tables import assemble, common_columns

    size = sum(os.path.getsize(f[0]) for f in (old_file, new_file))
    with connect(tmp_root, memory, table_bytes=size) as (con, spill):
        old = prepare(*old_file, spill, "old", progress)
        new = prepare(*new_file, spill, "new", progress)
        if key:
            k = keyed(con, old, new, key, rows, progress)
            return assemble(old_p, new_p, k.added, k.removed, key=tuple(key),
                            rows_changed=k.changed, cells_changed=k.cells, samples=k.samples,
                            target=target, engine="duckdb")
        common = common_columns(old_p, new_p)
        progress.step("hashing rows")
        old_h, new_h = hashes_in_order(old, common), hashes_in_order(new, common)
        added, removed = multiset_diff(np.sort(old_h), np.sort(new_h))
        progress.step("picking sample rows")
        add_at, rem_at = surplus_rows(con, old_h, new_h, rows)
        del old_h, new_h
        samples = {"changed": [], "added": fetch_rows(new, add_at),
                   "removed": fetch_rows(old, rem_at)}
        return assemble(old_p, new_p, added, removed, samples=samples, target=target,
                        engine="duckdb")
