"""The code section: git commit, branch, remote, and what is not committed.

Everything here runs the git binary through :func:`mlver.base.gitcmd.run_git` (an argv
list, never a shell; a bounded time; no inherited ``GIT_DIR``): gitpython is not
imported, so that no command pays the tenth of a second its import costs. Each capture
runs a handful of git commands, never one per file.
"""

from __future__ import annotations

import os
import posixpath
import re
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from mlver.base.gitcmd import run_git
from mlver.base.paths import is_plain_relpath

# everything up to the last "@" of the authority (which ends at "/", "?" or "#"): a
# password holding an unescaped "@" is dropped whole, not cut at its first "@"
_CRED_RE = re.compile(r"^(?P<scheme>[a-zA-Z][a-zA-Z0-9+.-]*://)[^/?#]*@")


def strip_credentials(url: str | None) -> str | None:
    """Drop ``user:password@`` from a remote URL: records are shared, secrets are not."""
    if not url:
        return url
    return _CRED_RE.sub(r"\g<scheme>", url)


@dataclass(frozen=True)
class CodeCapture:
    """What git says about the workspace; ``patch`` is the raw diff bytes (or None)."""

    commit: str | None
    branch: str | None = None
    remote: str | None = None
    dirty: bool = False
    patch: bytes | None = None
    untracked: tuple[str, ...] = ()
    author: str | None = None  # ``Name <email>`` from git config


def _run(cwd: str, *args: str) -> subprocess.CompletedProcess[bytes] | None:
    """``git args`` in ``cwd``, or None when git cannot be started or gives no answer."""
    try:
        return run_git(cwd, *args)
    except (OSError, subprocess.SubprocessError):
        return None


def _out(cwd: str, *args: str) -> str | None:
    """The stdout of ``git args`` as text (one trailing newline dropped, undecodable bytes
    kept as surrogates), or None when git fails: what callers of ``git X`` rely on."""
    proc = _run(cwd, *args)
    if proc is None or proc.returncode != 0:
        return None
    text = proc.stdout.decode("utf-8", "surrogateescape")
    return text[:-1] if text.endswith("\n") else text


def _text(top: str, *args: str) -> str:
    """:func:`_out` for a command that must answer: CaptureError when git fails."""
    return _git(top, *args).decode("utf-8", "surrogateescape").removesuffix("\n")


def _open(root: str, head: bool = False) -> tuple[str, str | None] | None:
    """``(top, commit)``: the top of the work tree holding ``root`` (git's own name for
    it) and, with ``head``, the sha of HEAD (None before the first commit; always None
    without ``head``). None outside git, in a bare repository or when git cannot be run.
    One git call either way."""
    args = ["rev-parse", "--show-toplevel"]
    if head:  # --verify prints at the end, after the top; -q: exit 1 with no commit yet
        args += ["--verify", "-q", "HEAD^{commit}"]
    proc = _run(root, *args)
    if proc is not None and proc.returncode == 128 and b"safe.directory" in proc.stderr:
        # git refuses a repository another user owns: saying "outside git" would record
        # a version with no code section, silently
        from mlver.base.errors import CaptureError

        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CaptureError(f"git refuses the repository holding {root}: {why[0][:300]}; "
                           "run: git config --global --add safe.directory <its top folder>, "
                           "if you trust it")
    if proc is None or proc.returncode not in (0, 1):
        return None
    text = proc.stdout.decode("utf-8", "surrogateescape").removesuffix("\n")
    commit: str | None = None
    if head and proc.returncode == 0:
        text, _, sha = text.rpartition("\n")
        commit = sha if _COMMIT_RE.fullmatch(sha) else None
    return (text, commit) if text else None


def _inside(path: str, prefixes: list[str]) -> bool:
    path = path.rstrip("/")
    return any(p == "." or path == p or path.startswith(p + "/") for p in prefixes)


