"""Progress reporting for long work, decoupled from the terminal.

The library reports through a :class:`Progress`, the one protocol of progress in mlver
(``start``, ``total``, ``advance``, ``add_bytes``, ``step``, ``finish``): every function doing
long work takes ``progress: Progress | None`` (None: report nothing) and calls these
methods, never a callback of its own. The CLI passes a bar that draws on stderr only when
stderr is a TTY. Python callers get silence.
"""

from __future__ import annotations

import sys
import time
from typing import Literal, TextIO

from mlver.base.fmt import human_size


class Progress:
    """Silent progress: the interface the library calls."""

    def start(self, label: str) -> None:
        """A new phase begins."""

    def total(self, total: int, done: int = 0) -> None:
        """How many items the phase has, and how many are already done (cache hits)."""

    def advance(self, n: int = 1) -> None:
        """``n`` more items are done."""

    def add_bytes(self, n: int) -> None:
        """``n`` more bytes moved (a transfer's items are objects; its bar shows bytes too)."""

    def step(self, label: str) -> None:
        """A long step with no count (reading a large table)."""

    def finish(self) -> None:
        """The phase ended."""


class TerminalProgress(Progress):
    """A one-line bar on stderr, redrawn at most 10 times a second."""

    def __init__(self, stream: TextIO | None = None, delay: float = 0.0,
                 unit: str = "files") -> None:
        self.stream = stream or sys.stderr
        self.unit = unit  # what the counted items are: "files", "runs"
        # Work done within ``delay`` seconds draws nothing: a flash of a bar is noise.
        self._quiet_until = time.monotonic() + delay
        self.label = ""
        self.n = self.of = 0
        self._last = 0.0
        # what is on the line: nothing, a bar (True) or a step's text (wiped at the end)
        self._drawn: bool | Literal["step"] = False

    def start(self, label: str) -> None:
        self.label, self.n, self.of = label, 0, 0

    def total(self, total: int, done: int = 0) -> None:
        self.of += total
        self.n += done
        self._draw()

    def advance(self, n: int = 1) -> None:
        self.n += n
        self._draw()

    def _due(self, force: bool) -> bool:
        """Whether to redraw now: at most ten times a second, and not while quiet."""
        now = time.monotonic()
        if not force and (now - self._last < 0.1 or now < self._quiet_until):
            return False
        self._last = now
        return True

    def _bar(self, width: int) -> str:
        filled = (100 * self.n // self.of if self.of else 100) * width // 100
        return "#" * filled + "." * (width - filled)

    def _draw(self, force: bool = False) -> None:
        if not self._due(force):
            return
        self.stream.write(f"\r{self.label:<12} [{self._bar(30)}] "
                          f"{self.n:,}/{self.of:,} {self.unit}")
        self.stream.flush()
        self._drawn = True

    def step(self, label: str) -> None:
        label = "".join(c if c.isprintable() else "?" for c in label)  # a path may carry escapes
        # the ellipsis right after the label, spaces after it wiping a longer previous one
        self.stream.write(f"\r{label[:70] + '…':<71}")
        self.stream.flush()
        self._drawn = "step"

    def finish(self) -> None:
        if self._drawn == "step":  # a step line is wiped, not kept
            self.stream.write("\r" + " " * 72 + "\r")
            self.stream.flush()
            self._drawn = False
        if self._drawn is True:
            self._draw(force=True)
            self.stream.write("\n")
            self.stream.flush()
            self._drawn = False


def for_terminal(delay: float = 0.0, unit: str = "files") -> Progress:
    """A bar when stderr is a terminal, silence otherwise (pipes, CI, tests); with
    ``delay``, only once the work has run that many seconds. ``unit`` names what is
    counted."""
    return TerminalProgress(delay=delay, unit=unit) if sys.stderr.isatty() else Progress()


class TransferProgress(TerminalProgress):
    """The bar of push and pull: objects, bytes and the rate, on one line."""

    def start(self, label: str) -> None:
        super().start(label)
        self.bytes = 0
        self._t0 = time.monotonic()

    def add_bytes(self, n: int) -> None:
        self.bytes = getattr(self, "bytes", 0) + n

    def _draw(self, force: bool = False) -> None:
        if not self._due(force):
            return
        now = time.monotonic()
        secs = max(now - getattr(self, "_t0", now), 1e-6)
        size = getattr(self, "bytes", 0)
        self.stream.write(f"\r{self.label:<16} [{self._bar(20)}] "
                          f"{self.n:,}/{self.of:,} objects, {human_size(size)}, "
                          f"{human_size(int(size / secs))}/s   ")
        self.stream.flush()
        self._drawn = True


def for_transfer() -> Progress:
    """A transfer bar (objects, bytes, rate) when stderr is a terminal, else silence."""
    return TransferProgress(delay=0.5) if sys.stderr.isatty() else Progress()
