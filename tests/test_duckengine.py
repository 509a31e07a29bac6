"""mlver.diff.duckengine: the memory limit, the spill folder inside the store's tmp/ (gone
afterwards, also after an error or Ctrl-C; a killed process's swept), ``[diff] memory``."""
from __future__ import annotations

import _thread
import os
import threading
import time

import pytest

from _fixtures import assert_error, cli, mrepo, proj, write
from mlver.base.errors import ConfigError
from mlver.base.fmt import parse_size
from mlver.core.config import load_project
from mlver.diff import duckengine
from mlver.store import upkeep

__all__ = ["mrepo", "proj"]  # fixtures


def test_the_spill_folder_is_inside_tmp_and_gone_afterwards(tmp_path):
    tmp = tmp_path / ".mlver" / "tmp"
    with duckengine.connect(str(tmp), "100MB") as (con, folder):
        assert os.path.dirname(folder) == str(tmp) and os.path.isdir(folder)
        assert os.path.basename(folder).startswith(f"{os.getpid()}-duck-")
        limit = duckengine.query(con, "SELECT current_setting('memory_limit')")[0][0]
        assert limit.startswith("95.") and limit.endswith("MiB")  # 100 MB = 95.3 MiB
        spill = duckengine.query(con, "SELECT current_setting('temp_directory')")[0][0]
        assert spill == folder
    assert os.listdir(tmp) == []
    with pytest.raises(ZeroDivisionError), duckengine.connect(str(tmp)) as (con, folder):
        assert os.path.isdir(folder)
        raise ZeroDivisionError
    assert os.listdir(tmp) == []


def test_errors_of_a_query_reach_the_caller(tmp_path):
    import duckdb
    with duckengine.connect(str(tmp_path)) as (con, _), pytest.raises(duckdb.Error):
        duckengine.query(con, "SELECT * FROM no_such_table")
    assert os.listdir(tmp_path) == []


def test_ctrl_c_stops_a_running_query_at_once_and_leaves_nothing(tmp_path):
    timer = threading.Timer(0.3, _thread.interrupt_main)
    start = time.monotonic()
    with pytest.raises(KeyboardInterrupt), duckengine.connect(str(tmp_path)) as (con, _):
        timer.start()
        duckengine.query(con, "SELECT sum(i * i % 7) FROM range(100000000000) t(i)")
    assert time.monotonic() - start < 2.0  # the query alone would take minutes
    assert os.listdir(tmp_path) == []


def test_the_default_limit_is_a_share_of_memory_within_bounds(monkeypatch):
    monkeypatch.setattr(duckengine, "machine_memory", lambda: 64 << 30)
    assert duckengine.default_memory() == duckengine.DEFAULT_CAP
    # big tables get more, about half their bytes, up to BIG_CAP (a join that fits
    # spills less: 212 s instead of 284 s at 100M rows)
    assert duckengine.default_memory(4 << 30) == int((4 << 30) * duckengine.TABLE_SHARE)
    assert duckengine.default_memory(100 << 30) == duckengine.BIG_CAP
    monkeypatch.setattr(duckengine, "machine_memory", lambda: 2 << 30)
    assert duckengine.default_memory() == (2 << 30) // 4
    assert duckengine.default_memory(100 << 30) == (2 << 30) // 4  # never over the share
    assert parse_size("2GB") == 2 * 10**9 and parse_size("1.5GiB") == 3 << 29
    assert parse_size("2 gigs") is None and parse_size("1MB") is None
    # more than DuckDB takes (it would fail and the diff fall back to pandas), non-ASCII digits
    assert parse_size("99999999999999999TB") is None and parse_size("\u0663GB") is None
    assert parse_size("1000TB") == 10**15


def test_a_killed_diffs_spill_folder_is_swept(tmp_path):
    dead = tmp_path / "999999999-duck-abc"  # no such process
    (dead / "x").mkdir(parents=True)
    live = tmp_path / f"{os.getpid()}-duck-def"
    live.mkdir()
    assert upkeep.sweep(str(tmp_path), older_than=3600) == 1
    assert sorted(os.listdir(tmp_path)) == [live.name]


def test_a_bad_diff_memory_setting_is_a_clear_error(mrepo, proj):
    write(proj / "t.csv", "id,v\n1,2\n")
    assert mrepo.snapshot("m", inputs={"t": "t.csv"}).created
    write(proj / "mlver.toml", '[diff]\nmemory = "lots"\n')
    assert_error(cli("diff", "m@1", "m@1"), "[diff] memory in", "mlver.toml",
                 "must be a size such as", "'lots'; fix it")
    write(proj / "mlver.toml", '[diff]\nmemroy = "2GB"\n')
    with pytest.raises(ConfigError, match=r"unknown key 'memroy' in \[diff\]"):
        load_project(str(proj))
    write(proj / "mlver.toml", '[diff]\nmemory = "512MB"\n')
    assert load_project(str(proj)).diff_memory == "512MB"