def _untracked(top: str, excl: list[str], store: str) -> list[str]:
    """Untracked paths as ``git status`` shows them (a wholly untracked folder is one
    entry), leaving out captured paths: a folder that holds one is opened up."""
    # ls-files takes no revision: "--" ends its options, and every value after it is a
    # pathspec mlver builds itself (":(top)…", never read from a record).
    out = _text(top, "ls-files", "-z", "--others", "--exclude-standard", "--directory",
                "--no-empty-directory", "--full-name", "--", ":(top)")
    found: set[str] = set()
    for line in filter(None, out.split("\0")):  # -z: names as they are, never quoted
        if _inside(line, excl) or _inside(line, [store]):
            continue
        if not (line.endswith("/") and any(e.startswith(line) or e == "." for e in excl)):
            found.add(line)
            continue
        inner = _text(top, "ls-files", "-z", "--others", "--exclude-standard", "--full-name",
                      "--", f":(top){line}")
        for path in filter(None, inner.split("\0")):
            if _inside(path, excl) or _inside(path, [store]):
                continue
            # Report the highest folder below ``line`` that holds no captured path.
            prefix, parts = line, path[len(line):].split("/")
            for part in parts[:-1]:
                prefix += part + "/"
                if not any(e.startswith(prefix) for e in excl):
                    found.add(prefix)
                    break
            else:
                found.add(path)
    # a name a record cannot hold (a backslash, say) is left out rather than making the
    # record unreadable
    return sorted(p for p in found if is_plain_relpath(p.rstrip("/")))


def _branch(top: str) -> str | None:
    """The branch HEAD names (also before its first commit), None when detached."""
    ref = _out(top, "symbolic-ref", "-q", "HEAD")
    if not ref:
        return None
    # "refs/heads/a/b" is "a/b" (never git's --short, which may say "heads/a/b")
    parts = ref.split("/")
    return "/".join(parts[2:]) if len(parts) >= 3 else ref


_CONFIG_KEYS = r"^(user\.(name|email)|remote\..+\.url)$"


def _config(top: str) -> tuple[str | None, str | None]:
    """``(remote, author)`` from one ``git config --get-regexp``: the URL of ``origin``, else
    of the first remote the repository's own config names (credentials stripped), and
    ``Name <email>`` from ``user.name``/``user.email`` at any level (the last one wins,
    as with ``git config user.name``)."""
    proc = _run(top, "config", "-z", "--show-scope", "--get-regexp", _CONFIG_KEYS)
    if proc is None or proc.returncode not in (0, 1):  # 1: no key matched
        return None, None
    user: dict[str, str] = {}
    urls: dict[str, str] = {}  # remote -> its last url, in the order the config names them
    tokens = proc.stdout.decode("utf-8", "surrogateescape").split("\0")
    for scope, entry in zip(tokens[0::2], tokens[1::2], strict=False):  # -z: scope, key\nvalue
        key, _, value = entry.partition("\n")
        if key in ("user.name", "user.email"):
            user[key] = value
        elif scope == "local" and key.startswith("remote.") and key.endswith(".url"):
            urls[key[len("remote."):-len(".url")]] = value
    remote = urls.get("origin", next(iter(urls.values()), None))
    name, email = user.get("user.name"), user.get("user.email")
    author = (f"{name} <{email}>" if email else name) if name else None
    return strip_credentials(remote) or None, author


def capture_code(root: str, exclude: list[str]) -> CodeCapture | None:
    """Capture git state for the repository holding ``root``; None outside git.

    ``exclude`` lists root-relative paths captured as inputs/outputs: they are left
    out of the patch and of the untracked list, since they are versioned as data.
    """
    found = _open(root, head=True)
    if found is None:
        return None
    top, commit = found
    pre = _prefix(top, root)
    excl = [posixpath.normpath(pre + p) for p in exclude]
    remote, author = _config(top)
    patch = None
    if commit is not None and "." not in excl:
        # The store's own refs and config may be committed; their changes are not code.
        specs = ["--", ".", f":(exclude,top){pre}.mlver"] + [
            f":(exclude,top){p}" for p in excl if p != "."]
        patch = _git(top, "diff", "--binary", "--end-of-options", "HEAD", *specs) or None
    # Untracked, in git's "normal" mode: an untracked folder is one entry.
    untracked = _untracked(top, excl, pre + ".mlver")
    return CodeCapture(commit=commit, branch=_branch(top), remote=remote,
                       dirty=patch is not None, patch=patch, untracked=tuple(untracked),
                       author=author)


