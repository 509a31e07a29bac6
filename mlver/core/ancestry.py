"""Is a commit on another commit's git history? Asked many times, answered cheaply.

A version's parent, ``status``, ``diff NAME``, ``log --branch`` and the post-checkout hook
all ask one question of git: is commit X the target commit T (a record's own commit, or
HEAD) or one of its ancestors? :class:`Ancestry` answers it for one T and caches every
answer for the life of one command. The first few questions each cost one
``git merge-base --is-ancestor``; past them, one ``git rev-list T`` (bounded) lists the
history once and the rest are set lookups.

This runs the git binary (not gitpython): every commit handed to git is checked to be a
commit id first, and ``--end-of-options`` comes before it.
"""

from __future__ import annotations

import re
import subprocess

from mlver.base.gitcmd import popen_git, run_git

_COMMIT_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")

FEW = 8  # questions answered by merge-base, one git call each, before listing the history
MAX_LISTED = 200_000  # commits listed from T at most (a set of shas, a few MB)
MAX_CHECKS = 256  # merge-base calls at most once the listing was cut short; then "no"


def head(root: str) -> str | None:
    """The sha of HEAD of the git work tree holding ``root``; None outside git or before
    the first commit."""
    try:
        proc = run_git(root, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    except (OSError, subprocess.TimeoutExpired):
        return None
    sha = proc.stdout.decode("ascii", "replace").strip()
    return sha if proc.returncode == 0 and _COMMIT_RE.fullmatch(sha) else None


class Ancestry:
    """Which commits are ``target`` or its ancestors, in the git repository of ``root``.

    A commit this repository does not hold (recorded in a clone whose commits were never
    fetched) is not on the history: nothing shows that it is. :meth:`state` tells that case
    ("not fetched", None) apart from a commit git holds that is not an ancestor (False).
    """

    def __init__(self, root: str, target: str) -> None:
        if not _COMMIT_RE.fullmatch(target):
            raise ValueError(f"{target[:80]!r} is not a git commit id")
        self.root, self.target = root, target
        self._known: dict[str, bool] = {target: True}
        self._listed: set[str] | None = None
        self._complete = False
        self._checks = 0
        self._held: dict[str, bool] = {target: True}
        self._held_checks = 0

    def contains(self, commit: str) -> bool:
        """True when ``commit`` is the target or one of its ancestors."""
        hit = self._known.get(commit)
        if hit is not None:
            return hit
        if not _COMMIT_RE.fullmatch(commit):
            ans = False
        else:
            if self._listed is None and len(self._known) > FEW:
                self._list()
            if self._listed is not None and (commit in self._listed or self._complete):
                ans = commit in self._listed
            elif self._checks < MAX_CHECKS:
                self._checks += 1
                ans = self._is_ancestor(commit)
            else:
                ans = False  # bounded: a history this long is not searched further
        self._known[commit] = ans
        return ans

    def state(self, commit: str) -> bool | None:
        """True when ``commit`` is the target or one of its ancestors; False when git holds
        it and it is not; None when this repository does not hold it (not fetched), so git
        cannot say where it sits."""
        if self.contains(commit):
            return True
        return False if self.holds(commit) else None

    def holds(self, commit: str) -> bool:
        """True when this git repository holds ``commit`` (a commit object). Past
        :data:`MAX_CHECKS` questions the answer is True: bounded, and "not an ancestor"
        is what was said before fetching was asked about."""
        hit = self._held.get(commit)
        if hit is not None:
            return hit
        if not _COMMIT_RE.fullmatch(commit):
            ans = False
        elif self._held_checks >= MAX_CHECKS:
            ans = True
        else:
            self._held_checks += 1
            ans = holds_commit(self.root, commit)
        self._held[commit] = ans
        return ans

    def learn_held(self, commits: list[str]) -> None:
        """Ask git once (``git cat-file --batch-check``) which of ``commits`` it holds, so
        that :meth:`holds` and :meth:`state` answer a long ``mlver log`` from memory."""
        ask = sorted({c for c in commits if _COMMIT_RE.fullmatch(c) and c not in self._held})
        if not ask:
            return
        try:
            proc = run_git(self.root, "cat-file", "--batch-check",
                           data="".join(f"{c}^{{commit}}\n" for c in ask).encode())
        except (OSError, subprocess.TimeoutExpired):
            return  # asked one by one later, bounded
        lines = proc.stdout.decode("ascii", "replace").splitlines()
        if proc.returncode != 0 or len(lines) != len(ask):
            return
        for c, line in zip(ask, lines, strict=False):
            self._held[c] = not line.endswith(" missing")

    def _is_ancestor(self, commit: str) -> bool:
        # exit 0: an ancestor; 1: not; 128: a commit this repository does not hold
        try:
            proc = run_git(self.root, "merge-base", "--is-ancestor", "--end-of-options",
                           commit, self.target)
        except (OSError, subprocess.TimeoutExpired):
            return False
        if proc.returncode in (0, 1):
            self._held[commit] = True  # git answered, so it holds the commit
        return proc.returncode == 0

    def _list(self) -> None:
        """List the target's history once (at most :data:`MAX_LISTED` commits)."""
        listed: set[str] = set()
        try:
            proc = popen_git(self.root, "rev-list", f"--max-count={MAX_LISTED}",
                             "--end-of-options", self.target, "--")
        except OSError:
            self._listed = listed
            return
        assert proc.stdout is not None
        with proc.stdout:
            for line in proc.stdout:
                listed.add(line.decode("ascii", "replace").strip())
        code = proc.wait()
        self._listed = listed
        self._complete = code == 0 and len(listed) < MAX_LISTED


def holds_commit(root: str, commit: str) -> bool:
    """True when the git repository of ``root`` holds the commit ``commit`` (a checked
    commit id, so it cannot read as an option)."""
    try:
        proc = run_git(root, "cat-file", "-e", f"{commit}^{{commit}}")
    except (OSError, subprocess.TimeoutExpired):
        return True  # git could not be asked: do not claim the commit is missing
    return proc.returncode == 0
