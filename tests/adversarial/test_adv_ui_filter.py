"""Issue 20 §3: the UI's versions filter is parsed in linear time and bounded in length.

Any web page can make a browser send ``GET /versions?q=…`` to 127.0.0.1, so a crafted
filter must cost nothing: a 29 KB one cost 16 s of CPU in regular-expression backtracking
before (``\\s+and\\s+`` over a long run of spaces)."""

from __future__ import annotations

import time

import pytest

from . import craft

pytest.importorskip("flask")


@pytest.fixture
def client(adv):
    from mlver.web import ui

    craft.write(adv / "data.csv", "id\n1\n")
    craft.ok(craft.mlver(adv, "snapshot", "m", "-i", "data=data.csv"))
    app = ui.create_app(str(adv))
    yield app.test_client()
    app.extensions["mlver.repos"].close()


def test_a_29_kb_filter_gets_a_400_at_once(client):
    start = time.process_time()
    resp = client.get("/versions", query_string={"q": "a" + " " * 29_000 + "b"})
    assert resp.status_code == 400
    assert "shorten it to at most 2000" in resp.get_data(as_text=True)
    assert time.process_time() - start < 2


@pytest.mark.parametrize("q", [
    "a" + " " * 1990 + "b",
    ("x = " + " " * 60 + "and ") * 30,
    "m" + "." * 1990 + " ~",
])
def test_a_crafted_filter_under_the_bound_costs_nothing(client, q):
    start = time.process_time()
    resp = client.get("/versions", query_string={"q": q[:2000]})
    assert resp.status_code == 200
    assert time.process_time() - start < 2
