"""The command line: a thin click layer over :class:`mlver.Repo`.

Every ``MlverError`` becomes one line ``Error: …`` on stderr and exit status 1 (2 for a
``UsageError``: a malformed name, option or argument), here and only here
(``MlverGroup.invoke``); click's own usage errors keep its exit 2.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import sys

import click

from mlver.base.errors import MlverError
from mlver.base.textsafe import safe
from mlver.core.record import KINDS


# SQLite's result code for a full disk; sqlite3.SQLITE_FULL itself exists from Python 3.11
# only, and the error handler must not crash where it is absent.
SQLITE_FULL = 13


def echo(text: str = "", err: bool = False, nl: bool = True) -> None:
    """``click.echo`` of text made safe for a terminal (every line mlver prints)."""
    click.echo(safe(text), err=err, nl=nl)


class MlverGroup(click.Group):
    """Translates the library's errors into CLI errors, in one place."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except MlverError as e:
            echo(f"Error: {e}", err=True)
            ctx.exit(e.exit_code)
        except OSError as e:
            if e.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
                echo(f"Error: cannot write {e.filename or 'the store'} ({e.strerror}); fix the "
                     "permissions of .mlver (or of the file named), then run again; no version "
                     "was recorded", err=True)
                ctx.exit(1)
            if e.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
            # Staged files were removed on the way out; refs move only after a full write.
            echo(f"Error: no space left on the device ({e.filename or 'writing .mlver'}); "
                 "free some space and run again; no version was recorded", err=True)
            ctx.exit(1)
        except sqlite3.DatabaseError as e:
            if getattr(e, "sqlite_errorcode", None) == SQLITE_FULL \
                    or "database or disk is full" in str(e):
                # Not damage: reindex would not help, space would.
                echo(f"Error: no space left on the device holding .mlver/index.sqlite ({e}); "
                     "free some space and run again", err=True)
            else:
                echo(f"Error: the index .mlver/index.sqlite failed ({e}); run mlver reindex "
                     "(it is rebuilt from the store)", err=True)
            ctx.exit(1)
        except KeyboardInterrupt:
            echo("Error: interrupted; the store is unchanged", err=True)
            ctx.exit(130)


def _warn(message: str) -> None:
    echo(f"Warning: {message}", err=True)


def _repo():
    from mlver.api import Repo

    repo = Repo(".", warn=_warn)
    repo.default_python = None  # mlver's own interpreter is not the training one
    return repo


def _out(value) -> None:
    from mlver.views.text import dumps

    echo(dumps(value))


def _pairs(values, option: str) -> dict:
    """``SLOT=PATH`` options -> {slot: text}; the repo decides path or revision."""
    from mlver.base.errors import UsageError

    out = {}
    for v in values:
        slot, sep, path = v.partition("=")
        if not sep or not slot or not path:
            raise UsageError(f"{option} '{v}' is not SLOT=PATH; write it as {option} train=data/train.csv")
        if slot in out:
            raise UsageError(f"slot '{slot}' is given twice to {option}; give each slot once")
        out[slot] = path
    return out


@click.group(cls=MlverGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlver")
def main():
    """mlver: version what a model is made of, and explain why it changed."""


@main.command()
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--force", is_flag=True,
              help="Create a store even inside a folder that another store covers.")
def init(path, force):
    """Create the store (.mlver/) in PATH (default: here)."""
    from mlver.api import Repo
    from mlver.store import STORE_DIR

    existed = os.path.isdir(os.path.join(path, STORE_DIR, "objects"))
    repo = Repo.init(path, force=force)
    verb = "Store already exists" if existed else "Initialized empty mlver store"
    echo(f"{verb} in {os.path.join(repo.root, STORE_DIR)}")


