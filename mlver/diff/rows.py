"""Table rows as JSON-able values: the sample rows of a table diff (``--rows N``)."""
from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def rows_as_json(table: pyarrow.Table, positions: Any) -> list[dict[str, Any]]:
    """The rows at ``positions`` as JSON-able dicts (NaN/inf -> None, dates and
    times -> ISO text, bytes -> text with backslash escapes)."""
    import pyarrow as pa
    if len(positions) == 0:
        return []
    rows = table.take(pa.array(positions, type=pa.int64())).to_pylist()
    return [{k: _jsonable(v) for k, v in row.items()} for row in rows]


def _jsonable(v: Any) -> Any:
    if v is None or isinstance(v, (bool, int, str)):
        return v
    if isinstance(v, float):
        return _finite(v)
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).decode("utf-8", errors="backslashreplace")
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v.isoformat() if hasattr(v, "isoformat") else str(v)
