"""Renamed columns and the most changed cells, for the table diff and its summary (split from
:mod:`mlver.diff.tables`, which imports these)."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from mlver.diff import colhash as _colhash

if TYPE_CHECKING:  # pragma: no cover
    from mlver.diff.profiler import ColumnProfile, Profile

TOP_CELLS = 3  # columns named after "N changed", most changed first


def top_cells(cells: tuple[tuple[str, int], ...]) -> str:
    """``: hour 4,950,000, is_fraud 384,739`` for the summary of keyed changed rows."""
    if not cells:
        return ""
    top = sorted(cells, key=lambda c: -c[1])  # stable: ties keep column order
    more = f" (+{len(top) - TOP_CELLS} more)" if len(top) > TOP_CELLS else ""
    return ": " + ", ".join(f"{_plain(c)} {n:,}" for c, n in top[:TOP_CELLS]) + more


def _plain(name: str) -> str:
    """A column name as is, quoted only when it would blur the line (blank, comma,
    control characters)."""
    ok = name and name.isprintable() and name.strip() == name and "," not in name
    return name if ok else repr(name)


def renamed_columns(old_cols: dict[str, ColumnProfile],
                    new_cols: dict[str, ColumnProfile]) -> tuple[tuple[str, str], ...]:
    """``(old name, new name)`` for each dropped column whose values reappear, identical,
    in an added column (equal ``content`` digests in the profiles), one to one, in column
    order. Columns without a digest (a profile cached by an older mlver) never match."""
    free: dict[str, list[str]] = {}
    for name, col in new_cols.items():
        if name not in old_cols and col.get("content"):
            free.setdefault(col["content"], []).append(name)
    out = []
    for name, col in old_cols.items():
        if name not in new_cols and free.get(col.get("content") or ""):
            out.append((name, free[col["content"]].pop(0)))
    return tuple(out)


def with_digests(old_p: Profile, old_t: Any, new_p: Profile,
                 new_t: Any) -> tuple[Profile, Profile]:
    """The profiles, with the ``content`` digest of each column only one side has filled
    in from the table when missing (a profile made without row hashes, or cached by an
    older mlver); the given dicts are not changed."""
    names = [{c["name"] for c in p["columns"]} for p in (old_p, new_p)]
    if not (names[0] - names[1]) or not (names[1] - names[0]):
        return old_p, new_p  # a rename needs a dropped and an added column

    def fill(p: Profile, table: Any, only: set[str]) -> Profile:
        if all("content" in c for c in p["columns"] if c["name"] in only):
            return p
        return dict(p, columns=[
            dict(c, content=_colhash.column_digest(_colhash.column_hash(table[c["name"]])))
            if c["name"] in only and "content" not in c else c for c in p["columns"]])
    return fill(old_p, old_t, names[0] - names[1]), fill(new_p, new_t, names[1] - names[0])
