"""Params and metrics: YAML, JSON or TOML files, or ``KEY=VALUE`` pairs.

A value given on the command line is parsed as JSON when it parses
(``lr=0.1`` is a number, ``tags=["a"]`` a list) and kept as a string
otherwise. Dotted keys nest (``model.depth=3``), as do a file's own tables.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from typing import Any, cast

from mlver.base.errors import ParamsError

MAX_FILE = 16 << 20     # bytes: a params or metrics file is configuration, not data
MAX_VALUES = 1_000_000  # values after YAML aliases are expanded (a "billion laughs" is refused)
MAX_DEPTH = 100         # nesting levels


def parse_file(path: str, rel: str) -> dict[str, Any]:
    """Load one params/metrics file into a dict (nested keys kept)."""
    try:
        if os.path.getsize(path) > MAX_FILE:
            raise ParamsError(f"'{rel}' is larger than {MAX_FILE >> 20} MiB; a params or "
                              "metrics file holds settings and figures, not data")
        with open(path, "rb") as f:
            raw = f.read(MAX_FILE + 1)
    except FileNotFoundError:
        raise ParamsError(f"params/metrics file '{rel}' does not exist; check the path") from None
    except OSError as e:
        raise ParamsError(f"cannot read '{rel}' ({e.strerror}); fix its permissions") from None
    return parse_bytes(raw, os.path.splitext(path)[1].lower(), rel)


def parse_bytes(raw: bytes, ext: str, rel: str) -> dict[str, Any]:
    """Parse the content of a params/metrics file whose extension is ``ext``
    (``".yaml"``, ``".json"``…); ``rel`` names it in errors."""
    if len(raw) > MAX_FILE:
        raise ParamsError(f"'{rel}' is larger than {MAX_FILE >> 20} MiB; a params or "
                          "metrics file holds settings and figures, not data")
    try:
        text = raw.decode("utf-8")
        if ext in (".yaml", ".yml"):
            import yaml

            value = yaml.safe_load(text)  # aliases stay shared here; _jsonable bounds them
        elif ext == ".toml":
            import tomllib

            value = tomllib.loads(text)
        elif ext == ".json":
            value = json.loads(text)
        else:
            raise ParamsError(f"'{rel}' is not a .yaml, .yml, .json or .toml file; "
                              "rename it or pass KEY=VALUE")
    except ParamsError:
        raise
    except Exception as e:  # each parser has its own error types
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ParamsError(f"cannot parse '{rel}' ({first}); fix the file or pass "
                          "KEY=VALUE") from None
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ParamsError(f"'{rel}' must hold a mapping of keys to values, not a "
                          f"{type(value).__name__}; fix the file")
    return cast("dict[str, Any]", _jsonable(value, rel, [0], 0))


def jsonable(value: Any, what: str) -> Any:
    """``value`` as a record can hold it (NaN and infinities as strings, dates as text),
    bounded like a params file; ``what`` names it in errors."""
    return _jsonable(value, what, [0], 0)


def _jsonable(value: Any, rel: str, count: list[int], depth: int) -> Any:
    # YAML can produce dates and sets; records hold JSON, so convert or refuse here.
    # YAML aliases share one object between many places: counting every value reached
    # bounds the copy that JSON makes of them (a "billion laughs" stops here, early).
    count[0] += 1
    if count[0] > MAX_VALUES or depth > MAX_DEPTH:
        raise ParamsError(f"'{rel}' expands to more than {MAX_VALUES} values or nests deeper "
                          f"than {MAX_DEPTH} levels (YAML aliases multiply); simplify the file")
    if isinstance(value, dict):
        return {str(k): _jsonable(v, rel, count, depth + 1) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v, rel, count, depth + 1) for v in value]
    if isinstance(value, float) and (value != value or value in (float("inf"), float("-inf"))):
        return str(value)
    if isinstance(value, int) and not isinstance(value, bool) and not -2**63 <= value <= 2**63:
        # beyond what a float compares: kept as text, like an infinity (a record refuses it)
        return str(value)
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return str(value)


def parse_pair(text: str) -> tuple[list[str], object]:
    """``KEY=VALUE`` -> (dotted key parts, parsed value)."""
    key, sep, raw = text.partition("=")
    if not sep or not key.strip():
        raise ParamsError(f"'{text}' is neither a params file nor KEY=VALUE; "
                          "pass a .yaml/.json/.toml file or KEY=VALUE")
    try:
        value = json.loads(raw)
    except ValueError:
        value = raw
    return key.strip().split("."), _jsonable(value, text, [0], 0)


def merge(into: dict[str, Any], new: dict[str, Any]) -> None:
    for k, v in new.items():
        if isinstance(v, dict) and isinstance(into.get(k), dict):
            merge(into[k], v)
        else:
            into[k] = v


def is_pair(spec: str, root: str) -> bool:
    """A spec is a KEY=VALUE pair unless it names an existing file."""
    return "=" in spec and not os.path.isfile(os.path.join(root, spec))


def collect(specs: Iterable[str], root: str) -> tuple[dict[str, Any], list[str]]:
    """Merge files and pairs in order (later wins); return (values, files used)."""
    values: dict[str, Any] = {}
    files: list[str] = []
    for spec in specs:
        if is_pair(spec, root):
            parts, value = parse_pair(spec)
            nested: dict[str, Any] = {}
            cur = nested
            for p in parts[:-1]:
                cur = cur.setdefault(p, {})
            cur[parts[-1]] = value
            merge(values, nested)
        else:
            rel = spec.replace(os.sep, "/")
            merge(values, parse_file(os.path.join(root, spec), rel))
            files.append(rel)
    return values, files


PARAMS_EXTS = (".yaml", ".yml", ".json", ".toml")


def keyed_spec(spec: str, root: str) -> tuple[str, str] | None:
    """``FILE:KEYS`` -> ``(FILE, KEYS)`` when ``spec`` names keys of a params file
    (``params.yaml:train.lr,train.depth``), else None. A spec that names an existing
    file as a whole, or a ``KEY=VALUE`` pair, is never keyed."""
    if ":" not in spec or os.path.isfile(os.path.join(root, spec)):
        return None
    path, _, keys = spec.partition(":")
    if os.path.splitext(path)[1].lower() not in PARAMS_EXTS or "=" in spec:
        return None  # "a.yaml:b=3" stays the pair it always was
    return path, keys


def collect_params(specs: Iterable[str], root: str
                   ) -> tuple[dict[str, Any], list[str], tuple[str, ...] | None]:
    """Like :func:`collect`, for params: a spec may also be ``FILE:KEYS`` (the keys the
    version uses, see :mod:`mlver.core.paramscope`). Returns (values, files used, scope): the
    values hold each file whole; the scope is None unless some spec listed keys. Then
    a file given whole adds the top-level keys it holds, and ``KEY=VALUE`` its key."""
    from mlver.core.paramscope import parse_keys

    values: dict[str, Any] = {}
    files: list[str] = []
    scope: set[str] = set()
    keyed = False
    for spec in specs:
        split = keyed_spec(spec, root)
        if split is None:
            part, used = collect([spec], root)
            merge(values, part)
            files += [f for f in used if f not in files]
            # a whole file: its top-level keys; a pair: its own dotted key
            scope.update(part if used else flatten(part))
            continue
        path, text = split
        rel = path.replace(os.sep, "/")
        try:
            keys = parse_keys(text, spec)
        except ValueError as e:
            raise ParamsError(str(e)) from None
        part = parse_file(os.path.join(root, path), rel)
        _check_keys(part, keys, rel, ParamsError)
        merge(values, part)
        if rel not in files:
            files.append(rel)
        scope.update(keys)
        keyed = True
    return values, files, (tuple(sorted(scope)) if keyed else None)


def _check_keys(part: dict[str, Any], keys: Iterable[str], rel: str,
                error: type[Exception]) -> None:
    """Raise ``error`` naming the first of ``keys`` that the file ``rel`` (read as
    ``part``) does not hold."""
    flat = flatten(part)
    for k in keys:
        if not any(f == k or f.startswith(k + ".") for f in flat):
            top = ", ".join(sorted(part)[:10]) or "none"
            raise error(f"'{rel}' has no key '{k}'; check the spelling (its "
                        f"top-level keys: {top})")


def check_given_keys(specs: Iterable[str], root: str) -> None:
    """Refuse, as a usage error, a ``FILE:KEYS`` spec the caller gave (``-p``,
    ``params=``) that lists no keys or a key its file lacks: the caller's argument is
    wrong, not the file. (The same spec in mlver.toml fails in :func:`collect_params`,
    exit 1.) A file that is absent or unreadable is left for the capture to report."""
    from mlver.base.errors import UsageError
    from mlver.core.paramscope import parse_keys

    for spec in specs:
        split = keyed_spec(spec, root)
        if split is None or not os.path.isfile(os.path.join(root, split[0])):
            continue
        path, text = split
        try:
            keys = parse_keys(text, spec)
        except ValueError as e:
            raise UsageError(str(e)) from None
        rel = path.replace(os.sep, "/")
        _check_keys(parse_file(os.path.join(root, path), rel), keys, rel, UsageError)


def flatten(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested keys as dotted keys: ``{"a": {"b": 1}}`` -> ``{"a.b": 1}``."""
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def dump_values(values: dict[str, Any], ext: str, rel: str) -> bytes:
    """``values`` written as a params file of type ``ext`` that :func:`parse_bytes` reads
    back as the same values (comments and layout are not kept): YAML, JSON or TOML."""
    ext = ext.lower()
    if ext in (".yaml", ".yml"):
        import yaml

        text = cast(str, yaml.safe_dump(values, sort_keys=False, allow_unicode=True))
        return text.encode("utf-8")
    if ext == ".json":
        return (json.dumps(values, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if ext == ".toml":
        return _toml(values, rel).encode("utf-8")
    raise ParamsError(f"'{rel}' is not a .yaml, .yml, .json or .toml file")


def _toml_key(k: str) -> str:
    import re

    return k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k, ensure_ascii=False)


def _toml_value(v: Any, rel: str) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, (int, float)):
        return repr(v)
    if isinstance(v, str):
        return json.dumps(v, ensure_ascii=False)  # a TOML basic string
    if isinstance(v, list):
        return "[" + ", ".join(_toml_value(x, rel) for x in v) + "]"
    if isinstance(v, dict):
        return "{" + ", ".join(f"{_toml_key(k)} = {_toml_value(x, rel)}"
                               for k, x in v.items()) + "}"
    raise ParamsError(f"'{rel}' would need a null value, which TOML cannot hold")


def _toml(values: dict[str, Any], rel: str, path: tuple[str, ...] = ()) -> str:
    lines = [f"{_toml_key(k)} = {_toml_value(v, rel)}"
             for k, v in values.items() if not isinstance(v, dict)]
    out = "\n".join(lines) + ("\n" if lines else "")
    for k, v in values.items():
        if isinstance(v, dict):
            sub = path + (k,)
            out += ("\n" if out else "") + "[" + ".".join(_toml_key(x) for x in sub) + "]\n"
            out += _toml(v, rel, sub)
    return out
