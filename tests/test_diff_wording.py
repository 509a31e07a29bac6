"""mlver.diff.wording: the phrases the text, the verdict and the HTML report share."""

from mlver.diff import wording
from mlver.diff.value import SlotDiff


def test_ref_label_and_headline():
    assert wording.ref_label({"oid": "a", "name": "m", "version": 3}) == "m@3"
    assert wording.ref_label({"oid": None, "name": "m", "version": None,
                              "workspace": True}) == "m (workspace)"
    assert wording.headline("a@1", "b@2", True) == (
        "a@1 -> b@2 (two different names, not two versions of one)")
    assert wording.headline("m@1", "m@2", False) == "m@1 -> m@2"


def test_metric_pair_keeps_digits_that_differ():
    assert wording.metric_pair(0.91234, 0.81234) == ("0.9123", "0.8123")
    assert wording.metric_pair(0.123451, 0.123452) == ("0.123451", "0.123452")
    assert wording.metric_pair(None, 1) == ("(missing)", "1")


def test_metric_change_signs_the_delta():
    m = {"old": 41.2, "new": 37.9, "delta": -3.3, "changed": True}
    assert wording.metric_change("rmse", m) == "rmse 41.2 -> 37.9 (-3.3)"
    m = {"old": 1, "new": 2, "delta": 1, "changed": True}
    assert wording.metric_change("n", m) == "n 1 -> 2 (+1)"


def test_folder_prefix_and_where():
    assert wording.folder_prefix(".") == "" and wording.folder_prefix(None) == ""
    assert wording.folder_prefix("raw/") == "raw/"
    s = SlotDiff("x", "moved", "b.csv", "1", "1", "blob", 5, 5, old_path="a.csv")
    assert wording.where(s) == "a.csv -> b.csv"
    assert wording.slot_line(s) == "x (a.csv -> b.csv): moved, same content (5 B)"


def test_params_and_env_lines():
    p = {"added": {"d": 3}, "removed": {"s": 1}, "changed": {"lr": {"old": 0.1, "new": 0.2}}}
    assert wording.params_line(p) == "lr: 0.1 -> 0.2, +d=3, -s"
    e = {"python": {"old": "3.10", "new": "3.11"},
         "implementation": {"old": "CPython", "new": "CPython"},
         "platform": {"old": "x", "new": "x"}, "packages_count": {"old": 1, "new": 1},
         "packages": {"added": [], "removed": [], "downgraded": [],
                      "upgraded": [{"name": "numpy", "old": "1.26", "new": "2.0"}]},
         "changed": True}
    assert wording.env_line(e) == "python 3.10 -> 3.11; upgraded numpy 1.26 -> 2.0"


def test_reads_phrase():
    assert wording.reads_phrase(["a"]) == "a, which is not recorded"
    assert wording.reads_phrase(["a", "b"]) == "a and b, which are not recorded"
    assert wording.reads_phrase("abcde") == "a, b, c and 2 more files, which are not recorded"
