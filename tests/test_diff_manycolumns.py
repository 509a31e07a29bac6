"""Drift calls across many columns (issue 19 §7): the false discovery rate is controlled
over a table's p-value tests, identifier columns are named and not tested, and stable
columns are counted, not listed."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from _fixtures import mrepo, proj
from mlver.diff.profile import profile_table
from mlver.diff.stats import benjamini_hochberg
from mlver.diff.tables import TableDiff, diff_tables

__all__ = ["mrepo", "proj"]

COLUMNS = 66


def sample(seed: int, n: int = 400, shift: float = 0.0) -> pa.Table:
    """66 columns drawn from one fixed distribution (44 numbers, 22 categories); ``shift``
    moves column ``x0`` by that many standard deviations."""
    rng = np.random.default_rng(seed)
    cols = {}
    for i in range(44):
        cols[f"x{i}"] = rng.normal(10 + i, 1 + i % 3, n) + (shift if i == 0 else 0.0)
    for i in range(22):
        cols[f"c{i}"] = rng.choice(["a", "b", "c", "d", "e"], n, p=[.4, .2, .2, .1, .1])
    return pa.table(cols)


def test_benjamini_hochberg_matches_the_textbook_example():
    # Benjamini & Hochberg (1995), table 1's first p-values, by hand: q = min_{j>=i} p_j m / j
    p = [0.01, 0.04, 0.03, 0.005]
    assert benjamini_hochberg(p) == pytest.approx([0.02, 0.04, 0.04, 0.02])
    assert benjamini_hochberg([]) == []
    assert benjamini_hochberg([0.9, 0.99]) == pytest.approx([0.99, 0.99])


def test_66_columns_of_two_samples_of_the_same_data_none_drifted():
    d = diff_tables(sample(1), sample(2))
    tested = [s for s in d.drift if s.level != "too_few_rows"]
    assert len(tested) == COLUMNS
    # without a correction this seed calls some columns drifted at p < 0.05 ...
    raw = sorted(s.column for s in tested if s.value < 0.05)
    assert len(raw) >= 2, raw
    # ... with the false discovery rate controlled, none
    assert [s.column for s in d.drift if s.drifted] == []
    assert d.dataset_drift["drifted_columns"] == 0
    assert d.fdr == {"method": "benjamini-hochberg", "alpha": 0.05, "tests": COLUMNS}
    for s in tested:
        assert s.q is not None and s.q >= s.value
    assert d.summary() == "+400 rows, -400; 66 columns stable"


def test_a_truly_shifted_column_is_still_flagged():
    d = diff_tables(sample(1), sample(2, shift=0.5))
    assert [s.column for s in d.drift if s.drifted] == ["x0"]
    x0 = d.drift[0]
    assert x0.test == "ks" and x0.q < 0.05
    j = x0.to_dict()
    assert (j["p"], j["q"], j["threshold"]) == (x0.value, x0.q, 0.05)
    assert x0.text().startswith("'x0' drifted (KS p=<0.0001, q=<0.0001 < 0.05; mean ")
    # a chance p of 0.0016 among 66 tests is only "worth a look" (q 0.052), not drift
    assert d.summary() == ("+400 rows, -400; 'x0' drifted (KS p=<0.0001, q=<0.0001 < 0.05; "
                           "mean 9.918 -> 10.47); 'x32' worth a look (KS p=0.0016, q=0.052; "
                           "mean 41.78 -> 42.26); 64 columns stable")


def test_fdr_and_q_in_the_json_round_trip():
    d = diff_tables(sample(1), sample(2, shift=0.5))
    j = d.to_dict()
    assert j["fdr"] == {"method": "benjamini-hochberg", "alpha": 0.05, "tests": COLUMNS}
    assert all(set(e) >= {"p", "q"} for e in j["drift"])
    assert TableDiff.from_dict(j) == d
    # distance tests (more than 1,000 old values) have no p-value and no q
    big = diff_tables(sample(1, n=1500), sample(2, n=1500))
    e = big.to_dict()["drift"][0]
    assert (e["test"], e["p"], e["q"]) in (("wasserstein", None, None),
                                          ("jensen_shannon", None, None))
    assert big.fdr == {"method": "benjamini-hochberg", "alpha": 0.05, "tests": 0}


# --------------------------------------------------------------------------- identifiers

def with_ids(seed: int, n: int, start: int) -> pa.Table:
    rng = np.random.default_rng(seed)
    return pa.table({
        "user_id": np.arange(start, start + n),
        "uuid": [f"{rng.integers(1 << 62):016x}-{i}" for i in range(n)],
        "ts": pa.array(np.arange(start, start + n) * 1_000_000, pa.timestamp("us")),
        "x": rng.normal(0, 1, n),               # floats unique per row: a measurement
        "city": rng.choice(["Paris", "Rome"], n),
    })


def test_identifier_columns_are_named_and_not_tested():
    old, new = with_ids(1, 300, 0), with_ids(2, 300, 300)
    d = diff_tables(old, new)
    assert d.identifiers == ("user_id", "uuid", "ts")
    assert sorted(s.column for s in d.drift) == ["city", "x"]
    assert d.to_dict()["identifiers"] == ["user_id", "uuid", "ts"]
    assert d.summary() == ("+300 rows, -300; 'user_id', 'uuid', 'ts': identifiers (unique per "
                           "row), not tested for drift; 2 columns stable")


def test_identifiers_across_batches_and_a_repeat(tmp_path):
    from mlver.diff.colhash import normalize
    from mlver.diff.profiler import Profiler
    t = with_ids(1, 3000, 0)
    p = Profiler(with_hashes=False)
    for batch in t.to_batches(max_chunksize=700):  # ids checked across batches
        p.add(normalize(pa.Table.from_batches([batch])))
    cols = {c["name"]: c for c in p.finish()[0]["columns"]}
    assert {k: cols[k].get("unique") for k in cols} == {
        "user_id": True, "uuid": True, "ts": True, "x": None, "city": False}
    # one repeated id in the last batch: not unique
    ids = np.arange(3000)
    ids[-1] = 5
    p = Profiler(with_hashes=False)
    for batch in t.set_column(0, "user_id", pa.array(ids)).to_batches(max_chunksize=700):
        p.add(normalize(pa.Table.from_batches([batch])))
    assert p.finish()[0]["columns"][0]["unique"] is False
    # a uuid of the first batch (few values so far: dictionary-encoded) repeated in the last
    # (many values: hashed one by one), with and without row hashes
    uuids = t.column("uuid").to_pylist()
    uuids[-1] = uuids[3]
    for hashes in (False, True):
        p = Profiler(with_hashes=hashes)
        for batch in t.set_column(1, "uuid", pa.array(uuids)).to_batches(max_chunksize=700):
            p.add(normalize(pa.Table.from_batches([batch])))
        assert p.finish()[0]["columns"][1]["unique"] is False


def test_a_unique_column_on_one_side_only_is_tested():
    old = with_ids(1, 300, 0)
    ids = np.arange(300, 600)
    ids[:150] = ids[150:]  # the new version repeats ids: not an identifier there
    new = with_ids(2, 300, 300).set_column(0, "user_id", pa.array(ids))
    d = diff_tables(old, new)
    assert d.identifiers == ("uuid", "ts")
    assert "user_id" in [s.column for s in d.drift]


def test_profile_records_uniqueness():
    prof, _ = profile_table(with_ids(1, 50, 0))
    assert [c.get("unique") for c in prof["columns"]] == [True, True, True, None, False]


# --------------------------------------------------------------------------- text and report

def many_columns_repo(mrepo, proj):
    """m@1 -> m@2 over a 200-row table: an id, one shifted column, nine stable ones."""
    import random

    from _fixtures import write_csv
    header = ["row_id", "shifted"] + [f"s{i}" for i in range(9)]

    def rows(seed, shift):
        rnd = random.Random(seed)
        return [[i + seed * 1000, round(rnd.gauss(shift, 1), 4)]
                + [round(rnd.gauss(0, 1), 4) for _ in range(9)] for i in range(200)]
    write_csv(proj / "t.csv", header, rows(1, 0))
    mrepo.snapshot("m", inputs={"t": "t.csv"})
    write_csv(proj / "t.csv", header, rows(2, 3))
    mrepo.snapshot("m", inputs={"t": "t.csv"})
    return mrepo


def test_text_and_report_fold_stable_columns(mrepo, proj):
    import re

    repo = many_columns_repo(mrepo, proj)
    d = repo.diff("m@1", "m@2")
    line = d.verdict[3]
    assert line.startswith("    data   t (t.csv): +200 rows, -200; 'shifted' drifted (KS p=<0.0001,"
                           " q=<0.0001 < 0.05; mean ")
    assert line.endswith("; 'row_id': identifier (unique per row), not tested for drift; "
                         "9 columns stable")
    assert "'s0'" not in line
    page = repo.report("m@1", "m@2")
    folded = re.search(r'<details class="stable"><summary>9 columns stable</summary>(.*?)'
                       r'</details>', page)
    assert folded is not None
    assert sorted(re.findall(r'data-column="(s\d)"', folded.group(1))) == [
        f"s{i}" for i in range(9)]
    outside = page.replace(folded.group(0), "")
    assert re.findall(r'<tr class="lvl-[a-z_]*" data-column="([^"]*)"', outside) == ["shifted"]
    assert ('<p class="sub identifiers">identifiers (unique per row), not tested: '
            "<code>row_id</code></p>") in page
