"""Profiling a table batch by batch: what :mod:`mlver.diff.profile` caches of a table.

A :class:`Profiler` takes the batches of one table (in memory bounded by a batch) and
returns its *profile* (JSON-able data: schema, null counts, moments, quantiles, exact
value counts or a row sample, categories, uniqueness, content digests; see
:func:`mlver.diff.profile.profile_table`) and its sorted row hashes.  A profile depends
only on the table's content, not on how it was read or batched.  numpy and pyarrow are
imported inside functions only: the CLI imports this module at start-up.
"""
from __future__ import annotations

import math
import os
from typing import TYPE_CHECKING, Any

from mlver.diff import uniqueness as _uniq
from mlver.diff.colhash import column_hash, column_term, content_sum, digest_of, mix, \
    number_hash, tag
from mlver.diff.tableerrors import TableError

if TYPE_CHECKING:  # pragma: no cover
    from concurrent.futures import ThreadPoolExecutor

    import numpy
    import pyarrow

PROFILE_FORMAT = 3             # 2: exact value counts, a row sample, streaming; 3: unique
MAX_CATEGORIES = 1000          # above this many distinct values a column is not categorical
SAMPLE_ROWS = 10000            # rows of the sample kept for number columns with more values

Profile = dict[str, Any]       # a table's profile, JSON-able (see profile_table)
ColumnProfile = dict[str, Any]  # one entry of a profile's "columns"


def _numeric_type(t: Any) -> bool:
    import pyarrow as pa
    return bool(pa.types.is_integer(t) or pa.types.is_floating(t) or pa.types.is_decimal(t))


def _category_type(t: Any) -> bool:
    import pyarrow as pa
    return bool(pa.types.is_string(t) or pa.types.is_large_string(t) or pa.types.is_boolean(t)
                or pa.types.is_dictionary(t))


