"""The replay cache: the metrics a replay wrote, as a derived object of the store named in
the index by a hash of everything the replay ran on (:attr:`Config.key`). ``gc`` may drop
it at any time; a damaged entry is a miss."""

from __future__ import annotations

from typing import Any

from mlver.base import canonical
from mlver.base.errors import MlverError
from mlver.store import Store

KIND = "replay/1"     # derived objects: the metrics a replay wrote, by a hash of its inputs


def _cached(store: Store, key: str) -> tuple[dict[str, Any], float] | None:
    oid = store.index.get_derived(KIND, key)
    if not oid or not store.objects.has(oid):
        return None
    try:
        d = canonical.loads(store.objects.read(oid))
    except (MlverError, ValueError, OSError):
        return None
    if not isinstance(d, dict) or d.get("type") != "replay" \
            or not isinstance(d.get("metrics"), dict):
        return None
    return d["metrics"], float(d.get("duration_s") or 0.0)


def _remember(store: Store, key: str, metrics: dict[str, Any], duration: float) -> None:
    data = canonical.dumps({"type": "replay", "format": 1, "metrics": metrics,
                            "duration_s": duration})
    with store.objects.batch() as batch:
        oid = batch.add_bytes(data)
    store.index.set_derived(KIND, key, oid)
