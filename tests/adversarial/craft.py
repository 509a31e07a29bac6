"""Builders for crafted stores, records, trees, refs and configs (the adversarial suite).

Everything is written the way an attacker (or a broken disk) would: raw bytes into
``.mlver/objects/ab/<30 hex>``, refs as ``oid\\n`` files, records re-encoded with
``mlver.base.canonical.dumps`` from a real record's dict with fields changed.
"""

from __future__ import annotations

import hashlib
import os
import resource
import stat
import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from mlver.base import canonical
from mlver.cli import main
from mlver.base.hashing import oid_of
from conftest import write  # noqa: F401  (the suite's one file writer, used as craft.write)

VENV_BIN = os.path.dirname(sys.executable)
MEM_LIMIT = int(1.5 * (1 << 30))
TIMEOUT = 10.0


# ----------------------------------------------------------------- project / processes


def git(cwd, *args):
    proc = subprocess.run(["git", *args], cwd=str(cwd), capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


_TEMPLATE: list[Path] = []  # per worker process: the default project, made once


def make_project(root: Path, files: dict | None = None) -> Path:
    """A git repository with a first commit of ``files`` and an initialised store (the
    default project is made once per process and copied: a copy is milliseconds, six git
    processes and ``mlver init`` are a third of a second)."""
    root = Path(root)
    if files is None and not (root.exists() and any(root.iterdir())):
        import atexit
        import shutil
        import tempfile

        if not _TEMPLATE:
            base = Path(tempfile.mkdtemp(prefix="mlver-adv-tpl-"))
            atexit.register(shutil.rmtree, base, True)
            _TEMPLATE.append(_make_project(base / "proj", None))
        shutil.copytree(_TEMPLATE[0], root, symlinks=True, dirs_exist_ok=True)
        return root
    return _make_project(root, files)


def _make_project(root: Path, files: dict | None) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    for rel, content in (files or {"README.md": "# p\n", "train.py": "print('t')\n",
                                   ".gitignore": ".mlver/\n"}).items():
        p = root / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(content)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    r = mlver(root, "init")
    assert r.returncode == 0, r.stderr
    return root


def _limit_memory():
    # RLIMIT_DATA, not RLIMIT_AS: pyarrow's allocator reserves (PROT_NONE) address space
    # at start, so ``mlver diff`` of two tiny CSVs dies with std::bad_alloc under a
    # 1.5 GiB RLIMIT_AS although it uses ~100 MB. RLIMIT_DATA bounds what is really
    # allocated (heap and private writable mappings) to the same 1.5 GiB.
    resource.setrlimit(resource.RLIMIT_DATA, (MEM_LIMIT, MEM_LIMIT))


def mlver(cwd, *args, timeout: float = TIMEOUT, mem: bool = True, env: dict | None = None):
    """Run the mlver CLI in a subprocess (bounded time and address space).

    ``args`` may hold bytes (e.g. non-UTF-8 file names). Output is decoded with
    ``surrogateescape`` so a raw ESC byte stays visible. A hang raises
    ``subprocess.TimeoutExpired`` — which fails the calling test.
    """
    exe = os.path.join(VENV_BIN, "mlver")
    argv = [exe] if os.path.exists(exe) else [sys.executable, "-m", "mlver"]
    argv += [a if isinstance(a, bytes) else str(a) for a in args]
    full_env = dict(os.environ)
    full_env.update(env or {})
    proc = subprocess.run(argv, cwd=str(cwd), capture_output=True, timeout=timeout,
                          preexec_fn=_limit_memory if mem else None, env=full_env, check=False)
    proc.stdout = proc.stdout.decode("utf-8", "surrogateescape")
    proc.stderr = proc.stderr.decode("utf-8", "surrogateescape")
    return proc


def ok(proc) -> str:
    assert proc.returncode == 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc.stdout


def assert_clean_error(proc, *needles: str, code: int = 1) -> str:
    """Exit ``code``, exactly one stderr line ``Error: …`` (no traceback), naming ``needles``."""
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    assert proc.returncode == code, (proc.returncode, proc.stdout[-2000:], proc.stderr[-2000:])
    lines = [ln for ln in proc.stderr.splitlines() if not ln.startswith("Warning: ")]
    assert len(lines) == 1, f"expected one Error line on stderr, got {proc.stderr[-2000:]!r}"
    assert lines[0].startswith("Error: "), lines[0]
    for n in needles:
        assert n.lower() in lines[0].lower(), f"{n!r} not in {lines[0]!r}"
    return lines[0]


def assert_ok_or_clean_error(proc) -> None:
    assert "Traceback" not in proc.stderr + proc.stdout, proc.stderr[-3000:]
    if proc.returncode != 0:
        assert_clean_error(proc)


def cli(*args):
    """In-process CLI run (stdout and stderr kept apart, exceptions caught)."""
    return CliRunner().invoke(main, [str(a) for a in args], catch_exceptions=True)


def assert_cli_ok_or_error(result) -> None:
    """Exit 0, or exit 1 with exactly one ``Error:`` line; never an unhandled exception."""
    exc = result.exception
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    assert result.exit_code in (0, 1), (result.exit_code, result.output)
    if result.exit_code == 1:
        lines = [ln for ln in result.stderr.splitlines() if not ln.startswith("Warning: ")]
        assert len(lines) == 1 and lines[0].startswith("Error: "), result.stderr


# ----------------------------------------------------------------- store crafting


def store_dir(root) -> Path:
    return Path(root) / ".mlver"


def object_path(root, oid: str) -> Path:
    return store_dir(root) / "objects" / oid[:2] / oid[2:]


def write_object(root, data: bytes) -> str:
    """Write ``data`` as a loose object (whatever it holds) and return its oid."""
    oid = oid_of(data)
    p = object_path(root, oid)
    p.parent.mkdir(parents=True, exist_ok=True)
    if p.exists():
        os.chmod(p, 0o644)
    p.write_bytes(data)
    os.chmod(p, 0o444)
    return oid


def _packed(root, oid: str):
    """``(PackIndex, i)`` when ``oid`` sits in a pack (small objects do), else None."""
    from mlver.store.objects import LocalObjectStore

    return LocalObjectStore(str(store_dir(root)))._find(oid)


def remove_object(root, oid: str) -> None:
    """Make ``oid`` missing: unlink a loose file, or rewrite its pack without it (the real
    pack writer, so the rest of the pack stays valid)."""
    p = object_path(root, oid)
    if p.exists():
        p.unlink()
    hit = _packed(root, oid)
    if hit is None:
        return
    from mlver.store import packs

    idx, _ = hit
    keep = [(k.hex(), data) for k, data in idx.iter_objects() if k.hex() != oid]
    old_pack, old_idx = idx.pack_path, idx.idx_path
    idx.close()
    tmp = store_dir(root) / "tmp"
    tmp.mkdir(exist_ok=True)
    name = "pack-" + oid_of(old_pack.encode() + b"-without-" + oid.encode())
    if keep:
        packs.write_pack(str(tmp / (name + ".pack")), str(tmp / (name + ".idx")), keep)
        os.replace(tmp / (name + ".pack"), Path(old_pack).with_name(name + ".pack"))
        os.replace(tmp / (name + ".idx"), Path(old_idx).with_name(name + ".idx"))
    os.unlink(old_idx)
    os.unlink(old_pack)


def overwrite_object(root, oid: str, data: bytes) -> None:
    """Replace the bytes stored under ``oid`` (corruption). A packed object is taken out of
    its pack and left as a loose file holding ``data``: the store then holds exactly one,
    corrupt, copy of it."""
    remove_object(root, oid)
    p = object_path(root, oid)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_bytes(data)
    os.chmod(p, 0o444)


def read_object(root, oid: str) -> bytes:
    """The stored bytes of ``oid`` (loose or packed), unverified."""
    from mlver.store.objects import LocalObjectStore

    return LocalObjectStore(str(store_dir(root))).read(oid, verify=False)


def ref_path(root, name: str) -> Path:
    return store_dir(root) / "refs" / "names" / name


def ref_oid(root, name: str) -> str:
    return ref_path(root, name).read_text().strip()


def set_ref(root, name: str, oid: str) -> None:
    p = ref_path(root, name)
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(oid + "\n")


def record_dict(root, oid: str) -> dict:
    return canonical.loads(read_object(root, oid))


def craft_record(root, base_oid: str, mutate) -> str:
    """Write a record made of ``base_oid``'s dict changed by ``mutate(d)`` (in place or returned)."""
    d = record_dict(root, base_oid)
    d2 = mutate(d)
    if d2 is not None:
        d = d2
    return write_object(root, canonical.dumps(d))


def tree_bytes(entries: list[dict]) -> bytes:
    return canonical.dumps({"entries": sorted(entries, key=lambda e: e["name"]),
                            "format": 1, "type": "tree"})


def snapshot(root, name: str, *args) -> str:
    """``mlver snapshot NAME ARGS`` in a subprocess; return the new record's oid."""
    ok(mlver(root, "snapshot", name, *args, timeout=60))
    return ref_oid(root, name)


def store_state(root) -> list[tuple]:
    """Listing of ``.mlver/`` (not following links) without its caches (index.sqlite* and
    git-index.stat, which any command may write) and tmp/."""
    base = store_dir(root)
    out = []
    for dirpath, dirs, files in os.walk(base):
        rel_dir = os.path.relpath(dirpath, base)
        if rel_dir == "tmp" or rel_dir.startswith("tmp" + os.sep):
            continue
        for n in files + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            p = os.path.join(dirpath, n)
            rel = os.path.relpath(p, base)
            if rel.startswith("index.sqlite") or rel in ("tmp", "git-index.stat"):
                continue
            st = os.lstat(p)
            if stat.S_ISLNK(st.st_mode):
                out.append((rel, "link", os.readlink(p)))
            elif stat.S_ISREG(st.st_mode):
                with open(p, "rb") as f:
                    out.append((rel, "file", hashlib.sha1(f.read()).hexdigest()))
            else:
                out.append((rel, "special", st.st_mode))
    return sorted(out)


def tree_listing(path) -> list[tuple]:
    """Recursive listing (path, sha1) of a folder outside the repo, not following links."""
    out = []
    for dirpath, _dirs, files in os.walk(path):
        for n in files:
            p = os.path.join(dirpath, n)
            with open(p, "rb") as f:
                out.append((os.path.relpath(p, path), hashlib.sha1(f.read()).hexdigest()))
    return sorted(out)


def two_versions(root, name: str = "m", path: str = "data.csv") -> tuple[str, str]:
    """``name``@1 and @2 of a CSV input (3 rows, then 4 rows)."""
    write(Path(root) / path, "id,x\n1,10\n2,20\n3,30\n")
    a = snapshot(root, name, "-i", f"data={path}")
    write(Path(root) / path, "id,x\n1,10\n2,20\n3,30\n4,40\n")
    b = snapshot(root, name, "-i", f"data={path}")
    return a, b


def tmp_listing(root) -> list[str]:
    d = store_dir(root) / "tmp"
    return sorted(os.listdir(d)) if d.exists() else []


# ----------------------------------------------------------------- proof tests (issue 9)

BIG = 200 << 10  # bytes: more than the pack threshold, so stored as a loose object


def big_table(v: int) -> str:
    """A CSV table of more than BIG bytes (a loose object), different for each ``v``."""
    return "id,x\n" + "".join(f"{i},{i * v}\n" for i in range(BIG // 8))


def tree_entries(root, oid: str) -> dict[str, str]:
    """``name -> oid`` of the entries of the stored tree ``oid``."""
    return {e["name"]: e["oid"] for e in canonical.loads(read_object(root, oid))["entries"]}


def full_listing(path) -> dict[str, tuple]:
    """Everything below ``path`` but .git and .mlver: ``("dir",)``, ``("link", target)``
    or ``("file", bytes)``, by relative path."""
    out: dict[str, tuple] = {}
    for dirpath, dirs, files in os.walk(path):
        dirs[:] = [d for d in dirs if d not in (".git", ".mlver")]
        for name in dirs + files:
            p = Path(dirpath) / name
            rel = str(p.relative_to(path))
            if p.is_symlink():
                out[rel] = ("link", os.readlink(p))
            elif p.is_dir():
                out[rel] = ("dir",)
            else:
                out[rel] = ("file", p.read_bytes())
    return out


def two_tables(root) -> dict[str, str]:
    """m@1 and m@2 of ``root``: a folder ``data`` (a small table that changes, an
    unchanged file in ``sub/``) and a large table ``model.csv`` that changes. Returns the
    oids a test may damage."""
    write(Path(root) / "data" / "sub" / "b.txt", "unchanged\n")
    write(Path(root) / "data" / "a.csv", "id,x\n1,10\n")
    write(Path(root) / "model.csv", big_table(1))
    args = ("-i", "data=data", "-o", "model=model.csv")
    m1 = snapshot(root, "m", *args)
    write(Path(root) / "data" / "a.csv", "id,x\n1,10\n2,20\n")
    write(Path(root) / "model.csv", big_table(2))
    m2 = snapshot(root, "m", *args)
    r1 = record_dict(root, m1)
    data1 = r1["inputs"]["data"]["oid"]
    return {"m1": m1, "m2": m2, "model1": r1["outputs"]["model"]["oid"], "tree1": data1,
            "a1": tree_entries(root, data1)["a.csv"],
            "shared": tree_entries(root, tree_entries(root, data1)["sub"])["b.txt"],
            "model2": record_dict(root, m2)["outputs"]["model"]["oid"]}
