"""mlver.integrations.importdvc: a DVC project's git history as versions (``mlver import-dvc``).

The projects are made by the real ``dvc`` CLI (the one installed next to this Python:
``pip install 'mlver[dvc]'``, which ``make test`` does): ``dvc init``, ``dvc add``,
``dvc stage add``, ``dvc repro`` and ``git commit``. One project is built per module
and copied for each test:

- commit 1: ``data/raw.csv`` tracked by ``data/raw.csv.dvc``; stage ``prep`` (deps
  ``prep.py``, ``data/raw.csv``; param ``prep.scale``; out the folder ``features``) and
  stage ``train`` (deps ``train.py``, ``features``; params ``train``; out ``model.bin``;
  metrics ``metrics.json``), reproduced;
- commit 2: a param change (``train.lr``), reproduced;
- commit 3: a data change (rows added to ``data/raw.csv``, ``dvc add``), reproduced.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

import mlver
from mlver.cli import main
from mlver.base.errors import CheckoutError, ConfigError
from mlver.integrations.importdvc import dvc_name, source_of
from mlver.core.record import missing_oid

DVC = os.path.join(os.path.dirname(sys.executable), "dvc")
pytestmark = pytest.mark.skipif(
    not os.path.exists(DVC),
    reason=f"the dvc CLI is not installed next to {sys.executable} (pip install 'mlver[dvc]'; "
           "make test installs it)")

PREP = """import os
scale = float(__import__("yaml").safe_load(open("params.yaml"))["prep"]["scale"])
os.makedirs("features", exist_ok=True)
rows = open("data/raw.csv").read().splitlines()[1:]
with open("features/x.csv", "w") as f:
    f.write("id,x\\n" + "".join(f"{r.split(',')[0]},{float(r.split(',')[1]) * scale}\\n" for r in rows))
with open("features/count.txt", "w") as f:
    f.write(str(len(rows)))
