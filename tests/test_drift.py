"""mlver.ops.drift: a recorded path compared with the workspace (status and the hooks ask
it): unchanged, modified (content or type) or removed."""

from __future__ import annotations

import shutil

from mlver.ops.drift import MODIFIED, REMOVED, UNCHANGED, drift

from _fixtures import mrepo, proj, write

__all__ = ["mrepo", "proj"]


def recorded(mrepo, proj):
    write(proj / "data" / "a.csv", "x\n1\n")
    write(proj / "model.bin", "weights")
    mrepo.snapshot("m", inputs={"data": "data"}, outputs={"model": "model.bin"})
    _oid, rec = mrepo.show("m")
    return rec


def check(mrepo, art):
    ws = mrepo.workspace
    cache = ws.stat_cache()
    try:
        return drift(ws, art, cache)
    finally:
        cache.save()


def test_unchanged_paths_hold_their_recorded_oid(mrepo, proj):
    rec = recorded(mrepo, proj)
    for art in (rec.inputs["data"], rec.outputs["model"]):
        d = check(mrepo, art)
        assert (d.state, d.oid, d.changed) == (UNCHANGED, art.oid, False)


def test_edited_content_is_modified_with_the_new_oid(mrepo, proj):
    rec = recorded(mrepo, proj)
    write(proj / "data" / "b.csv", "x\n2\n")
    d = check(mrepo, rec.inputs["data"])
    assert d.state == MODIFIED and d.changed and d.oid not in (None, rec.inputs["data"].oid)


def test_a_file_where_a_folder_was_is_modified(mrepo, proj):
    rec = recorded(mrepo, proj)
    shutil.rmtree(proj / "data")
    write(proj / "data", "now a file\n")
    assert check(mrepo, rec.inputs["data"]).state == MODIFIED


def test_a_gone_path_is_removed(mrepo, proj):
    rec = recorded(mrepo, proj)
    (proj / "model.bin").unlink()
    d = check(mrepo, rec.outputs["model"])
    assert (d.state, d.oid, d.changed) == (REMOVED, None, True)


def test_another_path_is_compared_when_given(mrepo, proj):
    rec = recorded(mrepo, proj)
    write(proj / "copy.bin", "weights")
    assert check(mrepo, rec.outputs["model"]).state == UNCHANGED
    ws = mrepo.workspace
    cache = ws.stat_cache()
    assert drift(ws, rec.outputs["model"], cache, "copy.bin").state == UNCHANGED
