"""Durability before the answer: a request that may change state runs under the state store's
shared lock, and its response leaves only after a snapshot that covers it is on disk."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs

from localcloud.shared.persistence import StateStore

# Actions that only read, by the prefix of their name (S3 is REST: GET/HEAD read).
_READ_PREFIXES = (
    "Describe",
    "List",
    "Get",
    "Head",
    "Search",
    "Query",
    "Filter",
    "Validate",
    "Estimate",
    "Invoke",
    "BatchGet",
    "Lookup",
    "Test",
)


def _action(environ: dict[str, Any]) -> str | None:
    """The API action of a request, for the JSON and query protocols; None for REST calls."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)  # moto reads it again
        form = parse_qs(body.decode("utf-8", errors="replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def is_mutating(environ: dict[str, Any]) -> bool:
    """Whether a request may change state (and so must be on disk before it is answered)."""
    if environ.get("REQUEST_METHOD", "GET") in ("GET", "HEAD", "OPTIONS"):
        return False
    action = _action(environ)
    if action is not None:
        return not action.startswith(_READ_PREFIXES)
    # REST calls: InvokeEndpoint(Async) only reads; S3 PUT/POST/DELETE write.
    return not environ.get("PATH_INFO", "").endswith(("/invocations", "/async-invocations"))


def persisting(app: Callable[..., Iterable[bytes]], store: StateStore) -> Callable[..., Any]:
    """WSGI middleware: a mutating request runs under the store's shared lock, and its response
    leaves only after a snapshot that covers it is on disk."""

    def wsgi(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not is_mutating(environ):
            return app(environ, start_response)
        with store.mutating():
            result = app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()

    return wsgi
