"""Commands that read versions: ``log``, ``show``, ``status``, ``tag`` and ``lineage``."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from mlver.cli.root import echo, main, open_repo, out
from mlver.base.fmt import version_label

if TYPE_CHECKING:
    from mlver.api import Tag


@main.command()
@click.argument("name", required=False)
@click.option("-n", "--max-count", "n", type=click.IntRange(min=0), default=None,
              help="Show at most N records.")
@click.option("--branch", is_flag=True,
              help="Only versions on HEAD's git history (this branch's line).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of records, newest first.")
def log(name: str | None, n: int | None, branch: bool, as_json: bool) -> None:
    """List versions, newest first (of NAME, or of every name).

    Versions recorded on another branch (not on HEAD's git history) are marked.
    """
    from mlver.views.text import log_text, record_json

    repo = open_repo()
    items = repo.log(name, n, branch=branch)
    tags = repo.tags_by_record({r.name for _o, r in items})  # once per name, not per entry
    flags = repo.on_branch(items)
    if as_json:
        out([record_json(o, r, tags=tags[r.name].get(o, []),
                         on_branch=None if flags is None else flags[o]) for o, r in items])
    elif items:
        echo(log_text(items, tags, flags))
    elif n != 0:  # -n 0 asks for nothing, and gets nothing
        echo("no versions yet")


@main.command()
@click.argument("rev")
@click.option("--json", "as_json", is_flag=True, help="The record as JSON, with its oid.")
@click.option("--patch", is_flag=True,
              help="Print the uncommitted patch recorded with REV (git diff HEAD --binary), "
                   "byte for byte.")
def show(rev: str, as_json: bool, patch: bool) -> None:
    """Show the record REV names."""
    from mlver.views.text import record_json, removed_text, show_text

    if patch:
        if as_json:
            raise click.UsageError("--patch and --json cannot be combined: the patch is raw "
                                   "bytes (show --json gives its blob oid as code.patch)")
        _print_patch(rev)
        return
    repo = open_repo()
    oid, rec = repo.show(rev)
    gone = repo.removed_data(oid)
    if as_json:
        out(record_json(oid, rec, **({"data_removed_by_gc": gone} if gone else {})))
    else:
        echo(show_text(oid, rec))
        if gone:  # which slots' data gc removed
            echo(removed_text(gone))


def _print_patch(rev: str) -> None:
    """The patch goes to stdout as raw bytes (never through ``echo``, which would escape
    its control characters, nor through a text layer); a record without one gets a note
    on stderr."""
    repo = open_repo()
    oid, rec = repo.show(rev)
    data = repo.patch(oid)
    if data is None:
        c = rec.code
        why = (f"its code was committed: {c.commit}" if c.commit else
               "no git commit was recorded with it")
        echo(f"{rec.label} has no uncommitted patch ({why})", err=True)
        return
    click.echo(data, nl=False)  # bytes go to stdout's binary buffer, unchanged


@main.command()
@click.argument("name", required=False)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object a name.")
def status(name: str | None, as_json: bool) -> None:
    """Say what in the workspace differs from the latest version.

    Compares inputs, outputs, params files and the git commit; writes no objects.
    """
    reports = open_repo().status(name)
    if as_json:
        out([r.to_dict() for r in reports])
    else:
        from mlver.views.text import status_text

        echo(status_text(reports))


class _TagCommand(click.Command):
    """``tag`` has three forms; its usage line shows them."""

    def collect_usage_pieces(self, ctx: click.Context) -> list[str]:
        return ["REV TAG | --list [NAME] [--json] | -d NAME@TAG"]


def _tag_target(t: Tag) -> str:
    """``NAME@N OID10`` of a tag's record (``OID10 (record unreadable)`` when damaged)."""
    if t.version is None:
        return f"{t.oid[:10]} (record unreadable)"
    return f"{version_label(t.name, t.version)} {t.oid[:10]}"


@main.command(cls=_TagCommand)
@click.argument("rev", required=False)
@click.argument("tag", required=False)
@click.option("-l", "--list", "list_", is_flag=True,
              help="List the tags of NAME (or of every name) and the versions they point at.")
@click.option("-d", "--delete", is_flag=True, help="Delete the tag NAME@TAG (the record stays).")
@click.option("--json", "as_json", is_flag=True, help="With --list: a JSON array of tags.")
def tag(rev: str | None, tag: str | None, list_: bool, delete: bool, as_json: bool) -> None:
    """Tag the record REV as NAME@TAG (moving the tag if it exists).

    --list [NAME] lists tags; -d NAME@TAG deletes one (never the record).
    """
    ctx = click.get_current_context()
    given = [a for a in (rev, tag) if a is not None]
    if list_ and delete:
        raise click.UsageError("--list and --delete cannot be combined; give one of them", ctx)
    if as_json and not list_:
        raise click.UsageError("--json works only with --list", ctx)
    if list_:
        if len(given) > 1:
            raise click.UsageError("tag --list takes at most one NAME", ctx)
        tags = open_repo().tag_list(rev)
        if as_json:
            out([t.to_dict() for t in tags])
        elif tags:
            echo("\n".join(f"{t.label} -> {_tag_target(t)}" for t in tags))
        else:
            echo(f"{rev} has no tags" if rev else "no tags yet")
        return
    if delete:
        if len(given) != 1 or rev is None:
            raise click.UsageError("tag -d takes exactly one NAME@TAG, "
                                   "for example: mlver tag -d price-model@production", ctx)
        t = open_repo().untag(rev)
        echo(f"Deleted tag {t.label} (was {_tag_target(t)})")
        return
    if rev is None or tag is None:
        raise click.UsageError(f"Missing argument '{'TAG' if given else 'REV'}'.", ctx)
    oid, rec, old = open_repo().tag(rev, tag)
    how = " (created)" if old is None else f" (was {old[:10]})" if old != oid else ""
    echo(f"{rec.name}@{tag} -> {rec.label} {oid[:10]}{how}")


@main.command()
@click.argument("rev")
@click.option("--upstream", "direction", flag_value="upstream",
              help="Only what REV was made from.")
@click.option("--downstream", "direction", flag_value="downstream",
              help="Only what was made from REV.")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Follow at most N links.")
@click.option("--format", "fmt",
              type=click.Choice(["text", "json", "dot", "mermaid", "openlineage"]),
              default="text", help="text (a tree), json, dot (Graphviz), mermaid or openlineage "
                                   "(RunEvents, one JSON per line).")
@click.option("--namespace", metavar="NS",
              help="With --format openlineage: namespace of jobs and datasets (default: "
                   "mlver://<repository folder>).")
def lineage(rev: str, direction: str | None, depth: int | None, fmt: str,
            namespace: str | None) -> None:
    """Show what REV was made from and what was made from it.

    Records are linked by content: an output of one that is an input of another.
    """
    from mlver.views.text import lineage_dot, lineage_mermaid, lineage_text

    direction = direction or "both"
    if namespace is not None and fmt != "openlineage":
        raise click.UsageError("--namespace works only with --format openlineage")
    if fmt == "openlineage":
        from mlver.cli.bridges import ndjson

        echo(ndjson(open_repo().openlineage(rev, direction, depth, namespace)))
        return
    graph = open_repo().lineage(rev).graph(direction, depth)
    if fmt == "json":
        out(graph)
    elif fmt == "dot":
        echo(lineage_dot(graph))
    elif fmt == "mermaid":
        echo(lineage_mermaid(graph))
    else:
        echo(lineage_text(graph, direction))
