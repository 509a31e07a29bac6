"""The typed sections of a :class:`~mlver.diff.value.Diff`: which record each side is,
and what changed in its code, params, env and metrics.

They are ``TypedDict`` s, not dataclasses, on purpose: each section *is* its JSON form
(``mlver diff --json``, documented in docs/diff.md), read by key in scripts and tests
(``d.code["files"]``), so the typed view costs no conversion and cannot drift from the
JSON. Keys a literal may leave out (older JSON, hand-written tests) are ``NotRequired``.
"""

from __future__ import annotations

from typing import NotRequired, TypedDict


class Ref(TypedDict):
    """One side of a diff: a record (``oid``, ``name``, ``version``) or the workspace
    (``oid`` and ``version`` None, ``workspace`` True). The old side of ``mlver diff NAME``
    also says which version it is (:meth:`mlver.core.branches.BranchVersion.to_dict`)."""

    oid: str | None
    name: str
    version: int | str | None
    workspace: NotRequired[bool]
    on_branch: NotRequired[bool | None]
    latest_version: NotRequired[int]
    not_fetched: NotRequired[list[int]]


class Commit(TypedDict, total=False):
    """A commit between the two sides, as ``git log`` gave it."""

    sha: str
    author: str
    summary: str


class FileChange(TypedDict):
    """A file the commits changed, with its added and removed lines (None: binary)."""

    path: str
    added: int | None
    removed: int | None


class CodeChange(TypedDict):
    """The code section (:func:`mlver.diff.codediff.diff_code`)."""

    old_commit: str | None
    new_commit: str | None
    old_branch: str | None
    new_branch: str | None
    commits: list[Commit] | None
    commits_known: bool
    files: list[FileChange]
    patch_changed: bool
    patch_files: list[str]
    changed: bool
    scope: NotRequired[list[str] | None]
    commits_outside_scope: NotRequired[int | None]
    # False when neither side's code counts (raw data, see mlver.diff.identity)
    counted: NotRequired[bool]


class ParamsDelta(TypedDict):
    """Params added, removed and changed (dotted keys)."""

    added: dict[str, object]
    removed: dict[str, object]
    changed: dict[str, OldNew]


class ParamsChange(ParamsDelta):
    """The params section: the changes inside the params scope, then (only when a scope
    is set) the scope and the changes outside it."""

    scope: NotRequired[list[str]]
    outside_scope: NotRequired[ParamsDelta]


class OldNew(TypedDict):
    """A value on each side."""

    old: object
    new: object


class Upgrade(TypedDict):
    """A package whose version moved."""

    name: str
    old: str
    new: str


class Packages(TypedDict):
    """Packages added and removed (``name==version``), upgraded and downgraded."""

    added: list[str]
    removed: list[str]
    upgraded: list[Upgrade]
    downgraded: list[Upgrade]


class EnvChange(TypedDict):
    """The env section (:func:`mlver.diff.envdiff.diff_env`)."""

    python: OldNew
    implementation: OldNew
    platform: OldNew
    packages_count: OldNew
    packages: Packages
    changed: bool


class MetricChange(TypedDict):
    """One metric on both sides; ``delta`` when both are numbers."""

    old: object
    new: object
    delta: float | int | None
    changed: bool
