"""The env section of a diff: Python version, platform, packages added, removed,
upgraded and downgraded. Records with other package lists are written with the
store's own batch (the workspace cannot produce them); one end-to-end case records
two states of a real, tiny virtualenv through ``--python``."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest

from _fixtures import (add_blob, assert_ok, cli, mrepo, proj, publish_variant, write)

__all__ = ["mrepo", "proj"]

OLD_PKGS = b"numpy==1.26.0\npandas==2.0.0\nrequests==2.31.0\nscipy==1.9.0\nsix==1.16.0\n"
NEW_PKGS = b"numpy==2.0.1\npandas==1.5.3\nscipy==1.10.0\nsix==1.16.0\ntorch==2.3.0\n"


def two_envs(mrepo, proj, old_pkgs: bytes, new_pkgs: bytes, **env_changes):
    write(proj / "in.txt", "x\n")
    base = mrepo.snapshot("m", inputs={"a": "in.txt"}).record
    po, pn = add_blob(mrepo, old_pkgs), add_blob(mrepo, new_pkgs)
    env_a = dataclasses.replace(base.env, packages=po, packages_count=old_pkgs.count(b"\n"))
    env_b = dataclasses.replace(base.env, packages=pn, packages_count=new_pkgs.count(b"\n"),
                                **env_changes)
    publish_variant(mrepo, "m@1", name="e", env=env_a)
    publish_variant(mrepo, "m@1", name="e", env=env_b)
    return mrepo.diff("e@1", "e@2")


def test_packages_added_removed_upgraded_downgraded(mrepo, proj):
    d = two_envs(mrepo, proj, OLD_PKGS, NEW_PKGS)
    p = d.env["packages"]
    assert p["added"] == ["torch==2.3.0"]
    assert p["removed"] == ["requests==2.31.0"]
    assert p["upgraded"] == [{"name": "numpy", "old": "1.26.0", "new": "2.0.1"},
                             {"name": "scipy", "old": "1.9.0", "new": "1.10.0"}]  # 10 > 9
    assert p["downgraded"] == [{"name": "pandas", "old": "2.0.0", "new": "1.5.3"}]
    assert d.env["changed"] is True
    assert d.changed == ("env",)
    assert d.verdict[3] == ("    env    upgraded numpy 1.26.0 -> 2.0.1, scipy 1.9.0 -> 1.10.0; "
                            "downgraded pandas 2.0.0 -> 1.5.3; added torch==2.3.0; "
                            "removed requests==2.31.0")
    j = json.loads(assert_ok(cli("diff", "e@1", "e@2", "--json")))
    assert j["changed"] == ["env"]
    assert j["env"]["packages"]["downgraded"] == [{"name": "pandas", "old": "2.0.0", "new": "1.5.3"}]


def test_packages_are_named_up_to_four_of_each_kind_then_k_more(mrepo, proj):
    old = "".join(f"p{i}==1.0\n" for i in range(6)) + "".join(f"q{i}==1.0\n" for i in range(5))
    new = "".join(f"p{i}==2.0\n" for i in range(6)) + "".join(f"r{i}==0.1\n" for i in range(7))
    d = two_envs(mrepo, proj, old.encode(), new.encode())
    assert d.verdict == (
        "e@1 -> e@2",
        "  outputs unchanged",
        "  because:",
        "    env    upgraded p0 1.0 -> 2.0, p1 1.0 -> 2.0, p2 1.0 -> 2.0, p3 1.0 -> 2.0, +2 more; "
        "added r0==0.1, r1==0.1, r2==0.1, r3==0.1, +3 more; "
        "removed q0==1.0, q1==1.0, q2==1.0, q3==1.0, +1 more",
        f"  unchanged: data, code ({d.code['new_commit'][:7]}), params",
    )
    assert len(d.env["packages"]["added"]) == 7  # the JSON has them all


def test_python_and_packages_share_the_env_line(mrepo, proj):
    d = two_envs(mrepo, proj, b"a==1.0\n", b"a==1.0\nb==2\n", python="3.99.1")
    assert d.verdict[3] == f"    env    python {d.env['python']['old']} -> 3.99.1; added b==2"


def test_a_version_pep_440_cannot_read_is_ordered_by_its_numbers(mrepo, proj):
    # "2.0-custom" is no PEP 440 version: compared as text, "10.0" < "2.0-custom"
    d = two_envs(mrepo, proj, b"lib==2.0-custom\n", b"lib==10.0\n")
    assert d.env["packages"]["upgraded"] == [{"name": "lib", "old": "2.0-custom", "new": "10.0"}]


@pytest.mark.parametrize("old,new,older", [
    ("1.9", "1.10", True), ("2.0rc1", "2.0", True), ("2.0", "2.0.1", True),
    ("1.0a1", "1.0b1", True), ("10.0", "9.0", False), ("2.0", "2.0rc1", False),
    ("2024.1", "2024.10", True), ("weird", "1.0", True), ("1.0.dev1", "1.0", True)])
def test_version_order_without_packaging(monkeypatch, old, new, older):
    from mlver.diff import envdiff

    monkeypatch.setitem(sys.modules, "packaging.version", None)  # import fails
    assert envdiff._pep440("1.0") is None
    assert envdiff._older(old, new) is older
    assert envdiff.version_key(old)[0] == 1


def test_prerelease_to_release_is_an_upgrade(mrepo, proj):
    d = two_envs(mrepo, proj, b"lib==2.0.0rc1\n", b"lib==2.0.0\n")
    assert d.env["packages"]["upgraded"] == [{"name": "lib", "old": "2.0.0rc1", "new": "2.0.0"}]
    assert d.env["packages"]["downgraded"] == []


def test_python_version_change(mrepo, proj):
    d = two_envs(mrepo, proj, OLD_PKGS, OLD_PKGS, python="3.99.1")
    assert d.env["python"]["new"] == "3.99.1"
    assert d.env["python"]["old"] != "3.99.1"
    assert d.env["packages"] == {"added": [], "removed": [], "upgraded": [], "downgraded": []}
    assert d.changed == ("env",)
    assert "-> 3.99.1" in str(d)


def test_same_env_is_unchanged(mrepo, proj):
    write(proj / "in.txt", "x\n")
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params=["lr=1"])
    mrepo.snapshot("m", inputs={"a": "in.txt"}, params=["lr=2"])
    d = mrepo.diff("m@1", "m@2")
    assert d.env["changed"] is False and "env" not in d.changed
    py = d.env["python"]["new"]
    assert py == "%d.%d.%d" % sys.version_info[:3]
    assert f"env (python {py}, {d.env['packages_count']['new']} packages)" in str(d)


def _fake_dist(venv, name: str, version: str):
    import glob
    import shutil

    site = glob.glob(str(venv / "lib" / "python*" / "site-packages"))[0]
    for old in glob.glob(f"{site}/{name}-*.dist-info"):
        shutil.rmtree(old)
    d = f"{site}/{name}-{version}.dist-info"
    write(f"{d}/METADATA", f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n")


def test_real_virtualenv_through_python_option(mrepo, proj, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    if not py.exists():
        pytest.skip("venv has no bin/python here")
    write(proj / "in.txt", "x\n")
    _fake_dist(venv, "fakepkg", "1.0")
    assert_ok(cli("snapshot", "m", "-i", "a=in.txt", "--python", py))
    _fake_dist(venv, "fakepkg", "1.2")
    _fake_dist(venv, "otherpkg", "0.1")
    assert_ok(cli("snapshot", "m", "-i", "a=in.txt", "--python", py))
    d = mrepo.diff("m@1", "m@2")
    p = d.env["packages"]
    assert p["upgraded"] == [{"name": "fakepkg", "old": "1.0", "new": "1.2"}]
    assert p["added"] == ["otherpkg==0.1"]
    assert d.env["packages_count"] == {"old": 1, "new": 2}
    assert d.changed == ("env",)