"""
TRAIN = """import json, yaml
p = yaml.safe_load(open("params.yaml"))["train"]
n = int(open("features/count.txt").read())
open("model.bin", "w").write(f"model lr={p['lr']} n={n}\\n")
json.dump({"rmse": round(1.0 / (1 + n * p["lr"]), 6), "n": n}, open("metrics.json", "w"))
"""


def _env(tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "DVC_UPDATER_ENDPOINT")}
    env.update(DVC_NO_ANALYTICS="1", DVC_STUDIO_OFFLINE="1", GIT_CONFIG_GLOBAL=os.devnull,
               DVC_SITE_CACHE_DIR=str(tmp / "dvc-site"))
    return env


def run(cwd: Path, *argv: str) -> str:
    env = _env(cwd.parent)
    p = subprocess.run(list(argv), cwd=cwd, env=env, capture_output=True, text=True)
    assert p.returncode == 0, f"{' '.join(argv)} failed:\n{p.stdout}\n{p.stderr}"
    return p.stdout


def dvc(cwd: Path, *args: str) -> str:
    return run(cwd, DVC, *args)


def git(cwd: Path, *args: str) -> str:
    return run(cwd, "git", *args)


def commit(cwd: Path, message: str) -> str:
    git(cwd, "add", "-A")
    git(cwd, "commit", "-q", "-m", message)
    return git(cwd, "rev-parse", "HEAD").strip()


def set_param(root: Path, old: str, new: str) -> None:
    p = root / "params.yaml"
    p.write_text(p.read_text().replace(old, new))


def build(root: Path) -> list[str]:
    """The three-commit project described in the module docstring; its commit shas."""
    root.mkdir(parents=True)
    git(root, "init", "-q", "-b", "main")
    git(root, "config", "user.name", "Test User")
    git(root, "config", "user.email", "test@example.com")
    git(root, "config", "commit.gpgsign", "false")
    dvc(root, "init", "-q")
    with open(root / ".dvc" / "config", "a") as f:
        f.write("[core]\n    analytics = false\n    check_update = false\n")
    (root / "data").mkdir()
    (root / "data" / "raw.csv").write_text("id,v\n1,1.5\n2,2.5\n3,3.5\n")
    (root / "params.yaml").write_text("prep:\n  scale: 2\ntrain:\n  lr: 0.1\n  depth: 3\n")
    (root / "prep.py").write_text(PREP)
    (root / "train.py").write_text(TRAIN)
    py = sys.executable
    dvc(root, "add", "-q", "data/raw.csv")
    dvc(root, "stage", "add", "-q", "-n", "prep", "-d", "prep.py", "-d", "data/raw.csv",
        "-p", "prep.scale", "-o", "features", f"{py} prep.py")
    dvc(root, "stage", "add", "-q", "-n", "train", "-d", "train.py", "-d", "features",
        "-p", "train", "-o", "model.bin", "-M", "metrics.json", f"{py} train.py")
    dvc(root, "repro", "-q")
    shas = [commit(root, "first: data, prep and train")]
    set_param(root, "lr: 0.1", "lr: 0.2")
    dvc(root, "repro", "-q")
    shas.append(commit(root, "a param change"))
    with open(root / "data" / "raw.csv", "a") as f:
        f.write("4,4.5\n5,5.5\n")
    dvc(root, "add", "-q", "data/raw.csv")
    dvc(root, "repro", "-q")
    shas.append(commit(root, "a data change"))
    return shas


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    base = tmp_path_factory.mktemp("dvcproj")
    shas = build(base / "proj")
    return base / "proj", shas


@pytest.fixture
def proj(built, tmp_path, monkeypatch):
    """A fresh copy of the built project with an empty mlver store; (root, shas)."""
    src, shas = built
    root = tmp_path / "proj"
    shutil.copytree(src, root, symlinks=True)
    for k, v in _env(tmp_path).items():
        if k.startswith(("DVC_", "GIT_CONFIG")):
            monkeypatch.setenv(k, v)
    monkeypatch.chdir(root)
    mlver.Repo.init(str(root))
    return root, shas


def versions(repo) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for _oid, rec in sorted(repo.log(), key=lambda x: (x[1].name, x[1].version)):
        out.setdefault(rec.name, []).append(rec.version)
    return out


def md5_of(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


# --------------------------------------------------------------------------- names


@pytest.mark.parametrize("path,name", [
    ("train", "train"), ("data/raw.csv", "data-raw.csv"), ("train@us", "train_us"),
    ("models/fit", "models-fit"), (".hidden/x", "hidden-x"), ("a b/ü.csv", "a_b-_.csv"),
    ("data/file.lock", "data-file-lock"), ("___", None), ("", None)])
def test_dvc_name_maps_paths_to_valid_names(path, name):
    assert dvc_name(path) == name


def test_dvc_name_keeps_long_paths_unique():
    a, b = dvc_name("d/" + "x" * 200), dvc_name("d/" + "x" * 199 + "y")
    assert a and b and a != b and len(a) == len(b) == 128


def test_source_of_reads_the_mark_of_imported_records():
    assert source_of("a param change (imported from DVC dvc.yaml:train)") == "dvc.yaml:train"
    assert source_of("my own snapshot") is None


# --------------------------------------------------------------------------- with the cache


def test_import_with_the_cache_makes_one_version_per_change(proj):
    root, (c1, c2, c3) = proj
    repo = mlver.Repo(str(root))
    result = repo.import_dvc()
    assert (result.commits, result.walked, result.already, result.missing) == (3, 3, 0, ())
    assert versions(repo) == {"data-raw.csv": [1, 2], "prep": [1, 2], "train": [1, 2, 3]}
    commits = {r.label: r.code.commit for _o, r in repo.log()}
    assert commits == {"data-raw.csv@1": c1, "data-raw.csv@2": c3, "prep@1": c1,
                       "prep@2": c3, "train@1": c1, "train@2": c2, "train@3": c3}

    _oid, t2 = repo.show("train@2")
    assert t2.kind == "model" and repo.show("prep@1")[1].kind == "dataset"
    assert t2.params == {"train": {"lr": 0.2, "depth": 3}}
    assert t2.metrics == {"rmse": round(1 / (1 + 3 * 0.2), 6), "n": 3}
    assert t2.metrics_files == ("metrics.json",)
    assert list(t2.inputs) == ["features"] and list(t2.outputs) == ["model.bin"]
    assert t2.inputs["features"].type == "tree" and t2.inputs["features"].files == 2
    assert t2.code.scope.origin == "declared" and t2.code.scope.paths == ("dvc.yaml", "train.py")
    assert t2.run.command == ("/bin/sh", "-c", f"{sys.executable} train.py")
    assert t2.run.trace.traced is False and "DVC" in t2.run.trace.note
    assert t2.message == "a param change (imported from DVC dvc.yaml:train)"
    assert t2.author == "Test User <test@example.com>"
    assert t2.env.python is None
    when = git(root, "show", "-s", "--format=%cI", c2).strip()
    assert t2.created.startswith(when[:19])

    # the bytes are the workspace's (the last commit is checked out)
    _oid, d2 = repo.show("data-raw.csv@2")
    assert d2.outputs["data-raw.csv"].oid == repo.content_oid("data/raw.csv")
    _oid, p2 = repo.show("prep@2")
    assert p2.outputs["features"].oid == repo.content_oid("features")
    assert repo.show("train@3")[1].outputs["model.bin"].oid == repo.content_oid("model.bin")
    assert repo.verify().ok


def test_diff_and_lineage_work_on_the_imported_history(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    d = repo.diff("train@1", "train@2")
    assert d.changed == ("params",)
    assert d.params["changed"] == {"train.lr": {"old": 0.1, "new": 0.2}}
    assert d.code["changed"] is False  # no commit touched train.py or dvc.yaml
    assert d.metrics["rmse"]["changed"]
    d = repo.diff("train@2", "train@3")
    assert d.changed == ("data",)
    assert d.inputs["features"].status == "modified"
    # the changed input is followed upstream: prep@1 -> prep@2, because of the raw data
    assert d.inputs["features"].upstream is not None
    text = str(d)
    assert "prep@1 -> prep@2" in text

    graph = repo.lineage("train@3").graph("upstream")
    labels = {f"{n['name']}@{n['version']}" for n in graph["nodes"]}
    assert labels == {"train@3", "prep@2", "data-raw.csv@2"}
    graph = repo.lineage("train@2").graph("upstream")
    assert {f"{n['name']}@{n['version']}" for n in graph["nodes"]} == {
        "train@2", "prep@1", "data-raw.csv@1"}
    frame = repo.records("train")
    assert list(frame["version"]) == [3, 2, 1]
    assert "params.train.lr" in frame.columns and "metrics.rmse" in frame.columns


def test_checkout_of_an_imported_version_writes_its_bytes(proj, tmp_path):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    repo.checkout("prep@1", to=str(tmp_path / "out"))
    assert (tmp_path / "out" / "features" / "count.txt").read_text() == "3"
    assert (tmp_path / "out" / "data" / "raw.csv").read_text() == "id,v\n1,1.5\n2,2.5\n3,3.5\n"


def test_cli_import_log_show_diff_lineage(proj):
    root, _shas = proj
    runner = CliRunner()
    r = runner.invoke(main, ["import-dvc"])
    assert r.exit_code == 0, r.output
    assert "Walked 3 of 3 commits of the DVC project ." in r.output
    assert "train" in r.output and "+3" in r.output
    r = runner.invoke(main, ["log", "train"])
    assert r.exit_code == 0 and r.output.count("imported from DVC dvc.yaml:train") == 3
    r = runner.invoke(main, ["diff", "train@1", "train@2"])
    assert r.exit_code == 0 and "params train.lr: 0.1 -> 0.2" in r.output
    r = runner.invoke(main, ["lineage", "train@3"])
    assert r.exit_code == 0 and "<- prep@2" in r.output and "<- data-raw.csv@2" in r.output
    r = runner.invoke(main, ["import-dvc", "--json"])
    assert r.exit_code == 0
    out = json.loads(r.output)
    assert out["versions"] == [] and out["already_imported"] == 3 and out["walked"] == 0
    assert set(out) == {"project", "range", "commits", "walked", "already_imported", "seconds",
                        "missing", "versions"}


# --------------------------------------------------------------------------- without the cache


def test_import_without_the_cache_records_content_missing_by_md5(proj, tmp_path):
    root, _shas = proj
    shutil.rmtree(root / ".dvc" / "cache")
    warnings: list[str] = []
    repo = mlver.Repo(str(root), warn=warnings.append)
    result = repo.import_dvc()
    assert versions(repo) == {"data-raw.csv": [1, 2], "prep": [1, 2], "train": [1, 2, 3]}
    lock = (root / "dvc.lock").read_text()
    _oid, t3 = repo.show("train@3")
    model = t3.outputs["model.bin"]
    assert model.missing == md5_of(root / "model.bin") and model.missing in lock
    assert model.oid == missing_oid(model.missing) and model.type == "blob"
    feats = t3.inputs["features"]
    assert feats.missing.endswith(".dir") and feats.files == 2 and feats.type == "blob"
    assert set(result.missing) >= {model.missing, feats.missing}
    # the params and metrics are there all the same (metrics.json is in git)
    assert t3.params == {"train": {"lr": 0.2, "depth": 3}} and t3.metrics["n"] == 5
    # lineage still links the stages: a missing content has one placeholder oid
    graph = repo.lineage("train@3").graph("upstream")
    assert {n["name"] for n in graph["nodes"]} == {"train", "prep", "data-raw.csv"}

    runner = CliRunner()
    r = runner.invoke(main, ["show", "train@3"])
    assert (f"model.bin  MISSING  ({model.size} B): missing from the DVC cache at import "
            f"(md5 {model.missing})") in r.output
    assert "features   features  MISSING  (folder, 2 files, " in r.output
    r = runner.invoke(main, ["show", "train@3", "--json"])
    assert json.loads(r.output)["outputs"]["model.bin"]["missing"] == {"md5": model.missing}
    r = runner.invoke(main, ["diff", "train@2", "train@3"])
    assert r.exit_code == 0
    assert "both sides were missing from the DVC cache at import" in r.output
    r = runner.invoke(main, ["checkout", "train@3", "--to", str(tmp_path / "co")])
    assert r.exit_code == 1
    assert "missing from the DVC cache at import" in r.output and "nothing was written" in r.output
    assert not (tmp_path / "co").exists()
    with pytest.raises(CheckoutError, match="missing from the DVC cache at import"):
        repo.checkout("train@3", ["model.bin"], to=str(tmp_path / "co2"))
    r = runner.invoke(main, ["verify"])
    assert r.exit_code == 0, r.output
    assert "no problems" in r.output and "held by md5 only" in r.output
    assert "corrupt" not in r.output


def test_bytes_that_appear_later_are_used_for_new_commits(proj):
    """Missing content is not retried for versions already imported; content the cache
    has by the next commit is stored from then on."""
    root, _shas = proj
    cache = root / ".dvc" / "cache"
    shutil.move(str(cache), str(root.parent / "cache-aside"))
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    assert repo.show("train@3")[1].outputs["model.bin"].missing
    shutil.move(str(root.parent / "cache-aside"), str(cache))
    set_param(root, "depth: 3", "depth: 4")
    dvc(root, "repro", "-q")
    commit(root, "deeper")
    result = repo.import_dvc()
    assert [r.label for _o, r in result.versions] == ["train@4"]
    t4 = repo.show("train@4")[1]
    assert not t4.outputs["model.bin"].missing and not t4.inputs["features"].missing
    assert t4.inputs["features"].oid == repo.content_oid("features")


# --------------------------------------------------------------------------- incremental


def test_importing_twice_changes_nothing(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    refs = {n: repo.store.refs.get(n) for n in repo.names()}
    again = repo.import_dvc()
    assert again.versions == () and again.walked == 0 and again.already == 3
    assert {n: repo.store.refs.get(n) for n in repo.names()} == refs


def test_a_rebuilt_index_reads_every_commit_again_and_writes_nothing(proj):
    root, _shas = proj
    mlver.Repo(str(root)).import_dvc()
    for f in (root / ".mlver").glob("index.sqlite*"):
        f.unlink()  # the remembered commits and md5s are gone with it
    repo = mlver.Repo(str(root))
    refs = {n: repo.store.refs.get(n) for n in repo.names()}
    again = repo.import_dvc()
    assert again.walked == 3 and again.versions == ()
    assert {n: repo.store.refs.get(n) for n in repo.names()} == refs
    assert versions(repo) == {"data-raw.csv": [1, 2], "prep": [1, 2], "train": [1, 2, 3]}


def test_one_more_commit_adds_exactly_one_version(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    set_param(root, "lr: 0.2", "lr: 0.3")
    dvc(root, "repro", "-q")
    sha = commit(root, "lr 0.3")
    result = repo.import_dvc()
    assert (result.walked, result.already) == (1, 3)
    assert [(r.label, r.code.commit) for _o, r in result.versions] == [("train@4", sha)]
    assert versions(repo) == {"data-raw.csv": [1, 2], "prep": [1, 2], "train": [1, 2, 3, 4]}
    assert repo.show("train@4")[1].parents == (repo.resolve("train@3"),)
    assert repo.diff("train@3", "train@4").changed == ("params",)


def test_a_commit_that_touches_no_dvc_file_writes_nothing(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    (root / "README.md").write_text("# docs\n")
    commit(root, "docs only")
    result = repo.import_dvc()
    assert result.walked == 1 and result.versions == ()


def test_a_code_change_is_a_code_change_of_the_stage_only(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    (root / "train.py").write_text(TRAIN + "# tuned\n")
    dvc(root, "repro", "-q")
    commit(root, "edit train.py")
    result = repo.import_dvc()
    assert [r.label for _o, r in result.versions] == ["train@4"]
    d = repo.diff("train@3", "train@4")
    assert "code" in d.changed and d.code["changed"]


def test_a_rev_range_imports_only_its_commits(proj):
    root, (c1, c2, c3) = proj
    repo = mlver.Repo(str(root))
    result = repo.import_dvc(rev_range=f"{c1}..{c3}")
    assert result.commits == 2
    # changes against c1, the commit before the range: train at c2 and c3, the data at c3
    assert versions(repo) == {"data-raw.csv": [1], "prep": [1], "train": [1, 2]}
    assert repo.show("train@1")[1].code.commit == c2
    # the rest of the history later: older commits never come after newer versions
    warnings: list[str] = []
    repo = mlver.Repo(str(root), warn=warnings.append)
    result = repo.import_dvc()
    assert result.walked == 1 and result.versions == ()
    assert any("versions follow commit order" in w for w in warnings)


# --------------------------------------------------------------------------- refusals


def test_a_name_made_by_mlver_itself_is_refused(proj):
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.snapshot("train", outputs={"m": "model.bin"})
    with pytest.raises(ConfigError, match="'train', which already has versions not imported"):
        repo.import_dvc()


def test_two_paths_with_one_name_are_refused(proj):
    root, _shas = proj
    (root / "data-raw.csv").write_text("a\n1\n")
    dvc(root, "add", "-q", "data-raw.csv")
    commit(root, "a file whose name collides")
    r = CliRunner().invoke(main, ["import-dvc"])
    assert r.exit_code == 1
    assert "both map to the mlver name 'data-raw.csv'" in r.output
    assert r.output.startswith("Error: ")


def test_not_a_dvc_project(tmp_path, monkeypatch):
    (tmp_path / "p").mkdir()
    monkeypatch.chdir(tmp_path / "p")
    mlver.Repo.init(".")
    r = CliRunner().invoke(main, ["import-dvc"])
    assert r.exit_code == 1 and "is not a DVC project (it has no .dvc folder)" in r.output


def test_a_bad_rev_range_is_refused(proj):
    r = CliRunner().invoke(main, ["import-dvc", "--rev-range", "--output=/tmp/x"])
    assert r.exit_code == 1 and "is not a git revision or A..B range" in r.output


def test_without_the_dvc_package_the_error_names_the_extra(proj, monkeypatch):
    monkeypatch.setitem(sys.modules, "dvc.repo", None)  # import dvc.repo now fails
    r = CliRunner().invoke(main, ["import-dvc"])
    assert r.exit_code == 1
    assert "Error: importing a DVC project needs the dvc package" in r.output
    assert "install mlver[dvc]" in r.output


# --------------------------------------------------------------------------- untrusted input


def test_a_hostile_cache_is_never_followed_out_nor_trusted(proj, tmp_path):
    """A .dir manifest naming '../' paths, a cache entry that is a symbolic link out of the
    cache, and a cache file whose bytes do not match its md5: each content is recorded as
    missing, with a warning; nothing outside the cache is read into the store."""
    root, _shas = proj
    files = root / ".dvc" / "cache" / "files" / "md5"
    secret = tmp_path / "secret.txt"
    secret.write_text("not for the store\n")

    def put(data: bytes, suffix: str = "") -> str:
        md5 = hashlib.md5(data).hexdigest() + suffix
        path = files / md5[:2] / md5[2:]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return md5

    evil_entry = put(b"evil\n")
    manifest = json.dumps([{"md5": evil_entry, "relpath": "../escape.txt"}]).encode()
    bad_dir = put(manifest, ".dir")
    link_md5 = hashlib.md5(secret.read_bytes()).hexdigest()
    link = files / link_md5[:2] / link_md5[2:]
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(secret)
    wrong_md5 = "0123456789abcdef0123456789abcdef"
    wrong = files / wrong_md5[:2] / wrong_md5[2:]
    wrong.parent.mkdir(parents=True, exist_ok=True)
    wrong.write_bytes(b"these bytes do not hash to the name\n")
    for name, md5, extra in (("evil", bad_dir, "  nfiles: 1\n"), ("linked", link_md5, ""),
                             ("wrong", wrong_md5, "")):
        (root / f"{name}.dvc").write_text(
            f"outs:\n- md5: {md5}\n  size: 5\n  hash: md5\n  path: {name}\n{extra}")
    commit(root, "hostile .dvc files")
    warnings: list[str] = []
    repo = mlver.Repo(str(root), warn=warnings.append)
    repo.import_dvc()
    for name, md5 in (("evil", bad_dir), ("linked", link_md5), ("wrong", wrong_md5)):
        art = repo.show(name)[1].outputs[name]
        assert art.missing == md5 and art.oid == missing_oid(md5)
    text = "\n".join(warnings)
    assert "tree entry name '..' is not a plain file name" in text  # the manifest
    assert "symbolic link is never followed" in text
    assert "does not hash to its md5" in text
    from mlver.base.hashing import oid_of

    assert not repo.store.objects.has(oid_of(secret.read_bytes()))
    assert not repo.store.objects.has(oid_of(b"evil\n"))
    assert repo.verify().ok


def test_paths_out_of_the_project_and_bad_md5s_are_left_out(proj):
    root, _shas = proj
    (root / "escape.dvc").write_text(
        "outs:\n- md5: ../../../../etc/passwd\n  size: 5\n  hash: md5\n  path: ok.txt\n")
    commit(root, "a .dvc file with a path for an md5")
    warnings: list[str] = []
    repo = mlver.Repo(str(root), warn=warnings.append)
    repo.import_dvc()
    assert any("has the hash '../../../../etc/passwd', which is not an md5; left out" in w
               for w in warnings)
    assert "ok.txt" not in repo.names()
    assert versions(repo)["train"] == [1, 2, 3]


def test_a_project_in_a_sub_folder_of_the_repository(tmp_path, monkeypatch):
    """``dvc init --subdir`` in sub/ of a git repository whose top holds the store: names
    come from paths inside the project, record paths from the store's root."""
    top = tmp_path / "top"
    top.mkdir()
    for k, v in _env(tmp_path).items():
        if k.startswith(("DVC_", "GIT_CONFIG")):
            monkeypatch.setenv(k, v)
    git(top, "init", "-q", "-b", "main")
    git(top, "config", "user.name", "Test User")
    git(top, "config", "user.email", "test@example.com")
    sub = top / "sub"
    sub.mkdir()
    dvc(sub, "init", "-q", "--subdir")
    (sub / "data").mkdir()
    (sub / "data" / "table.csv").write_text("a,b\n1,2\n")
    dvc(sub, "add", "-q", "data/table.csv")
    commit(top, "data in a sub-project")
    repo = mlver.Repo.init(str(top))
    result = repo.import_dvc("sub")
    assert result.project == "sub"
    _oid, rec = repo.show("data-table.csv")
    assert rec.outputs["data-table.csv"].path == "sub/data/table.csv"
    assert rec.outputs["data-table.csv"].oid == repo.content_oid("sub/data/table.csv")
    assert rec.message.endswith("(imported from DVC sub/data/table.csv)")