def _capture_options(f):
    opts = [
        click.option("-i", "--input", "inputs", multiple=True, metavar="SLOT=PATH|SLOT=REV",
                     help="An input: a file or folder, or an output of a record (REV or REV:SLOT)."),
        click.option("-o", "--output", "outputs", multiple=True, metavar="SLOT=PATH",
                     help="An output file or folder."),
        click.option("-p", "--params", "params", multiple=True, metavar="FILE[:KEYS]|KEY=VALUE",
                     help="Params: a .yaml/.json/.toml file (FILE:KEY,KEY... for only the keys "
                          "the version uses, e.g. params.yaml:train), or KEY=VALUE (value "
                          "parsed as JSON)."),
        click.option("-M", "--metrics", "metrics", multiple=True, metavar="FILE|KEY=VALUE",
                     help="Metrics: a file or KEY=VALUE."),
        click.option("--code", "code", multiple=True, metavar="PATH",
                     help="The code scope: a path or glob the code depends on (repeatable; "
                          "default: code in [snapshot.NAME] of mlver.toml, else what a run "
                          "was traced reading, else the whole repository)."),
        click.option("-m", "--message", default=None, help="Why this version exists."),
        click.option("--kind", type=click.Choice(list(KINDS)), default=None,
                     help="What the name versions (default: kind in [snapshot.NAME] of "
                          "mlver.toml, else as before, else model)."),
        click.option("--python", default=None, metavar="PATH",
                     help="The interpreter whose packages are recorded (default: [env] python "
                          "in mlver.toml, else the active virtualenv, else python on PATH)."),
        click.option("--json", "as_json", is_flag=True, help="Print the record as JSON."),
    ]
    for o in reversed(opts):
        f = o(f)
    return f


def _print_result(result, as_json: bool) -> None:
    from mlver.views.text import record_json

    if as_json:
        _out(record_json(result.oid, result.record, unchanged=not result.created))
    elif result.created:
        r = result.record
        echo(f"{r.label}  {result.oid}  ({len(r.inputs)} inputs, {len(r.outputs)} outputs)")
    else:
        echo(f"{result.record.label} is unchanged (same content); no new version written")


@main.command()
@click.argument("name")
@_capture_options
def snapshot(name, inputs, outputs, params, metrics, code, message, kind, python, as_json):
    """Record what NAME is made of now as a new version.

    NAME gets a new version unless the content equals its latest version.

    With no -i/-o, [snapshot.NAME] in mlver.toml supplies them.
    """
    from mlver.base.progress import for_terminal

    repo = _repo()
    result = repo.snapshot(name, inputs=_pairs(inputs, "-i"), outputs=_pairs(outputs, "-o"),
                           params=list(params), metrics=list(metrics), message=message,
                           kind=kind, python=python, progress=for_terminal(), base=os.getcwd(),
                           code=list(code) or None)
    _print_result(result, as_json)


@main.command()
@click.argument("name", required=False)
@click.option("-n", "--max-count", "n", type=click.IntRange(min=0), default=None,
              help="Show at most N records.")
@click.option("--branch", is_flag=True,
              help="Only versions on HEAD's git history (this branch's line).")
