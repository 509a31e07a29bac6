"""End-to-end test of sample_project/: generate two months, prepare, train.

The sample project is what mlver is demonstrated and tested against, so this
pins the properties mlver relies on: byte-identical reruns, a new category
and a price drift in month 2, and the two stages producing their outputs.
It runs the scripts as a user would (subprocesses in a copy of the folder)
and skips cleanly where the ML dependencies are not installed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import shared_demo

pytest.importorskip("sklearn")
pytest.importorskip("yaml")
pd = pytest.importorskip("pandas")
np = pytest.importorskip("numpy")

SAMPLE = Path(__file__).resolve().parents[1] / "sample_project"
# Generated artefacts that may exist in a developer's checkout: never copy them.
ARTEFACTS = shutil.ignore_patterns("raw", "features", "model", "metrics.json", "__pycache__", ".mlver")


def run(cwd: Path, *args: str) -> str:
    """Run a sample_project script with this interpreter; fail with its output."""
    proc = subprocess.run([sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, f"{args} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout


def psi(ref: np.ndarray, cur: np.ndarray, bins: int = 10) -> float:
    """Population stability index over the reference's decile bins."""
    ref, cur = ref[~np.isnan(ref)], cur[~np.isnan(cur)]
    edges = np.unique(np.quantile(ref, np.linspace(0, 1, bins + 1)))
    edges[0], edges[-1] = -np.inf, np.inf
    p = np.clip(np.histogram(ref, edges)[0] / len(ref), 1e-4, None)
    q = np.clip(np.histogram(cur, edges)[0] / len(cur), 1e-4, None)
    return float(np.sum((q - p) * np.log(q / p)))


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh copy of sample_project with months 1 and 2 generated."""
    dest = tmp_path_factory.mktemp("sp") / "sample_project"
    shutil.copytree(SAMPLE, dest, ignore=ARTEFACTS)
    for month in ("1", "2"):
        run(dest, "generate_data.py", "--month", month)
    return dest


def test_project_files_present() -> None:
    for name in ("generate_data.py", "prepare.py", "train.py", "params.yaml", "mlver.toml", "README.md"):
        assert (SAMPLE / name).is_file(), name


def test_generate_is_byte_identical_on_rerun(project: Path, tmp_path: Path) -> None:
    for month in ("1", "2"):
        run(project, "generate_data.py", "--month", month, "--out", str(tmp_path))
        name = f"listings-2026-0{month}.csv"
        assert (tmp_path / name).read_bytes() == (project / "raw" / name).read_bytes()


def test_month_two_drifts(project: Path) -> None:
    m1 = pd.read_csv(project / "raw" / "listings-2026-01.csv")
    m2 = pd.read_csv(project / "raw" / "listings-2026-02.csv")
    assert len(m1) == len(m2) == 3000
    assert set(m1["listing_id"]).isdisjoint(m2["listing_id"])
    # The new neighbourhood exists only from month 2, at roughly 15%.
    assert "Harbourside" not in set(m1["neighbourhood"])
    assert 0.10 < (m2["neighbourhood"] == "Harbourside").mean() < 0.20

    # Prices (valid ones) rise clearly, and enough for a PSI check to flag.
    def valid_mean(d: pd.DataFrame) -> float:
        return d.loc[(d["price"] > 0) & (d["price"] <= 2000), "price"].mean()

    assert valid_mean(m2) > 1.3 * valid_mean(m1)
    assert psi(m1["price"].to_numpy(float), m2["price"].to_numpy(float)) >= 0.2


def test_prepare_and_train(project: Path) -> None:
    run(project, "prepare.py")
    features = project / "features" / "listings.csv"
    first = features.read_bytes()
    df = pd.read_csv(features)
    assert df["listing_id"].is_unique and df["listing_id"].is_monotonic_increasing
    assert set(df["listing_id"] // 100_000) == {1, 2}  # both months were read
    assert (df["price"] > 0).all() and (df["price"] <= 2000).all()
    assert df["review_score"].notna().all()
    assert "price_per_person" in df and "neighbourhood=Harbourside" in df
    run(project, "prepare.py")
    assert features.read_bytes() == first  # deterministic bytes

    run(project, "train.py")
    assert (project / "model" / "model.pkl").stat().st_size > 0
    metrics_text = (project / "metrics.json").read_text()
    metrics = json.loads(metrics_text)
    assert list(metrics) == sorted(metrics)
    assert set(metrics) == {"rmse", "mae", "r2", "n_train", "n_test"}
    assert metrics["rmse"] > 0 and metrics["r2"] > 0.5
    assert metrics["n_train"] + metrics["n_test"] == len(df)
    # Same data and params -> the same model and metrics, to the byte.
    run(project, "train.py", "--model-dir", "model2", "--metrics", "metrics2.json")
    assert (project / "metrics2.json").read_text() == metrics_text
    assert (project / "model2" / "model.pkl").read_bytes() == (project / "model" / "model.pkl").read_bytes()


# --------------------------------------------------------------------------- docs = demo

ROOT = SAMPLE.parent
# Pages showing `mlver diff price-model@1 price-model@2` of the demo (issue 19 §8).
DIFF_PAGES = ("README.md", "docs/tutorial.md", "docs/diff.md", "docs/cli.md")
DIFF_COMMAND = "$ mlver diff price-model@1 price-model@2"


def _normalise(lines: list[str]) -> list[str]:
    """What differs between two runs of the demo, on two machines: commit ids (made at
    another time), and the Python version and package count of the environment."""
    import re

    out = []
    for line in lines:
        line = re.sub(r"\b[0-9a-f]{7}\.\.[0-9a-f]{7}\b", "COMMIT..COMMIT", line)
        line = re.sub(r"\bcode \([0-9a-f]{7}", "code (COMMIT", line)
        line = re.sub(r"env \(python [^,()]+, \d+ packages\)", "env (python X, N packages)", line)
        out.append(line)
    return out


def _block(lines: list[str], start: int) -> list[str]:
    """The output lines after the command at ``start``: up to the next command, the end of
    the code block, or a blank line."""
    out = []
    for line in lines[start + 1:]:
        if line.startswith("```") or line.startswith("$ ") or not line.strip():
            break
        out.append(line)
    return out


@pytest.fixture(scope="module")
def demo_output(tmp_path_factory: pytest.TempPathFactory) -> str:
    """What `make demo` prints (the session's one run of it, shared with
    test_report_browser)."""
    _out, printed = shared_demo(tmp_path_factory)
    return printed.replace("\x1b[1m", "").replace("\x1b[0m", "")


@pytest.mark.slow  # the demo trains four models: ~15 s of CPU, more on a busy machine
def test_docs_show_the_diff_that_make_demo_prints(demo_output: str) -> None:
    lines = demo_output.splitlines()
    printed = _normalise(_block(lines, lines.index(DIFF_COMMAND)))
    assert printed[0] == "price-model@1 -> price-model@2"
    for page in DIFF_PAGES:
        text = (ROOT / page).read_text(encoding="utf-8").splitlines()
        assert DIFF_COMMAND in text, page
        shown = _normalise(_block(text, text.index(DIFF_COMMAND)))
        assert shown == printed, f"{page} does not show what make demo prints"