Row = dict[str, Any]  # a commit {sha, author, summary} or a file {path, added, removed}


def history(root: str, old: str, new: str, scope: Iterable[str] | None = None
            ) -> tuple[list[Row], list[Row]] | None:
    """``(commits, files)`` between two commits, or None
    when either commit is unknown here: the commits reachable from ``new`` but not
    ``old`` (newest first, at most :data:`MAX_COMMITS`) and the files changed as
    rows {path, added, removed} (``git diff --numstat old new``).

    With a ``scope`` (root-relative paths and globs, see :mod:`mlver.core.scope`) only the
    commits and files touching it are listed."""
    found = scoped_history(root, old, new, scope)
    return None if found is None else found[:2]


def scoped_history(root: str, old: str, new: str, scope: Iterable[str] | None = None
                   ) -> tuple[list[Row], list[Row], int] | None:
    """:func:`history` plus the number of commits in the range that touch no path of
    ``scope`` (0 without a scope): ``(commits, files, outside)``, or None."""
    if not (_COMMIT_RE.fullmatch(old) and _COMMIT_RE.fullmatch(new)):
        return None  # never hand git anything but a commit id (records are untrusted)
    found = _open(root)
    if found is None:
        return None
    top = found[0]
    specs = None
    if scope is not None:
        from mlver.core.scope import pathspecs

        specs = pathspecs(scope, _prefix(top, root))
    if specs == []:  # an empty scope: no commit touches it ("--" alone would mean all)
        total = _count(top, old, new, None)
        return None if total is None else ([], [], total)
    commits = _commits(top, old, new, specs)
    files = _files(top, old, new, specs) if commits is not None else None
    if commits is None or files is None:
        return None
    outside = 0
    if specs is not None:
        total = _count(top, old, new, None)
        inside = len(commits) if len(commits) < MAX_COMMITS else _count(top, old, new, specs)
        if total is None or inside is None:
            return None
        outside = max(0, total - inside)
    return commits, files, outside


def _prefix(top: str, root: str) -> str:
    """The root's folder inside the work tree ``top``, as ``""`` or ``"sub/dir/"``."""
    rel = os.path.relpath(os.path.realpath(root), os.path.realpath(top))
    return "" if rel == "." else rel.replace(os.sep, "/") + "/"


def _count(top: str, old: str, new: str, specs: list[str] | None) -> int | None:
    """``git rev-list --count old..new [-- specs]``, or None when git cannot tell."""
    out = _out(top, "rev-list", "--count", "--end-of-options", f"{old}..{new}",
               *(["--", *specs] if specs else []))
    try:
        return None if out is None else int(out or 0)
    except ValueError:
        return None


def tracked(root: str, paths: Iterable[str]) -> set[str]:
    """Which of the root-relative ``paths`` git tracks (in the index)."""
    found = _open(root)
    if found is None:
        return set()
    top = found[0]
    pre = _prefix(top, root)
    todo = list(paths)
    out: set[str] = set()
    for i in range(0, len(todo), 500):  # bounded argument lists
        # "--" ends the options; each spec is ":(top,literal)" + a path mlver built.
        specs = [f":(top,literal){pre}{p}" for p in todo[i:i + 500]]
        listed = _out(top, "ls-files", "-z", "--full-name", "--", *specs)
        if listed is None:
            continue
        out.update(p[len(pre):] for p in listed.split("\0") if p.startswith(pre) and p)
    return out


