"""The read-only Repos that ``mlver ui`` serves requests from.

Each request in flight takes its own :class:`~mlver.api.Repo` (a SQLite connection is not
shared between threads), opened with ``read_only=True``; an idle one is reused for
:data:`REPO_MAX_AGE` seconds, then reopened so that refs moved by another process show.
"""

from __future__ import annotations

import threading
import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mlver.api import Repo

REPO_MAX_AGE = 30.0      # seconds a pooled read-only Repo is reused (then reopened: fresh refs)

Warn = Callable[[str], None]
Row = dict[str, Any]     # one row of the versions table: column -> value


class Repos:
    """A pool of read-only Repos of one root: one per request in flight, reused for
    REPO_MAX_AGE seconds, sharing one memo of decoded records (objects never change)."""

    def __init__(self, root: str, warn: Warn | None = None) -> None:
        self.root = root
        self.warn = warn
        self._idle: list[tuple[float, Repo]] = []
        self._lock = threading.Lock()
        self.memo: dict[str, object] = {}
        self.rows: dict[str, Row] = {}  # record oid -> its row of the versions table
        self.notices: dict[str, str] = {}  # the latest problems about the index, by kind
        # per Repo (its index connection): the index's change_counter() (SQLite's
        # data_version), every row, the names that have rows
        self.tables: weakref.WeakKeyDictionary[Repo, tuple[int, list[Row], set[str]]] = (
            weakref.WeakKeyDictionary())

    def _open(self) -> Repo:
        notes: list[str] = []
        repo = Repo(self.root, warn=notes.append, read_only=True)
        repo.store.memo = self.memo
        index = repo.store.index  # opened now: says what it lacks
        notices = {}
        if index.in_memory:
            notices["index"] = ("the index file is missing or unusable, so an index was built "
                                "in memory for this server (it writes none); run any mlver "
                                "command, or mlver reindex, to rebuild .mlver/index.sqlite")
        elif index.read_only and index.graph.pending_count():
            notices["lineage"] = (f"{index.graph.pending_count():,} record(s) have lineage "
                                  "through folders not computed yet (the UI writes nothing); "
                                  "run mlver lineage on any version to compute it")
        for n in notes:
            notices.setdefault("unindexed" if "index lacks" in n else n, n)
        with self._lock:
            self.notices = notices
        return repo

    @contextmanager
    def repo(self) -> Iterator[Repo]:
        """A Repo for one request, back in the pool when the request is done."""
        now = time.monotonic()
        repo = None
        with self._lock:
            while self._idle:
                born, r = self._idle.pop()
                if now - born <= REPO_MAX_AGE:
                    repo = (born, r)
                    break
                r.close()
        if repo is None:
            repo = (now, self._open())
        try:
            yield repo[1]
        finally:
            with self._lock:
                self._idle.append(repo)

    def close(self) -> None:
        """Close every idle Repo (when the server stops)."""
        with self._lock:
            for _, r in self._idle:
                r.close()
            self._idle = []
