"""The layers of mlver, checked against docs/architecture.md.

The doc's fenced ``layers`` block maps every file of ``mlver/`` to a layer (bottom first), and
its ``rules`` block narrows the default rule (a module imports its own layer or a lower one).
This test parses both blocks, so the doc and the check cannot drift, then reads every module's
imports with :mod:`ast` (imports inside functions and under ``if TYPE_CHECKING:`` included,
relative imports resolved) and fails on:

(a) an import cycle between modules;
(b) an import the rules forbid;
(c) a module over :data:`MAX_LINES` lines;
(d) a module in no layer;
(e) a private name (``_x``) imported from a module of another layer.

There is no allowlist: an exception is a ``FILE -> FILE: reason`` line of the doc. mypy is
not run here (``make test`` runs it); ruff is run by hand (``ruff check mlver``).
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "mlver"
DOC = ROOT / "docs" / "architecture.md"
MAX_LINES = 600


# --------------------------------------------------------------------------- the doc


@dataclass(frozen=True)
class Rules:
    """What docs/architecture.md says: the layers bottom first (name -> the paths it holds,
    a path ending in / being a folder), the narrowing rules, and the allowed single edges."""

    layers: tuple[tuple[str, tuple[str, ...]], ...]
    only: dict[str, tuple[str, ...]] = field(default_factory=dict)
    never: dict[str, tuple[str, ...]] = field(default_factory=dict)
    exceptions: dict[tuple[str, str], str] = field(default_factory=dict)

    @property
    def order(self) -> dict[str, int]:
        return {name: i for i, (name, _) in enumerate(self.layers)}


def fenced(text: str, lang: str) -> list[str]:
    """The lines of the one ```lang block of ``text``, comments and blank lines left out."""
    blocks = re.findall(rf"^```{lang}\n(.*?)^```", text, flags=re.S | re.M)
    assert len(blocks) == 1, f"docs/architecture.md must have one ```{lang} block"
    return [ln.strip() for ln in blocks[0].splitlines()
            if ln.strip() and not ln.strip().startswith("#")]


def parse_rules(text: str) -> Rules:
    layers = []
    for line in fenced(text, "layers"):
        name, sep, paths = line.partition(":")
        assert sep and paths.split(), f"a layers line is 'NAME: PATH ...': {line!r}"
        layers.append((name.strip(), tuple(paths.split())))
    rules = Rules(tuple(layers))
    names = set(rules.order)
    for line in fenced(text, "rules"):
        if "->" in line:
            edge, sep, why = line.partition(":")
            src, _, dst = (p.strip() for p in edge.partition("->"))
            assert sep and why.strip(), f"an exception says why: {line!r}"
            rules.exceptions[(src, dst)] = why.strip()
            continue
        m = re.fullmatch(r"(\w+) (only|never):(.*)", line)
        assert m, ("a rules line is 'LAYER only: ...', 'LAYER never: ...' or 'A -> B: why': "
                   f"{line!r}")
        layer, kind, targets = m.group(1), m.group(2), tuple(m.group(3).split())
        assert layer in names, f"unknown layer {layer!r} in {line!r}"
        for t in targets:
            assert t in names or (ROOT / t).exists(), f"unknown layer or file {t!r} in {line!r}"
        (rules.only if kind == "only" else rules.never)[layer] = targets
    return rules


# --------------------------------------------------------------------------- the code


@dataclass(frozen=True)
class Import:
    """One import statement's edge: the importing file, its line, the imported file."""

    src: str
    line: int
    dst: str
    text: str  # the module named, as written (resolved when relative)
    names: tuple[str, ...] = ()  # the names taken from it (``from M import a, b``)


def module_files() -> dict[str, str]:
    """Dotted module name -> its path relative to the repository (``mlver/web/ui.py``)."""
    out = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(ROOT).as_posix()
        parts = rel[:-3].split("/")
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = rel
    return out


def imports_of(rel: str, mods: dict[str, str], text: str | None = None) -> list[Import]:
    """Every import of ``rel`` that names a module of mlver, resolved to the file imported:
    ``from P import N`` is an edge to P.N when that is a module, else to P; ``import a.b.c``
    to the longest prefix that is a module. Parent packages run on import, but an edge is
    drawn only to what is named. ``text``: the source (default: the file's)."""
    if text is None:
        text = (ROOT / rel).read_text(encoding="utf-8")
    package = rel[:-3].split("/")[:-1]  # the package a relative import starts from
    tree = ast.parse(text, filename=rel)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            names = []
            for a in node.names:
                sub = f"{prefix}.{a.name}"
                names.append((sub, ()) if sub in mods else (prefix, (a.name,)))
        else:
            continue
        for name, taken in names:
            target = name
            while target and target not in mods:
                target = target.rpartition(".")[0]
            if target and mods[target] != rel:
                found.append(Import(rel, node.lineno, mods[target], name, taken))
    return found


