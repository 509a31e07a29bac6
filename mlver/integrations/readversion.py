"""``Repo.open`` and ``Repo.read_table``: a slot of any version read in place, without a
checkout, through the ``mlver://`` file system (:mod:`mlver.integrations.mlverfs`).

Formats are those the table diff recognises (:func:`mlver.diff.profile.detect_format`):
parquet, CSV/TSV (delimiter sniffed), JSON lines, each text one optionally compressed.
A folder slot reads as one parquet dataset of the ``.parquet`` files below it.

Where an object is stored whole (loose), DuckDB and pyarrow read its file in the store
directly: a plain file is what they are fastest on. Otherwise (packed, chunked, not yet
fetched) they read by range through ``mlver://``.
"""

from __future__ import annotations

import functools
from typing import IO, Any

from mlver.base.errors import MlverError
from mlver.integrations import verpath
from mlver.integrations.mlverfs import MlverFileSystem

ENGINES = ("pandas", "duckdb")


class ReadTableError(MlverError):
    """A slot that cannot be read as a table (not one, or not with that engine)."""


@functools.lru_cache(maxsize=8)
def filesystem(root: str) -> MlverFileSystem:
    """The ``mlver://`` file system of the repository at ``root`` (one per root, kept)."""
    return MlverFileSystem(repo=root)


def _url(rev: str, path: str) -> str:
    if not rev or "/" in rev:
        raise verpath.VersionPathError(f"'{rev}' is not a revision; give NAME, NAME@N, "
                                       "NAME@TAG or an oid, and the path apart")
    return f"{rev}/{path.strip('/')}" if path.strip("/") else rev


def open_version(root: str, rev: str, path: str) -> IO[bytes]:
    """A seekable, read-only binary file of the slot or file ``path`` of version ``rev``."""
    f: IO[bytes] = filesystem(root).open(_url(rev, path), "rb")
    return f


def _file_name(fs: MlverFileSystem, url: str) -> str:
    """The name the file had when recorded (its extension says its format)."""
    parts = verpath.split(url)
    if len(parts) > 2:
        return parts[-1]
    record = fs.target(parts[0]).record
    assert record is not None
    return verpath.find_slot(record, parts[0], parts[1])[1].path


def _format(fs: MlverFileSystem, url: str) -> tuple[str, str | None, str]:
    """``(kind, codec, delimiter)`` of the table file ``url``."""
    from mlver.diff.profile import detect_format
    from mlver.diff.tableformat import SNIFF_BYTES, decompress_head, sniff_delimiter, \
        split_format

    head = fs.cat_file(url, 0, SNIFF_BYTES)
    name = _file_name(fs, url)
    fmt = detect_format(name, head)
    if fmt is None:
        raise ReadTableError(f"mlver://{url} ({name}) is not a table mlver can read: parquet, "
                             "CSV, TSV or JSON lines (optionally compressed)")
    kind, codec = split_format(fmt)
    delimiter = ","
    if kind in ("csv", "tsv"):
        text = decompress_head(head, codec) if codec else head
        whole = codec is None and len(head) < SNIFF_BYTES
        delimiter = sniff_delimiter(text or head, whole, "\t" if kind == "tsv" else ",")
    return kind, codec, delimiter


def read_table(root: str, rev: str, slot: str, columns: list[str] | None = None,
               engine: str = "pandas") -> Any:
    """The table in ``slot`` (a slot, or a file inside a folder slot) of version ``rev``:
    a pandas DataFrame, or with ``engine="duckdb"`` a DuckDB relation over it."""
    if engine not in ENGINES:
        raise ReadTableError(f"engine {engine!r} is not one of {', '.join(ENGINES)}")
    fs = filesystem(root)
    url = _url(rev, slot)
    target = fs.target(url)
    if target.is_dir:
        if engine == "duckdb":
            return _duck(fs, f"{url}/**/*.parquet", "parquet", None, ",", columns, glob=True)
        import pyarrow.dataset as ds

        data = ds.dataset(target.path, filesystem=fs, format="parquet")
        return data.to_table(columns=columns).to_pandas()
    kind, codec, delimiter = _format(fs, url)
    if engine == "duckdb":
        return _duck(fs, url, kind, codec, delimiter, columns)
    return _arrow(fs, url, kind, codec, delimiter, columns).to_pandas()


def _arrow(fs: MlverFileSystem, url: str, kind: str, codec: str | None, delimiter: str,
           columns: list[str] | None) -> Any:
    import pyarrow as pa

    if kind == "parquet":
        import pyarrow.parquet as pq

        local = fs.local_path(url)
        with (open(local, "rb") if local else fs.open(url, "rb")) as f:
            return pq.read_table(f, columns=columns)
    with fs.open(url, "rb") as raw:
        if codec == "xz":  # not one of pyarrow's codecs
            import lzma

            stream: Any = lzma.open(raw, "rb")  # noqa: SIM115 (read just below, inside raw)
        elif codec:
            stream = pa.CompressedInputStream(pa.PythonFile(raw, mode="r"), codec)
        else:
            stream = raw
        if kind == "jsonl":
            import pyarrow.json as pj

            table = pj.read_json(stream)
            return table.select(columns) if columns else table
        import pyarrow.csv as pcsv

        return pcsv.read_csv(stream, parse_options=pcsv.ParseOptions(delimiter=delimiter),
                             convert_options=pcsv.ConvertOptions(include_columns=columns))


def _duck(fs: MlverFileSystem, url: str, kind: str, codec: str | None, delimiter: str,
          columns: list[str] | None, glob: bool = False) -> Any:
    import duckdb

    con = duckdb.connect()
    local = None if glob else fs.local_path(url)
    if local is None:
        con.register_filesystem(fs)
    src = local or f"{verpath.PROTOCOL}://{url}"
    if kind == "parquet":
        rel = con.read_parquet(src)
    elif kind == "jsonl":
        if codec not in (None, "gzip", "zstd"):
            raise ReadTableError(f"DuckDB cannot read {codec}-compressed JSON lines; use "
                                 "engine='pandas'")
        rel = con.read_json(src, format="newline_delimited",
                            compression=codec or "none")  # type: ignore[arg-type]
    else:
        if codec not in (None, "gzip", "zstd"):
            raise ReadTableError(f"DuckDB cannot read {codec}-compressed CSV; use "
                                 "engine='pandas'")
        rel = con.read_csv(src, sep=delimiter,
                           compression=codec or "none")  # type: ignore[arg-type]
    if columns:
        rel = rel.select(*[duckdb.ColumnExpression(c) for c in columns])
    return rel


__all__ = ["ENGINES", "ReadTableError", "filesystem", "open_version", "read_table"]
