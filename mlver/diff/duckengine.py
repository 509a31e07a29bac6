"""DuckDB connections for out-of-core table diffs: a memory limit, a spill folder inside
the store's ``tmp/`` (always removed), and queries that Ctrl-C stops within a second.

The memory limit defaults to about half the size of the two table files, between
:data:`DEFAULT_CAP` (1 GiB) and :data:`BIG_CAP` (3 GiB), and never more than a quarter of
the machine's memory (see :func:`default_memory`). ``[diff] memory`` in mlver.toml
overrides it. The spill folder is named ``PID-duck-…`` so that a killed process's folder is swept
like its other temporaries (:func:`mlver.store.upkeep.sweep`). duckdb is imported inside
functions only: the command line imports this module at start-up.
"""
from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from mlver.base.fmt import parse_size

if TYPE_CHECKING:  # pragma: no cover
    import duckdb

DEFAULT_SHARE = 0.25     # of the machine's memory, for DuckDB by default ...
DEFAULT_CAP = 1 << 30    # ... at least this much where the share allows (bytes): 1 GiB
BIG_CAP = 3 << 30        # ... and at most this, however big the tables: 3 GiB
TABLE_SHARE = 0.55       # of the two files' bytes, for a big join
DEFAULT_FLOOR = 256 << 20
POLL_SECONDS = 0.05      # how often the waiting thread wakes to notice Ctrl-C

def machine_memory() -> int | None:
    """Bytes of physical memory, or None where the platform does not say."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return None


def default_memory(table_bytes: int = 0) -> int:
    """The default memory limit for a diff of tables of ``table_bytes`` (both files):
    TABLE_SHARE of them within [DEFAULT_CAP, BIG_CAP], and never more than DEFAULT_SHARE
    of the machine's memory (nor less than DEFAULT_FLOOR).

    Measured on 2 cores, 24 GB: a keyed diff of 20M rows x 6 columns (560 MB of parquet)
    took as long with 1 GiB as with 1.5 or 2 GiB (26 s) and peaked at 1.5 GB of RSS, not
    2.1 GB (DuckDB's limit does not bound all of its memory); one of 100M x 10 (5.5 GB)
    took 284 s and 1.6 GB with 1 GiB, 212 s and 3.6 GB with 3 GB: a big join that fits
    spills less."""
    want = min(BIG_CAP, max(DEFAULT_CAP, int(table_bytes * TABLE_SHARE)))
    total = machine_memory()
    if total is None:
        return DEFAULT_CAP
    return max(DEFAULT_FLOOR, min(want, int(total * DEFAULT_SHARE)))


@contextlib.contextmanager
def connect(tmp_root: str, memory: str | None = None, threads: int | None = None,
            table_bytes: int = 0) -> Iterator[tuple[duckdb.DuckDBPyConnection, str]]:
    """``(connection, spill folder)``: an in-memory DuckDB limited to ``memory`` (a size
    text, see :func:`mlver.base.fmt.parse_size`; None: :func:`default_memory` of
    ``table_bytes``) that
    spills to a fresh folder under ``tmp_root``. The folder (and all in it) is removed
    when the block ends, however it ends (an error, KeyboardInterrupt)."""
    import duckdb

    limit = parse_size(memory) if memory is not None else default_memory(table_bytes)
    if limit is None:
        raise ValueError(f"not a memory size: {memory!r}")
    os.makedirs(tmp_root, exist_ok=True)
    folder = tempfile.mkdtemp(prefix=f"{os.getpid()}-duck-", dir=tmp_root)
    con = None
    try:
        con = duckdb.connect(":memory:", config={
            "memory_limit": f"{limit // (1 << 20)}MiB",
            "temp_directory": folder,
            "threads": threads or os.cpu_count() or 1,
            # every query that needs an order says so: no need to keep the files' order
            "preserve_insertion_order": False,
            # Parquet statistics leave NaN out of a column's min/max: DuckDB would conclude
            # from them that isnan() is false everywhere and fold it away (DuckDB 2.0.1)
            "disabled_optimizers": "statistics_propagation",
        })
        yield con, folder
    finally:
        try:
            if con is not None:
                con.close()
        finally:
            shutil.rmtree(folder, ignore_errors=True)


def query(con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | None = None,
          arrow: bool = False, tables: dict[str, Any] | None = None) -> Any:
    """Run ``sql`` and return all its rows (a list of tuples; ``arrow``: a pyarrow
    Table); ``tables``: arrow tables it reads by these names. The query runs on a cursor
    of ``con`` in a worker thread while this one waits in short sleeps, so that Ctrl-C
    (KeyboardInterrupt) reaches Python at once: it interrupts the query, waits for the
    worker to stop, and is raised again."""
    out: dict[str, Any] = {}
    cur = con.cursor()  # (a connection busy with a query refuses to be closed)
    for name, table in (tables or {}).items():
        cur.register(name, table)

    done = threading.Event()

    def work() -> None:
        try:
            rel = cur.execute(sql, params or [])
            out["rows"] = rel.to_arrow_table() if arrow else rel.fetchall()
        except BaseException as exc:  # handed to the waiting thread
            out["error"] = exc
        finally:
            done.set()

    # (an Event, not Thread.join: a KeyboardInterrupt inside join() can mark a running
    # thread stopped, CPython issue 90882)
    worker = threading.Thread(target=work, name="mlver-duckdb", daemon=True)
    try:
        worker.start()
        try:
            while not done.wait(POLL_SECONDS):
                pass
        except KeyboardInterrupt:
            cur.interrupt()
            while not done.wait(POLL_SECONDS):
                cur.interrupt()  # (in case the query had not started yet)
            raise
    finally:
        cur.close()
    if "error" in out:
        raise out["error"]
    return out["rows"]
