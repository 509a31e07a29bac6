"""Second review of issues 19 and 20: values a crafted file or record carries never end in a
traceback.

* An ``mlver.toml`` (a merged branch can bring one) that nests arrays 500 deep made every
  command that reads it raise RecursionError.
* A metric integer beyond float range (``1`` and 400 zeros) was accepted, then ``diff`` and
  ``report`` crashed with OverflowError, also on a record that arrived by pull.
"""

from __future__ import annotations

import pytest

from . import craft
from .craft import assert_clean_error, mlver


@pytest.mark.parametrize("args", [("snapshot", "d", "-o", "f=f"), ("remote", "list"),
                                  ("push",)])
def test_a_deeply_nested_mlver_toml_is_one_error_line(adv, args):
    craft.write(adv / "f", "x\n")
    craft.write(adv / "mlver.toml", "x = " + "[" * 500 + "]" * 500 + "\n")
    assert_clean_error(mlver(adv, *args), "mlver.toml nests arrays or tables too deeply")


def test_a_huge_metric_integer_is_kept_as_text_when_captured(adv):
    craft.write(adv / "f", "x\n")
    craft.ok(mlver(adv, "snapshot", "m", "-o", "f=f", "-M", "acc=1"))
    craft.write(adv / "f", "y\n")
    craft.write(adv / "metrics.json", '{"acc": 1' + "0" * 400 + "}\n")
    craft.ok(mlver(adv, "snapshot", "m", "-o", "f=f", "-M", "metrics.json"))
    out = craft.ok(mlver(adv, "diff", "m@1", "m@2"))
    assert "metrics: acc 1 -> 1" + "0" * 400 in out


def test_a_record_with_a_huge_metric_integer_is_refused_not_a_crash(adv):
    a, b = craft.two_versions(adv)

    def evil(d):
        d["metrics"] = {"acc": 10**400}

    craft.set_ref(adv, "m", craft.craft_record(adv, b, evil))
    for args in (("diff", "m@1", "m"), ("show", "m"), ("report", "m@1", "m", "-o", "r.html")):
        assert_clean_error(mlver(adv, *args), "beyond ±2**63")