def layer_of(rel: str, rules: Rules) -> str | None:
    """The layer holding file ``rel``: the longest path of the layers block that names it."""
    best, best_len = None, -1
    for name, paths in rules.layers:
        for p in paths:
            hit = rel.startswith(p) if p.endswith("/") else rel == p
            if hit and len(p) > best_len:
                best, best_len = name, len(p)
    return best


def names_target(target: str, dst: str, dst_layer: str | None) -> bool:
    """Whether a rule's target (a layer name or a file) covers the imported file."""
    return target in (dst_layer, dst)


def broken_rule(imp: Import, rules: Rules) -> str | None:
    """The rule an import breaks, in words, or None when it is allowed."""
    if (imp.src, imp.dst) in rules.exceptions:
        return None
    src_layer, dst_layer = layer_of(imp.src, rules), layer_of(imp.dst, rules)
    if src_layer is None or dst_layer is None:
        return None  # reported by the test of modules in no layer
    never = rules.never.get(src_layer, ())
    if any(names_target(t, imp.dst, dst_layer) for t in never):
        return f"'{src_layer} never: {' '.join(never)}'"
    only = rules.only.get(src_layer)
    if only is not None and not any(names_target(t, imp.dst, dst_layer) for t in only):
        return f"'{src_layer} only: {' '.join(only)}'"
    if rules.order[dst_layer] > rules.order[src_layer]:
        return (f"the default rule (a module imports its own layer or a lower one; "
                f"{dst_layer} is above {src_layer})")
    return None


