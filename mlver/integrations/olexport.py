"""Sending records' OpenLineage events to a lineage server (Marquez, a catalogue's endpoint).

The events are built by :mod:`mlver.integrations.openlineage`; this module chooses the
records (every version of every name, or those recorded after a given one) and posts the
events with the ``openlineage-python`` client's HTTP transport (the optional extra
``openlineage``), one POST per event to ``URL/api/v1/lineage``, oldest run first. A server
that cannot be reached or refuses an event stops the export with one line naming the URL
and how many events went: sending again is harmless, since a run's id is its record's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from mlver.base.errors import MlverError, UsageError
from mlver.base.textsafe import redact_userinfo as redact
from mlver.core import history
from mlver.core.record import Record
from mlver.integrations.openlineage import events_of
from mlver.store import Store

INSTALL = "pip install 'mlver[openlineage]'"
TIMEOUT_S = 10.0
ENDPOINT = "api/v1/lineage"


class LineageExportError(MlverError):
    """Events could not be sent: the server is unreachable or refused one."""


@dataclass(frozen=True)
class ExportResult:
    """What an export sent: ``records`` runs as ``events`` events to ``url``."""

    url: str
    records: int
    events: int

    def to_dict(self) -> dict[str, Any]:
        """The result as ``--json`` prints it."""
        return {"url": self.url, "records": self.records, "events": self.events}


def records_since(store: Store, since: str | None,
                  warn: Callable[[str], None] | None = None) -> list[tuple[str, Record]]:
    """Every record (of every name), or those recorded after ``since`` (a revision; itself
    excluded), oldest first."""
    items = history.log(store, None, warn=warn)  # newest first, of all names by time
    if since is not None:
        start = history.resolve(store, since)
        oids = [o for o, _r in items]
        items = items[:oids.index(start)] if start in oids else items
    return items[::-1]


def base_url(url: str) -> str:
    """The URL the client joins ``ENDPOINT`` to (with ``urljoin``): ending in ``/``, so a
    path before it is kept (a server behind ``https://h/marquez``), and without
    ``/api/v1/lineage`` when the URL given is the endpoint itself (else it is doubled)."""
    base = url.rstrip("/")
    if base.endswith("/" + ENDPOINT):
        return base[:-len(ENDPOINT)]
    return base + "/"


def _transport(url: str) -> Any:
    try:
        from openlineage.client.transport.http import HttpConfig, HttpTransport
    except ImportError:
        raise LineageExportError(f"sending OpenLineage events needs the openlineage-python "
                                 f"package: {INSTALL}") from None
    from requests import Session

    if not url.startswith(("http://", "https://")):
        raise UsageError(f"--url {redact(url)!r} is not an http:// or https:// URL")
    # no redirects: the events (and credentials) go to the server named, nowhere else
    session = Session()
    session.max_redirects = 0
    # no retries: a server that is down fails the export at once, with one line
    config = HttpConfig(url=base_url(url), endpoint=ENDPOINT, timeout=TIMEOUT_S,
                        session=session,
                        retry={"total": 0, "read": 0, "connect": 0, "backoff_factor": 0,
                               "status_forcelist": [], "allowed_methods": ["POST"]})
    try:
        return HttpTransport(config)
    except ValueError:
        raise UsageError(f"--url {redact(url)!r} is not a URL a server can be reached "
                         "at") from None


def export(store: Store, root: str, url: str, since: str | None = None,
           namespace: str | None = None,
           warn: Callable[[str], None] | None = None) -> ExportResult:
    """Send the events of every record (or of those after ``since``) to ``url``."""
    transport = _transport(url)
    records = records_since(store, since, warn)
    sent = 0
    for event in events_of(store, root, records, namespace):
        try:
            transport.emit(event)
        except Exception as e:  # requests' and urllib3's errors: one line, not a traceback
            why = ("it answered with a redirect, which is not followed: give the URL it "
                   "redirects to" if type(e).__name__ == "TooManyRedirects" else
                   f"{type(e).__name__}: "
                   f"{str(e).splitlines()[0][:200] if str(e) else 'no answer'}")
            raise LineageExportError(redact(
                f"could not send OpenLineage events to {url} ({why}); {sent} of "
                f"{2 * len(records)} sent; check that the server runs and the URL")) from None
        sent += 1
    return ExportResult(redact(url), len(records), sent)
