"""mlver.ops.create: where a store may be created, and saying whether one is there."""

from __future__ import annotations

import pytest

from mlver.base.errors import ConfigError
from mlver.ops.create import create_store, has_store


def test_has_store_is_false_then_true(tmp_path):
    assert not has_store(str(tmp_path))
    create_store(str(tmp_path))
    assert has_store(str(tmp_path))
    create_store(str(tmp_path))  # harmless when it exists
    assert has_store(str(tmp_path))


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="does not exist; create it first"):
        create_store(str(tmp_path / "nope"))


def test_a_folder_inside_another_store_needs_force(tmp_path):
    create_store(str(tmp_path))
    inner = tmp_path / "sub"
    inner.mkdir()
    with pytest.raises(ConfigError, match="is inside the mlver store of"):
        create_store(str(inner))
    assert not has_store(str(inner))
    create_store(str(inner), force=True)
    assert has_store(str(inner))
