"""Fresh clones and ``--no-data`` (issue 19, item 4): a diff in a clone whose params or
metrics file is absent goes on and says so; a diff after ``pull --no-data`` fetches the
table bytes it needs; ``remote add --local`` needs no init; ``snapshot()`` and ``run()``
from Python record the same interpreter."""

from __future__ import annotations

import json
import os
import sys

import pytest

from mlver.api import Repo

from _remotes import clone, git, ok, project, run


def _table(n: int, scale: float) -> str:
    return "id,x\n" + "".join(f"{i},{(i * 7919 % 1000) / 1000 * scale:.4f}\n" for i in range(n))


@pytest.fixture
def shared(tmp_path):
    """Clone A: ``m@1`` and ``m@2`` of a table that git ignores, with a params file in git
    and a metrics file that git ignores (training writes it), pushed; clone B: fresh."""
    a = project(tmp_path / "a", {"train.py": "print(1)\n", "params.yaml": "lr: 0.1\n",
                                 ".gitignore": "data/\nmetrics.json\n"})
    remote = tmp_path / "remote"
    ok(a, "init")
    ok(a, "remote", "add", "origin", str(remote), "--default")
    git(a, "add", "mlver.toml")
    git(a, "commit", "-q", "-m", "remote")
    (a / "data").mkdir()
    for i, (rows, scale) in enumerate([(200, 1.0), (260, 2.0)]):
        (a / "data" / "t.csv").write_text(_table(rows, scale))
        (a / "metrics.json").write_text(json.dumps({"acc": 0.5 + i / 10}))
        ok(a, "snapshot", "m", "-i", "t=data/t.csv", "-p", "params.yaml", "-M", "metrics.json")
    ok(a, "push")
    return a, clone(a, tmp_path / "b"), remote


def test_diff_in_a_fresh_clone_without_the_metrics_file_says_absent_and_goes_on(shared):
    _a, b, _remote = shared
    ok(b, "pull")
    assert not (b / "metrics.json").exists() and not (b / "data").exists()
    r = run(b, "diff", "m")
    assert r.exit_code == 0, r.stderr
    assert r.stderr == ("Warning: metrics file metrics.json of m@2 is absent in the workspace; "
                        "its values are taken as recorded, not compared\n")
    assert r.stdout.splitlines()[:4] == ["m@2 -> m (workspace)", "  outputs unchanged",
                                         "  because:", "    data   t (data/t.csv): removed"]
    d = json.loads(run(b, "diff", "m", "--json").stdout)
    assert d["metrics"] == {"acc": {"old": 0.6, "new": 0.6, "delta": 0.0, "changed": False}}
    assert d["changed"] == ["data"]


def test_diff_after_pull_no_data_fetches_the_table_bytes_it_needs(shared):
    _a, b, _remote = shared
    ok(b, "pull", "--no-data")
    repo = Repo(str(b))
    olds = [repo.record(repo.resolve(f"m@{v}")).inputs["t"].oid for v in (1, 2)]
    assert not any(repo.store.objects.has(o) for o in olds)  # history without the bytes
    repo.close()
    out = ok(b, "diff", "m@1", "m@2")
    assert "compared by oid only" not in out
    line = next(x for x in out.splitlines() if x.startswith("    data   t "))
    assert line.startswith("    data   t (data/t.csv): +259 rows, -199; dataset drifted"), line
    repo = Repo(str(b))
    assert all(repo.store.objects.has(o) for o in olds)  # fetched on demand


def test_remote_add_local_in_a_fresh_clone_needs_no_init(shared, tmp_path):
    a, b, remote = shared
    mine = tmp_path / "mine"
    ok(a, "push", "origin")  # nothing new; the remote exists
    os.rename(remote, mine)  # the team's remote is elsewhere for this user
    assert not (b / ".mlver").exists()
    out = ok(b, "remote", "add", "mine", str(mine), "--local", "--default")
    assert out == f"Added remote mine {mine} (default) to .mlver/config.json\n"
    assert (b / ".mlver" / "config.json").is_file()
    assert git(b, "status", "--porcelain") == ""  # mlver.toml untouched
    assert ok(b, "pull", "mine").splitlines()[0].startswith("m: new ")


def test_remote_add_outside_git_and_any_project_still_needs_init(tmp_path):
    (tmp_path / "plain").mkdir()
    r = run(tmp_path / "plain", "remote", "add", "x", str(tmp_path / "r"), "--local")
    assert r.exit_code == 1 and "no mlver store in" in r.stderr
    assert not (tmp_path / "plain" / ".mlver").exists()


def test_snapshot_and_run_from_python_record_the_same_interpreter(tmp_path, monkeypatch):
    """A script run as ``.venv/bin/python train.py`` (no venv activated, another python on
    PATH) records its own interpreter in both, so no env change is reported."""
    base = os.path.join(sys.base_prefix, "bin", "python3")
    if sys.prefix == sys.base_prefix or not os.path.exists(base):
        pytest.skip("needs to run inside a virtualenv with a base interpreter")
    other = tmp_path / "bin"
    other.mkdir()
    os.symlink(base, other / "python")  # python on PATH: not this one
    monkeypatch.delenv("VIRTUAL_ENV", raising=False)
    monkeypatch.setenv("PATH", f"{other}{os.pathsep}{os.environ['PATH']}")
    root = project(tmp_path / "p", {"train.py": "print(1)\n", "data.csv": "id\n1\n"})
    repo = Repo.init(str(root))
    first = repo.snapshot("m", inputs={"d": "data.csv"})
    # new data, so the run is a new version (the same commit and data would be m@1 again)
    (root / "data.csv").write_text("id\n1\n2\n")
    with repo.run("m", inputs={"d": "data.csv"}) as session:
        pass
    second = session.result
    assert second.record.env == first.record.env
    assert second.record.env.python == "%d.%d.%d" % sys.version_info[:3]
    d = repo.diff("m@1", "m@2")
    assert d.env["changed"] is False and "env" not in d.changed
    repo.close()


@pytest.mark.parametrize("args", [("diff", "m"), ("status",), ("log",)])
def test_a_fresh_clone_without_a_store_is_told_to_pull(shared, args):
    _a, b, _remote = shared
    r = run(b, *args)
    assert r.exit_code == 1
    assert r.stderr == (f"Error: no mlver store in {b} or any parent folder up to the top of its "
                        f"git repository {b}; {b / 'mlver.toml'} configures a remote, so this "
                        "looks like a fresh clone: run mlver pull (it creates the store and "
                        "fetches the versions)\n")
    ok(b, "pull")  # the fix works
    assert run(b, *args).exit_code == 0
