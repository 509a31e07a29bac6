"""Which names the installed git hooks look after (``mlver hooks install`` and ``status``).

A hook can be installed and still watch nothing: post-commit snapshots only the names of
``[hooks] snapshot`` in mlver.toml, and post-checkout and post-merge compare (or restore)
only those same names (:func:`mlver.integrations.hookrun.after_move` returns at once when the
list is empty). ``mlver status`` compares every name, so an empty list looked like hooks that
work and said nothing. :class:`Watch` says what each hook watches, and when nothing is
watched, says so with the fix.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mlver.core.config import ProjectConfig
    from mlver.integrations.hookscript import HookState

WATCHING = ("post-commit", "post-checkout", "post-merge")  # pre-push pushes every name
FIX = "add names to [hooks] snapshot in mlver.toml"
MAX_SHOWN = 10  # declared names listed in the fix


@dataclass(frozen=True)
class Watch:
    """What the hooks watch: the ``[hooks] snapshot`` names, per hook."""

    names: tuple[str, ...]  # [hooks] snapshot
    on_checkout: str  # "warn" or "restore"
    declared: tuple[str, ...]  # [snapshot.NAME] tables not in [hooks] snapshot
    idle: tuple[tuple[str, str], ...]  # (hook, why it watches nothing: not installed/off)
    error: str | None = None  # mlver.toml could not be read
    untrusted: tuple[str, ...] = ()  # watched names new or changed since mlver hooks trust

    def _why_idle(self, hook: str) -> str | None:
        return next((why for h, why in self.idle if h == hook), None)

    def watches(self, hook: str) -> tuple[str, ...] | None:
        """The names ``hook`` snapshots (post-commit) or compares (post-checkout,
        post-merge); None for pre-push, which pushes every name."""
        if hook not in WATCHING:
            return None
        if self.error is not None or self._why_idle(hook):
            return ()
        return self.names

    def fix(self) -> str:
        """What to do when no name is watched."""
        if not self.declared:
            return f"{FIX} (each needs a [snapshot.NAME] table with its inputs and outputs)"
        shown = ", ".join(self.declared[:MAX_SHOWN])
        more = f" and {len(self.declared) - MAX_SHOWN} more" if len(self.declared) > MAX_SHOWN \
            else ""
        return f"{FIX} (declared there: {shown}{more})"

    def note(self, hook: str) -> str:
        """Why ``hook`` watches nothing, with the fix ("" when it watches names, and for
        pre-push)."""
        if hook not in WATCHING:
            return ""
        if self.error is not None:
            return f"mlver.toml cannot be read: {self.error}"
        why = self._why_idle(hook)
        if why:
            return why
        return "" if self.names else f"no names in [hooks] snapshot; {self.fix()}"

    def lines(self) -> list[str]:
        """One line per watching hook, or one line when no name is watched at all."""
        if self.error is not None:
            return [f"watches: cannot tell, mlver.toml cannot be read: {self.error}"]
        if not self.names:
            return ["watches nothing: [hooks] snapshot in mlver.toml lists no names, so "
                    "post-commit snapshots nothing and post-checkout and post-merge compare "
                    "nothing (mlver status still compares every name); " + self.fix()]
        out = []
        names = ", ".join(self.names)
        mode = ("lists what differs" if self.on_checkout == "warn"
                else "restores what differs")
        for hook in WATCHING:
            verb = "snapshots" if hook == "post-commit" else "compares"
            why = self._why_idle(hook)
            if why:
                out.append(f"{hook} {verb} nothing: {why}")
            elif hook == "post-commit":
                out.append(f"post-commit snapshots: {names} (when their data changed)")
            else:
                out.append(f"{hook} compares: {names} (on-checkout = \"{self.on_checkout}\": "
                           f"{mode})")
        return out

    def fields(self, hook: str) -> dict[str, Any]:
        """The fields ``hooks status --json`` adds to ``hook``'s object: ``watches`` (the
        names, or null for pre-push), ``watch_note`` (why none, with the fix; "") and
        ``untrusted`` (the watched names every hook leaves out until ``mlver hooks trust``,
        the names of the ``not trusted:`` lines)."""
        w = self.watches(hook)
        return {"watches": None if w is None else list(w), "watch_note": self.note(hook),
                "untrusted": list(self.untrusted)}


def watch(config: Callable[[], ProjectConfig], states: Sequence[HookState],
          untrusted: Sequence[str] = ()) -> Watch:
    """The :class:`Watch` of a repository: ``config`` returns its ``ProjectConfig`` (may
    raise); ``states`` are :meth:`mlver.integrations.hooks.Hooks.status`'s; ``untrusted``
    the watched names the hooks leave out
    (:func:`mlver.integrations.hooktrust.untrusted_names`)."""
    from mlver.base.errors import MlverError

    idle = []
    for s in states:
        if s.hook not in WATCHING:
            continue
        if not s.installed:
            idle.append((s.hook, "not installed (mlver hooks install installs it)"))
        elif not s.enabled:
            idle.append((s.hook, f"turned off in mlver.toml ({s.hook} = false in [hooks])"))
    try:
        project = config()
    except MlverError as e:
        return Watch((), "warn", (), tuple(idle), str(e))
    h = project.hooks
    declared = tuple(n for n in sorted(project.snapshots) if n not in h.snapshot)
    return Watch(tuple(h.snapshot), h.on_checkout, declared, tuple(idle),
                 untrusted=tuple(untrusted))
