"""Reading a DVC project's files for ``mlver import-dvc``: names, stages, what they hold.

DVC's own code parses ``dvc.yaml``, ``dvc.lock`` and ``.dvc`` files (``dvc.dvcfile.load_file``
on a repo switched to a commit); this module turns what it returns into plain values
(:class:`StageInfo`, :class:`Item`) whose paths are checked as record paths. Everything
here is untrusted input: sizes and nesting are bounded before DVC sees a file, and a
stage's working folder is quoted for the shell, never pasted into a command as text.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import posixpath
import re
import shlex
from dataclasses import dataclass, field
from typing import Any
from collections.abc import Callable, Iterable, Iterator

from mlver.base import canonical
from mlver.base.paths import in_reserved
from mlver.core.params import jsonable
from mlver.base.errors import ConfigError, ParamsError, RecordFormatError
from mlver.base.hashing import oid_of
from mlver.core.record import MAX_TEXT, check_path, is_dvc_md5
from mlver.store.refs import valid_name

MARK = "imported from DVC"     # ends the message of every imported record: (MARK SOURCE)
INSTALL = "install mlver[dvc] (pip install 'mlver[dvc]')"
MAX_DVC_FILE = 16 << 20        # bytes of a dvc.yaml, dvc.lock or .dvc file handed to DVC
MAX_DEPTH = 64                 # nesting levels of a DVC file (DVC's parsers recurse per level)
_NAME_BAD = re.compile(r"[^A-Za-z0-9._-]")
_SOURCE_RE = re.compile(r"\(" + re.escape(MARK) + r" (.+)\)$")

# A dependency git holds is code when its extension is one of these (or, for a folder,
# when most of its files' are); any other file git holds is data: an input slot.
SOURCE_EXTENSIONS = frozenset({
    ".py", ".pyx", ".pxd", ".pyi", ".ipynb", ".r", ".rmd", ".jl", ".sh", ".bash", ".zsh",
    ".ps1", ".bat", ".cmd", ".sql", ".scala", ".java", ".kt", ".go", ".rs", ".c", ".h",
    ".cc", ".cpp", ".hpp", ".cxx", ".cu", ".m", ".js", ".mjs", ".ts", ".rb", ".pl", ".lua",
    ".swift", ".mk", ".cmake", ".dockerfile"})
SOURCE_NAMES = frozenset({"Makefile", "Dockerfile", "Snakefile", "Justfile"})


def is_source(path: str) -> bool:
    """True for a source file by its name: an extension of :data:`SOURCE_EXTENSIONS`
    (any case) or a name of :data:`SOURCE_NAMES`."""
    base = posixpath.basename(path)
    return base in SOURCE_NAMES or posixpath.splitext(base)[1].lower() in SOURCE_EXTENSIONS


# --------------------------------------------------------------------------- names


def dvc_name(path: str) -> str | None:
    """The mlver name (or slot) for a DVC stage or path, relative to the DVC project:
    each ``/`` becomes ``-``, any other character that is not a letter, digit, ``.``,
    ``_`` or ``-`` becomes ``_``, leading ``.``, ``_`` and ``-`` are dropped, a final
    ``.lock`` becomes ``-lock``, and a name longer than 128 characters keeps its first
    119 and ``-`` plus 8 hex of the path's hash. None when nothing is left.

    ``data/raw.csv`` -> ``data-raw.csv``; ``train@us`` -> ``train_us``;
    ``models/dvc.yaml`` stage ``fit`` -> ``models-fit``.
    """
    name = _NAME_BAD.sub("_", path.replace("/", "-")).lstrip("._-")
    if name.endswith(".lock"):
        name = name[:-5] + "-lock"
    if len(name) > 128:
        name = f"{name[:119]}-{oid_of(path.encode('utf-8', 'surrogateescape'))[:8]}"
    return name if valid_name(name) else None


def source_of(message: str) -> str | None:
    """The DVC source (``dvc.yaml:train``, ``data/raw.csv``) an imported record's message
    names, or None for a record not imported from DVC."""
    m = _SOURCE_RE.search(message)
    return m.group(1) if m else None


# --------------------------------------------------------------------------- values


@dataclass(frozen=True)
class Item:
    """A dep or out of a stage as DVC recorded it at one commit."""

    path: str             # root-relative (mlver's root)
    rel: str              # relative to the DVC project (for slot names)
    fs_path: str          # DVC's path on the commit's file system (to read from git)
    hash_name: str
    md5: str | None       # None when DVC recorded no (usable) hash
    size: int | None
    nfiles: int | None
    isexec: bool
    cached: bool          # DVC keeps its bytes in the cache (``cache: false`` does not)
    metric: bool


@dataclass(frozen=True)
class Slim:
    """What a commit's state keeps of a stage: enough to compare it with the next
    commit's, and to say which paths DVC manages."""

    source: str
    name: str
    fp: str
    outs: tuple[str, ...]

    def to_list(self) -> list[Any]:
        return [self.source, self.name, self.fp, list(self.outs)]