_COMMIT_RE = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")
MAX_COMMITS = 50  # commits listed by ``history``; docs/diff.md says "at most 50"


def _commits(top: str, old: str, new: str,
             specs: list[str] | None = None) -> list[Row] | None:
    # -z: commits end with NUL, never split at a form feed or U+2028 in a subject
    out = _out(top, "log", "-z", "--format=%H%x1f%an%x1f%s", f"-{MAX_COMMITS}",
               "--end-of-options", f"{old}..{new}",
               *(["--", *specs] if specs is not None else []))
    if out is None:
        return None
    rows: list[Row] = []
    for line in filter(None, out.split("\0")):
        sha, author, summary = line.split("\x1f", 2)
        rows.append({"sha": sha, "author": author, "summary": summary})
    return rows


def _files(top: str, old: str, new: str,
           specs: list[str] | None = None) -> list[Row] | None:
    # --no-renames: a moved file is its old path removed and its new path added, so that
    # a data file moved with ``git mv`` matches the recorded paths (never ``{a => b}``)
    # -z: paths as they are (without it git C-quotes any non-ASCII name: "d\303\251j\303\240")
    out = _out(top, "diff", "--numstat", "-z", "--no-renames", "--end-of-options", old, new,
               *(["--", *specs] if specs is not None else []))
    if out is None:
        return None
    rows: list[Row] = []
    for line in filter(None, out.split("\0")):
        added, removed, path = line.split("\t", 2)
        rows.append({"path": path, "added": None if added == "-" else int(added),
                     "removed": None if removed == "-" else int(removed)})
    return rows


def root_prefix(root: str) -> str:
    """Where ``root`` lies inside its git work tree: ``""`` at the top, else ``"sub/dir/"``.
    Git prints paths from the top; records hold them from ``root``."""
    found = _open(root)
    return "" if found is None else _prefix(found[0], root)


def head_commit(root: str) -> str | None:
    """The sha of HEAD, or None outside git or before the first commit."""
    found = _open(root, head=True)
    return None if found is None else found[1]

# -- walking a history (mlver import-dvc) --------------------------------------------------

MAX_RANGE_TEXT = 256  # characters of a revision range given by the user


@dataclass(frozen=True)
class Commit:
    """One commit of a walk: its sha, parents, committer time (seconds since the epoch),
    ``Name <email>`` of its author and its subject line."""

    sha: str
    parents: tuple[str, ...]
    time: int
    author: str
    subject: str


@dataclass(frozen=True)
class Change:
    """A file a commit changed against its first parent: the path from the top of the
    work tree, its new mode and blob (None when deleted)."""

    path: str
    mode: str
    blob: str | None


def check_range(text: str) -> str:
    """A revision or range (``A..B``) as the user gave it, refused when it could be read
    as an option or holds characters no revision has."""
    from mlver.base.errors import ConfigError

    if (not text or len(text) > MAX_RANGE_TEXT or text.startswith("-")
            or any(c.isspace() or ord(c) < 32 for c in text)):
        raise ConfigError(f"revision range {text[:80]!r} is not a git revision or A..B range; "
                          "write it like v1.0..main or HEAD~10..HEAD")
    return text


def walk_commits(top: str, rev_range: str = "HEAD") -> list[Commit]:
    """The commits of ``rev_range`` (``git log --topo-order --reverse``) in the work tree
    ``top`` (:func:`toplevel`): parents before children, oldest first; one git call."""
    out = _git(top, "log", "-z", "--topo-order", "--reverse",
               "--format=%H%x00%P%x00%ct%x00%an <%ae>%x00%s",
               "--end-of-options", check_range(rev_range), "--")
    tokens = out.decode("utf-8", "replace").split("\0")
    if tokens and tokens[-1] in ("", "\n"):
        tokens.pop()
    commits = []
    for i in range(0, len(tokens) - 4, 5):
        sha, parents, when, author, subject = (t.strip("\n") for t in tokens[i:i + 5])
        if not _COMMIT_RE.fullmatch(sha):
            continue
        commits.append(Commit(sha, tuple(p for p in parents.split() if _COMMIT_RE.fullmatch(p)),
                              int(when or 0), author, subject))
    return commits