class _Column:
    """What a profile keeps of one column, accumulated batch by batch."""

    def __init__(self, name: str, type_: Any) -> None:
        self.name, self.type = name, type_
        self.numeric, self.category = _numeric_type(type_), _category_type(type_)
        self.nulls = 0
        self.n, self.mean, self.m2 = 0, 0.0, 0.0      # finite values; Chan's parallel moments
        self.min, self.max = math.inf, -math.inf
        # exact value counts while there are at most MAX_CATEGORIES distinct values
        self.counts: dict[Any, int] | None = {} if (self.numeric or self.category) else None
        self.content, self.hashed = 0, 0  # see column_digest
        self.unique = _uniq.UniqueCheck() if _uniq.candidate(type_) else None

    def add(self, col: pyarrow.ChunkedArray, with_hash: bool,
            sample_pos: numpy.ndarray | None, with_content: bool = False) -> tuple[Any, Any]:
        """Account for one batch; return (row-hash term or None, sampled values or None).
        ``with_content`` without ``with_hash``: the content digest only, no row terms."""
        hashing = with_hash or with_content
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        if self.unique is not None and self.numeric:  # integers: checked by value
            self.unique.add(col)
        if self.numeric:
            v = pc.cast(col, pa.float64(), safe=False).to_numpy()
            exact = pa.types.is_integer(col.type) and col.null_count == 0  # all finite
            fin = None if exact else np.isfinite(v)
            if fin is None or fin.all():
                finite = v
            else:
                self.nulls += int(np.isnan(v).sum())
                finite = v[fin]
            self._moments(finite)
            if self.counts is not None:
                self._count_numbers(finite)
            h = self._term(number_hash(v, not exact), with_hash) if hashing else None
            return h, (v[sample_pos] if sample_pos is not None else None)
        self.nulls += col.null_count
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        if self.counts is not None and len(col) > 4 * MAX_CATEGORIES and pc.count_distinct(
                col.slice(0, 4 * MAX_CATEGORIES)).as_py() > MAX_CATEGORIES:
            self.counts = None  # many distinct values already: stop counting early
        if self.counts is not None and not pa.types.is_boolean(col.type):
            # few distinct values so far: one dictionary encoding gives both the
            # counts (a bincount of the indices) and the hashes (one per value)
            return self._add_encoded(col, with_hash, hashing), None
        if self.counts is not None:
            self._count(col)
        u = self.unique  # text, times: checked by the hashes the row hashes need anyway
        h = column_hash(col) if hashing or (u is not None and u.wants()) else None
        if u is not None:
            u.add(col, h)
        return (self._term(h, with_hash) if h is not None and hashing else None), None

    def _add_encoded(self, col: Any, with_hash: bool, hashing: bool) -> numpy.ndarray | None:
        import numpy as np
        import pyarrow as pa
        import pyarrow.compute as pc
        if pa.types.is_dictionary(col.type):
            col = col.cast(col.type.value_type)
        enc = pc.dictionary_encode(col.combine_chunks() if isinstance(col, pa.ChunkedArray)
                                   else col)
        values = enc.dictionary
        counts = self.counts
        if len(values) > MAX_CATEGORIES:
            self.counts = None
        elif counts is not None:
            idx = enc.indices.fill_null(len(values)).to_numpy(zero_copy_only=False)
            c = np.bincount(idx.astype(np.int64), minlength=len(values) + 1)[:len(values)]
            for v, k in zip(values.to_pylist(), c.tolist(), strict=False):
                if k:
                    counts[v] = counts.get(v, 0) + k
            if len(counts) > MAX_CATEGORIES:
                self.counts = None
        u, repeats = self.unique, len(values) < len(enc) - enc.null_count
        h = column_hash(enc) if hashing or (u is not None and u.wants() and not repeats) \
            else None
        if u is not None:
            u.add(col, None if repeats else h, repeats)
        return self._term(h, with_hash) if h is not None and hashing else None

    def _term(self, h: numpy.ndarray, rows: bool = True) -> numpy.ndarray | None:
        """The column's share of the row hashes (None without ``rows``); its values also
        go into ``content``."""
        self.content = (self.content + content_sum(h)) % (1 << 64)
        self.hashed += len(h)
        if not rows:
            return None
        term: numpy.ndarray = column_term(self.name, h)
        return term

    def _moments(self, x: numpy.ndarray) -> None:
        import numpy as np
        if not len(x):
            return
        with np.errstate(over="ignore", invalid="ignore"):
            n, mean = len(x), float(x.mean())
            d = x - mean
            m2 = float(np.dot(d, d))
            total = self.n + n
            delta = mean - self.mean
            self.mean += delta * n / total
            self.m2 += m2 + delta * delta * self.n * n / total
        self.n = total
        self.min, self.max = min(self.min, float(x.min())), max(self.max, float(x.max()))

    def _count_numbers(self, x: numpy.ndarray) -> None:
        """Value counts of finite numbers; integers in a narrow range by bincount."""
        import numpy as np
        import pyarrow as pa
        if not len(x):
            return
        lo, hi = float(x.min()), float(x.max())
        counts = self.counts
        if counts is None:
            return
        if hi - lo < (1 << 20) and pa.types.is_integer(self.type):
            c = np.bincount((x - lo).astype(np.int64))
            nz = np.flatnonzero(c)
            if len(nz) + len(counts) > 2 * MAX_CATEGORIES and len(nz) > MAX_CATEGORIES:
                self.counts = None
                return
            for v, k in zip((nz + lo).tolist(), c[nz].tolist(), strict=False):
                counts[v] = counts.get(v, 0) + k
            if len(counts) > MAX_CATEGORIES:
                self.counts = None
            return
        self._count(pa.array(x))

    def _count(self, arr: Any) -> None:
        import pyarrow.compute as pc
        counts = self.counts
        if counts is None:
            return
        if len(arr) > 4 * MAX_CATEGORIES and pc.count_distinct(
                arr.slice(0, 4 * MAX_CATEGORIES) if hasattr(arr, "slice") else arr) \
                .as_py() > MAX_CATEGORIES:
            self.counts = None  # many distinct values already: stop counting early
            return
        vc = pc.value_counts(arr)
        values, freq = vc.field("values").to_pylist(), vc.field("counts").to_pylist()
        for v, c in zip(values, freq, strict=False):
            if v is not None:
                counts[v] = counts.get(v, 0) + c
        if len(counts) > MAX_CATEGORIES:
            self.counts = None

    def finish(self, sample: numpy.ndarray | None, all_rows: bool) -> ColumnProfile:
        """The column's entry of the profile (see :func:`mlver.diff.profile.profile_table`)."""
        import base64

        import numpy as np
        entry: ColumnProfile = {"name": self.name, "type": str(self.type), "nulls": self.nulls,
                                 "distinct": len(self.counts) if self.counts is not None else None,
                                 "numeric": None, "values": None, "sample": None,
                                 "categories": None}
        if self.unique is not None:  # see mlver.diff.uniqueness
            entry["unique"] = self.unique.result()
        if self.hashed:  # profiles made with row hashes carry the column's content digest
            entry["content"] = digest_of(self.content, self.hashed)
        if self.category and self.counts is not None:
            # sorted by value, as the canonical JSON of the cache will have it
            entry["categories"] = dict(sorted((_category_key(v), int(c))
                                              for v, c in self.counts.items()))
        if not (self.numeric and self.n):
            return entry
        if self.counts is not None:
            values = np.array(sorted(self.counts), dtype=float)
            counts = np.array([self.counts[v] for v in sorted(self.counts)], dtype=np.int64)
            entry["values"] = {"value": [float(x) for x in values],
                               "count": [int(c) for c in counts]}
            q = weighted_quantiles(values, counts)
        else:
            s = np.sort(sample[np.isfinite(sample)]) if sample is not None else np.zeros(0)
            if not len(s):  # cannot happen with n > 0, but never divide by nothing
                s = np.array([self.min, self.max])
            entry["sample"] = base64.b64encode(s.astype("<f8").tobytes()).decode("ascii")
            # exact when the sample is the whole column (all_rows)
            q = weighted_quantiles(s, np.ones(len(s), dtype=np.int64))
            q[0], q[-1] = self.min, self.max
            q = np.maximum.accumulate(q)
        std = math.sqrt(self.m2 / self.n) if self.n and math.isfinite(self.m2) else None
        entry["numeric"] = {"count": self.n, "mean": _finite(self.mean), "std": _finite(std)
                            if std is not None else None, "min": self.min, "max": self.max,
                            "quantiles": [float(x) for x in q]}
        return entry


