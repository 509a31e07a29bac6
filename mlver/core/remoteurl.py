"""Which remote URLs mlver reads: a folder path, ``file://``, ``s3://``, ``gs://`` (or
``gcs://``) and ``az://`` (or ``abfs://``); nothing else.

A URL is checked when it is typed (``mlver remote add``: a usage error) and when it is read
from ``mlver.toml`` or ``.mlver/config.json`` (the file's fault). Before this check a typo such
as ``s3:/bucket/x`` was taken as a folder and a push wrote a store into ``./s3:/bucket/x``
inside the work tree, and ``ftp://`` reached an fsspec class that raised a TypeError.
"""

from __future__ import annotations

import re

SCHEMES = ("file", "s3", "gs", "gcs", "az", "abfs")
ACCEPTED = ("a folder path, file:///PATH, s3://BUCKET/PREFIX, gs://BUCKET/PREFIX (or gcs://) "
            "or az://CONTAINER/PREFIX (or abfs://)")

# "s3:/x", "s3:x", "gs:bucket": a scheme without its "//". Two letters at least, so that a
# Windows drive ("C:/data") is not taken for one.
_SCHEME_TYPO = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+):(?!//)")
# "s3//bucket/x": a scheme that lost its colon, which would be the folder ./s3/bucket/x.
_NO_COLON = re.compile(r"^(" + "|".join(SCHEMES) + r")//", re.IGNORECASE)
_SCP = re.compile(r"^[^/@:\s]+@[^/:\s]+:")  # git's and DVC's ssh shorthand, user@host:path


def form_error(url: str) -> str | None:
    """Why ``url`` is not a remote URL mlver reads (one sentence naming it and the accepted
    forms), or None when it is one."""
    shown = url if len(url) <= 200 else url[:200] + "…"
    if not url.strip():
        return f"an empty remote URL is not one mlver reads; use {ACCEPTED}"
    if "://" in url:
        scheme, _sep, rest = url.partition("://")
        if scheme in SCHEMES:
            if scheme != "file" and not rest.split("/", 1)[0]:
                return (f"{shown} names no {'container' if scheme in ('az', 'abfs') else 'bucket'}"
                        f"; use {ACCEPTED}")
            return None
        if scheme.lower() in SCHEMES:
            return f"{shown} spells its scheme in capitals; write {scheme.lower()}://{rest[:180]}"
        return (f"{shown} is not a remote URL mlver reads (scheme {scheme[:40]}://); use "
                f"{ACCEPTED}")
    if _SCP.match(url):
        return (f"{shown} looks like an ssh location (USER@HOST:PATH), which mlver does not "
                f"read; use {ACCEPTED} (write ./{shown} for a folder of that name)")
    m = _NO_COLON.match(url)
    if m:
        return (f"{shown} looks like a mistyped URL ({m.group(1)[:40]}// without its colon); "
                f"use {ACCEPTED} (write ./{shown} for a folder of that name)")
    m = _SCHEME_TYPO.match(url)
    if m:
        return (f"{shown} looks like a mistyped URL ({m.group(1)[:40]}: without //); use "
                f"{ACCEPTED} (write ./{shown} for a folder of that name)")
    return None
