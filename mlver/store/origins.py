"""Where each record came from: made here (``local``), brought by ``mlver pull``
(``pulled``) or by ``mlver import-dvc`` (``imported``).

``mlver explain`` replays a record's command and patch only when this store recorded them,
or after the user trusts them (``--trust``): a record that someone else wrote is code
someone else wrote. The list lives in ``refs/origins``, one line per record that did *not*
originate here (``<oid> <origin> <source>``, the source being a remote's name or ``dvc``);
every other record is local. It is store-local state, like ``refs/pruned``: never pushed,
never derived, so ``reindex`` keeps it.

Writers mark what they bring *before* its records are stored, so that no crash can leave
a pulled record in the store without its mark (a mark for a record that never arrived is
harmless). A damaged file is refused by name: trust never defaults to "local" because the
list could not be read.

In a git repository the list is kept twice: in the store and in a copy inside the git
folder (``.git/mlver/origins``, or the folder a ``.git`` file names), and a record marked in
either is marked. ``.mlver/`` is kept out of git only by its ``.gitignore``, and git treats
ignored files as disposable: a commit that force-adds ``.mlver/refs/origins`` overwrites it
on ``git pull``, and leaving a branch that tracks it deletes it. Nothing a commit holds can
reach the copy in the git folder, so neither rewrites where a record came from.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import TYPE_CHECKING
from collections.abc import Iterable

from mlver.base.errors import RecordFormatError
from mlver.base.hashing import is_oid
from mlver.store.refs import NAME_RE, _drop_leftovers, locked
from mlver.store.safefs import check_dirs, read_small

if TYPE_CHECKING:
    from mlver.store import Store

ORIGINS_FILE = "origins"   # refs/origins
ORIGINS_MAX = 256 << 20    # bytes: about three million records; larger was not written by mlver
ORIGINS = ("pulled", "imported")


@dataclass(frozen=True)
class Origin:
    """Where one record came from."""

    kind: str          # "local", "pulled" or "imported"
    source: str = ""   # the remote's name (pulled), "dvc" (imported), "" (local)

    @property
    def local(self) -> bool:
        return self.kind == "local"

    def text(self) -> str:
        """``pulled from remote origin``, ``imported by mlver import-dvc``, ``made here``."""
        if self.kind == "pulled":
            return f"pulled from remote {self.source}" if self.source else "pulled"
        if self.kind == "imported":
            return "imported by mlver import-dvc"
        return "recorded in this store"


LOCAL = Origin("local")


def _path(store_dir: str, create: bool = False) -> str:
    return os.path.join(check_dirs(store_dir, "refs", create), ORIGINS_FILE)


MAX_GITFILE = 4096  # bytes of a ``.git`` file (``gitdir: PATH``)


def _mirror_dir(store_dir: str) -> str | None:
    """The git folder of the repository the store sits in (its ``.git`` directory, or the
    folder its ``.git`` file names), or None outside git. No git subprocess: the store
    layer runs no programs."""
    root = os.path.dirname(os.path.abspath(store_dir))
    dot = os.path.join(root, ".git")
    if os.path.islink(dot):
        return None
    if os.path.isdir(dot):
        return dot
    if not os.path.isfile(dot):
        return None
    data = read_small(dot, MAX_GITFILE)
    text = (data or b"").decode("utf-8", "replace").strip()
    if not text.startswith("gitdir:"):
        return None
    target = os.path.join(root, text[len("gitdir:"):].strip())
    return target if os.path.isdir(target) and not os.path.islink(target) else None


def _mirror_path(store_dir: str, create: bool = False) -> str | None:
    git_dir = _mirror_dir(store_dir)
    if git_dir is None:
        return None
    folder = os.path.join(git_dir, "mlver")
    if os.path.islink(folder):
        return None
    if create:
        os.makedirs(folder, exist_ok=True)
    return os.path.join(folder, ORIGINS_FILE)


def _read(path: str | None) -> dict[str, Origin]:
    if path is None:
        return {}
    data = read_small(path, ORIGINS_MAX)
    return {} if data is None else _parse(path, data)


def _parse(path: str, data: bytes) -> dict[str, Origin]:
    out: dict[str, Origin] = {}
    try:
        lines = data.decode("ascii").split("\n")
    except UnicodeDecodeError:
        lines = ["(not ASCII)"]
    if lines[-1] == "":
        lines.pop()
    for line in lines:
        parts = line.split(" ")
        if len(parts) != 3 or not is_oid(parts[0]) or parts[1] not in ORIGINS \
                or not (parts[2] == "-" or NAME_RE.fullmatch(parts[2])):
            raise RecordFormatError(
                f"{path} holds a line that is not '<record oid> pulled|imported <source>' "
                f"({line[:60]!r}); restore it from a backup (deleting it would let mlver "
                "explain replay pulled records as if they were recorded here)")
        out[parts[0]] = Origin(parts[1], "" if parts[2] == "-" else parts[2])
    return out


def origins(store: Store) -> dict[str, Origin]:
    """Every record that did not originate in ``store``, with its origin: marked in the
    store's list or in its copy in the git folder (the store's mark first)."""
    out = _read(_mirror_path(store.path))
    out.update(_read(_path(store.path)))
    return out


def origin_of(store: Store, oid: str) -> Origin:
    """Where the record ``oid`` came from (``local`` unless marked)."""
    return origins(store).get(oid, LOCAL)


def mark_origin(store: Store, oids: Iterable[str], origin: str, source: str = "") -> None:
    """Mark the records ``oids`` as brought by ``pull`` (``origin="pulled"``, ``source`` the
    remote's name) or ``import-dvc`` (``"imported"``). Call it *before* the records are
    stored. A record already marked keeps its first mark; the whole list is rewritten
    under its lock and renamed, as ``refs/pruned`` is."""
    if origin not in ORIGINS:
        raise ValueError(f"{origin!r} is not one of {', '.join(ORIGINS)}")
    if not NAME_RE.fullmatch(source):
        source = ""  # a remote reached by URL only: "pulled", without a name
    new = list(dict.fromkeys(oids))
    bad = next((o for o in new if not is_oid(o)), None)
    if bad is not None:
        raise ValueError(f"{bad!r} is not an oid")
    if not new:
        return
    for path in (_path(store.path, create=True), _mirror_path(store.path, create=True)):
        if path is not None:
            _mark_in(path, new, Origin(origin, source))


def _mark_in(path: str, new: list[str], mark: Origin) -> None:
    """Add ``mark`` for every oid of ``new`` not yet marked in the list at ``path``."""
    with locked(path) as lock:
        _drop_leftovers(path)
        data = read_small(path, ORIGINS_MAX)
        old = {} if data is None else _parse(path, data)
        add = [o for o in new if o not in old]
        if not add:
            return
        now = dict(old)
        now.update({o: mark for o in add})
        lock.publish_bytes("".join(f"{o} {g.kind} {g.source or '-'}\n"
                                   for o, g in sorted(now.items())).encode("ascii"))
