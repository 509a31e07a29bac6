"""Remote URLs mlver reads, and nothing else (a new-user trial): ``remote add`` refuses an
unknown scheme or a scheme typo with one line (exit 2), a bad URL in mlver.toml is the
file's fault (exit 1), a backend that cannot be opened is one ``Error:`` line, and
``remote add`` then ``remote remove`` leaves mlver.toml byte-identical."""

from __future__ import annotations

import pytest

from mlver.base.errors import RemoteError
from mlver.core.remoteurl import ACCEPTED
from mlver.store.remote import open_backend

from _remotes import ok, project, run


@pytest.fixture
def proj(tmp_path):
    p = project(tmp_path / "p")
    ok(p, "init")
    return p


@pytest.mark.parametrize("url,why", [
    ("ftp://x/y", "ftp://x/y is not a remote URL mlver reads (scheme ftp://)"),
    ("s3:/bucket/x", "s3:/bucket/x looks like a mistyped URL (s3: without //)"),
    ("s3:bucket", "s3:bucket looks like a mistyped URL (s3: without //)"),
    # a new-user trial: the colon lost, this was the folder ./s3/bucket/x of the work tree
    ("s3//bucket/x", "s3//bucket/x looks like a mistyped URL (s3// without its colon)"),
    ("s3:///p", "s3:///p names no bucket"),            # second review
    ("s3://", "s3:// names no bucket"),
    ("", "an empty remote URL is not one mlver reads"),
])
def test_remote_add_refuses_what_mlver_does_not_read(proj, url, why):
    """Each refused with exit 2 (a usage error) and the accepted forms."""
    r = run(proj, "remote", "add", "bk", url)
    assert r.exit_code == 2, r.stdout
    tail = f" (write ./{url} for a folder of that name)" if "mistyped" in why else ""
    assert r.stderr == f"Error: {why}; use {ACCEPTED}{tail}\n"
    assert not (proj / "mlver.toml").exists()
    assert not (proj / "s3:").exists() and not (proj / "s3:bucket").exists()
    assert not (proj / "s3").exists()


@pytest.mark.parametrize("url", ["s3://b/p", "gs://b/p", "gcs://b/p", "az://c/p", "abfs://c/p",
                                 "file:///tmp/x", "relative/folder", "./s3:bucket"])
def test_remote_add_accepts_the_documented_forms(proj, url):
    assert ok(proj, "remote", "add", "bk", url).startswith("Added remote bk ")


def test_a_bad_url_in_mlver_toml_is_the_files_fault(proj):
    ok(proj, "snapshot", "ds", "-o", "d=data")
    (proj / "mlver.toml").write_text('[remotes.bk2]\nurl = "ftp://x/y"\n')
    r = run(proj, "push", "bk2")
    assert r.exit_code == 1
    assert r.stderr == (f"Error: [remotes.bk2] url in {proj / 'mlver.toml'}: ftp://x/y is not a "
                        f"remote URL mlver reads (scheme ftp://); use {ACCEPTED}; fix it\n")
    assert "Traceback" not in r.stdout + r.stderr


def test_a_backend_that_cannot_be_opened_is_one_remote_error():
    # ftp:// (FTPFileSystem needs a host) raised a TypeError out of the push
    with pytest.raises(RemoteError, match=r"^remote 'bk2' \(ftp://x/y\) cannot be reached "
                                          r"\(opening ftp://: "):
        open_backend("bk2", "ftp://x/y")


def test_remote_add_then_remove_leaves_mlver_toml_byte_identical(proj, tmp_path):
    before = "# settings\n[env]\npython = \"python3\"\n"
    (proj / "mlver.toml").write_text(before)
    ok(proj, "remote", "add", "bk", str(tmp_path / "bk"))
    ok(proj, "remote", "remove", "bk")
    assert (proj / "mlver.toml").read_text() == before