def weighted_quantiles(values: Any, counts: Any, n: int = 101) -> Any:
    """``n`` evenly spaced quantiles (0% to 100%) of sorted ``values`` repeated
    ``counts`` times, with numpy's "linear" interpolation, without repeating them."""
    import numpy as np
    v = np.asarray(values, dtype=float)
    cum = np.cumsum(np.asarray(counts, dtype=np.int64))
    total = int(cum[-1])
    pos = np.linspace(0.0, total - 1, n)
    lo = np.floor(pos).astype(np.int64)
    hi = np.minimum(lo + 1, total - 1)
    a = v[np.searchsorted(cum, lo, side="right")]
    b = v[np.searchsorted(cum, hi, side="right")]
    with np.errstate(over="ignore", invalid="ignore"):
        q = a + (b - a) * (pos - lo)
    q = np.where(np.isfinite(q), q, a)       # overflow near +-1.8e308
    return np.maximum.accumulate(q)          # rounding must not break monotony


def decode_sample(column: ColumnProfile) -> numpy.ndarray | None:
    """The sorted sample of a profile column (see :func:`mlver.diff.profile.profile_table`),
    or None."""
    import base64

    import numpy as np
    if not column.get("sample"):
        return None
    return np.frombuffer(base64.b64decode(column["sample"]), dtype="<f8").astype(float)


