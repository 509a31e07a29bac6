"""Revisions: how a user points at a record.

``NAME`` (latest), ``NAME@3`` (version 3), ``NAME@production`` (a tag),
``NAME~1`` (one version before; combines: ``NAME@production~2``), or an oid
prefix of at least 6 hex characters. A name always wins over a prefix.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from mlver.base.errors import RevisionError, RevisionSyntaxError

_REV_RE = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*?)(?:@(?P<at>[A-Za-z0-9._-]+))?"
                     r"(?:~(?P<back>\d*))?$")
_HEX_RE = re.compile(r"^[0-9a-f]{6,32}$")


@dataclass(frozen=True)
class Revision:
    """A parsed revision: a name with an optional version or tag and steps back."""

    text: str
    name: str | None = None
    version: int | None = None
    tag: str | None = None
    back: int = 0
    prefix: str | None = None  # set when the text could be an oid prefix


def parse(text: str) -> Revision:
    """Parse a revision string; raise :class:`RevisionError` when it cannot be one."""
    text = text.strip()
    m = _REV_RE.match(text)
    prefix = text.lower() if _HEX_RE.match(text.lower()) else None
    if not m:
        if prefix:
            return Revision(text, prefix=prefix)
        raise RevisionSyntaxError(
            f"'{text}' is not a revision; use NAME, NAME@N, NAME@TAG, NAME~K or an oid prefix "
            "of at least 6 hex characters")
    at = m.group("at")
    back_s = m.group("back")
    back = 0 if back_s is None else (int(back_s) if back_s else 1)
    version = tag = None
    if at is not None:
        if at.isdigit():
            version = int(at)
        else:
            tag = at
    plain = at is None and back_s is None
    return Revision(text, name=m.group("name"), version=version, tag=tag, back=back,
                    prefix=prefix if plain else None)


def resolve(rev: Revision, *, head: Callable[[str], str | None],
            tag: Callable[..., str | None], by_version: Callable[..., str | None],
            by_prefix: Callable[[str], list[str]], parent: Callable[[str], str | None],
            names: Callable[[], list[str]]) -> str:
    """Resolve ``rev`` to a record oid using lookups supplied by the repo.

    ``head(name)``, ``tag(name, tag)``, ``by_version(name, n)`` return an oid or
    None; ``by_prefix(prefix)`` a list of oids; ``parent(oid)`` the previous
    version's oid or None; ``names()`` every name (for the error message).
    """
    oid: str | None = None
    if rev.name is not None:
        oid = head(rev.name)
    if oid is None:
        if rev.prefix:
            found = by_prefix(rev.prefix)
            if len(found) == 1:
                return found[0]
            if len(found) > 1:
                shown = ", ".join(sorted(found)[:10])
                raise RevisionError(
                    f"oid prefix '{rev.prefix}' is ambiguous: it matches {shown}; "
                    "use more characters")
        known = names()
        hint = (("names here: " + ", ".join(known)) if known
                else "no versions exist yet (mlver snapshot)")
        if rev.name is not None:
            import difflib

            near = difflib.get_close_matches(rev.name, known, n=1)
            if near:
                hint = f"did you mean '{near[0]}'? {hint}"
        if re.fullmatch(r"[0-9a-fA-F]{1,5}", rev.text):
            hint = "an oid prefix needs at least 6 hex characters; " + hint
        raise RevisionError(f"unknown revision '{rev.text}'; {hint}")
    if rev.version is not None:
        oid = by_version(rev.name, rev.version)
        if oid is None:
            raise RevisionError(f"{rev.name} has no version {rev.version}; "
                                f"see mlver log {rev.name}")
    elif rev.tag is not None:
        oid = tag(rev.name, rev.tag)
        if oid is None:
            raise RevisionError(f"{rev.name} has no tag '{rev.tag}'; "
                                "tag one with mlver tag REV TAG")
    for _ in range(rev.back):
        assert oid is not None  # every branch above either set it or raised
        prev = parent(oid)
        if prev is None:
            raise RevisionError(f"'{rev.text}' goes back before the first version of "
                               f"{rev.name}; see mlver log {rev.name}")
        oid = prev
    assert oid is not None
    return oid
