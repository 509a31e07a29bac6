"""Progress output: silent by default, a bar or a step line on a terminal, wiped when done."""

from __future__ import annotations

import io
import time

from mlver.base.progress import Progress, TerminalProgress, for_terminal


def test_default_progress_is_silent_off_a_terminal(capsys):
    p = for_terminal()  # pytest captures stderr: not a TTY
    assert type(p) is Progress
    p.start("x"), p.total(10), p.advance(5), p.step("reading t.csv"), p.finish()
    assert capsys.readouterr().err == ""


def test_bar_counts_files_and_ends_its_line():
    out = io.StringIO()
    p = TerminalProgress(out)
    p.start("data")
    p.total(100, 40)  # 40 cache hits count as done
    p.advance(60)
    p.finish()
    text = out.getvalue()
    assert "40/100 files" in text and text.endswith("100/100 files\n")


def test_step_line_is_wiped_when_the_work_ends():
    out = io.StringIO()
    p = TerminalProgress(out)
    p.step("reading features/listings.csv")
    p.finish()
    text = out.getvalue()
    assert "reading features/listings.csv…   " in text  # not padded out to a far "…"
    assert text.endswith("\r" + " " * 72 + "\r")  # nothing left on the line for the verdict


def test_a_delayed_bar_draws_nothing_for_quick_work():
    out = io.StringIO()
    p = TerminalProgress(out, delay=60.0)
    p.start("checkout")
    p.total(10)
    p.advance(10)
    p.finish()
    assert out.getvalue() == ""


def test_a_delayed_bar_draws_once_the_delay_has_passed():
    out = io.StringIO()
    p = TerminalProgress(out, delay=0.05)
    p.start("checkout")
    p.total(10)
    time.sleep(0.06)
    p.advance(10)
    p.finish()
    assert out.getvalue().endswith("10/10 files\n")


def test_a_bar_can_count_commits():
    out = io.StringIO()
    p = TerminalProgress(out, unit="commits")  # what mlver import-dvc counts
    p.start("importing")
    p.total(200, 199)  # 199 imported before
    p.advance()
    p.finish()
    assert out.getvalue().endswith("200/200 commits\n")
