"""mlver.core.revision: NAME, NAME@N, NAME@TAG, NAME~K, NAME@TAG~K, and oid prefixes (>= 6 hex)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlver.base.errors import RevisionError
from mlver.core.revision import Revision, parse, resolve


@pytest.mark.parametrize("text,name,version,tag,back,prefix", [
    ("price-model", "price-model", None, None, 0, None),
    ("price-model@3", "price-model", 3, None, 0, None),
    ("price-model@production", "price-model", None, "production", 0, None),
    ("price-model~", "price-model", None, None, 1, None),
    ("price-model~1", "price-model", None, None, 1, None),
    ("price-model~12", "price-model", None, None, 12, None),
    ("price-model@production~2", "price-model", None, "production", 2, None),
    ("price-model@3~1", "price-model", 3, None, 1, None),
    ("v1.2_x", "v1.2_x", None, None, 0, None),
    ("  m@2  ", "m", 2, None, 0, None),
    # hex text could be a name or an oid prefix: both are kept, the name wins at resolve
    ("deadbeef", "deadbeef", None, None, 0, "deadbeef"),
    ("DEADBEEF", "DEADBEEF", None, None, 0, "deadbeef"),
    ("abc123", "abc123", None, None, 0, "abc123"),
    ("abc12", "abc12", None, None, 0, None),  # 5 hex: too short to be a prefix
    ("deadbeef@2", "deadbeef", 2, None, 0, None),
    ("99aa06d3014798d86001c324468d497f", "99aa06d3014798d86001c324468d497f", None, None, 0,
     "99aa06d3014798d86001c324468d497f"),
])
def test_parse(text, name, version, tag, back, prefix):
    r = parse(text)
    assert (r.name, r.version, r.tag, r.back, r.prefix) == (name, version, tag, back, prefix)


@pytest.mark.parametrize("text", ["", "@3", "m@", "m@@3", "m@a@b", "m~x", "-m", "m/x", "m@3~1~1",
                                  "a b", "m@pro duction"])
def test_parse_rejects(text):
    with pytest.raises(RevisionError, match="not a revision"):
        parse(text)


names = st.from_regex(r"\A[A-Za-z0-9][A-Za-z0-9._-]{0,15}\Z")
tags = st.from_regex(r"\A[A-Za-z0-9._-]{1,10}\Z").filter(lambda t: not t.isdigit())


@settings(max_examples=150, deadline=None)
@given(name=names, at=st.none() | st.integers(0, 10**6) | tags, back=st.none() | st.integers(0, 99))
def test_parse_round_trip(name, at, back):
    text = name + (f"@{at}" if at is not None else "") + (f"~{back}" if back is not None else "")
    r = parse(text)
    assert r.name == name
    assert r.version == (at if isinstance(at, int) else None)
    assert r.tag == (at if isinstance(at, str) else None)
    assert r.back == (back or 0)
    assert r.text == text


# -- resolve, with plain-dict lookups -----------------------------------------------------------

A1, A2, A3 = "a1" * 16, "a2" * 16, "a3" * 16
B1 = "b1" * 16
HEADS = {"alpha": A3, "beta": B1}
VERSIONS = {("alpha", 1): A1, ("alpha", 2): A2, ("alpha", 3): A3, ("beta", 1): B1}
PARENT = {A3: A2, A2: A1, A1: None, B1: None}
TAGS = {("alpha", "prod"): A2}


def _resolve(text, oids=(A1, A2, A3, B1), heads=HEADS):
    return resolve(parse(text), head=heads.get, tag=lambda n, t: TAGS.get((n, t)),
                   by_version=lambda n, v: VERSIONS.get((n, v)),
                   by_prefix=lambda p: [o for o in oids if o.startswith(p)],
                   parent=PARENT.get, names=lambda: sorted(heads))


@pytest.mark.parametrize("text,oid", [
    ("alpha", A3), ("alpha@1", A1), ("alpha@prod", A2), ("alpha~1", A2), ("alpha~", A2),
    ("alpha~2", A1), ("alpha@prod~1", A1), ("alpha@3~2", A1), ("beta", B1),
    ("a2a2a2", A2), (A1, A1), ("B1B1B1B1", B1),
])
def test_resolve(text, oid):
    assert _resolve(text) == oid


def test_name_wins_over_oid_prefix():
    heads = {**HEADS, "a1a1a1": B1}
    assert _resolve("a1a1a1", heads=heads) == B1


def test_ambiguous_prefix_lists_candidates():
    x = "abcdef" + "0" * 26
    y = "abcdef" + "1" * 26
    with pytest.raises(RevisionError) as ei:
        _resolve("abcdef", oids=(x, y, A1))
    msg = str(ei.value)
    assert "ambiguous" in msg and "'abcdef'" in msg and x in msg and y in msg
    assert _resolve("abcdef1", oids=(x, y)) == y


def test_unknown_revision_lists_names():
    with pytest.raises(RevisionError) as ei:
        _resolve("gamma")
    assert str(ei.value) == "unknown revision 'gamma'; names here: alpha, beta"


def test_unmatched_prefix_is_unknown_revision():
    with pytest.raises(RevisionError, match="unknown revision 'ffffff'; names here: alpha, beta"):
        _resolve("ffffff")


def test_unknown_revision_in_empty_store():
    with pytest.raises(RevisionError, match="no versions exist yet"):
        _resolve("alpha", heads={}, oids=())


@pytest.mark.parametrize("text,needle", [
    ("alpha@9", "alpha has no version 9"),
    ("alpha@nope", "alpha has no tag 'nope'"),
    ("alpha~3", "'alpha~3' goes back before the first version of alpha"),
    ("alpha@1~1", "before the first version"),
])
def test_resolve_errors(text, needle):
    with pytest.raises(RevisionError, match=needle):
        _resolve(text)


def test_revision_is_a_value():
    assert parse("m@2") == Revision("m@2", name="m", version=2)
