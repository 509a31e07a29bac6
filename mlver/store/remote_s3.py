"""S3 and S3-compatible servers: refs move by conditional writes, reads take one GET.

A ref is created with ``If-None-Match: *`` and moved with ``If-Match: <etag>``. The survey's
listing gives each file's ETag, which for a whole PUT is the MD5 of its bytes: a ref or
config whose ETag is the MD5 of what this store expects there (the remote head it last
pushed or pulled, the config it writes) is known without a GET. An ETag that is not an MD5
(multipart, some server-side encryptions) simply never matches, and the file is read.
"""

from __future__ import annotations

import hashlib
from typing import Any

from mlver.base.errors import RemoteError
from mlver.store.refs import REF_MAX
from mlver.store.remote_backend import Backend


class S3Backend(Backend):
    """S3 and S3-compatible servers: refs move by conditional writes."""

    cas = "conditional writes (If-None-Match, If-Match)"

    def _split(self, rel: str) -> tuple[str, str]:
        bucket, _, key = self.path(rel).partition("/")
        return bucket, key

    def _call(self, method: str, limit: int = REF_MAX, **kw: Any) -> dict[str, Any]:
        from fsspec.asyn import sync

        fs = self.fs

        async def go() -> dict[str, Any]:
            await fs.set_session()
            s3 = await fs.get_s3(kw.get("Bucket"))
            resp: dict[str, Any] = await getattr(s3, method)(**kw)
            body = resp.get("Body")
            if body is not None:
                try:
                    resp["Data"] = await body.read(limit + 1)
                finally:
                    body.close()
            return resp

        self._n()
        out: dict[str, Any] = sync(fs.loop, go)
        return out

    @staticmethod
    def _code(e: Exception) -> str:
        resp = getattr(e, "response", None)
        if isinstance(resp, dict):
            return str(resp.get("Error", {}).get("Code", ""))
        return ""

    def _no_root(self) -> None:
        bucket = self.root.split("/", 1)[0]
        try:
            self._call("head_bucket", Bucket=bucket)
        except Exception as e:
            if self._code(e) in ("404", "NoSuchBucket", "NotFound"):
                raise RemoteError(f"{self.label}: the bucket {bucket} does not exist; create it "
                                  "(mlver never creates buckets) or fix the remote's URL "
                                  "(mlver remote remove, then mlver remote add)") from None
            raise

    def _get(self, rel: str, limit: int) -> tuple[bytes | None, Any]:
        """One GET (no HEAD first): at most ``limit`` + 1 bytes of the body are read."""
        bucket, key = self._split(rel)
        with self.guard(f"reading {rel}"):
            try:
                resp = self._call("get_object", limit, Bucket=bucket, Key=key)
            except Exception as e:
                if self._code(e) in ("NoSuchKey", "404"):
                    return None, None
                raise
        return bytes(resp["Data"]), resp.get("ETag")

    def _read(self, rel: str, limit: int, size: int | None = None) -> bytes | None:
        if size is not None and size > limit:
            return super()._read(rel, limit, size)  # the usual refusal, no request
        data = self._get(rel, limit)[0]
        if data is not None and len(data) > limit:
            raise RemoteError(f"{self.label}: {rel} is larger than the {limit} bytes a file "
                              "of its kind may hold; it was not written by mlver")
        return data

    def proven(self, rel: str, guesses: tuple[bytes, ...]) -> tuple[bytes, Any] | None:
        with self._count:
            if self._known is None:
                return None
            etag, size = self._etags.get(rel), self._known.get(rel)
        if etag is None or size is None:
            return None
        for g in guesses:
            if len(g) == size and etag.strip('"') == hashlib.md5(
                    g, usedforsecurity=False).hexdigest():
                return g, etag
        return None

    def read_ref(self, rel: str, limit: int = REF_MAX) -> tuple[bytes | None, Any]:
        known, size = self._surveyed(rel)
        if known and size is None:
            return None, None  # absent when surveyed; a create is conditional anyway
        data, etag = self._get(rel, limit)
        with self._count:
            moved = known and self._etags.get(rel) != etag
        if moved:
            # It changed since the listing, which may then lack what it now reaches (a
            # push landed in between: its objects, its refs/pruned): ask S3 from now on.
            self.drop_survey()
        if data is not None and len(data) > limit:
            raise RemoteError(f"{self.label}: {rel} is larger than a ref; it was not written "
                              "by mlver")
        return data, etag

    def swap(self, rel: str, token: Any, new: bytes, limit: int = REF_MAX) -> bool:
        bucket, key = self._split(rel)
        cond = {"IfNoneMatch": "*"} if token is None else {"IfMatch": token}
        with self.guard(f"writing {rel}"):
            try:
                self._call("put_object", Bucket=bucket, Key=key, Body=new, **cond)
            except Exception as e:
                if self._code(e) in ("PreconditionFailed", "412", "ConditionalRequestConflict",
                                     "409"):
                    self.drop_survey()
                    return False
                raise
        self._note(rel, len(new))
        return True


__all__ = ["S3Backend"]
