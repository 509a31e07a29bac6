"""Commands that share versions through remotes: ``remote add|list|trust|remove``,
``push`` and ``pull``."""

from __future__ import annotations

import click

from mlver.cli.root import echo, main, open_repo, out, warn


@main.group()
def remote() -> None:
    """Add, list and remove remotes (shared stores: a folder, s3://, gs://, az://).

    Remotes live in [remotes.NAME] tables of mlver.toml, which is committed; --local keeps
    one in the store's own config instead. Credentials are never written: the backend finds
    them where it always does (for S3: the AWS environment, config files, instance roles).
    """


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--endpoint-url", default=None, metavar="URL",
              help="The endpoint of an S3-compatible server (MinIO, Ceph, R2…).")
@click.option("--default", "default", is_flag=True,
              help="Make it the default remote (of push, pull and data on demand).")
@click.option("--local", is_flag=True,
              help="Write it to the store's own config (.mlver/config.json), not mlver.toml.")
def remote_add(name: str, url: str, endpoint_url: str | None, default: bool,
               local: bool) -> None:
    """Add the remote NAME at URL (a folder, s3://BUCKET/PREFIX, gs://…, az://…).

    In a fresh clone, creates the store first (no mlver init needed).
    """
    from mlver.api import Repo

    repo = Repo.for_pull(".", warn=warn, any_project=True)
    spec = repo.remote_add(name, url, endpoint_url, default, local)
    where = ".mlver/config.json" if local else "mlver.toml"
    echo(f"Added remote {spec.name} {spec.url}{' (default)' if spec.default else ''} to {where}")


@remote.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object a remote.")
def remote_list(as_json: bool) -> None:
    """List the remotes and which is the default."""
    remotes, default = open_repo().remotes()
    rows = [{"name": n, "url": r.url, "endpoint_url": r.endpoint_url, "default": n == default,
             "where": "mlver.toml" if r.where == "project" else ".mlver/config.json"}
            for n, r in sorted(remotes.items())]
    if as_json:
        out(rows)
    elif not rows:
        echo("no remotes; add one with mlver remote add origin s3://BUCKET/PREFIX")
    else:
        for r in rows:
            extra = f" (endpoint {r['endpoint_url']})" if r["endpoint_url"] else ""
            mark = "* " if r["default"] else "  "
            echo(f"{mark}{r['name']}\t{r['url']}{extra}\t[{r['where']}]")


@remote.command("trust")
@click.argument("name")
def remote_trust(name: str) -> None:
    """Trust pushes to the remote NAME at the URL mlver.toml now gives it."""
    spec = open_repo().remote_trust(name)
    echo(f"Trusted remote {spec.name} {spec.url}: mlver push and the pre-push hook may send "
         "data there")


@remote.command("remove")
@click.argument("name")
@click.option("--local", is_flag=True, help="Remove it from the store's own config.")
def remote_remove(name: str, local: bool) -> None:
    """Remove the remote NAME from the configuration (the remote's content is untouched)."""
    spec = open_repo().remote_remove(name, local)
    echo(f"Removed remote {spec.name} ({spec.url})")


@main.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True, help="What was sent, as JSON.")
def push(remote_name: str | None, names: tuple[str, ...], as_json: bool) -> None:
    """Send versions to REMOTE (default: the default remote).

    Objects the remote lacks go first (small ones packed), then records, then refs and tags,
    each moved by compare-and-swap. A name whose remote head moved since the last pull is
    refused: pull, then push again. NAMEs narrow it (default: every name).
    """
    from mlver.api import PushRefused
    from mlver.base.progress import for_transfer
    from mlver.views.text import sync_lines

    repo = open_repo()
    remote_name, listed = repo.remote_and_names(remote_name, names, push=True)
    try:
        r = repo.push(remote_name, listed or None, progress=for_transfer())
    except PushRefused as e:
        if as_json:
            out(e.result.to_dict())
        else:
            for line in sync_lines(e.result, "Sent"):
                echo(line)
        raise
    if as_json:
        out(r.to_dict())
    else:
        for line in sync_lines(r, "Sent"):
            echo(line)


@main.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--no-data", is_flag=True,
              help="Bring refs, records and trees only; data is fetched when a command needs it.")
@click.option("--json", "as_json", is_flag=True, help="What was fetched, as JSON.")
def pull(remote_name: str | None, names: tuple[str, ...], no_data: bool,
         as_json: bool) -> None:
    """Bring versions from REMOTE (default: the default remote).

    Refs, records and trees first, then the data. Local versions the remote does not have
    are replayed on top of its head with new version numbers (old and new oids are printed).
    In a fresh clone, creates the store first (no mlver init needed).
    """
    from mlver.api import Repo
    from mlver.base.progress import for_transfer
    from mlver.views.text import sync_lines

    repo = Repo.for_pull(".", warn=warn)
    first = remote_name
    remote_name, listed = repo.remote_and_names(remote_name, names)
    with repo.mistyped_remote(first if remote_name is None else None):
        r = repo.pull(remote_name, listed or None, data=not no_data, progress=for_transfer())
    if as_json:
        out(r.to_dict())
    else:
        for line in sync_lines(r, "Fetched"):
            echo(line)
