"""Consent before a replay runs code that someone else wrote.

A replay runs a record's command, with its uncommitted patch applied to its commit, and
its inputs written where the command reads them. The commit must be in the local git
history (checked in :func:`mlver.explain.replay.explain`); the command, the patch and the input
paths are trusted only when this store recorded them (the record's origin is ``local``,
see :mod:`mlver.store.origins`). A record that arrived by ``pull`` or ``import-dvc`` runs
only with ``trust=True`` (``--trust``), and its command and patch are shown first, as
Hugging Face's ``trust_remote_code`` asks before running a model's code.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable

from mlver.base.errors import ReplayError
from mlver.store import Store
from mlver.store.origins import Origin, origins
from mlver.explain.plan import Side

PATCH_LINES = 200   # lines of a patch shown before asking for --trust

Notify = Callable[[str], None]


def side_origins(store: Store, a: Side, b: Side) -> dict[str, Origin]:
    """The origin of each of the two records, by oid."""
    known = origins(store)
    return {s.oid: known.get(s.oid, Origin("local")) for s in (a, b)}


def check(store: Store, a: Side, b: Side, trust: bool, say: Notify) -> dict[str, Origin]:
    """Refuse (before anything runs) to replay a record this store did not record, unless
    ``trust``; either way, show such a record's command and patch through ``say`` first.
    Returns the origins by oid (for the JSON)."""
    found = side_origins(store, a, b)
    foreign = [s for s in dict((s.oid, s) for s in (a, b)).values() if not found[s.oid].local]
    if not foreign:
        return found
    for s in foreign:
        say(f"{s.label} was {found[s.oid].text()}; a replay runs what it recorded:")
        for line in shown(s):
            say(line)
    if trust:
        say("  --trust given: replaying them")
        return found
    by_origin: dict[str, list[str]] = {}
    for s in foreign:
        by_origin.setdefault(found[s.oid].text(), []).append(s.label)
    told = " and ".join(f"{' and '.join(labels)} {'was' if len(labels) == 1 else 'were'} {text}"
                        for text, labels in by_origin.items())
    theirs = "its command and patch were" if len(foreign) == 1 else \
        "their commands and patches were"
    raise ReplayError(f"{told}, so {theirs} not recorded by this store, and explain would run "
                      "them with your permissions; read them above, then run again with "
                      "--trust to replay them")


def shown(s: Side) -> list[str]:
    """The lines that show what replaying ``s`` runs: its command, its patch (the first
    :data:`PATCH_LINES` lines), and the paths its inputs are written to."""
    r = s.rec
    out = [f"  command: {shlex.join(r.run.command) if r.run else '(none)'}"]
    if r.code.commit:
        out.append(f"  commit:  {r.code.commit} (from your git history)")
    if s.patch:
        text = s.patch.decode("utf-8", "replace").splitlines()
        out.append(f"  patch:   {len(text)} line{'s' if len(text) != 1 else ''} applied to "
                   "that commit:")
        out += [f"  | {line}" for line in text[:PATCH_LINES]]
        if len(text) > PATCH_LINES:
            out.append(f"  | … {len(text) - PATCH_LINES} more lines")
    else:
        out.append("  patch:   none")
    paths = sorted({art.path for art in r.inputs.values()})
    if paths:
        out.append(f"  inputs written to: {', '.join(paths)}")
    if r.params_files:
        out.append(f"  params files written to: {', '.join(r.params_files)}")
    return out
