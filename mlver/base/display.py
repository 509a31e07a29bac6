"""How a value of a low layer shows itself in Jupyter, without importing the renderers.

The values a notebook displays (``Record``, ``Diff``, ``Lineage``, ``Attribution``, ``Log``)
live in core, diff, explain and ops; their HTML renderers live in ``mlver.views``, above
them, and a layer never imports one above it, not even inside a function. So the values
inherit :class:`Displayable`, whose ``_repr_html_`` and ``_repr_mimebundle_`` ask
this registry, and
``mlver.views.notebook`` fills the registry when it is imported, which ``import mlver``
does (every ``mlver.*`` import runs ``mlver/__init__.py`` first, so a value can never be
displayed before its renderer is registered). The registry maps a class name to a
renderer taking the value; the renderer imports what it needs when first called.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

#: (mime type, class name) -> renderer of a value of that class into that type
_RENDERERS: dict[tuple[str, str], Callable[[Any], str]] = {}


def register(kind: str, html: Callable[[Any], str],
             text: Callable[[Any], str] | None = None) -> None:
    """Render values whose class (or a base class) is named ``kind`` with ``html`` (an HTML
    fragment) and, when given, ``text`` (the ``text/plain`` form; default ``str()``)."""
    _RENDERERS[("text/html", kind)] = html
    if text is not None:
        _RENDERERS[("text/plain", kind)] = text


def render(value: object, mime: str = "text/html") -> str | None:
    """``value`` as ``mime`` by the renderer registered for its class or a base class, or
    None when none is (a caller then falls back to ``str()``)."""
    for cls in type(value).__mro__:
        fn = _RENDERERS.get((mime, cls.__name__))
        if fn is not None:
            return fn(value)
    return None


class Displayable:
    """A value Jupyter shows as HTML (the report's look) with its text as ``text/plain``.

    A mixin without state: the frozen dataclasses that inherit it keep their fields,
    equality and hash."""

    __slots__ = ()

    def _repr_html_(self) -> str | None:
        return render(self)

    def _repr_mimebundle_(self, include: Any = None, exclude: Any = None
                          ) -> dict[str, str]:
        text = render(self, "text/plain")
        bundle = {"text/plain": text if text is not None else str(self)}
        html = render(self)
        if html is not None:
            bundle["text/html"] = html
        return bundle
