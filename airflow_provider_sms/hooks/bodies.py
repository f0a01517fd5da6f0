"""How much of an answer the hooks read: at most :data:`MAX_ANSWER_BYTES`, decoded with a bound.

The API's answers are a few hundred bytes of JSON. A proxy error page, a misrouted download
or a hostile server may send far more; both hooks stream the body and stop at the cap, so
memory stays bounded whatever comes. They ask for uncompressed answers
(``Accept-Encoding: identity``); a server that compresses anyway is decoded here with the
same cap on the decoded size (no "zip bomb").
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping

MAX_ANSWER_BYTES = 1024 * 1024
"""The largest answer the hooks accept (1 MiB): a larger one is a ``ServerError``."""
READ_CHUNK = 64 * 1024
"""Bytes asked of the socket at a time while reading an answer."""

REQUEST_HEADERS = {"Accept": "application/json", "Accept-Encoding": "identity"}


class AnswerTooLargeError(ValueError):
    """The answer is larger than :data:`MAX_ANSWER_BYTES` (declared or read)."""


class AnswerUndecodableError(ValueError):
    """The answer's ``Content-Encoding`` is unknown or its compressed body is broken."""


def declared_length(headers: Mapping[str, str]) -> int | None:
    """The ``Content-Length`` the answer declares, ``None`` when absent or unreadable."""
    value = (headers.get("content-length") or "").strip()
    return int(value) if value.isdigit() and len(value) <= 18 else None


class BoundedBody:
    """Collects an answer's body chunk by chunk; refuses to hold more than ``cap`` bytes.

    :param encoding: the answer's ``Content-Encoding`` (``None``/``identity``, ``gzip``, ``deflate``).
    :param cap: the largest body accepted, raw and decoded.
    :raises AnswerUndecodableError: for an encoding other than those.
    """

    def __init__(self, encoding: str | None, cap: int = MAX_ANSWER_BYTES) -> None:
        self.cap = cap
        self.raw_bytes = 0
        self._parts: list[bytes] = []
        self._size = 0
        name = (encoding or "identity").strip().lower()
        if name in ("", "identity"):
            self._decoder = None
        elif name in ("gzip", "x-gzip", "deflate"):
            self._decoder = zlib.decompressobj(32 + zlib.MAX_WBITS)  # gzip or zlib header, detected
        else:
            raise AnswerUndecodableError(f"the answer is encoded as {name[:40]!r}, which cannot be read")

    def feed(self, chunk: bytes) -> None:
        """Add the next chunk read from the socket.

        :raises AnswerTooLargeError: once the body (raw or decoded) passes the cap.
        """
        self.raw_bytes += len(chunk)
        if self.raw_bytes > self.cap:
            raise AnswerTooLargeError(f"the answer is larger than {self.cap:,} bytes")
        if self._decoder is not None:
            try:
                chunk = self._decoder.decompress(chunk, self.cap + 1 - self._size)
            except zlib.error as exc:
                raise AnswerUndecodableError(f"the compressed answer is broken ({exc})") from None
            if self._decoder.unconsumed_tail:
                raise AnswerTooLargeError(f"the answer decompresses to more than {self.cap:,} bytes")
        self._size += len(chunk)
        if self._size > self.cap:
            raise AnswerTooLargeError(f"the answer is larger than {self.cap:,} bytes")
        self._parts.append(chunk)

    def body(self) -> bytes:
        """The body read so far (decoded)."""
        return b"".join(self._parts)


__all__ = [
    "MAX_ANSWER_BYTES",
    "READ_CHUNK",
    "AnswerTooLargeError",
    "AnswerUndecodableError",
    "BoundedBody",
    "declared_length",
]