def test_a_commit_whose_dvc_yaml_dvc_cannot_read_is_skipped_with_a_warning(proj):
    root, _shas = proj
    good = (root / "dvc.yaml").read_text()
    (root / "dvc.yaml").write_text("stages:\n  train: [this is not a stage\n")
    commit(root, "broken dvc.yaml")
    (root / "dvc.yaml").write_text(good)
    set_param(root, "lr: 0.2", "lr: 0.5")
    dvc(root, "repro", "-q")
    sha = commit(root, "fixed, and a new lr")
    warnings: list[str] = []
    repo = mlver.Repo(str(root), warn=warnings.append)
    result = repo.import_dvc()
    assert result.walked == 5
    assert any("DVC cannot read dvc.yaml at commit" in w for w in warnings), warnings
    assert versions(repo) == {"data-raw.csv": [1, 2], "prep": [1, 2], "train": [1, 2, 3, 4]}
    assert repo.show("train@4")[1].code.commit == sha


def test_large_cache_files_are_streamed_and_checked(proj, monkeypatch):
    """Files above the in-memory limit are checked against their md5 in one pass, then
    stored from the same open file; the result is the same content."""
    import mlver.integrations.dvc_ingest as dvc_ingest

    root, _shas = proj
    monkeypatch.setattr(dvc_ingest, "IN_MEMORY", 4)  # every file is "large"
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    assert repo.show("train@3")[1].outputs["model.bin"].oid == repo.content_oid("model.bin")
    assert repo.show("prep@2")[1].outputs["features"].oid == repo.content_oid("features")
    assert repo.verify().ok


def test_imported_records_are_marked_and_never_replayed_unasked(proj):
    """A DVC stage's cmd was written by whoever wrote the project: explain runs it only
    with --trust (issue 20)."""
    root, _shas = proj
    repo = mlver.Repo(str(root))
    repo.import_dvc()
    res = CliRunner().invoke(main, ["explain", "train@1", "train@2"])
    assert res.exit_code == 1
    assert res.stderr.splitlines()[-1] == (
        "Error: train@1 and train@2 were imported by mlver import-dvc, so their commands and "
        "patches were not recorded by this store, and explain would run them with your "
        "permissions; read them above, then run again with --trust to replay them")
    from mlver.store.origins import Origin, origins

    marks = origins(repo.store)
    assert {oid: marks.get(oid) for oid, _r in repo.log()} == \
        {oid: Origin("imported", "dvc") for oid, _r in repo.log()}
    repo.reindex()
    assert origins(repo.store) == marks
