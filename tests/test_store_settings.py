"""mlver.store.settings: the store's own config.json, read and written by the store layer."""

from __future__ import annotations

import ast
import json
import os
from pathlib import Path

import pytest

from mlver.store import settings
from mlver.store.settings import CONFIG_FILE, read_store_config, rewrite_store_config

STORE = Path(settings.__file__).parent


def test_rewrite_keeps_every_key_and_leaves_no_temporary(tmp_path):
    cfg = {"format": settings.STORE_FORMAT, "hash": "xxh3-128", "remotes": {"o": {"url": "x"}}}
    rewrite_store_config(str(tmp_path), cfg)
    assert read_store_config(str(tmp_path)) == cfg
    assert os.listdir(tmp_path) == [CONFIG_FILE]
    text = (tmp_path / CONFIG_FILE).read_text(encoding="utf-8")
    assert text.endswith("}\n") and json.loads(text) == cfg


def test_the_store_imports_nothing_above_it():
    """The store is the layer under core: none of its modules (function-level imports
    included) reaches mlver.core or anything above; mlver.base is below it."""
    for path in sorted(STORE.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import) else
                     [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            for name in names:
                if name.startswith("mlver"):
                    assert name.split(".")[1] in ("base", "store"), (path.name, name)


def test_a_chunker_id_that_is_no_name_is_refused(tmp_path):
    import json

    from mlver.base.errors import StoreFormatError
    from mlver.store.settings import read_store_config

    (tmp_path / "config.json").write_text(json.dumps(
        {"format": 3, "hash": "xxh3-128", "chunker": "x" * 5000}))
    with pytest.raises(StoreFormatError, match="chunker id"):
        read_store_config(str(tmp_path))