@click.option("--json", "as_json", is_flag=True, help="A JSON array of records, newest first.")
def log(name, n, branch, as_json):
    """List versions, newest first (of NAME, or of every name).

    Versions recorded on another branch (not on HEAD's git history) are marked.
    """
    from mlver.views.text import log_text, record_json

    repo = _repo()
    items = repo.log(name, n, branch=branch)
    tags = repo.tags_by_record({r.name for _o, r in items})  # once per name, not per entry
    flags = repo.on_branch(items)
    if as_json:
        _out([record_json(o, r, tags=tags[r.name].get(o, []),
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
def show(rev, as_json, patch):
    """Show the record REV names."""
    from mlver.views.text import record_json, show_text

    if patch:
        if as_json:
            raise click.UsageError("--patch and --json cannot be combined: the patch is raw "
                                   "bytes (show --json gives its blob oid as code.patch)")
        _print_patch(rev)
        return
    repo = _repo()
    oid, rec = repo.show(rev)
    gone = repo.removed_data(oid)
    if as_json:
        _out(record_json(oid, rec, **({"data_removed_by_gc": gone} if gone else {})))
    else:
        echo(show_text(oid, rec))
        _echo_removed(gone)


def _echo_removed(gone: list) -> None:
    """Say which slots' data gc removed (``show``)."""
    from mlver.core.reach import BRING_BACK, REMOVED

    if gone:
        echo(f"{REMOVED}: {', '.join(gone)}; {BRING_BACK}")


def _print_patch(rev: str) -> None:
    """The patch goes to stdout as raw bytes (never through ``echo``, which would escape
    its control characters, nor through a text layer); a record without one gets a note
    on stderr."""
    repo = _repo()
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
def status(name, as_json):
    """Say what in the workspace differs from the latest version.

    Compares inputs, outputs, params files and the git commit; writes no objects.
    """
    from mlver.views.text import status_text

    reports = _repo().status(name)
    if as_json:
        _out([r.to_dict() for r in reports])
    else:
        echo(status_text(reports))


class _TagCommand(click.Command):
    """``tag`` has three forms; its usage line shows them."""

    def collect_usage_pieces(self, ctx):
        return ["REV TAG | --list [NAME] [--json] | -d NAME@TAG"]


def _tag_target(t) -> str:
    """``NAME@N OID10`` of a tag's record (``OID10 (record unreadable)`` when damaged)."""
    if t.version is None:
        return f"{t.oid[:10]} (record unreadable)"
    return f"{t.name}@{t.version} {t.oid[:10]}"


@main.command(cls=_TagCommand)
@click.argument("rev", required=False)
@click.argument("tag", required=False)
@click.option("-l", "--list", "list_", is_flag=True,
              help="List the tags of NAME (or of every name) and the versions they point at.")
@click.option("-d", "--delete", is_flag=True, help="Delete the tag NAME@TAG (the record stays).")
@click.option("--json", "as_json", is_flag=True, help="With --list: a JSON array of tags.")
def tag(rev, tag, list_, delete, as_json):
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
        tags = _repo().tag_list(rev)
        if as_json:
            _out([t.to_dict() for t in tags])
        elif tags:
            echo("\n".join(f"{t.label} -> {_tag_target(t)}" for t in tags))
        else:
            echo(f"{rev} has no tags" if rev else "no tags yet")
        return
    if delete:
        if len(given) != 1:
            raise click.UsageError("tag -d takes exactly one NAME@TAG, "
                                   "for example: mlver tag -d price-model@production", ctx)
        t = _repo().untag(rev)
        echo(f"Deleted tag {t.label} (was {_tag_target(t)})")
        return
    if len(given) < 2:
        raise click.UsageError(f"Missing argument '{'TAG' if given else 'REV'}'.", ctx)
    oid, rec, old = _repo().tag(rev, tag)
    how = " (created)" if old is None else f" (was {old[:10]})" if old != oid else ""
    echo(f"{rec.name}@{tag} -> {rec.label} {oid[:10]}{how}")


@main.command()
@click.argument("rev")
@click.argument("paths", nargs=-1, metavar="[PATH]...")
@click.option("--to", "to", default=None, metavar="DIR",
              help="Write under DIR instead of the repository root.")
@click.option("--inputs", "only_inputs", is_flag=True, help="Only the inputs.")
@click.option("--outputs", "only_outputs", is_flag=True, help="Only the outputs.")
@click.option("--force", is_flag=True,
              help="Overwrite (or remove) files whose content no version holds.")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
def checkout(rev, paths, to, only_inputs, only_outputs, force, as_json):
    """Write the inputs and outputs of REV back where they were recorded.

    Exact bytes, exec bits and symbolic links; each blob's hash is checked as it is
    copied, and files are renamed into place only once all are written. PATHs narrow
    it to what lies at or below them. A file whose content matches no version mlver
    knows is never overwritten without --force.
    """
    from mlver.base.progress import for_terminal

    if only_inputs and only_outputs:
        raise click.UsageError("--inputs and --outputs cannot be combined; leave both out to "
                               "check out the inputs and the outputs",
                               click.get_current_context())
    side = "inputs" if only_inputs else "outputs" if only_outputs else "all"
    r = _repo().checkout(rev, list(paths), to, side, force,
                         progress=for_terminal(delay=1.0), base=os.getcwd())
    if as_json:
        _out(r.to_dict())
    else:
        removed = f", {r.removed} removed" if r.removed else ""
        echo(f"{r.label}: {r.written} written, {r.unchanged} already up to date{removed} "
             f"in {r.target}")


@main.command()
def reindex():
    """Rebuild the index (.mlver/index.sqlite) from objects and refs."""
    n = _repo().reindex()
    echo(f"Indexed {n} records")


@main.command()
@click.argument("rev")
@click.argument("rev2", required=False)
@click.option("--json", "as_json", is_flag=True, help="The diff as JSON (see docs/diff.md).")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Key column(s) of tables: report changed rows and cells.")
@click.option("--rows", type=click.IntRange(min=0), default=0, metavar="N",
              help="Show up to N sample added, removed and changed rows.")
@click.option("--target", metavar="COL",
              help="Label column of tables: its distribution is reported first.")
@click.option("--exit-code", is_flag=True, help="Exit 1 when the inputs differ.")
@click.option("--depth", type=click.IntRange(min=0), default=3, show_default=True, metavar="N",
              help="Follow a changed input upstream through lineage N levels (0: not at all).")
@click.option("--attribute", is_flag=True,
              help="Also replay the run to measure each changed input's part of each metric's "
                   "change (as mlver explain REV REV2 does).")
@click.option("--trust", is_flag=True, help="With --attribute: replay pulled or imported versions.")
def diff(rev, rev2, as_json, keys, rows, target, exit_code, depth, attribute, trust):
    """Explain how REV2 (default: the workspace) differs from REV.

    The verdict names the inputs that changed (data, code, params, env) and how:
    table rows and columns, drifted distributions, commits, param values, packages.
    """
    from mlver.diff.text import samples_text
    from mlver.base.progress import for_terminal

    if attribute and rev2 is None:
        raise click.UsageError("--attribute needs two revisions (a replay runs two recorded "
                               "versions): mlver diff REV REV2 --attribute")
    repo = _repo()
    d = repo.diff(rev, rev2, keys={"*": list(keys)} if keys else None, rows=rows,
                  progress=for_terminal(), depth=depth,
                  targets={"*": target} if target else None)
    found = _attribute(repo, rev, rev2, trust=trust) if attribute else None
    if as_json:
        _out({**d.to_dict(), "attribution": found.to_dict()} if found else d.to_dict())
    else:
        echo(str(d))
        if rows:
            extra = samples_text(d)
            if extra:
                echo(extra)
        if found:
            echo(str(found))
    if exit_code and d.inputs_changed:
        sys.exit(1)


def _attribute(repo, rev, rev2, metrics=(), **kw):
    """``repo.explain`` with the plan and progress on stderr, and a failed replay's log
    tail printed before its error."""
    from mlver.base.errors import ReplayError
    from mlver.base.progress import for_terminal

    try:
        return repo.explain(rev, rev2, metrics=list(metrics) or None,
                            progress=for_terminal(unit="runs"),
                            notify=lambda line: echo(line, err=True), **kw)
    except ReplayError as e:
        for line in e.tail:
            echo(f"  | {line}", err=True)
        raise


@main.command()
@click.argument("rev")
@click.argument("rev2")
@click.option("--metric", "metrics", multiple=True, metavar="NAME",
              help="A metric to explain (dotted for nested ones; repeatable). Default: every "
                   "numeric metric that changed.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, metavar="N",
              help="Replays run at once (training is often multi-threaded already).")
@click.option("--budget", type=click.IntRange(min=2), default=64, show_default=True,
              metavar="N", help="Runs that sampling may take when more than 5 groups differ.")
@click.option("--split-params", is_flag=True,
              help="One group per changed param key, instead of one for all params.")
@click.option("--no-cache", is_flag=True,
              help="Rerun replays found in the cache (and cache the new results).")
@click.option("--repeats", type=click.IntRange(min=2), default=3, show_default=True, metavar="N",
              help="Replays of each version's own configuration; their spread is the noise.")
@click.option("--trust", is_flag=True, help="Replay versions that were pulled or imported.")
@click.option("--json", "as_json", is_flag=True, help="The attribution as JSON (see docs/explain.md).")
def explain(rev, rev2, metrics, jobs, budget, split_params, no_cache, repeats, trust, as_json):
    """Measure why a metric moved from REV to REV2, by replaying the recorded run.

    Each input group that differs (each data slot, the code, the params) gets its Shapley
    value: its average effect on the metric when swapped from REV's to REV2's, over the
    combinations of the others. Each replay runs the recorded command in a scratch copy of
    the commit outside the repository; a pulled or imported version only with --trust.
    """
    found = _attribute(_repo(), rev, rev2, metrics, jobs=jobs, budget=budget, trust=trust,
                       split_params=split_params, cache=not no_cache, repeats=repeats)
    if as_json:
        _out(found.to_dict())
    else:
        echo(str(found))


@main.command(context_settings={"ignore_unknown_options": True})
@click.argument("name")
@_capture_options
@click.option("--record-failed", is_flag=True,
              help="Keep a record (marked failed) when the command exits non-zero.")
@click.option("--strict", is_flag=True,
              help="Fail (record nothing) when the command reads a data file that is not "
                   "recorded, or cannot be traced.")
@click.argument("command", nargs=-1, type=click.UNPROCESSED)
def run(name, inputs, outputs, params, metrics, code, message, kind, python, as_json,
        record_failed, strict, command):
    """Run COMMAND and record it as a new version of NAME.

    The inputs are hashed before COMMAND starts; outputs and metrics after it ends.

    Write the command after --:  mlver run price-model -i train=data.csv -o model=model.pkl
    -- python train.py.  With no -i/-o and no command, [snapshot.NAME] in mlver.toml (with
    its command) supplies them. A failing command records nothing (unless --record-failed)
    and mlver exits with the command's status.

    The files the command's Python processes read under the repository are traced: the
    source files make the code scope (unless --code declares one), and data files read but
    not recorded are named in the record (--strict refuses them).
    """
    from mlver.base.progress import for_terminal

    repo = _repo()
    result = repo.execute(
        name, list(command) or None, record_failed=record_failed, cwd=os.getcwd() if command else None,
        stdout_to_stderr=as_json,
        inputs=_pairs(inputs, "-i"), outputs=_pairs(outputs, "-o"), params=list(params),
        metrics=list(metrics), message=message, kind=kind, python=python,
        progress=for_terminal(), base=os.getcwd(), code=list(code) or None, strict=strict)
    _print_result(result, as_json)
    code = result.exit_code
    if code:
        echo(f"Error: command exited with status {code}; recorded as failed "
                   f"{result.record.label}", err=True)
        sys.exit(code)


@main.command()
@click.argument("rev")
@click.option("--upstream", "direction", flag_value="upstream", help="Only what REV was made from.")
@click.option("--downstream", "direction", flag_value="downstream", help="Only what was made from REV.")
@click.option("--depth", type=click.IntRange(min=0), default=None, metavar="N",
              help="Follow at most N links.")
@click.option("--format", "fmt", type=click.Choice(["text", "json", "dot", "mermaid"]),
              default="text", help="text (a tree), json, dot (Graphviz) or mermaid.")
def lineage(rev, direction, depth, fmt):
    """Show what REV was made from and what was made from it.

    Records are linked by content: an output of one that is an input of another.
    """
    from mlver.views.text import lineage_dot, lineage_mermaid, lineage_text

    direction = direction or "both"
    graph = _repo().lineage(rev).graph(direction, depth)
    if fmt == "json":
        _out(graph)
    elif fmt == "dot":
        echo(lineage_dot(graph))
    elif fmt == "mermaid":
        echo(lineage_mermaid(graph))
    else:
        echo(lineage_text(graph, direction))


@main.command("import-dvc")
@click.argument("path", default=".", type=click.Path(file_okay=False))
@click.option("--rev-range", default=None, metavar="A..B",
              help="The commits to walk: a git revision or range (default: HEAD, all of "
                   "its history).")
@click.option("--json", "as_json", is_flag=True, help="What was imported, as JSON.")
def import_dvc(path, rev_range, as_json):
    """Import the git history of the DVC project at PATH (default: here) as versions.

    Each stage of dvc.yaml, and each path a .dvc file tracks, becomes a name with one
    version per commit where its recorded hashes changed. Bytes come from the DVC cache;
    absent ones are recorded as missing, by md5. Commits imported before are skipped.
    Needs the dvc extra: pip install 'mlver[dvc]'.
    """
    from mlver.base.progress import for_terminal
    from mlver.views.text import import_text

    result = _repo().import_dvc(path, rev_range, base=os.getcwd(),
                                progress=for_terminal(delay=0.5, unit="commits"))
    if as_json:
        _out(result.to_dict())
    else:
        echo(import_text(result))


class _Duration(click.ParamType):
    """``30s``, ``10m``, ``1h``, ``2d`` or seconds; a bad value is a usage error."""

    name = "DURATION"

    def convert(self, value, param, ctx):
        from mlver.base.errors import ConfigError
        from mlver.ops.gc import parse_duration

        try:
            return parse_duration(value)
        except ConfigError as e:
            self.fail(str(e), param, ctx)


@main.command()
@click.argument("revs", nargs=-1, metavar="[REV]...")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (see docs/format.md).")
@click.option("--remote", "remote", default=None, metavar="NAME",
              help="Check the remote NAME instead: every object its refs and tags reach is there.")
def verify(revs, as_json, remote):
    """Re-hash every object and check that every version reaches all its objects.

    With REVs, only the objects those revisions reach. Each missing or corrupt object is
    named with the versions it breaks; any problem exits 1.
    """
    from mlver.base.errors import CorruptObjectError
    from mlver.base.progress import for_terminal
    from mlver.ops.verify import problem_lines

    if remote is not None and revs:
        raise click.UsageError("--remote checks a whole remote; give no REV with it")
    result = _repo().verify(list(revs) or None, progress=for_terminal(), remote=remote)
    for w in result.warnings:
        _warn(w)
    if as_json:
        _out(result.to_dict())
    else:
        for line in problem_lines(result):
            echo(line)
        echo(result.summary())
    if not result.ok:
        where = "in the JSON above" if as_json else "above"
        raise CorruptObjectError(
            f"verify found {result.verdict()}; restore the objects named {where} from a "
            "backup, or re-snapshot the versions they break")


@main.command()
@click.option("--dry-run", is_flag=True, help="Report what would be removed; remove nothing.")
@click.option("--keep-last", type=click.IntRange(min=1), default=None, metavar="N",
              help="Also drop the data (not the records) of versions older than the last N "
                   "of each name; tagged versions keep theirs.")
@click.option("--grace", type=_Duration(), default="1h", show_default=True,
              help="Keep anything younger than this: 30s, 10m, 1h, 2d or seconds (0: none).")
@click.option("--json", "as_json", is_flag=True, help="The report as JSON (see docs/format.md).")
def gc(dry_run, keep_last, grace, as_json):
    """Remove objects that no ref or tag reaches, and repack mostly-garbage packs.

    Runs alone: it waits up to 10 s for snapshots and runs in progress, then fails.
    """
    from mlver.base.progress import for_terminal

    result = _repo().gc(dry_run=dry_run, keep_last=keep_last, grace=grace,
                        progress=for_terminal())
    for w in result.warnings:
        _warn(w)
    if as_json:
        _out(result.to_dict())
    else:
        for line in result.lines():
            echo(line)


# -- remotes: remote, push, pull ---------------------------------------------------------------

@main.group()
def remote():
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
def remote_add(name, url, endpoint_url, default, local):
    """Add the remote NAME at URL (a folder, s3://BUCKET/PREFIX, gs://…, az://…).

    In a fresh clone, creates the store first (no mlver init needed).
    """
    from mlver.api import Repo

    repo = Repo.for_pull(".", warn=_warn, any_project=True)
    spec = repo.remote_add(name, url, endpoint_url, default, local)
    where = ".mlver/config.json" if local else "mlver.toml"
    echo(f"Added remote {spec.name} {spec.url}{' (default)' if spec.default else ''} to {where}")


@remote.command("list")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object a remote.")
def remote_list(as_json):
    """List the remotes and which is the default."""
    remotes, default = _repo().remotes()
    rows = [{"name": n, "url": r.url, "endpoint_url": r.endpoint_url, "default": n == default,
             "where": "mlver.toml" if r.where == "project" else ".mlver/config.json"}
            for n, r in sorted(remotes.items())]
    if as_json:
        _out(rows)
    elif not rows:
        echo("no remotes; add one with mlver remote add origin s3://BUCKET/PREFIX")
    else:
        for r in rows:
            extra = f" (endpoint {r['endpoint_url']})" if r["endpoint_url"] else ""
            mark = "* " if r["default"] else "  "
            echo(f"{mark}{r['name']}\t{r['url']}{extra}\t[{r['where']}]")


@remote.command("trust")
@click.argument("name")
def remote_trust(name):
    """Trust pushes to the remote NAME at the URL mlver.toml now gives it."""
    spec = _repo().remote_trust(name)
    echo(f"Trusted remote {spec.name} {spec.url}: mlver push and the pre-push hook may send "
         "data there")


@remote.command("remove")
@click.argument("name")
@click.option("--local", is_flag=True, help="Remove it from the store's own config.")
def remote_remove(name, local):
    """Remove the remote NAME from the configuration (the remote's content is untouched)."""
    spec = _repo().remote_remove(name, local)
    echo(f"Removed remote {spec.name} ({spec.url})")


@main.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True, help="What was sent, as JSON.")
def push(remote_name, names, as_json):
    """Send versions to REMOTE (default: the default remote).

    Objects the remote lacks go first (small ones packed), then records, then refs and tags,
    each moved by compare-and-swap. A name whose remote head moved since the last pull is
    refused: pull, then push again. NAMEs narrow it (default: every name).
    """
    from mlver.base.progress import for_transfer
    from mlver.views.text import sync_lines
    from mlver.sync.pushpull import PushRefused

    from mlver.sync.sharing import remote_and_names

    repo = _repo()
    remote_name, names = remote_and_names(repo, remote_name, names, push=True)
    try:
        r = repo.push(remote_name, names or None, progress=for_transfer())
    except PushRefused as e:
        if as_json:
            _out(e.result.to_dict())
        else:
            for line in sync_lines(e.result, "Sent"):
                echo(line)
        raise
    if as_json:
        _out(r.to_dict())
    else:
        for line in sync_lines(r, "Sent"):
            echo(line)


@main.command()
@click.argument("remote_name", required=False, metavar="[REMOTE]")
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--no-data", is_flag=True,
              help="Bring refs, records and trees only; data is fetched when a command needs it.")
@click.option("--json", "as_json", is_flag=True, help="What was fetched, as JSON.")
def pull(remote_name, names, no_data, as_json):
    """Bring versions from REMOTE (default: the default remote).

    Refs, records and trees first, then the data. Local versions the remote does not have
    are replayed on top of its head with new version numbers (old and new oids are printed).
    In a fresh clone, creates the store first (no mlver init needed).
    """
    from mlver.api import Repo
    from mlver.base.progress import for_transfer
    from mlver.views.text import sync_lines

    from mlver.sync.sharing import mistyped_remote, remote_and_names

    repo = Repo.for_pull(".", warn=_warn)
    first = remote_name
    remote_name, names = remote_and_names(repo, remote_name, names)
    with mistyped_remote(repo, first if remote_name is None else None):
        r = repo.pull(remote_name, names or None, data=not no_data, progress=for_transfer())
    if as_json:
        _out(r.to_dict())
    else:
        for line in sync_lines(r, "Fetched"):
            echo(line)



# -- git hooks ---------------------------------------------------------------------------------

_HOOK_CHOICE = click.Choice(["post-commit", "post-checkout", "post-merge", "pre-push"])


@main.group()
def hooks():
    """Install, remove and inspect mlver's git hooks (see docs/hooks.md).

    post-commit snapshots the names of [hooks] snapshot in mlver.toml whose data changed;
    post-checkout and post-merge warn about (or restore) the data of HEAD's version;
    pre-push pushes the data to the default remote. A hook of your own is kept and run
    first.
    """


@hooks.command("install")
@click.option("--hook", "names", multiple=True, type=_HOOK_CHOICE, metavar="NAME",
              help="Only this hook (repeatable; default: all four).")
@click.option("--force-interpreter", is_flag=True,
              help="Install even though this Python (or its virtualenv) is inside the work tree.")
def hooks_install(names, force_interpreter):
    """Install the git hooks where git runs them (core.hooksPath, or the hooks folder).

    Trusts what mlver.toml's [hooks] watches now (see mlver hooks trust). Refuses a Python
    whose file, virtualenv or mlver is inside the work tree (a branch can add files there).
    """
    hooks_ = _repo().hooks
    for hook, what in hooks_.install(list(names) or None, force_interpreter=force_interpreter):
        echo(f"{hook}: {what}")
    for p in hooks_.programs():
        echo(p.line())
    for w in hooks_.trust():  # pinned by install already: this says what it trusted
        echo(w.line())
    for line in hooks_.watch().lines():
        echo(line)


@hooks.command("trust")
def hooks_trust():
    """Trust [hooks] of mlver.toml as it is now: the watched names and their paths.

    The hooks act only on the [snapshot.NAME] tables (and on-checkout) trusted by
    mlver hooks install or this command; a name new or changed since is left out, said so.
    """
    watched = _repo().hooks.trust()
    for w in watched:
        echo(w.line())
    if not watched:
        echo("trusted: no names ([hooks] snapshot of mlver.toml names none)")


@hooks.command("uninstall")
@click.option("--hook", "names", multiple=True, type=_HOOK_CHOICE, metavar="NAME",
              help="Only this hook (repeatable; default: all four).")
def hooks_uninstall(names):
    """Remove mlver's git hooks, putting back the hooks they chained to."""
    for hook, what in _repo().hooks.uninstall(list(names) or None):
        echo(f"{hook}: {what}")


@hooks.command("status")
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object a hook.")
def hooks_status(as_json):
    """Say which git hooks are installed, chained, and turned on, what they run, and which
    names they snapshot or compare."""
    hooks_ = _repo().hooks
    states, progs, watch = hooks_.status(), hooks_.programs(), hooks_.watch()
    if as_json:
        _out([{**s.to_dict(), "runs": [p.to_dict() for p in progs if s.hook in p.hooks],
               **watch.fields(s.hook)} for s in states])
    else:
        for s in states:
            echo(s.line())
        for p in progs:
            echo(p.line())
        for line in watch.lines():
            echo(line)
        for line in hooks_.untrusted():
            echo(line)


@hooks.command("run", context_settings={"ignore_unknown_options": True,
                                        "allow_interspersed_args": False})
@click.argument("hook")
@click.argument("args", nargs=-1, type=click.UNPROCESSED)
def hooks_run(hook, args):
    """Internal: what the installed hook scripts call, with git's arguments."""
    from mlver.integrations.hooks import run as run_hook

    sys.exit(run_hook(hook, list(args)))


@main.command()
@click.argument("rev")
@click.argument("rev2", required=False)
@click.option("-o", "--output", "output", required=True, metavar="FILE",
              help="Write the HTML page to FILE (- for standard output).")
@click.option("--key", "keys", multiple=True, metavar="COL",
              help="Key column(s) of tables: report changed rows and cells.")
@click.option("--target", metavar="COL",
              help="Label column of tables: its distribution is reported and plotted first.")
@click.option("--depth", type=click.IntRange(min=0), default=3, show_default=True, metavar="N",
              help="Follow a changed input upstream through lineage N levels (0: not at all).")
def report(rev, rev2, output, keys, target, depth):
    """Write the diff of REV and REV2 (default: the workspace) as one HTML page.

    The page is self-contained (inline CSS and SVG, no script, nothing fetched): the
    verdict, then each input's rows, schema, changed cells and drift, with a plot of old
    against new for every drifted or label column (drawn from the table profiles the diff
    used), the code, params and env changes, and the upstream root-cause chain.
    """
    from mlver.base.fmt import human_size
    from mlver.base.progress import for_terminal

    repo = _repo()
    to_stdout = output == "-"
    text = repo.report(rev, rev2, None if to_stdout else os.path.abspath(output),
                       keys={"*": list(keys)} if keys else None, depth=depth,
                       targets={"*": target} if target else None, progress=for_terminal())
    if to_stdout:
        click.echo(text, nl=False)  # the page is escaped HTML: no control characters left
        return
    plots = text.count('<figure class="plot"')
    echo(f"Wrote {output} ({human_size(len(text.encode('utf-8')))}, {plots} "
         f"plot{'s' if plots != 1 else ''})")


@main.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8750, show_default=True,
              help="The port to listen on (0: any free port).")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="The address to bind. Anything but a loopback address also needs "
                   "--allow-remote: the UI has no authentication.")
@click.option("--allow-remote", is_flag=True,
              help="Let --host bind an address other networks can reach (everyone who can "
                   "reach it can read every record and diff).")
def ui(port, host, allow_remote):
    """Serve a local, read-only web UI of the store: versions, lineage, records, diffs.

    Needs the ui extra (pip install "mlver[ui]"). It opens the store read-only and never
    writes to it; stop it with Ctrl+C.
    """
    from mlver.web.ui import check_host, load_flask, serve

    load_flask()  # a clear error without the extra
    problem = check_host(host, allow_remote)
    if problem:
        raise click.UsageError(problem)
    repo_root = _repo().root
    if allow_remote and not _is_loopback(host):
        _warn(f"serving on {host}: the UI has no authentication, so anyone who can reach "
              f"port {port} of this machine can read every record, diff and file name of "
              "the store")

    def ready(url: str) -> None:
        echo(f"mlver ui: {repo_root} (read-only) at {url}  (Ctrl+C to stop)")

    serve(repo_root, host, port, ready=ready, warn=_warn)


def _is_loopback(host: str) -> bool:
    from mlver.web.ui import is_loopback

    return is_loopback(host)


if __name__ == "__main__":  # pragma: no cover
    main()
