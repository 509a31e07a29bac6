"""Text made safe for a terminal: the one place control characters are escaped.

Names, paths, messages and commit summaries can come from someone else's store. Printed
raw, an escape sequence drives the terminal (retitles it, hides text, moves the cursor),
and a bidirectional control (U+202E RIGHT-TO-LEFT OVERRIDE and its kin) makes a line read
differently from the bytes it holds, as in the "Trojan Source" attack. Both are shown as
escapes instead; newlines and tabs are kept.
"""

from __future__ import annotations

import re

# C0 and C1 controls but \t and \n; bidi embeddings, overrides, isolates and marks; the
# Unicode line and paragraph separators (a terminal may break the line there).
_UNSAFE = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u2028-\u202e\u2066-\u2069]")


def _escape(m: re.Match[str]) -> str:
    code = ord(m.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: str) -> str:
    """``text`` with control and bidi characters shown as escapes (``\\x1b``, ``\\u202e``)."""
    return _UNSAFE.sub(_escape, text)


_USERINFO = re.compile(r"(?P<scheme>\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s'\"]*@")


def redact_userinfo(text: str) -> str:
    """``text`` with the ``user:password@`` of every URL in it left out: an error or a
    result line is printed, and may be pasted into an issue or a CI log."""
    return _USERINFO.sub(r"\g<scheme>", text)
