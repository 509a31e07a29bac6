"""Registers the HTML (and text) of the values a notebook displays.

``import mlver`` imports this module (it is tiny: the renderers themselves, in
:mod:`mlver.views.htmlvalues`, load on the first display). A value of a lower layer finds
its renderer through :mod:`mlver.base.display`: it may not import this layer (see
docs/architecture.md).
"""

from __future__ import annotations

from typing import Any

from mlver.base import display


def _html(kind: str) -> Any:
    def render(value: Any) -> str:
        from mlver.views import htmlvalues

        return str(getattr(htmlvalues, f"{kind}_html")(value))
    return render


def _text(kind: str) -> Any:
    def render(value: Any) -> str:
        from mlver.views import htmlvalues

        return str(getattr(htmlvalues, f"{kind}_text")(value))
    return render


display.register("Diff", _html("diff"))
display.register("Attribution", _html("attribution"))
display.register("Record", _html("record"), _text("record"))
display.register("Lineage", _html("lineage"), _text("lineage"))
display.register("Log", _html("log"), _text("log"))
