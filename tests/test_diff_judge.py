"""mlver.diff.judge: the verdict is judged once, and the text renders that value."""

from dataclasses import replace

from mlver.diff import judge, text
from mlver.diff.value import Diff, SlotDiff

ENV = {"python": {"old": "3.11", "new": "3.11"},
       "implementation": {"old": "CPython", "new": "CPython"},
       "platform": {"old": "x", "new": "x"}, "packages_count": {"old": 3, "new": 3},
       "packages": {"added": [], "removed": [], "upgraded": [], "downgraded": []},
       "changed": False}
CODE = {"old_commit": "a" * 40, "new_commit": "a" * 40, "old_branch": None,
        "new_branch": None, "commits": None, "commits_known": True, "files": [],
        "patch_changed": False, "patch_files": [], "changed": False}


def diff(name="m", changed=(), inputs=None, outputs=None, **over) -> Diff:
    d = Diff(old={"oid": "1" * 32, "name": name, "version": 1},
             new={"oid": "2" * 32, "name": "m", "version": 2}, changed=tuple(changed),
             inputs=inputs or {}, outputs=outputs or {}, code=dict(CODE),
             params={"added": {}, "removed": {}, "changed": {}}, env=dict(ENV), metrics={})
    return replace(d, **over)


def test_nothing_changed():
    v = judge.judge(diff(inputs={"i": SlotDiff("i", "unchanged", "i.csv", "1", "1")}))
    assert (v.old, v.new, v.other_names) == ("m@1", "m@2", False)
    assert v.reason == "no recorded input changed" and v.causes == () and v.unchanged == ()
    assert not v.outputs_changed


def test_outputs_changed_without_inputs():
    out = {"o": SlotDiff("o", "modified", "o.bin", "1", "2", "blob", 1, 2)}
    v = judge.judge(diff(outputs=out))
    assert v.outputs_changed and v.reason.startswith("the record has no inputs")
    assert v.outputs == "o.bin changed (1 B -> 2 B)"


def test_root_cause_is_the_deepest_changed_upstream_diff():
    up = diff(name="feat", changed=("code",), code={**CODE, "new_commit": "b" * 40,
                                                   "changed": True, "commits_known": False})
    s = SlotDiff("i", "modified", "i.csv", "1", "2", "blob", 1, 2, upstream=up)
    d = diff(changed=("data",), inputs={"i": s})
    v = judge.judge(d)
    assert [c.diff for c in v.causes] == [up] and v.causes[0].old == "feat@1"
    assert v.other_names is False and v.unchanged == ("code (aaaaaaa)", "params",
                                                      "env (python 3.11, 3 packages)")
    assert judge.root_causes(d) == [up]


def test_a_built_verdict_is_the_one_rendered():
    d = diff()
    v = replace(judge.judge(d), reason="said once")
    assert judge.verdict_of(replace(d, judged=v)) is v
    assert text.verdict(replace(d, judged=v))[-1] == "  said once"
    assert replace(d, judged=v) == d  # the verdict is not part of the value's identity
