"""Keep the webhook secret out of the API server's access logs (see :class:`SecretRedactingApp`)."""

from __future__ import annotations

import re
from collections.abc import MutableMapping
from typing import Any
from urllib.parse import quote

REDACTED = "***"
_PARAMETER = re.compile(r"\{[^}]*\}")


class SecretRedactingApp:
    """ASGI wrapper that keeps the secret out of every access log of the API server.

    Access logs print the request's ``scope``: Airflow 3.3's ``http.access`` logger reads
    ``path`` and ``query_string`` after the response, uvicorn's access log (Airflow 3.1) reads
    them when the response starts. The mounted app shares that scope, so this wrapper redacts
    it (see :func:`redact_scope`) *before* the app runs and hands the app a private copy with
    the real path to route on. ``POST /sms-api/webhooks/<secret>/inbound-sms`` is logged as
    ``/sms-api/webhooks/***/inbound-sms``, whatever the request looks like: wrong or right
    secret, double or encoded slashes, extra segments, a query string, any method.

    :param app: the ASGI app to wrap (a FastAPI app: the literal words of its routes are kept).
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self.words = route_words(app)

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope.get("type") != "http":
            await self.app(scope, receive, send)
            return
        private = dict(scope)
        redact_scope(scope, self.words)
        await self.app(private, receive, send)


def route_words(app: Any) -> frozenset[str]:
    """The literal path segments of ``app``'s routes (``webhooks``, ``inbound-sms``...)."""
    words = set()
    for route in getattr(app, "routes", ()):
        for segment in str(getattr(route, "path", "")).split("/"):
            if segment and not _PARAMETER.search(segment):
                words.add(segment)
    return frozenset(words)


def redact_scope(scope: MutableMapping[str, Any], words: frozenset[str]) -> None:
    """Replace every path segment after the mount point that is not one of ``words`` by ``***``
    in ``path`` and ``raw_path``, and drop the query string (the routes take none).

    The decoded ``path`` is what is redacted: percent-encoded slashes or characters are decoded
    by the server before this runs, so they cannot hide a segment. Runs of redacted or empty
    segments (``//``) collapse into one ``***``.
    """
    path = scope.get("path")
    if not isinstance(path, str):
        return
    root = scope.get("root_path") or ""
    mounted = bool(root) and path.startswith(root)  # Starlette >= 0.33 keeps the full path
    rest = path[len(root) :] if mounted else path
    redacted = _redact(rest, words)
    scope["path"] = root + redacted if mounted else redacted
    scope["raw_path"] = quote(root + redacted, safe="/*").encode("ascii")
    scope["query_string"] = b""


def _redact(path: str, words: frozenset[str]) -> str:
    segments = path.split("/")
    out: list[str] = []
    for index, segment in enumerate(segments):
        if index == 0 or segment in words or (segment == "" and index == len(segments) - 1):
            out.append(segment)  # the leading "", route words and a trailing slash stay
        elif out[-1] != REDACTED:
            out.append(REDACTED)
    return "/".join(out)


__all__ = ["REDACTED", "SecretRedactingApp", "redact_scope", "route_words"]