class Profiler:
    """Profile a table batch by batch, in memory bounded by the batch: ``add``
    each batch (a pyarrow Table or RecordBatch, all with the same columns, already
    :func:`~mlver.diff.colhash.normalize`-d), then ``finish()`` -> ``(profile, sorted row hashes or
    None)``.  The row sample keeps the SAMPLE_ROWS rows whose position in the file
    hashes lowest, so the result does not depend on the batch sizes."""

    def __init__(self, with_hashes: bool = True, sample_rows: int | None = None,
                 with_content: bool = False) -> None:
        # with_content without with_hashes: the columns' content digests (what tells a
        # rename) but no row hashes: a keyed diff needs no row hashes, and at 100M rows
        # mixing, sorting and storing them cost more than the rest of the profile
        self.with_hashes = with_hashes
        self.with_content = with_content
        self.sample_rows = SAMPLE_ROWS if sample_rows is None else sample_rows
        self.columns: list[_Column] | None = None
        self.rows = 0
        self._hashes: list[numpy.ndarray] = []
        self._prio: Any = None     # priorities of the sampled rows (a numpy array)
        self._sample: dict[str, Any] = {}  # column name -> values of the sampled rows
        self._pool: ThreadPoolExecutor | None = None

    def add(self, batch: Any) -> None:
        """Account for one batch (a pyarrow Table or RecordBatch)."""
        import numpy as np
        import pyarrow as pa
        if isinstance(batch, pa.RecordBatch):
            batch = pa.Table.from_batches([batch])
        if self.columns is None:
            self.columns = [_Column(f.name, f.type) for f in batch.schema]
            self._prio = np.zeros(0, dtype=np.uint64)
            self._sample = {c.name: np.zeros(0) for c in self.columns if c.numeric}
        elif batch.column_names != [c.name for c in self.columns]:
            raise TableError("the columns changed between batches")
        n = batch.num_rows
        if n == 0:
            return
        # the row sample: the rows whose position hashes lowest
        prio = mix(np.arange(self.rows, self.rows + n, dtype=np.uint64) ^ tag("sample"))
        full = len(self._prio) >= self.sample_rows
        pos = np.flatnonzero(prio < self._prio.max()) if full else np.arange(n)
        pick = pos if len(pos) else None

        def one(c: _Column) -> tuple[Any, Any]:
            return c.add(batch.column(c.name), self.with_hashes, pick, self.with_content)

        if self._pool is None:
            from concurrent.futures import ThreadPoolExecutor
            self._pool = ThreadPoolExecutor(max_workers=min(4, os.cpu_count() or 1))
        columns = self.columns
        results = list(self._pool.map(one, columns))
        if self.with_hashes:
            acc = np.zeros(n, dtype=np.uint64)
            for term, _ in results:
                acc += term
            self._hashes.append(mix(acc))
        if pick is not None:
            allp = np.concatenate([self._prio, prio[pick]])
            keep = None
            if len(allp) > self.sample_rows:
                keep = np.argpartition(allp, self.sample_rows - 1)[:self.sample_rows]
                allp = allp[keep]
            self._prio = allp
            for c, (_, vals) in zip(columns, results, strict=False):
                if c.numeric:
                    merged = np.concatenate([self._sample[c.name], vals])
                    self._sample[c.name] = merged[keep] if keep is not None else merged
        self.rows += n

    def finish(self) -> tuple[Profile, numpy.ndarray | None]:
        """``(profile, sorted row hashes or None)``; the profiler is spent after this."""
        import numpy as np
        if self._pool is not None:
            self._pool.shutdown()
            self._pool = None
        columns = self.columns or []
        all_rows = self.rows <= self.sample_rows
        profile: Profile = {
            "format": PROFILE_FORMAT, "rows": self.rows, "sample_rows": self.sample_rows,
            "row_hash_columns": [c.name for c in columns],
            "columns": [c.finish(self._sample.get(c.name), all_rows) for c in columns]}
        if not self.with_hashes:
            return profile, None
        hashes = np.concatenate(self._hashes) if self._hashes else np.zeros(0, dtype=np.uint64)
        self._hashes = []
        hashes.sort()
        return profile, hashes


def _category_key(v: Any) -> str:
    """A category value as the profile's JSON keys it (booleans as JSON writes them)."""
    if isinstance(v, bool):
        return "true" if v else "false"
    return v if isinstance(v, str) else str(v)


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None
