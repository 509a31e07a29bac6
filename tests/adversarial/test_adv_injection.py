"""Attacks through crafted record fields and repository config that try to make
mlver run something: git argument injection (issue item 1), repository-named
programs run by read-only commands (item 3), terminal escape sequences echoed to
the user's terminal (item 6)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from . import craft
from .craft import assert_clean_error, assert_ok_or_clean_error, mlver

ESC_SEQ = "\x1b]0;pwned\x07"


# --------------------------------------------------------------------------- item 1


@pytest.mark.parametrize("pre_existing", [False, True], ids=["absent", "existing"])
def test_01_git_argument_injection_in_commit(adv, tmp_path, pre_existing):
    target = tmp_path / "outside" / "x"
    target.parent.mkdir(parents=True, exist_ok=True)
    if pre_existing:
        target.write_text("precious\n")
    a, b = craft.two_versions(adv)

    def evil(d):
        d["code"]["commit"] = f"--output={target}"

    bad = craft.craft_record(adv, b, evil)
    craft.set_ref(adv, "m", bad)
    # "m" (the ref), not "m@2": the index may still map m@2 to the record replaced.
    proc = mlver(adv, "diff", "m@1", "m")
    if pre_existing:
        assert target.read_text() == "precious\n", "git --output truncated a file outside the repo"
    else:
        assert not target.exists(), "git ran with --output= taken from a record"
    assert "code unchanged" not in proc.stdout.lower()
    assert "unchanged: code" not in proc.stdout.lower(), "a forged commit reads as unchanged code"
    # The commit is not 40/64 hex: the record is damaged and refused with one line.
    assert_clean_error(proc, "commit")


@pytest.mark.parametrize("field", ["branch", "remote", "untracked", "commit_dash"])
def test_01_git_argument_injection_in_other_code_fields(adv, sentinel, field):
    a, b = craft.two_versions(adv)

    def evil(d):
        c = d["code"]
        if field == "branch":
            c["branch"] = f"--output={sentinel}"
        elif field == "remote":
            c["remote"] = f"--upload-pack=touch {sentinel}"
        elif field == "untracked":
            c["untracked"] = [f"--output={sentinel}", "--", "-p"]
        else:
            c["commit"] = "-p"

    bad = craft.craft_record(adv, b, evil)
    craft.set_ref(adv, "m", bad)
    for args in (("diff", "m@1", "m"), ("diff", "m"), ("show", "m"), ("status",),
                 ("log", "m"), ("lineage", "m")):
        proc = mlver(adv, *args)
        assert not sentinel.exists(), f"{args}: an option from a record reached git"
        assert_ok_or_clean_error(proc)
    if field == "commit_dash":
        assert_clean_error(mlver(adv, "show", "m"), "commit")


# --------------------------------------------------------------------------- item 3


def _evil_env(root: Path, sentinel: Path) -> None:
    evil = root / "evil.sh"
    evil.write_text(f"#!/bin/sh\necho ran >> '{sentinel}'\nexit 1\n")
    evil.chmod(evil.stat().st_mode | stat.S_IEXEC)
    (root / "mlver.toml").write_text('[env]\npython = "./evil.sh"\n')


@pytest.mark.parametrize("args", [("diff", "m"), ("status",), ("status", "m"), ("log",),
                                  ("show", "m"), ("lineage", "m"), ("diff", "m@1", "m@2")],
                         ids=lambda a: "_".join(a).replace("@", ""))
def test_03_read_only_commands_never_run_repository_programs(adv, sentinel, args):
    craft.two_versions(adv)
    _evil_env(adv, sentinel)
    (adv / "data.csv").write_text("id,x\n9,9\n")  # a workspace change to diff against
    proc = mlver(adv, *args)
    assert not sentinel.exists(), f"mlver {' '.join(args)} ran ./evil.sh named by mlver.toml"
    assert_ok_or_clean_error(proc)


def test_03_snapshot_may_run_the_configured_python(adv, sentinel):
    """Control: snapshot is allowed to ask the configured interpreter (here it fails)."""
    craft.write(adv / "data.csv", "id\n1\n")
    _evil_env(adv, sentinel)
    proc = mlver(adv, "snapshot", "m", "-i", "data=data.csv")
    assert_ok_or_clean_error(proc)


# --------------------------------------------------------------------------- item 6


def _no_esc(proc, what):
    out = proc.stdout + proc.stderr
    assert "\x1b" not in out, f"{what}: raw ESC reached the terminal: {out[-500:]!r}"
    assert "\x07" not in out, f"{what}: raw BEL reached the terminal"


def test_06_terminal_escapes_in_message(adv):
    craft.write(adv / "data.csv", "id\n1\n")
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=data.csv", "-m", f"hi {ESC_SEQ} there"))
    for args in (("log",), ("log", "m"), ("show", "m"), ("diff", "m")):
        proc = mlver(adv, *args)
        _no_esc(proc, args)
        assert proc.returncode == 0, proc.stderr


def test_06_terminal_escapes_in_crafted_record_fields(adv):
    a, b = craft.two_versions(adv)

    def evil(d):
        d["message"] = ESC_SEQ
        d["author"] = ESC_SEQ
        d["params"] = {f"k{ESC_SEQ}": f"v{ESC_SEQ}"}
        d["metrics"] = {f"acc{ESC_SEQ}": 1}
        d["code"]["branch"] = f"main{ESC_SEQ}"

    bad = craft.craft_record(adv, b, evil)
    craft.set_ref(adv, "m", bad)
    for args in (("log",), ("show", "m"), ("diff", "m@1", "m"), ("lineage", "m")):
        proc = mlver(adv, *args)
        _no_esc(proc, args)
        assert_ok_or_clean_error(proc)


def test_06_terminal_escapes_in_file_names(adv):
    d = adv / "d"
    craft.write(d / f"a{ESC_SEQ}.csv", "id\n1\n")
    craft.write(d / "b.csv", "id\n1\n")
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=d"))
    craft.write(d / f"a{ESC_SEQ}.csv", "id\n1\n2\n")
    craft.write(d / f"new{ESC_SEQ}.txt", "x")
    proc = mlver(adv, "diff", "m")
    _no_esc(proc, "diff m (workspace)")
    assert proc.returncode == 0, proc.stderr
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=d"))
    for args in (("diff", "m@1", "m@2"), ("show", "m"), ("status",), ("log",)):
        proc = mlver(adv, *args)
        _no_esc(proc, args)
        assert proc.returncode == 0, (args, proc.stderr)


@pytest.mark.parametrize("args", [
    ("snapshot", "m", "-i", f"x{ESC_SEQ}=nosuch"),
    ("snapshot", "m", "-i", f"x=nosuch{ESC_SEQ}"),
    ("show", f"m{ESC_SEQ}"),
    ("show", f"m@{ESC_SEQ}"),
    ("tag", "m@1", f"t{ESC_SEQ}"),
    ("diff", f"nosuch{ESC_SEQ}"),
], ids=["slot", "path", "name", "version", "tag", "diff"])
def test_06_terminal_escapes_in_error_lines(adv, args):
    craft.write(adv / "data.csv", "id\n1\n")
    craft.ok(mlver(adv, "snapshot", "m", "-i", "data=data.csv"))
    proc = mlver(adv, *args)
    _no_esc(proc, args)
    assert proc.returncode in (1, 2), proc.stderr
    if proc.returncode == 1:
        assert_clean_error(proc)


BIDI = "\u202e\u2066\u200f"


def test_06_bidi_controls_in_record_fields_are_escaped(adv):
    """U+202E and the other bidirectional controls from someone else's record are shown as
    escapes by log and show (a "Trojan Source" line reads differently from its bytes)."""
    a, b = craft.two_versions(adv)

    def evil(d):
        d["message"] = f"ok {BIDI}gpj.exe"
        d["code"]["branch"] = f"main{BIDI}"

    craft.set_ref(adv, "m", craft.craft_record(adv, b, evil))
    for args in (("log",), ("log", "m"), ("show", "m")):
        proc = mlver(adv, *args)
        out = proc.stdout + proc.stderr
        assert proc.returncode == 0, proc.stderr
        assert not any(c in out for c in BIDI), (args, out[-300:])
        assert "\\u202e\\u2066\\u200fgpj.exe" in out, (args, out[-300:])