def test_a_mistyped_remote_name_is_named_as_both(proj, tmp_path):
    ok(proj, "snapshot", "m", "-o", "d=data")
    ok(proj, "remote", "add", "origin", str(tmp_path / "r"), "--default")
    ok(proj, "push")
    r = run(proj, "pull", "orign")
    assert r.exit_code == 1
    assert r.stderr == ("Error: 'orign' is not a remote (remotes: origin) nor a name on remote "
                        "'origin' (its names: m)\n")
    r = run(proj, "push", "orign")
    assert r.exit_code == 1
    assert r.stderr == ("Error: 'orign' is not a remote (remotes: origin) nor a name of this "
                        "store (its names: m)\n")
    # a remote named, then a name it lacks: only the name is wrong
    r = run(proj, "pull", "origin", "nope")
    assert r.stderr == (f"Error: remote 'origin' ({tmp_path / 'r'}) has no versions of 'nope' "
                        "(its names: m)\n")


@pytest.mark.parametrize("url,why", [
    ("S3://b/p", "Error: S3://b/p spells its scheme in capitals; write s3://b/p\n"),
    ("user@host:data", "Error: user@host:data looks like an ssh location (USER@HOST:PATH), which "
     f"mlver does not read; use {ACCEPTED} (write ./user@host:data for a folder of that name)\n"),
])
def test_capitals_and_ssh_locations_are_refused_with_the_fix(proj, url, why):
    """Second review: these were taken as a bucket or a folder of that odd name."""
    r = run(proj, "remote", "add", "bk", url)
    assert (r.exit_code, r.stderr) == (2, why)
    assert not (proj / "mlver.toml").exists()


def test_an_endpoint_for_a_folder_remote_is_refused(proj, tmp_path):
    """A new-user trial: --endpoint-url with a folder was written to mlver.toml and ignored."""
    for url in (str(tmp_path / "f"), "file:///tmp/f"):
        r = run(proj, "remote", "add", "bk", url, "--endpoint-url", "http://127.0.0.1:9000")
        assert r.exit_code == 2, r.stdout
        assert r.stderr == (f"Error: --endpoint-url is the address of an S3-compatible server, "
                            f"and {url} is a folder: drop --endpoint-url, or give the remote "
                            "as s3://BUCKET/PREFIX\n")
        assert not (proj / "mlver.toml").exists()


def test_push_pull_and_verify_remote_summaries_say_what_they_did(proj, tmp_path):
    """A new-user trial: "1 requests to origin"; verify --remote showed a read rate (GB/s)
    for data it only checked for presence."""
    ok(proj, "snapshot", "m", "-o", "d=data")
    ok(proj, "remote", "add", "origin", str(tmp_path / "r"), "--default")
    ok(proj, "push")
    out = ok(proj, "push")
    assert "0 objects (0 B) in " in out and " requests to origin; " in out
    assert ok(proj, "verify", "--remote", "origin").split(" in ")[0].endswith(
        ", data present, not read)")
    assert "/s)" not in ok(proj, "verify", "--remote", "origin")


def test_the_summary_line_counts_in_the_singular():
    """A new-user trial: a pull with nothing new said "1 requests to origin"."""
    from mlver.store.transfer import TransferResult
    from mlver.sync.pushpull import SyncResult
    from mlver.views.text import sync_lines

    one = SyncResult("origin", "s3://b/p", moved=TransferResult(1, 10, 5, 0.1), requests=1)
    assert sync_lines(one, "Fetched")[-1] == (
        "Fetched 1 object (10 B) in 0.00 s, 1 request to origin; 5 already there")
    two = SyncResult("origin", "s3://b/p", moved=TransferResult(2, 10, 0, 0.1), requests=3)
    assert sync_lines(two, "Sent")[-1] == (
        "Sent 2 objects (10 B) in 0.00 s, 3 requests to origin; 0 already there")


def test_ctrl_c_in_a_push_says_what_the_remote_holds_and_what_to_do(proj, tmp_path, monkeypatch):
    """A new-user trial: Ctrl-C mid-push said only "the store is unchanged" (the local store,
    which a push never changes), not what the remote holds nor that pushing again resumes."""
    from mlver.api import Repo

    ok(proj, "snapshot", "m", "-o", "d=data")
    ok(proj, "remote", "add", "origin", str(tmp_path / "r"), "--default")

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(Repo, "push", interrupted)
    r = run(proj, "push")
    assert r.exit_code == 130
    assert r.stderr == ("Error: push interrupted; the remote holds only complete objects and "
                        "no ref to anything missing: run mlver push again (it sends only what "
                        "is missing)\n")
    monkeypatch.undo()
    assert run(proj, "push").exit_code == 0
