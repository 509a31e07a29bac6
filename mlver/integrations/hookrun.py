"""What the git hooks do, once :func:`mlver.integrations.hooks.run` has opened the
repository and read the ``[hooks]`` its user trusted: post-commit snapshots, post-checkout
and post-merge compare or restore, pre-push pushes.

Each works on a :class:`mlver.integrations.hooksite.Site` (a store and a workspace) through
the layers below: :mod:`mlver.ops.snapshot`, :mod:`mlver.ops.checkout`, the push of
:mod:`mlver.sync.pushpull`. Kept cheap: no pandas, the stat cache for content, and at most
two git processes for a branch switch.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from mlver.base.errors import CheckoutError, MlverError
from mlver.core.config import HooksConfig
from mlver.core.record import Artifact, Record
from mlver.integrations.hooksite import Site, push
from mlver.integrations.hookscript import git

Echo = Callable[[str], None]


def checkout_args(args: list[str]) -> tuple[str, str, str]:
    """post-checkout's ``PREV NEW FLAG`` (the pre-commit framework passes them in
    ``PRE_COMMIT_FROM_REF``, ``PRE_COMMIT_TO_REF`` and ``PRE_COMMIT_CHECKOUT_TYPE``)."""
    if len(args) >= 3:
        return args[0], args[1], args[2]
    env = os.environ
    return (env.get("PRE_COMMIT_FROM_REF", ""), env.get("PRE_COMMIT_TO_REF", ""),
            env.get("PRE_COMMIT_CHECKOUT_TYPE", ""))


def post_commit(site: Site, cfg: HooksConfig, echo: Echo) -> int:
    """Snapshot each ``[hooks] snapshot`` name whose data changed; one line each. A name
    whose inputs changed while its outputs did not is left alone, said so: its outputs
    were not made from those inputs. So is a name whose outputs are another branch's
    version's (:func:`mlver.integrations.hookguard.made_elsewhere`): a branch switch left
    them there.

    Mid-rebase or mid-bisect it does nothing: the commits a rebase writes are not the
    user's yet, and their data is compared with the versions on their (new) history."""
    if not cfg.snapshot or in_progress(site.root)[1]:
        return 0  # (before the imports below: a commit with nothing to snapshot stays cheap)
    from mlver.integrations.hookguard import changes, env_python_refusal, made_elsewhere
    from mlver.ops import snapshot as snap

    refused: str | None = None
    for name in cfg.snapshot:
        try:
            ch = changes(site, name)
            if not ch.any:
                continue
            if ch.stale_outputs:
                echo(f"mlver: {name}: inputs changed since @{ch.version} but "
                     f"{', '.join(ch.output_paths)} did not; retrain with mlver run {name}")
                continue
            # changed outputs (or inputs, with no outputs) that another branch's version
            # holds came from a checkout, not from a run on this branch's code and params
            other = made_elsewhere(site, name, ch.version)
            if other is not None:
                echo(other.line())
                continue
            if refused is None:
                refused = env_python_refusal(site) or ""
            if refused:
                echo(f"mlver: post-commit did not snapshot {name}: {refused}; or run mlver "
                     f"snapshot {name} yourself")
                continue
            # python None: the active virtualenv, else python on PATH (as the command line)
            r = snap.snapshot(site.store, site.workspace,
                              snap.plan(site.store, site.workspace, name), None)
            if r.created:
                echo(f"mlver: snapshot {r.record.label} {r.oid[:10]}")
        except Exception as e:  # noqa: BLE001 - never fail the commit
            what = str(e) if isinstance(e, MlverError) else f"{type(e).__name__}: {e}"
            echo(f"mlver: post-commit could not snapshot {name}: {what}; run mlver snapshot "
                 f"{name}")
    return 0


def in_progress(root: str) -> tuple[str | None, list[str]]:
    """``(HEAD sha, [paths of a rebase or bisect in progress])`` from one git call."""
    p = git(root, "rev-parse", "--path-format=absolute", "--git-path", "rebase-merge",
            "--git-path", "rebase-apply", "--git-path", "BISECT_LOG", "--verify", "-q", "HEAD")
    lines = p.stdout.splitlines()
    busy = [x for x in lines[:3] if os.path.exists(x)]
    head = lines[3] if len(lines) > 3 else None
    return head, busy


