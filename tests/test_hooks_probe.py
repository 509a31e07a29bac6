"""The one interpreter probe (mlver/integrations/hookprobe.py) that install's path search
and its interpreter check share."""

from __future__ import annotations

import sys

from mlver.integrations.hookprobe import probe


def test_probe_reports_prefixes_path_and_mlver(tmp_path):
    seen = probe(sys.executable, ["-I"], str(tmp_path), (str(tmp_path / "first"),))
    assert seen is not None
    assert set(seen) == {"prefix", "exec_prefix", "path", "mlver"}
    assert seen["prefix"] == sys.prefix and seen["path"][0] == str(tmp_path / "first")


def test_probe_of_a_missing_or_silent_interpreter_is_none(tmp_path):
    assert probe(str(tmp_path / "no-python"), [], str(tmp_path)) is None
    silent = tmp_path / "silent"
    silent.write_text("#!/bin/sh\necho not json\n")
    silent.chmod(0o755)
    assert probe(str(silent), [], str(tmp_path)) is None