def _raw_changes(out: bytes) -> list[tuple[str | None, Change]]:
    """Parse ``diff-tree -z --raw`` output: ``(commit or None, change)`` rows, a commit
    header as ``(sha, None)``-like marker rows with an empty change path."""
    rows: list[tuple[str | None, Change]] = []
    tokens = out.decode("utf-8", "surrogateescape").split("\0")
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.startswith(":") and i + 1 < len(tokens):
            fields = tok[1:].split()
            if len(fields) >= 5:
                new_mode, new_blob, status = fields[1], fields[3], fields[4]
                blob = None if status.startswith("D") or set(new_blob) == {"0"} else new_blob
                rows.append((None, Change(tokens[i + 1], new_mode, blob)))
            i += 2
            continue
        if tok.strip():
            rows.append((tok.strip(), Change("", "", None)))
        i += 1
    return rows


def changes(top: str, commits: list[Commit], specs: list[str]) -> dict[str, list[Change]]:
    """For each commit, the files matching the pathspecs ``specs`` (built by mlver, each
    with its own magic) that it changed against its first parent (a root commit: every
    such file it holds). One git call for the whole walk."""
    out: dict[str, list[Change]] = {c.sha: [] for c in commits}
    if not commits:
        return out
    lines = "".join(f"{c.sha} {c.parents[0]}\n" if c.parents else f"{c.sha}\n"
                    for c in commits).encode("ascii")
    raw = _git(top, "diff-tree", "--stdin", "-r", "-z", "--raw", "--no-renames", "--root",
               "--always", "--", *specs, data=lines)
    current: str | None = None
    for sha, change in _raw_changes(raw):
        if sha is not None:
            current = sha if sha in out else current
        elif current is not None:
            out[current].append(change)
    return out


def files_in(top: str, commit: str, specs: list[str]) -> list[Change]:
    """Every file matching ``specs`` in ``commit`` (its diff against the empty tree)."""
    if not _COMMIT_RE.fullmatch(commit):
        return []
    empty = _git(top, "hash-object", "-t", "tree", "--stdin", data=b"").decode().strip()
    raw = _git(top, "diff-tree", "-r", "-z", "--raw", "--no-renames", empty, commit,
               "--", *specs)
    return [c for sha, c in _raw_changes(raw) if sha is None]


def ancestors(top: str, commit: str) -> set[str]:
    """Every commit reachable from ``commit`` (itself included)."""
    if not _COMMIT_RE.fullmatch(commit):
        return set()
    out = _git(top, "rev-list", "--end-of-options", commit, "--")
    return set(out.decode("ascii", "replace").split())


def toplevel(root: str) -> str | None:
    """The top folder of the git work tree holding ``root``, or None outside git (one git
    call: ``git rev-parse --show-toplevel``)."""
    from mlver.base.gitcmd import show_toplevel

    return show_toplevel(root)


def has_commits(top: str) -> bool:
    """True when ``HEAD`` of the work tree ``top`` names a commit."""
    try:
        _git(top, "rev-parse", "--verify", "-q", "HEAD^{commit}")
    except Exception:  # noqa: BLE001 - CaptureError: no commit yet
        return False
    return True


# -- scratch copies for replays (mlver explain) ---------------------------------------------
#
# A patch goes in on stdin, and a replay interrupted by Ctrl-C must be able to kill and
# clean up what it started (``_git`` takes the long bound and raises CaptureError). Every
# commit handed to git is checked to be a commit id first, every path is one mlver built
# or validated, and ``--end-of-options`` comes before them.

