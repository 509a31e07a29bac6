"""mlver.capture.env: the training interpreter's version, platform and packages."""

from __future__ import annotations

import json
import os
import platform
import sys
from importlib import metadata

import pytest

from mlver.capture.env import capture_env, find_python
from mlver.base.errors import CaptureError


@pytest.fixture(scope="module")
def env():
    return capture_env(sys.executable)


def _lines(env) -> list[str]:
    text = env.packages.decode("utf-8")
    assert text.endswith("\n")
    return text.splitlines()


def test_interpreter_facts(env):
    assert env.python == platform.python_version()
    assert env.implementation == platform.python_implementation()
    assert env.platform == platform.platform()


def test_packages_blob_is_sorted_name_eq_version_lines(env):
    lines = _lines(env)
    assert lines == sorted(lines)
    assert len(lines) == len(set(lines)) == env.packages_count > 0
    for line in lines:
        name, sep, version = line.partition("==")
        assert sep and name and version, line
        assert name == name.lower() and "_" not in name, line


def test_packages_blob_names_what_is_installed(env):
    lines = set(_lines(env))
    for dist in ("xxhash", "click", "pyyaml", "gitpython", "hypothesis"):
        assert f"{dist}=={metadata.version(dist)}" in lines


def test_missing_interpreter_is_an_error():
    with pytest.raises(CaptureError) as ei:
        capture_env("/nonexistent/bin/python9")
    assert "python interpreter '/nonexistent/bin/python9' was not found" in str(ei.value)


def test_interpreter_that_cannot_answer_is_an_error(tmp_path):
    fake = tmp_path / "python"
    fake.write_text("#!/bin/sh\necho not json\n")
    os.chmod(fake, 0o755)
    with pytest.raises(CaptureError, match="could not ask python"):
        capture_env(str(fake))


def test_find_python(monkeypatch, tmp_path):
    assert find_python(sys.executable) == sys.executable
    venv = tmp_path / "venv"
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").write_text("")
    monkeypatch.setenv("VIRTUAL_ENV", str(venv))
    assert find_python(None) == str(venv / "bin" / "python")
    monkeypatch.delenv("VIRTUAL_ENV")
    assert find_python(None)  # python on PATH, else this interpreter


def test_cached_answer_is_reused_while_the_environment_is_unchanged(env):
    stored: dict = {}

    def put(python, fingerprint, payload):
        stored[python] = (fingerprint, payload)

    def get(python):
        return stored.get(python)

    first = capture_env(sys.executable, get, put)
    assert first == env
    (key,) = stored
    fp, payload = stored[key]
    # Doctor the cached answer: if it comes back, the cache was used (no new probe).
    doctored = json.loads(payload)
    doctored["python"] = "9.9.9"
    stored[key] = (fp, json.dumps(doctored))
    assert capture_env(sys.executable, get, put).python == "9.9.9"
    # A stale fingerprint (a package was installed) means asking the interpreter again.
    stored[key] = (fp + "changed", json.dumps(doctored))
    assert capture_env(sys.executable, get, put).python == platform.python_version()


def test_snapshot_records_env_and_packages_blob(repo, git_repo):
    (git_repo / "a.txt").write_text("a")
    res = repo.snapshot("m", inputs={"a": "a.txt"}, python=sys.executable)
    e = res.record.env
    assert e.python == platform.python_version()
    blob = repo.store.objects.read(e.packages)
    lines = blob.decode().splitlines()
    assert lines == sorted(lines) and len(lines) == e.packages_count
    assert f"xxhash=={metadata.version('xxhash')}" in lines


def test_snapshot_with_missing_python_fails_and_writes_nothing(repo, git_repo):
    (git_repo / "a.txt").write_text("a")
    with pytest.raises(CaptureError, match="not found"):
        repo.snapshot("m", inputs={"a": "a.txt"}, python="/nonexistent/python")
    assert list(repo.store.objects.iter_oids()) == []
    assert repo.store.refs.names() == []
    assert os.listdir(os.path.join(repo.store.path, "tmp")) == []