@pytest.fixture(scope="module")
def rules() -> Rules:
    return parse_rules(DOC.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def graph() -> list[Import]:
    mods = module_files()
    return [imp for rel in mods.values() for imp in imports_of(rel, mods)]


# --------------------------------------------------------------------------- the checks


def test_the_doc_names_the_layers_in_order(rules: Rules) -> None:
    assert [name for name, _ in rules.layers] == [
        "base", "store", "core", "capture", "diff", "ops", "sync", "explain", "integrations",
        "views", "api", "web", "cli"]
    for (src, dst), _ in rules.exceptions.items():
        assert (ROOT / src).is_file() and (ROOT / dst).is_file(), f"{src} -> {dst}: no such file"


def test_every_module_is_in_a_layer(rules: Rules) -> None:
    orphans = [rel for rel in module_files().values() if layer_of(rel, rules) is None]
    assert not orphans, ("modules in no layer of docs/architecture.md (add them to its "
                         "```layers block): " + ", ".join(orphans))


def test_no_import_breaks_the_rules(rules: Rules, graph: list[Import]) -> None:
    bad = []
    seen = set()
    for imp in sorted(graph, key=lambda i: (i.src, i.line, i.dst)):
        why = broken_rule(imp, rules)
        if why is not None and (imp.src, imp.line, imp.dst) not in seen:
            seen.add((imp.src, imp.line, imp.dst))
            bad.append(f"{imp.src}:{imp.line}: {layer_of(imp.src, rules)} -> "
                       f"{layer_of(imp.dst, rules)} ({imp.text} = {imp.dst}) breaks {why}")
    assert not bad, (f"{len(bad)} import(s) break the rules of docs/architecture.md:\n  "
                     + "\n  ".join(bad))


def strongly_connected(nodes: list[str], edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out = []
    for start in nodes:
        if start in index:
            continue
        work = [(start, iter(sorted(edges.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            w = next(it, None)
            if w is not None:
                if w not in index:
                    index[w] = low[w] = len(index)
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(sorted(edges.get(w, ())))))
                elif w in on:
                    low[v] = min(low[v], index[w])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[v])
            if low[v] == index[v]:
                comp = []
                while True:
                    w = stack.pop()
                    on.discard(w)
                    comp.append(w)
                    if w == v:
                        break
                if len(comp) > 1:
                    out.append(sorted(comp))
    return out


def test_no_import_cycle(graph: list[Import]) -> None:
    edges: dict[str, set[str]] = {}
    for imp in graph:
        edges.setdefault(imp.src, set()).add(imp.dst)
    cycles = strongly_connected(sorted(module_files().values()), edges)
    lines = []
    for comp in cycles:
        inside = set(comp)
        links = sorted({f"{i.src}:{i.line} -> {i.dst}" for i in graph
                        if i.src in inside and i.dst in inside})
        lines.append("cycle between " + ", ".join(comp) + "; its imports:\n    "
                     + "\n    ".join(links))
    assert not cycles, f"{len(cycles)} import cycle(s):\n  " + "\n  ".join(lines)


def test_no_private_name_crosses_a_layer(rules: Rules, graph: list[Import]) -> None:
    bad = []
    for imp in sorted(set(graph), key=lambda i: (i.src, i.line, i.dst, i.names)):
        private = [n for n in imp.names if n.startswith("_") and not n.startswith("__")]
        src_layer, dst_layer = layer_of(imp.src, rules), layer_of(imp.dst, rules)
        if private and src_layer != dst_layer:
            bad.append(f"{imp.src}:{imp.line}: {src_layer} -> {dst_layer} imports "
                       f"{', '.join(private)} from {imp.dst} (private to {dst_layer}: "
                       "make it public in its module, or move it)")
    assert not bad, (f"{len(bad)} private name(s) used across layers:\n  "
                     + "\n  ".join(bad))


def test_no_module_over_the_size_limit() -> None:
    big = []
    for rel in module_files().values():
        n = len((ROOT / rel).read_text(encoding="utf-8").splitlines())
        if n > MAX_LINES:
            big.append(f"{rel}: {n} lines")
    assert not big, (f"modules over {MAX_LINES} lines (split them along a seam):\n  "
                     + "\n  ".join(sorted(big)))


# --------------------------------------------------------------------------- the checker itself


def test_the_checker_catches_what_it_should() -> None:
    doc = """
```layers
low: mlver/low/
high: mlver/high.py
top: mlver/top/
```

```rules
low only: low
top never: high
mlver/top/a.py -> mlver/high.py: a reason
```
"""
    r = parse_rules(doc.replace("mlver/top/a.py -> mlver/high.py", "mlver/x.py -> mlver/y.py"))
    assert r.order == {"low": 0, "high": 1, "top": 2}
    assert r.only == {"low": ("low",)} and r.never == {"top": ("high",)}
    assert layer_of("mlver/low/x.py", r) == "low" and layer_of("mlver/else.py", r) is None
    up = Import("mlver/low/x.py", 3, "mlver/high.py", "mlver.high")
    assert "'low only: low'" in (broken_rule(up, r) or "")
    banned = Import("mlver/top/b.py", 1, "mlver/high.py", "mlver.high")
    assert "'top never: high'" in (broken_rule(banned, r) or "")
    allowed = Rules(r.layers, r.only, r.never, {("mlver/top/b.py", "mlver/high.py"): "why"})
    assert broken_rule(banned, allowed) is None
    assert broken_rule(Import("mlver/high.py", 1, "mlver/low/x.py", "mlver.low.x"), r) is None
    assert strongly_connected(["a", "b", "c"], {"a": {"b"}, "b": {"a"}, "c": {"a"}}) == [["a", "b"]]
    assert strongly_connected(["a", "b"], {"a": {"b"}}) == []


def test_imports_inside_functions_and_relative_ones_count() -> None:
    mods = module_files()
    edges = {(i.dst, i.text) for i in imports_of("mlver/web/ui.py", mods)}
    assert ("mlver/diff/tablecache.py", "mlver.diff.tablecache") in edges  # inside a function
    probe = ("from .pages import e\nfrom . import pages\n"
             "def f():\n    from ..base import errors\n    import mlver.core.params.x\n"
             "import os\nfrom mlver import Record\n")
    found = {(i.line, i.dst) for i in imports_of("mlver/web/probe.py", mods, probe)}
    assert found == {(1, "mlver/web/pages.py"), (2, "mlver/web/pages.py"),
                     (4, "mlver/base/errors.py"), (5, "mlver/core/params.py"),
                     (7, "mlver/__init__.py")}
    probe = "from mlver.diff.explain import _a, b"
    private = [i.names for i in imports_of("mlver/x.py", mods, probe)]
    assert private == [("_a",), ("b",)]


def test_every_public_name_and_every_from_import_resolves() -> None:
    """A name in ``__all__`` or a ``from mlver.X import Y`` (inside a function or under
    TYPE_CHECKING too) that names nothing is an ImportError waiting for its first caller."""
    import importlib

    for facade in ("mlver", "mlver.api"):
        mod = importlib.import_module(facade)
        assert [n for n in mod.__all__ if not hasattr(mod, n)] == [], facade
    broken = []
    for path in sorted(PACKAGE.rglob("*.py")):
        package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom):
                continue
            parts = package.split(".")[: len(package.split(".")) - node.level + 1]
            target = node.module if not node.level else ".".join(parts + [node.module or ""])
            target = target.rstrip(".")
            if not target.startswith("mlver"):
                continue
            mod = importlib.import_module(target)
            for alias in node.names:
                if not hasattr(mod, alias.name) and importlib.util.find_spec(
                        f"{target}.{alias.name}") is None:
                    broken.append(f"{path.relative_to(ROOT)}:{node.lineno}: {target}.{alias.name}")
    assert broken == []
