"""The errors of reading and diffing tables, shared by :mod:`mlver.diff.profile`
(reading) and :mod:`mlver.diff.tables` (diffing).

Any of them means "not comparable as a table": the caller falls back to a byte
diff. This module imports nothing of mlver, so both may import it.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

_P = ParamSpec("_P")
_R = TypeVar("_R")


class TableError(Exception):
    """A file cannot be read or diffed as a table (the caller falls back to bytes)."""


class KeyColumnError(TableError):
    """The key names a column that is missing, or does not identify rows uniquely."""


def table_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Decorator: pyarrow's errors (data it cannot handle) become TableError,
    so that the caller falls back to a byte diff instead of failing."""
    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            import pyarrow as pa  # loaded already if pyarrow raised
            if isinstance(exc, pa.ArrowException) and not isinstance(exc, TableError):
                raise TableError(f"cannot diff as a table: {exc}") from exc
            raise
    return wrapper
