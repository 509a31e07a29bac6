"""Versions and git branches: a version's parent, and the version on HEAD's history.

Versions of a name are numbered 1, 2, 3 … in the order they were recorded, whatever
branch they were recorded on. Their *parents* follow git instead: a version's parent is
the latest version of its name whose commit is the version's own commit or an ancestor of
it, so two branches that both snapshot ``train`` make two lines of parents that never
interleave, and ``train~1`` is always on the same line as ``train``. A version recorded
without a commit is on every history; a new version recorded without one takes the
latest version as its parent, as before branches counted. The version numbered just
before a new one is kept as its ``previous`` when it is not its parent
(:attr:`mlver.core.record.Record.prior`), so the ref reaches every version.

The workspace is compared (``status``, ``diff NAME``, the post-checkout hook) with
:func:`version_on_head`: the latest version on HEAD's history. It is the one place that
decision is made.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from collections.abc import Callable

from mlver.core.ancestry import Ancestry
from mlver.core.ancestry import head as head_commit
from mlver.core.record import Record
from mlver.store import Store
from mlver.base.fmt import version_label

MAX_WALK = 100_000  # versions walked back from a name's latest to find a parent


def ancestry_of(root: str, commit: str | None) -> Ancestry | None:
    """An :class:`Ancestry` of ``commit`` in the git repository of ``root``; None when
    there is no commit to ask about."""
    return Ancestry(root, commit) if commit is not None else None


def head_ancestry(root: str) -> Ancestry | None:
    """The :class:`Ancestry` of HEAD; None outside git or before the first commit."""
    return ancestry_of(root, head_commit(root))


def on_history(ancestry: Ancestry | None, commit: str | None) -> bool:
    """True when a version recorded at ``commit`` is on the history ``ancestry`` describes
    (always, outside git; and for a version recorded without a commit)."""
    return ancestry is None or commit is None or ancestry.contains(commit)


def parent_of(get: Callable[[str], Record], latest: str | None, commit: str | None,
              ancestry: Ancestry | None) -> str | None:
    """The parent of a new version recorded at ``commit`` when its name's latest version is
    ``latest``: the newest version, walking back through :attr:`Record.prior`, on
    ``commit``'s history (``ancestry``). Without a commit (or git) it is ``latest``.
    None when no version is on that history (the first version of this line)."""
    if latest is None or commit is None or ancestry is None:
        return latest
    return _walk(get, latest, ancestry)[0]


def _walk(get: Callable[[str], Record], latest: str,
          ancestry: Ancestry) -> tuple[str | None, tuple[tuple[int, str], ...]]:
    """The newest version from ``latest`` back on ``ancestry``'s history, and the
    ``(version, commit)`` of each newer version passed over whose commit this git
    repository does not hold (not fetched: git cannot say whether it is on the history)."""
    oid: str | None = latest
    seen: set[str] = set()
    unfetched: list[tuple[int, str]] = []
    while oid is not None and oid not in seen and len(seen) < MAX_WALK:
        seen.add(oid)
        rec = get(oid)
        c = rec.code.commit
        if on_history(ancestry, c):
            return oid, tuple(unfetched)
        if c is not None and not ancestry.holds(c):
            unfetched.append((rec.version, c))
        oid = rec.prior
    return None, tuple(unfetched)


def fetch_hint(name: str, unfetched: tuple[tuple[int, str], ...]) -> str:
    """``train@12's commit d8a3e42 is not in this git repository; fetch it (git fetch)``
    for the newest of ``unfetched`` (``(version, commit)``), naming how many more."""
    v, c = unfetched[0]
    more = f" (and {len(unfetched) - 1} more version(s))" if len(unfetched) > 1 else ""
    return (f"{name}@{v}'s commit {c[:7]} is not in this git repository{more}; "
            "fetch it (git fetch)")


@dataclass(frozen=True)
class BranchVersion:
    """The version of a name the workspace is compared with, and why that one.

    ``on_history`` is True when it is the latest version on HEAD's history, False when no
    version is (it is then the name's latest version, on another branch), and None
    outside git (the latest version). ``unfetched``: ``(version, commit)`` of the newer
    versions passed over because this git repository does not hold their commit.
    """

    name: str
    oid: str
    version: int
    latest_oid: str
    latest_version: int
    on_history: bool | None
    unfetched: tuple[tuple[int, str], ...] = ()

    @property
    def label(self) -> str:
        """``NAME@N``."""
        return version_label(self.name, self.version)

    @property
    def is_latest(self) -> bool:
        """True when it is also the name's latest version (on any branch)."""
        return self.oid == self.latest_oid

    @property
    def which(self) -> str:
        """Why this version: ``the latest on this branch's history`` and the like."""
        if self.on_history is None:
            return "the latest version"
        hint = f"; {fetch_hint(self.name, self.unfetched)}" if self.unfetched else ""
        if self.on_history is False:
            return (f"the latest version; no version of {self.name} is on this branch's "
                    f"history{hint}")
        if self.is_latest:
            return "the latest on this branch's history"
        if self.unfetched and self.unfetched[0][0] == self.latest_version:
            return f"the latest on this branch's history that git knows{hint}"
        return (f"the latest on this branch's history; {self.name}@{self.latest_version} "
                f"is not on it{hint}")

    @property
    def note(self) -> str | None:
        """:attr:`which` when it says more than the label does (a newer version sits on
        another branch, or none is on this one); None otherwise."""
        return None if self.on_history is None or (self.on_history and self.is_latest) \
            else self.which

    def to_dict(self) -> dict[str, Any]:
        """The fields ``status --json`` and ``diff --json`` add (``not_fetched``, the
        versions passed over whose commit git does not hold, only when there are some)."""
        d: dict[str, Any] = {"on_branch": self.on_history, "latest_version": self.latest_version}
        if self.unfetched:
            d["not_fetched"] = [v for v, _c in self.unfetched]
        return d


_LOOK_UP: Any = object()


def version_on_head(store: Store, name: str, root: str,
                    ancestry: Ancestry | None = _LOOK_UP) -> BranchVersion | None:
    """THE version of ``name`` that ``status``, ``diff NAME`` and the post-checkout hook
    compare the workspace with: the latest version whose commit is HEAD or an ancestor of
    it. Outside git (or before the first commit) it is the latest version; when no version
    is on HEAD's history it is the latest version too, with ``on_history`` False (the
    hook then leaves the workspace alone). None when ``name`` has no versions.

    A version whose commit this git repository does not hold (recorded elsewhere, not
    fetched) is never picked: every ancestor of HEAD is in the repository (short of a
    shallow clone), so such a commit is not on HEAD's history. It is not passed over
    silently either: it is listed in ``unfetched`` and :attr:`BranchVersion.which` says
    to ``git fetch``.

    ``ancestry`` (from :func:`head_ancestry`, None outside git) shares git's answers
    across names; it is looked up when not given.
    """
    from mlver.core import history

    latest = store.refs.get(name)
    if latest is None:
        return None
    latest_rec = history.load_record(store, latest)
    if ancestry is _LOOK_UP:
        ancestry = head_ancestry(root)
    if ancestry is None:
        return BranchVersion(name, latest, latest_rec.version, latest, latest_rec.version, None)
    found, unfetched = _walk(lambda o: history.load_record(store, o), latest, ancestry)
    if found is None:
        return BranchVersion(name, latest, latest_rec.version, latest, latest_rec.version,
                             False, unfetched)
    rec = history.load_record(store, found)
    return BranchVersion(name, found, rec.version, latest, latest_rec.version, True,
                         unfetched)


def on_head_flags(items: list[tuple[str, Record]],
                  root: str) -> dict[str, bool | None] | None:
    """``{record oid: on HEAD's history}`` for ``items`` (``mlver log``): True, False, or
    None when this git repository does not hold the record's commit (not fetched); None
    outside git."""
    ancestry = head_ancestry(root)
    if ancestry is None:
        return None
    ancestry.learn_held([rec.code.commit for _o, rec in items if rec.code.commit])
    return {oid: True if rec.code.commit is None else ancestry.state(rec.code.commit)
            for oid, rec in items}


def workspace_base(store: Store, rev: str, root: str) -> BranchVersion | None:
    """For ``diff REV`` against the workspace: when ``rev`` is a bare name with versions,
    the version :func:`version_on_head` picks; None for any other revision (``NAME@3``,
    a tag, ``NAME~1``, an oid prefix), which names its version itself."""
    from mlver.core import revision as revmod
    from mlver.base.errors import RevisionError

    try:
        r = revmod.parse(rev)
    except RevisionError:
        return None
    if r.name is None or r.version is not None or r.tag is not None or r.back:
        return None
    return version_on_head(store, r.name, root)


def annotate(d: Any, branch: BranchVersion) -> Any:
    """The diff ``d`` (a :class:`mlver.diff.value.Diff`) saying which version its old side
    is: ``on_branch`` and ``latest_version`` in its ``old``, and, when the label alone does
    not say it, a line after the first: ``compared with train@3, the latest on this
    branch's history; train@4 is not on it``."""
    from dataclasses import replace

    verdict = list(d.verdict)
    if branch.note and verdict:
        verdict.insert(1, f"  compared with {branch.label}, {branch.note}")
    return replace(d, old={**d.old, **branch.to_dict()}, verdict=tuple(verdict))


def siblings(root: str, old: Record, new: Record) -> bool:
    """True when ``old`` and ``new`` are versions of one name recorded on different
    branches: both have a commit and neither commit is the other's ancestor (nor equal).
    Their difference is then no change along a line of versions."""
    a, b = old.code.commit, new.code.commit
    if old.name != new.name or a is None or b is None or a == b:
        return False
    return not Ancestry(root, b).contains(a) and not Ancestry(root, a).contains(b)


def not_fetched(root: str, *recs: Record) -> list[Record]:
    """Those of ``recs`` whose commit the git repository of ``root`` does not hold (a
    record pulled from a clone whose commits were not fetched); [] outside git."""
    from mlver.core.ancestry import holds_commit

    if head_commit(root) is None:
        return []
    return [r for r in recs if r.code.commit is not None and not holds_commit(root, r.code.commit)]


def mark_not_fetched(d: Any, recs: list[Record]) -> Any:
    """The diff ``d`` saying, after its first line, which record's commit this git
    repository does not hold, and to fetch it: git cannot tell whether the two versions
    are on one line, and the code change is unknown until then."""
    from dataclasses import replace

    verdict = list(d.verdict)
    for i, r in enumerate(recs):
        commit = r.code.commit or ""
        verdict.insert(1 + i, f"  {fetch_hint(r.name, ((r.version, commit),))}")
    return replace(d, verdict=tuple(verdict))


def mark_pair(d: Any, root: str, old: Record, new: Record | None,
              label: Callable[[str], str]) -> Any:
    """The diff ``d`` of ``old`` with the record ``new`` (None: the workspace) saying
    what git knows of the two: a commit it does not hold (:func:`mark_not_fetched`;
    then neither "one line" nor "another branch" is known), else, for two sibling
    versions (:func:`siblings`), that they are (:func:`mark_siblings`). ``label`` gives
    a record oid's ``NAME@N``."""
    missing = not_fetched(root, *([old] if new is None else [old, new]))
    if missing:
        return mark_not_fetched(d, missing)
    if new is not None and siblings(root, old, new):
        return mark_siblings(d, new, label(new.parents[0]) if new.parents else None)
    return d


def mark_siblings(d: Any, new: Record, parent: str | None) -> Any:
    """The diff ``d`` of two sibling versions (:func:`siblings`) saying so: ``sibling``
    true in its ``new``, and a line after the first naming ``new``'s own parent."""
    from dataclasses import replace

    old = version_label(d.old['name'], d.old['version'])
    line = (f"  {old} and {new.label} were recorded on different "
            "branches (neither commit is an ancestor of the other)")
    if parent:
        line += f"; {new.label}'s parent is {parent}"
    verdict = list(d.verdict)
    verdict.insert(1, line)
    return replace(d, new={**d.new, "sibling": True}, verdict=tuple(verdict))
