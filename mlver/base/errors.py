"""The one error hierarchy of mlver.

Every failure a user can cause or fix is an :class:`MlverError` whose message is
one sentence naming the thing and the fix. The CLI translates these, and only
these, into ``Error: <message>`` with exit status 1 (2 for a :class:`UsageError`; see
``cli.main``); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations


class MlverError(Exception):
    """Base class: a user-facing failure with a one-line message."""

    exit_code = 1

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message

    def __str__(self) -> str:
        return self.message


class NotAStoreError(MlverError):
    """No ``.mlver/`` store was found in the folder or any parent."""


class StoreFormatError(MlverError):
    """The store's config names a format or hash this version cannot read."""


class ReadOnlyError(MlverError):
    """A write was attempted through a store opened read-only (``mlver ui``)."""


class CorruptObjectError(MlverError):
    """An object is missing, or its bytes do not hash to its oid."""


class RevisionError(MlverError):
    """A revision names no record, or more than one."""


class NoSuchName(RevisionError):
    """A remote holds no version of ``name`` (``names``: the ones it holds), so that a
    caller that took a mistyped remote for a name can say both."""

    def __init__(self, message: str, name: str = "", names: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.name, self.names = name, names


class CaptureError(MlverError):
    """A path could not be captured (missing, unreadable, special file)."""


class ParamsError(MlverError):
    """A params or metrics file or KEY=VALUE could not be parsed."""


class ConfigError(MlverError):
    """``mlver.toml`` or an option is malformed or missing."""


class UsageError(ConfigError):
    """A name, an option or an argument given is malformed, whatever the store holds:
    the command line says ``Error: …`` and exits 2, as click's own usage errors do."""

    exit_code = 2


class RevisionSyntaxError(UsageError, RevisionError):
    """A revision or tag written so that it cannot be one, whatever the store holds
    (``a/b``, a tag of digits, ``NAME`` where ``NAME@TAG`` is wanted): a usage error."""


class RefConflictError(MlverError):
    """A ref changed under us (compare-and-swap failed)."""


class LockError(MlverError):
    """A lock could not be taken in time."""


class CheckoutError(MlverError):
    """A checkout would lose content or write outside its target; nothing was written."""


class RecordFormatError(MlverError):
    """A record or tree object does not follow the format (tampered or foreign)."""


class RunError(MlverError):
    """A command run by ``mlver run`` failed or did not produce its outputs."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class RemoteError(MlverError):
    """A remote cannot be reached, read or written, or holds something that is not a store."""


class ReplayError(MlverError):
    """``mlver explain`` cannot replay a run: a refusal before anything ran, or a replay
    that failed (``exit_code`` and the ``tail`` of its log then say how)."""

    def __init__(self, message: str, exit_code: int | None = None,
                 tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.command_exit_code = exit_code
        self.tail = tuple(tail)
