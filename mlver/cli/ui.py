"""``mlver ui``: serve the read-only web UI of the store.

The web UI is a front end of its own beside this one (``mlver.web``, above the facade),
so this command starts it directly; it opens the store through the facade itself.
"""

from __future__ import annotations

import click

from mlver.cli.root import echo, main, open_repo, warn


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True,
              help="The port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to bind. Anything but a loopback address also needs "
                   "--allow-remote: the UI has no authentication.")
@click.option("--allow-remote", is_flag=True,
              help="Let --host bind an address other networks can reach (everyone who can "
                   "reach it can read every record and diff).")
def ui(port: int, host: str, allow_remote: bool) -> None:
    """Serve a local, read-only web UI of the store: versions, lineage, records, diffs.

    Needs the ui extra (pip install "mlver[ui]"). It opens the store read-only and never
    writes to it; stop it with Ctrl+C.
    """
    from mlver.web.ui import check_host, is_loopback, load_flask, serve

    load_flask()  # a clear error without the extra
    problem = check_host(host, allow_remote)
    if problem:
        raise click.UsageError(problem)
    repo_root = open_repo().root
    if allow_remote and not is_loopback(host):
        warn(f"serving on {host}: the UI has no authentication, so anyone who can reach "
             f"port {port} of this machine can read every record, diff and file name of "
             "the store")

    def ready(url: str) -> None:
        echo(f"mlver ui: {repo_root} (read-only) at {url}  (Ctrl+C to stop)")

    serve(repo_root, host, port, ready=ready, warn=warn)