def differs(site: Site, rec: Record) -> list[tuple[Artifact, str]]:
    """``[(artifact, "modified" | "removed")]`` of the record's data in the workspace
    (``removed``: the file is gone, the word status and diff use)."""
    from mlver.ops.drift import MODIFIED, drift

    ws = site.workspace
    cache = ws.stat_cache()
    out = []
    seen = set()
    try:
        for art in [*rec.inputs.values(), *rec.outputs.values()]:
            if art.path in seen:
                continue
            seen.add(art.path)
            try:
                state = drift(ws, art, cache).state
            except MlverError:  # unreadable now: not what was recorded
                state = MODIFIED
            if state != "unchanged":
                out.append((art, state))
    finally:
        cache.save()
    return out


def after_move(site: Site, cfg: HooksConfig, hook: str, echo: Echo) -> int:
    """post-checkout (branch switch) and post-merge: for each configured name, its latest
    version on HEAD's history (:func:`mlver.core.branches.version_on_head`); warn about or
    restore its data, all of a name's slots or none of them. A name with no version on
    this history is left alone."""
    from mlver.core import history
    from mlver.core.branches import head_ancestry, version_on_head
    from mlver.ops.checkout import checkout

    if not cfg.snapshot:
        return 0
    head, busy = in_progress(site.root)
    if busy or head is None:
        return 0  # mid-rebase or mid-bisect: the user is not on a branch of theirs yet
    ancestry = head_ancestry(site.root)
    for name in cfg.snapshot:
        branch = version_on_head(site.store, name, site.root, ancestry)
        if branch is None or not branch.on_history:
            continue
        oid = branch.oid
        rec = history.load_record(site.store, oid)
        diffs = differs(site, rec)
        if not diffs:
            continue
        at = (rec.code.commit[:7] if rec.code.commit else "?") + f", {branch.which}"
        if cfg.on_checkout == "warn":
            listed = ", ".join(f"{a.path} {state}" for a, state in diffs)
            echo(f"mlver: {rec.label} (commit {at}) differs here: {listed}; "
                 f"mlver checkout {rec.label} restores it")
            continue
        # All or nothing per name: one checkout of every slot that differs, which refuses
        # before writing anything when any of them cannot be restored safely. Restoring
        # some slots would pair this branch's data with another branch's model.
        paths = [a.path for a, _state in diffs]
        try:
            r = checkout(site.store, site.workspace, oid, rec, paths)
        except CheckoutError as e:
            echo(f"mlver: restored nothing of {rec.label} (commit {at}): {e}; then mlver "
                 f"checkout {rec.label} restores {', '.join(paths)} together")
            continue
        if r.written or r.removed:
            echo(f"mlver: restored {', '.join(paths)} from {rec.label} (commit {at})")
    return 0


def pre_push(site: Site, echo: Echo, untrusted: tuple[str, ...] = ()) -> int:
    """Push the data to the default remote (not the ``untrusted`` watched names); 1 (the
    git push stops) when that fails."""
    _specs, default = site.remotes()
    if default is None:
        echo("mlver: no default remote is configured, so no data was pushed "
             "(mlver remote add NAME URL --default sets one)")
        return 0
    from mlver.sync.trust import check_hook_push

    names = None
    if untrusted:
        names = [n for n in site.store.refs.names() if n not in untrusted]
        if not names:
            return 0
    try:
        check_hook_push(site)  # never a first push: a merge may have added this remote
        r = push(site, names)  # no remote: a default that changed is refused
    except Exception as e:  # noqa: BLE001
        what = str(e) if isinstance(e, MlverError) else f"{type(e).__name__}: {e}"
        echo(f"mlver: pushing data to remote '{default}' failed: {what}; the git push is "
             "stopped (fix it and push again, or git push --no-verify to push without the "
             "data)")
        return 1
    m = r.moved
    echo(f"mlver: pushed data to remote '{default}': {m.objects} objects sent, "
         f"{m.present} already there")
    return 0
