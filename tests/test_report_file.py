"""mlver.views.report_file: the report's path is checked before any diff is computed."""

from __future__ import annotations

import os

import pytest

from mlver.base.errors import ConfigError
from mlver.views.report_file import report_path


def test_a_relative_path_is_under_the_root(tmp_path):
    assert report_path(str(tmp_path), "r.html") == os.path.join(str(tmp_path), "r.html")
    absolute = str(tmp_path / "a.html")
    assert report_path("/elsewhere", absolute) == absolute


def test_a_folder_is_refused(tmp_path):
    (tmp_path / "out").mkdir()
    with pytest.raises(ConfigError, match="out is a folder; give the report a file name"):
        report_path(str(tmp_path), "out")


def test_a_missing_folder_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="the folder of nope/r.html does not exist"):
        report_path(str(tmp_path), "nope/r.html")