def _git(cwd: str, *args: str, data: bytes | None = None,
         env: dict[str, str] | None = None) -> bytes:
    """Run ``git args`` in ``cwd``; its stdout, or CaptureError with git's last line."""
    from mlver.base.errors import CaptureError
    from mlver.base.gitcmd import GIT_LONG_TIMEOUT

    try:  # (a whole history or a scratch checkout: the long bound)
        proc = run_git(cwd, *args, data=data, env=env, timeout=GIT_LONG_TIMEOUT)
    except subprocess.TimeoutExpired:
        raise CaptureError(f"git {args[0]} failed (no answer in time)") from None
    if proc.returncode != 0:
        why = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise CaptureError(f"git {args[0]} failed ({why[-1] if why else proc.returncode})")
    return proc.stdout


def _check_commit_id(commit: str) -> str:
    from mlver.base.errors import CaptureError

    if not isinstance(commit, str) or not _COMMIT_RE.fullmatch(commit):
        raise CaptureError(f"{str(commit)[:80]!r} is not a git commit id")
    return commit


def work_tree(root: str) -> tuple[str, str] | None:
    """``(top, prefix)``: the top folder of the git work tree holding ``root`` and where
    ``root`` lies inside it (``""`` or ``"sub/dir/"``); None outside git."""
    found = _open(root)
    return None if found is None else (found[0], _prefix(found[0], root))


def has_commit(top: str, commit: str) -> bool:
    """True when the repository at ``top`` holds the commit ``commit``."""
    from mlver.base.errors import CaptureError

    _check_commit_id(commit)
    try:
        _git(top, "cat-file", "-e", f"{commit}^{{commit}}")
    except CaptureError:
        return False
    return True


def export_commit(top: str, commit: str, patch: bytes | None, dest: str, scratch: str) -> None:
    """Write the files of ``commit`` with ``patch`` applied into the new folder ``dest``: a
    plain copy with no ``.git``, so that what runs there cannot reach this repository's
    hooks, config or refs (a ``git worktree`` would link back to them). Read through a
    temporary index in the folder ``scratch``; the work tree and the real index are not
    touched, and no hook runs. The patch reaches ``git apply`` on stdin, never as an
    argument."""
    _check_commit_id(commit)
    env = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
    _git(top, "read-tree", "--end-of-options", commit, env=env)
    if patch:
        _git(top, "apply", "--cached", "--binary", "--whitespace=nowarn", data=patch, env=env)
    os.makedirs(dest)
    # --prefix is a folder mlver made (absolute, ending in "/"); -a writes every entry
    _git(top, "-c", "core.hooksPath=/dev/null", "checkout-index", "-a", "--force",
         "--prefix=" + os.path.join(dest, ""), env=env)


def files_at(top: str, commit: str, patch: bytes | None, paths: list[str], scratch: str
             ) -> dict[str, bytes | None]:
    """The bytes of each of ``paths`` (from the top of the work tree) in ``commit`` with
    ``patch`` applied, read through a temporary index in the folder ``scratch`` (the
    work tree and the real index are not touched); None for a path that is not a
    regular file there (untracked, ignored, a link, a folder)."""
    _check_commit_id(commit)
    env = {"GIT_INDEX_FILE": os.path.join(scratch, "index")}
    _git(top, "read-tree", "--end-of-options", commit, env=env)
    if patch:
        _git(top, "apply", "--cached", "--binary", "--whitespace=nowarn", data=patch, env=env)
    out: dict[str, bytes | None] = {}
    for path in paths:
        listed = _git(top, "ls-files", "-s", "-z", "--", f":(top,literal){path}", env=env)
        entry = next((e for e in listed.split(b"\0") if e), None)
        out[path] = None
        if entry is None:
            continue
        meta, _, name = entry.partition(b"\t")
        mode, sha, stage = meta.split(b" ")
        if name.decode("utf-8", "replace") != path or stage != b"0" \
                or mode not in (b"100644", b"100755"):
            continue
        out[path] = _git(top, "cat-file", "blob", sha.decode("ascii"))
    return out