@dataclass(frozen=True)
class StageInfo:
    """A stage (or one output of a ``.dvc`` file) at one commit."""

    slim: Slim
    dvcfile: str          # root-relative path of its dvc.yaml or .dvc file
    is_stage: bool        # a pipeline stage; False: an output tracked by a .dvc file
    cmd: tuple[str, ...] | None
    deps: tuple[Item, ...]
    # (params file, values recorded in dvc.lock)
    params: tuple[tuple[str, dict[str, Any]], ...]
    outs: tuple[Item, ...]
    # root-relative files of dvc.yaml's top-level ``metrics:`` and ``plots:`` that are,
    # or lie inside, an output of this stage: read as its metrics
    metrics: tuple[str, ...] = ()
    plots: tuple[str, ...] = ()
    param_keys: tuple[str, ...] = ()  # the keys dvc.lock lists (``train``, ``train.lr``)


@dataclass
class State:
    """The DVC files of one commit: blob of each (by path from the work tree's top) and
    the stages of each dvc.yaml / .dvc file."""

    blobs: dict[str, str] = field(default_factory=dict)
    files: dict[str, tuple[Slim, ...]] = field(default_factory=dict)

    def stages(self) -> Iterator[Slim]:
        for slims in self.files.values():
            yield from slims

    def to_json(self) -> str:
        return json.dumps({"blobs": self.blobs,
                           "files": {k: [s.to_list() for s in v] for k, v in self.files.items()}},
                          sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> State:
        d = json.loads(text)
        return cls(dict(d["blobs"]), {k: tuple(Slim(s[0], s[1], s[2], tuple(s[3])) for s in v)
                                      for k, v in d["files"].items()})


def fingerprint(cmd: Iterable[str] | None, deps: Iterable[Item],
                params: Iterable[tuple[str, Any]], outs: Iterable[Item],
                metrics: Iterable[str] = ()) -> str:
    """What identifies a stage's recorded state: a new version when it changes."""
    d: dict[str, Any] = {"cmd": list(cmd) if cmd else None,
                         "deps": [[x.path, x.md5] for x in deps],
                         "params": [[f, v] for f, v in params],
                         "outs": [[o.path, o.md5, o.metric] for o in outs]}
    shown = list(metrics)
    if shown:  # only then: fingerprints of earlier imports stay what they were
        d["metrics"] = shown
    return oid_of(canonical.dumps(d))


def nest(values: dict[str, Any]) -> dict[str, Any]:
    """DVC's dotted param keys (``train.lr``) nested as in the params file."""
    out: dict[str, Any] = {}
    for key, value in values.items():
        parts = str(key).split(".")
        cur = out
        for p in parts[:-1]:
            nxt = cur.get(p)
            if not isinstance(nxt, dict):
                nxt = cur[p] = {}
            cur = nxt
        cur[parts[-1]] = value
    return out


def nesting(raw: bytes, limit: int = MAX_DEPTH) -> bool:
    """True when the YAML/JSON text ``raw`` nests deeper than ``limit`` levels: open flow
    brackets (``[``, ``{``) or block levels (indentation, ``- `` items) counted on a
    single linear pass, so a hostile file never reaches a recursive parser."""
    flow = 0
    indents: list[int] = []
    for line in raw.split(b"\n"):
        stripped = line.lstrip(b" ")
        if not stripped or stripped.startswith(b"#"):
            continue
        col = len(line) - len(stripped)
        while stripped.startswith(b"- ") or stripped == b"-":  # "- - - x": one level each
            while indents and indents[-1] >= col and flow == 0:
                indents.pop()
            indents.append(col)
            if len(indents) > limit:  # before slicing on: a line of dashes stays linear
                return True
            col += 2
            stripped = stripped[2:].lstrip(b" ")
        if flow == 0:
            while indents and indents[-1] >= col:
                indents.pop()
            indents.append(col)
        quote = 0
        prev = 32
        for ch in stripped:
            if quote:
                if ch == quote:
                    quote = 0
            elif ch in b"\"'":
                quote = ch
            elif ch in b"[{":
                flow += 1
            elif ch in b"]}":
                flow = max(0, flow - 1)
            elif ch == 35 and prev == 32:  # " #": a comment to the end of the line
                break
            prev = ch
            if flow + len(indents) > limit:
                return True
        if len(indents) > limit:
            return True
    return False


# --------------------------------------------------------------------------- dvc


def dvc_modules() -> dict[str, Any]:
    """The ``dvc`` modules used, imported on first use (``mlver --help`` stays fast)."""
    try:
        from dvc.dependency.param import ParamsDependency  # type: ignore[import-untyped]  # (dvc ships no types)
        from dvc.dvcfile import load_file  # type: ignore[import-untyped]  # (dvc ships no types)
        from dvc.exceptions import DvcException  # type: ignore[import-untyped]  # (dvc ships no types)
        from dvc.repo import Repo as DvcRepo  # type: ignore[import-untyped]  # (dvc ships no types)
        from dvc.repo.brancher import switch  # type: ignore[import-untyped]  # (dvc ships no types)
        from dvc_data.hashfile.hash import fobj_md5
    except ImportError as e:
        raise ConfigError(f"importing a DVC project needs the dvc package ({e}); "
                          f"{INSTALL}") from None
    return {"Repo": DvcRepo, "switch": switch, "load_file": load_file,
            "ParamsDependency": ParamsDependency, "DvcException": DvcException,
            "fobj_md5": fobj_md5}


@contextlib.contextmanager
def quiet_dvc() -> Iterator[None]:
    """DVC logs warnings of its own (an outdated lock, say); mlver reports its own."""
    log = logging.getLogger("dvc")
    level = log.level
    log.setLevel(logging.ERROR)
    try:
        yield
    finally:
        log.setLevel(level)


class Reader:
    """Reads the DVC files of the commit the DVC repo is switched to, as plain values."""

    def __init__(self, repo: Any, d: dict[str, Any], project: str, git_prefix: str,
                 warn: Callable[[str], None]) -> None:
        self.repo, self.d, self.project, self.git_prefix, self.warn = \
            repo, d, project, git_prefix, warn

    def dvc_rel(self, git_path: str) -> str:
        """A git path of a DVC file as a path relative to the DVC project."""
        return git_path[len(self.git_prefix):]

    def root_rel(self, dvc_rel: str) -> str:
        """A path relative to the DVC project as a root-relative (record) path."""
        return posixpath.normpath(dvc_rel if self.project == "." else f"{self.project}/{dvc_rel}")

    def read_dvc_file(self, sha: str, key: str) -> tuple[StageInfo, ...] | None:
        """The stages of one dvc.yaml (with its dvc.lock) or .dvc file, read by DVC at the
        commit the repo is switched to; None (with a warning) when DVC cannot read it.
        Raises ConfigError for a file nested deeper than :data:`MAX_DEPTH` levels."""
        repo = self.repo
        rel = self.dvc_rel(key)
        path = repo.fs.join(repo.root_dir, *rel.split("/"))
        for p in (path, *([path[:-len("dvc.yaml")] + "dvc.lock"] if rel.endswith("dvc.yaml")
                          else [])):
            try:
                size = repo.fs.size(p)
                if size is not None and size > MAX_DVC_FILE:
                    self.warn(f"{key} at commit {sha[:7]} is larger than {MAX_DVC_FILE >> 20} "
                              "MiB; a DVC file is configuration, so it is left out")
                    return None
                with repo.fs.open(p, "rb") as f:
                    raw = f.read(MAX_DVC_FILE + 1)
            except (OSError, self.d["DvcException"]):
                continue
            if nesting(raw):
                self._too_deep(p, sha)
        try:
            dvcfile = self.d["load_file"](repo, path)
            stages = list(dvcfile.stages.values())
            if rel.endswith("dvc.yaml"):
                infos = [self._stage(st, key) for st in stages]
                return tuple(self._with_metrics(infos, dvcfile, key))
            return tuple(i for st in stages for i in self._tracked(st, key))
        except RecursionError:
            self._too_deep(path, sha)
        except (self.d["DvcException"], ValueError, TypeError, KeyError, AttributeError) as e:
            self.warn(f"DVC cannot read {key} at commit {sha[:7]} ({str(e)[:300]}); its "
                      "stages keep the state of the commit before")
        return None

    def _too_deep(self, fs_path: str, sha: str) -> None:
        rel = posixpath.normpath(self.repo.fs.relpath(fs_path, self.repo.root_dir)
                                 .replace(os.sep, "/"))
        raise ConfigError(
            f"the DVC file {self.root_rel(rel)[:200]} at commit {sha[:7]} nests deeper than "
            f"{MAX_DEPTH} levels, which no DVC file needs; fix or remove it, or import a "
            "range of commits without it (--rev-range)")

    def _with_metrics(self, infos: list[StageInfo], dvcfile: Any, key: str) -> Iterator[StageInfo]:
        """Each stage with the top-level ``metrics:`` and ``plots:`` files it outputs."""
        metrics = self._top_level_files(dvcfile, key, ("metrics",))
        plots = self._top_level_files(dvcfile, key, ("plots",)) - metrics

        def mine(files: set[str], info: StageInfo) -> tuple[str, ...]:
            return tuple(sorted(p for p in files if any(
                p == o.path or p.startswith(o.path + "/") for o in info.outs if not o.metric)))

        for info in infos:
            m, pl = mine(metrics, info), mine(plots, info)
            if (m or pl) and info.slim.fp:
                info = StageInfo(Slim(info.slim.source, info.slim.name,
                                      fingerprint(info.cmd, info.deps, info.params, info.outs,
                                                  (*m, *(f"plots:{p}" for p in pl))),
                                      info.slim.outs),
                                 info.dvcfile, info.is_stage, info.cmd, info.deps, info.params,
                                 info.outs, m, pl)
            yield info

    def _top_level_files(self, dvcfile: Any, key: str, attrs: tuple[str, ...]) -> set[str]:
        """Root-relative paths of the files dvc.yaml's top-level ``attrs`` (``metrics``,
        ``plots``) name."""
        names: list[Any] = []
        for attr in attrs:
            try:
                got = getattr(dvcfile, attr)
            except (self.d["DvcException"], ValueError, TypeError, KeyError, AttributeError):
                got = None
            if isinstance(got, list):
                names += got[:10_000]
        paths: list[str] = []
        for entry in names:
            if isinstance(entry, str):
                paths.append(entry)
            elif isinstance(entry, dict):
                for k, cfg in list(entry.items())[:1000]:
                    y = cfg.get("y") if isinstance(cfg, dict) else None
                    if isinstance(y, dict):  # a named plot: its files are y's keys
                        paths += [p for p in list(y)[:1000] if isinstance(p, str)]
                    elif isinstance(k, str):
                        paths.append(k)
        base = posixpath.dirname(self.dvc_rel(key))
        out = set()
        for p in paths:
            rel = posixpath.normpath(posixpath.join(base, p)) if base else posixpath.normpath(p)
            try:
                out.add(check_path(self.root_rel(rel), key))
            except RecordFormatError:
                continue  # outside the project: never an output of its stages
        return out

    def item(self, o: Any, where: str) -> Item | None:
        """A dep or out as an :class:`Item`; None (with a warning) when it is outside the
        project or its path could not be a record's."""
        repo = self.repo
        if not getattr(o, "is_in_repo", False):
            self.warn(f"{where}: {o.def_path} is outside the project; left out (only paths "
                      "inside the project are imported)")
            return None
        rel = posixpath.normpath(repo.fs.relpath(o.fs_path, repo.root_dir).replace(os.sep, "/"))
        try:
            path = check_path(self.root_rel(rel), where)
            if rel.startswith("../") or rel == ".." or in_reserved(path):
                raise RecordFormatError("inside .git or .mlver, or outside the project")
        except RecordFormatError:
            self.warn(f"{where}: {str(o.def_path)[:200]} is not a plain path inside the "
                      "project; left out")
            return None
        hi = o.hash_info
        md5 = hi.value if hi and hi.name in ("md5", "md5-dos2unix") else None
        if md5 is not None and not is_dvc_md5(md5):
            self.warn(f"{where}: {path} has the hash {str(md5)[:80]!r}, which is not an md5; "
                      "left out")
            md5 = None
        meta = o.meta
        return Item(path=path, rel=rel, fs_path=o.fs_path, hash_name=hi.name if hi else "md5",
                    md5=md5, size=getattr(meta, "size", None),
                    nfiles=getattr(meta, "nfiles", None),
                    isexec=bool(getattr(meta, "isexec", False)),
                    cached=bool(getattr(o, "use_cache", False)),
                    metric=bool(getattr(o, "metric", False)))

    def command(self, st: Any, source: str) -> tuple[str, ...] | None:
        """The stage's command as ``/bin/sh -c TEXT``, run from the repository's root: a
        working folder other than the root goes in front as ``cd QUOTED &&``, quoted for
        the shell (``shlex.quote``), since a folder name is data, never shell code. None
        (with a warning) when the folder is outside the repository or the text too long to
        record whole (a cut command is another command)."""
        cmd = st.cmd
        if not cmd:
            return None
        text = cmd if isinstance(cmd, str) else " && ".join(str(x) for x in cmd)
        wdir = posixpath.normpath(self.repo.fs.relpath(st.wdir, self.repo.root_dir)
                                  .replace(os.sep, "/")) if st.wdir else "."
        try:
            cwd = check_path(self.root_rel(wdir), source)
        except RecordFormatError:
            self.warn(f"{source}: its wdir {str(wdir)[:200]!r} is outside the repository; its "
                      "command is left out")
            return None
        if cwd != ".":
            text = f"cd {shlex.quote(cwd)} && {text}"
        if len(text) > MAX_TEXT:
            self.warn(f"{source}: its command is longer than {MAX_TEXT:,} characters; it is "
                      "left out (a command cut short would be another command)")
            return None
        return ("/bin/sh", "-c", text)

    def _stage(self, st: Any, key: str) -> StageInfo:
        rel_dir = posixpath.dirname(self.dvc_rel(key))
        stage_path = f"{rel_dir}/{st.name}" if rel_dir else st.name
        source = f"{self.root_rel(self.dvc_rel(key))}:{st.name}"
        deps: list[Item] = []
        params: list[tuple[str, Any]] = []
        keys: set[str] = set()
        for d in st.deps:
            if isinstance(d, self.d["ParamsDependency"]):
                item = self.item(d, source)
                values = d.hash_info.value if d.hash_info and isinstance(d.hash_info.value,
                                                                        dict) else {}
                if item is not None:
                    try:
                        params.append((item.path, jsonable(nest(values), item.path)))
                        keys.update(str(k) for k in values)
                    except ParamsError as e:
                        self.warn(f"{source}: params of {item.path} left out ({e})")
                continue
            item = self.item(d, source)
            if item is not None:
                deps.append(item)
        outs = [i for i in (self.item(o, source) for o in st.outs) if i is not None]
        cmd_t = self.command(st, source)
        recorded = any(i.md5 for i in (*deps, *outs)) or any(v for _f, v in params)
        fp = fingerprint(cmd_t, deps, params, outs) if recorded else ""
        name = dvc_name(stage_path)
        return StageInfo(Slim(source, name or "", fp, tuple(o.path for o in outs)),
                         self.root_rel(self.dvc_rel(key)), True, cmd_t, tuple(deps),
                         tuple(params), tuple(outs), param_keys=tuple(sorted(keys)))

    def _tracked(self, st: Any, key: str) -> Iterator[StageInfo]:
        """One :class:`StageInfo` per output of a ``.dvc`` file."""
        for o in st.outs:
            item = self.item(o, self.root_rel(self.dvc_rel(key)))
            if item is None:
                continue
            fp = fingerprint(None, (), (), (item,)) if item.md5 else ""
            yield StageInfo(Slim(item.path, dvc_name(item.rel) or "", fp, (item.path,)),
                            self.root_rel(self.dvc_rel(key)), False, None, (), (), (item,))
