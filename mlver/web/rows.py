"""The rows of ``mlver ui``'s versions table: one per record, with its ``params.*`` and
``metrics.*`` columns, sorted by any column."""

from __future__ import annotations

import json
import math
from typing import Any

from mlver import Record
from mlver.api import Repo
from mlver.core.params import flatten
from mlver.web.filter import as_text, is_number
from mlver.web.pool import Repos, Row

BASE_COLUMNS = ("version", "status", "kind", "created", "commit", "tags", "message")


def record_row(oid: str, rec: Record) -> Row:
    """One row of the versions table (without tags, which can move)."""
    row: Row = {"oid": oid, "name": rec.name, "version": rec.version, "kind": rec.kind,
                "created": rec.created, "commit": (rec.code.commit or "")[:10] or None,
                "message": rec.message, "status": rec.status,
                "exit_code": rec.run.exit_code if rec.run is not None else None}
    row.update({f"params.{k}": v for k, v in flatten(rec.params).items()})
    row.update({f"metrics.{k}": v for k, v in flatten(rec.metrics).items()})
    row["_columns"] = tuple(k for k in row if k.startswith(("params.", "metrics.")))
    return row


def sort_rows(rows: list[Row], column: str, desc: bool) -> list[Row]:
    """Rows sorted by ``column`` (numbers before text), rows without a value last."""
    def key(r: Row) -> tuple[int, float, str]:
        v = r.get(column)
        if isinstance(v, (int, float)) and is_number(v):
            return (0, float(v), "")
        if isinstance(v, str):
            return (1, 0.0, v.lower())
        return (2, 0.0, json.dumps(v, sort_keys=True, default=str))

    if column == "version":  # a name's versions in order
        have = sorted(rows, key=lambda r: (r["name"].lower(), r["version"]), reverse=desc)
        return have
    have = [r for r in rows if r.get(column) not in (None, [], "")]
    none = [r for r in rows if r.get(column) in (None, [], "")]
    kinds = {type(r[column]) for r in have}
    if kinds <= {int, float} or kinds == {str} and column == "created":
        have.sort(key=lambda r: r[column], reverse=desc)  # one type: compare as is (fast)
    else:
        have.sort(key=key, reverse=desc)
    return have + none


def cell(v: Any) -> str:
    """A table cell's text: numbers with 6 significant digits, everything else as JSON
    or YAML would write it."""
    if v is None:
        return ""
    if isinstance(v, float) and math.isfinite(v):
        return f"{v:.6g}"
    if isinstance(v, list):
        return ", ".join(map(str, v))
    return as_text(v)


def table_rows(repo: Repo, repos: Repos) -> list[Row]:
    """Every record's row (cached by oid: records never change), with its tags now. The
    list itself is kept for the repo until the index changes (another process committed)."""
    changes = repo.store.index.change_counter()  # SQLite's counter of commits by others
    cached = repos.tables.get(repo)
    if cached is not None and cached[0] == changes:
        out, names = cached[1], cached[2]
    else:
        cache = repos.rows
        out, names = [], set()
        for oid, rec in repo.log():
            row = cache.get(oid)
            if row is None:
                row = cache[oid] = record_row(oid, rec)
            out.append(row)
            names.add(rec.name)
        repos.tables[repo] = (changes, out, names)
    tagged = [n for n in repo.store.refs.tag_names() if n in names]
    if not tagged:
        return out
    by = repo.tags_by_record(tagged)
    result = []
    for row in out:
        tags = by.get(row["name"], {}).get(row["oid"]) if row["name"] in by else None
        result.append(dict(row, tags=tags) if tags else row)
    return result
