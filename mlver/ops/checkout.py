"""``mlver checkout``: write a version's inputs and outputs back, byte for byte.

A record and its trees may come from someone else's store, so checkout works in three
phases and writes nothing until the first two have passed:

1. *Plan*: walk the record's trees (bounded) into the list of paths to write, and refuse
   any path that could land outside the target (``..``, absolute, NUL, ``.git``/``.mlver``
   components, a path through a link of the plan itself).
2. *Check the disk*: every existing folder on the way must be a real folder (never a
   link), and a file that would be replaced or removed must hold content the store knows,
   unless ``force``: checkout never destroys the only copy of anything.
3. *Write*: each file goes to a temporary name in its folder (its hash verified as it is
   copied), or, when the target lacks its folder, under its own name in that folder made
   under a temporary name; only when all of them are staged are they (and such folders)
   renamed over their final names. A failure before that (a corrupt object, a full disk)
   removes the staged files and folders and leaves the target as it was. Folders are
   opened with ``O_NOFOLLOW`` and every file is created relative to its folder's
   descriptor, so a link swapped in meanwhile is refused rather than followed. Files are
   staged and renamed by a few threads (:mod:`mlver.ops.materialize`).

The target itself must be a folder (or missing: it is created, and removed again when
the checkout fails) outside any ``.git``/``.mlver`` folder. Files a killed checkout
staged (``.mlver-PID-N.tmp``, its process gone) in the folders this one writes to are
removed once the new files are in place.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from dataclasses import dataclass

from mlver.base.errors import CheckoutError, CorruptObjectError, RecordFormatError
from mlver.base.hashing import CHUNK, Hasher, oid_of
from mlver.base.paths import RESERVED as _RESERVED, in_reserved, is_plain_relpath
from mlver.ops.materialize import Dirs, Want, Writer, split
from mlver.base.progress import Progress
from mlver.core.record import Artifact, Record
from mlver.store import Store
from mlver.store.statcache import StatCache, StatKey
from mlver.store.trees import walk
from mlver.core.workspace import Workspace

SIDES = ("all", "inputs", "outputs")
_STAGED = re.compile(r"\.mlver-(\d{1,9})-\d+\.tmp")  # see materialize.Writer
_SHOWN = 5  # paths named in an error before "and N more"


@dataclass(frozen=True)
class CheckoutResult:
    """What a checkout did: files written, already right, and removed; bytes written."""

    oid: str
    label: str
    target: str
    written: int
    unchanged: int
    removed: int
    bytes: int

    def to_dict(self) -> dict[str, object]:
        return {"record": self.oid, "label": self.label, "target": self.target,
                "written": self.written, "unchanged": self.unchanged,
                "removed": self.removed, "bytes": self.bytes}


def _refuse(path: str, why: str) -> CheckoutError:
    return CheckoutError(f"refusing to check out '{path[:200]}': {why}; nothing was written "
                         "(the record or its trees were tampered with, or written by another tool)")


def check_target_path(path: str) -> None:
    """Refuse a target-relative path that is not plainly inside the target."""
    if not is_plain_relpath(path):
        raise _refuse(path, "it is not a plain relative path")
    if in_reserved(path):
        raise _refuse(path, "it is inside .git/ or .mlver/, which checkout never writes")


def select(rec: Record, side: str = "all") -> list[Artifact]:
    """The artifacts a checkout writes: inputs first, then outputs (which win a clash)."""
    if side not in SIDES:
        raise ValueError(f"side must be one of {SIDES}")
    arts = []
    if side in ("all", "inputs"):
        arts += [rec.inputs[s] for s in sorted(rec.inputs)]
    if side in ("all", "outputs"):
        arts += [rec.outputs[s] for s in sorted(rec.outputs)]
    return arts


def plan(store: Store, arts: list[Artifact], paths: list[str] | None = None
         ) -> tuple[dict[str, Want], set[str]]:
    """Every path to make (``path -> Want``) and the folders checked out whole (their
    extra files are removed). ``paths`` (root-relative) narrows it to what lies at or
    below them; a path matching nothing is an error naming what the record holds."""
    want: dict[str, Want] = {}
    folders: set[str] = set()
    for art in arts:
        check_target_path(art.path)
        if art.type == "tree":
            folders.add(art.path)
            want[art.path] = Want(art.path, "tree", art.oid)
            for sub, e in walk(store.tree, art.oid, art.path + "/"):
                want[sub] = Want(sub, e.type, e.oid, e.exec, e.size)
        else:
            want[art.path] = Want(art.path, art.type, art.oid, art.exec, art.size)
    for path in want:
        check_target_path(path)
    _check_links(want)
    if paths:
        want, folders = _narrow(want, folders, paths, arts)
    return want, folders


def _check_links(want: dict[str, Want]) -> None:
    links = {p for p, w in want.items() if w.type == "link"}
    not_dirs = links | {p for p, w in want.items() if w.type == "blob"}
    passed: set[str] = set()  # folders whose whole chain of parents is checked
    for path in want:
        cut = path.rfind("/")
        while cut > 0:
            parent = path[:cut]
            if parent in passed:
                break
            if parent in not_dirs:
                what = "a symbolic link" if parent in links else "a file"
                raise _refuse(path, f"it goes through '{parent}', which the record makes {what}")
            passed.add(parent)
            cut = path.rfind("/", 0, cut)


def _under(path: str, top: str) -> bool:
    return top == "." or path == top or path.startswith(top + "/")


def _narrow(want: dict[str, Want], folders: set[str], paths: list[str], arts: list[Artifact]
            ) -> tuple[dict[str, Want], set[str]]:
    kept: dict[str, Want] = {}
    for top in paths:
        hit = {p: w for p, w in want.items() if _under(p, top)}
        if not hit:
            # A path above an artifact (``data`` for ``data/a.csv``) selects it whole.
            hit = {p: w for p, w in want.items() if _under(top, p)
                   and w.type == "tree" and top in want}
        if not hit:
            held = ", ".join(a.path for a in arts) or "nothing"
            raise CheckoutError(f"'{top}' is not part of this version; it holds: {held}")
        kept.update(hit)
    return kept, {f for f in folders if f in kept}


def _lstat(dirs: Dirs, path: str) -> os.stat_result | None:
    parent, name = split(path)
    fd = dirs.open(parent, create=False)
    if fd is None:
        return None
    try:
        return os.lstat(name, dir_fd=fd)
    except FileNotFoundError:
        return None


def _content_oid(dirs: Dirs, path: str, st: os.stat_result, ws_rel: str | None,
                 cache: StatCache) -> str:
    """The oid of what is at ``path`` now: a file's content or a link's target text."""
    parent, name = split(path)
    fd = dirs.open(parent, create=False)
    assert fd is not None
    if stat.S_ISLNK(st.st_mode):
        return oid_of(os.fsencode(os.readlink(name, dir_fd=fd)))
    key = StatKey.of(st)
    if ws_rel is not None:
        hit: str | None = cache.lookup(ws_rel, key)
        if hit is not None:
            return hit
    h = Hasher()
    f = os.open(name, os.O_RDONLY | os.O_NOFOLLOW, dir_fd=fd)
    with os.fdopen(f, "rb") as src:
        while chunk := src.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def _leftover(name: str) -> bool:
    """True for a file staged by a checkout whose process is gone (``.mlver-PID-N.tmp``)."""
    m = _STAGED.fullmatch(name)
    if m is None:
        return False
    try:
        os.kill(int(m.group(1)), 0)
    except ProcessLookupError:
        return True
    except (PermissionError, OverflowError):
        return False
    return False


def _remove_empty(folders: list[str]) -> None:
    """Remove the folders a failed checkout created, deepest first, if still empty."""
    for d in reversed(folders):
        try:
            os.rmdir(d)
        except OSError:
            return


def _same_mode(w: Want, st: os.stat_result) -> bool:
    return w.type != "blob" or bool(st.st_mode & 0o100) == w.exec


class Checkout:
    """One checkout of a record into a target folder (see the module doc)."""

    def __init__(self, store: Store, ws: Workspace, target: str, force: bool = False,
                 progress: Progress | None = None) -> None:
        self.store, self.ws, self.force = store, ws, force
        self.target = os.path.abspath(target)
        self.progress = progress or Progress()
        root = os.path.realpath(ws.root)
        real = os.path.realpath(self.target)
        # Paths under the workspace get stat cache rows, so the next status hashes nothing.
        inside = real == root or real.startswith(root + os.sep)
        self.ws_prefix = os.path.relpath(real, root).replace(os.sep, "/") if inside else None
        self.cache = ws.stat_cache()

    def _make_target(self) -> list[str]:
        """Refuse a target inside ``.git``/``.mlver`` or that is not a folder; create it
        when missing. Returns the folders created, deepest last."""
        for path in (self.target, os.path.realpath(self.target)):
            if any(p.lower() in _RESERVED for p in path.split(os.sep)):
                raise CheckoutError(f"refusing to check out into {self.target}: it is inside a "
                                    ".git or .mlver folder, which checkout never writes; give "
                                    "another --to DIR")
        made: list[str] = []
        cur = self.target
        while not os.path.lexists(cur) and os.path.dirname(cur) != cur:
            made.append(cur)
            cur = os.path.dirname(cur)
        made.reverse()
        try:
            os.makedirs(self.target, exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            _remove_empty(made)
            raise CheckoutError(f"cannot check out into {self.target}: it, or a folder on the "
                                "way to it, is a file; give a folder (it is created when "
                                "missing)") from None
        except OSError:
            _remove_empty(made)
            raise
        if not os.path.isdir(self.target):
            raise CheckoutError(f"cannot check out into {self.target}: it is not a folder; "
                                "give a folder (it is created when missing)")
        return made

    def ws_rel(self, path: str) -> str | None:
        if self.ws_prefix is None:
            return None
        return path if self.ws_prefix == "." else f"{self.ws_prefix}/{path}"

    def run(self, oid: str, rec: Record, want: dict[str, Want], folders: set[str]
            ) -> CheckoutResult:
        """Check the disk, stage every file, then rename them into place."""
        made = self._make_target()
        dirs = Dirs(self.target)
        try:
            todo, unchanged, extra = self._survey(dirs, want, folders)
            writer = Writer(self, dirs)
            nbytes = writer.write(todo, extra)
        except BaseException:
            _remove_empty(made)  # a target this checkout created goes with the failure
            raise
        finally:
            dirs.close()
        self.cache.save()
        files = sum(w.type != "tree" for w in todo)  # folders made are not counted
        return CheckoutResult(oid, rec.label, self.target, files, unchanged, len(extra), nbytes)

    def _survey(self, dirs: Dirs, want: dict[str, Want], folders: set[str]
                ) -> tuple[list[Want], int, list[str]]:
        """What must be written, how many are already right, and which extra files in
        whole folders go; refuse (before writing) to destroy content the store lacks."""
        todo: list[Want] = []
        unknown: list[str] = []
        unchanged = 0
        for path, w in want.items():
            st = _lstat(dirs, path)
            if st is None:
                todo.append(w)
                continue
            if w.type == "tree":
                if not stat.S_ISDIR(st.st_mode):  # (a folder that exists is not counted)
                    raise CheckoutError(f"'{path}' in {self.target} is a file or link where "
                                        "this version has a folder; move it away and check "
                                        "out again")
                continue
            if stat.S_ISDIR(st.st_mode):
                raise CheckoutError(f"'{path}' in {self.target} is a folder where this version "
                                    "has a file; move the folder away and check out again")
            now = self._oid(dirs, path, st)
            if now == w.oid and stat.S_ISLNK(st.st_mode) == (w.type == "link") \
                    and _same_mode(w, st):
                unchanged += 1
                self.remember(path, st, w.oid)
                continue
            if not self.store.objects.has(now) and not self.force:
                unknown.append(path)
            todo.append(w)
        extra = self._extras(dirs, want, folders, unknown)
        extra += self._leftovers(dirs, want, folders, set(extra))
        if unknown:
            shown = ", ".join(unknown[:_SHOWN])
            more = f" and {len(unknown) - _SHOWN} more" if len(unknown) > _SHOWN else ""
            raise CheckoutError(
                f"checkout would overwrite {shown}{more}, whose content matches no version "
                "mlver knows; snapshot it first, move it away, or use --force to overwrite")
        return todo, unchanged, extra

    def _oid(self, dirs: Dirs, path: str, st: os.stat_result) -> str:
        return _content_oid(dirs, path, st, self.ws_rel(path), self.cache)

    def _replaceable(self, dirs: Dirs, path: str, st: os.stat_result,
                     unknown: list[str]) -> None:
        if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode):
            if not self.force and not self.store.objects.has(self._oid(dirs, path, st)):
                unknown.append(path)
        else:
            raise CheckoutError(f"'{path}' in {self.target} is not a regular file; move it "
                                "away and check out again")

    def _extras(self, dirs: Dirs, want: dict[str, Want], folders: set[str],
                unknown: list[str]) -> list[str]:
        """Files in whole folders that this version does not have (they are removed)."""
        extra: list[str] = []
        for top in sorted(folders):
            st = _lstat(dirs, top)
            if st is None or not stat.S_ISDIR(st.st_mode):
                continue
            stack = [top]
            while stack:
                d = stack.pop()
                dfd = dirs.open(d, create=False)
                assert dfd is not None
                for name in sorted(os.listdir(dfd)):
                    path = f"{d}/{name}"
                    st = os.lstat(name, dir_fd=dfd)
                    planned = want.get(path, Want("", "tree", "")).type
                    if stat.S_ISDIR(st.st_mode) and planned == "tree":
                        stack.append(path)
                    elif path not in want:
                        if _leftover(name) and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)
                                                or stat.S_ISDIR(st.st_mode)):
                            extra.append(path)  # staged by a checkout that was killed
                            continue
                        if stat.S_ISDIR(st.st_mode):
                            raise CheckoutError(
                                f"'{path}' in {self.target} is a folder this version does not "
                                "have; move it away and check out again")
                        self._replaceable(dirs, path, st, unknown)
                        extra.append(path)
        return extra

    def _leftovers(self, dirs: Dirs, want: dict[str, Want], folders: set[str],
                   known: set[str]) -> list[str]:
        """Files staged by a killed checkout in the folders this one writes files to that
        are not checked out whole (``_extras`` sweeps those): the target itself, the
        folder of a single-file artifact, a folder a PATH narrowed to."""
        out: list[str] = []
        parents = {split(p)[0] for p, w in want.items() if w.type != "tree"}
        for parent in sorted(parents):
            if any(_under(parent, f) for f in folders):
                continue
            fd = dirs.open(parent, create=False)
            if fd is None:
                continue
            for name in sorted(os.listdir(fd)):
                path = f"{parent}/{name}" if parent else name
                if path in known or path in want or not _leftover(name):
                    continue
                st = os.lstat(name, dir_fd=fd)
                # a file, or a whole folder staged under a temporary name (materialize.Dirs)
                if stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode) or stat.S_ISDIR(st.st_mode):
                    out.append(path)
        return out

    def remember(self, path: str, st: os.stat_result, oid: str) -> None:
        """Queue a stat cache row for a file written under the workspace."""
        rel = self.ws_rel(path)
        if rel is not None and stat.S_ISREG(st.st_mode):
            self.cache.remember(rel, StatKey.of(st), oid, written=True)


def checkout(store: Store, ws: Workspace, oid: str, rec: Record, paths: list[str] | None = None,
             to: str | None = None, side: str = "all", force: bool = False,
             progress: Progress | None = None) -> CheckoutResult:
    """Write the inputs and outputs of ``rec`` (or those at/below ``paths``, root-relative)
    at their recorded paths under ``to`` (default: the workspace root)."""
    from mlver.core.reach import BRING_BACK, REMOVED, gone_artifacts

    arts = select(rec, side)
    gone = [f"{s} {slot} ({a.path})" for s, slot, a in gone_artifacts(store, oid, rec)
            if a in arts and (not paths or any(_under(a.path, p) or _under(p, a.path)
                                               for p in paths))]
    if gone:
        raise CheckoutError(f"{rec.label}: {REMOVED} for {', '.join(gone)}; {BRING_BACK}; "
                            "nothing was written")
    absent = [f"{s} {slot} ({a.path}) was {a.missing_note}"
              for s, arts_ in (("input", rec.inputs), ("output", rec.outputs))
              for slot, a in arts_.items()
              if a.missing and a in arts and (not paths or any(_under(a.path, p) or
                                                               _under(p, a.path) for p in paths))]
    if absent:
        raise CheckoutError(f"{rec.label}: {'; '.join(absent)}, so the store never held their "
                            "bytes; nothing was written (dvc pull can bring them back into "
                            "the DVC project; or give the paths of the other slots)")
    try:
        want, folders = plan(store, arts, paths)
    except (CorruptObjectError, RecordFormatError) as e:  # a tree that cannot be read
        raise type(e)(f"{e}; checkout wrote nothing") from None
    # Data on demand: what a version pulled with --no-data lacks comes in one transfer
    # (a no-op without a default remote; an unreachable one is an error naming it).
    store.objects.fetch([w.oid for w in want.values() if w.type != "tree"])
    if not want:
        what = "inputs or outputs" if side == "all" else side
        raise CheckoutError(f"{rec.label} has no {what} to check out")
    job = Checkout(store, ws, to or ws.root, force, progress)
    try:
        return job.run(oid, rec, want, folders)
    except CorruptObjectError as e:
        raise CorruptObjectError(f"{e}; checkout wrote nothing") from None
    except OSError as e:  # before the renames: what was staged is gone (materialize.Writer)
        where = f"{e.filename}" if e.filename else job.target
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise CheckoutError(f"no space left on the device holding {job.target} (at "
                                f"{where}); free space there and check out again (nothing "
                                "was changed)") from None
        raise CheckoutError(f"cannot check out into {job.target}: {where}: {e.strerror}; fix "
                            "it and check out again (nothing was changed)") from None
