"""The serving app: the SageMaker serving contract as a plain ASGI callable.

Three routes (`/ping`, `/invocations`, the runtime API's `/endpoints/{name}/invocations`), the
error shapes of each (the container's JSON, SageMaker's `ModelError`), the payload limit, the
invocation timeout and, served over TCP, the Host check. `inference.server` runs it under
uvicorn.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import ipaddress
import json
import logging
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from inference import codecs
from inference.errors import InvocationTimeout, PayloadTooLarge
from inference.handlers import CUSTOM_ATTRIBUTES, Context, Handlers

REALTIME_PAYLOAD_BYTES = codecs.REALTIME_PAYLOAD_BYTES
SERVERLESS_PAYLOAD_BYTES = 4 * 1024 * 1024
DEFAULT_TIMEOUT_S = 60.0
VARIANT = "AllTraffic"

# The serving process's log: operators know it by this name, whichever module writes to it.
log = logging.getLogger("inference.server")


class _Failure(Exception):
    """An answer other than 200: the status and message of the error that caused it."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


def _failure(err: BaseException) -> _Failure:
    # Errors carry their status (ours, the toolkit's, a user script's own): no special cases.
    status = getattr(err, "status_code", None)
    message = getattr(err, "message", None) or str(err) or type(err).__name__
    if isinstance(status, int) and 400 <= status <= 599:
        return _Failure(status, type(err).__name__, str(message))
    log.error("model raised %s", type(err).__name__, exc_info=err)
    return _Failure(500, "InternalServerError", f"model raised {type(err).__name__}: {message}")


class _Disconnected(Exception):
    """The client went away before its body arrived: nothing to answer."""


_JSON_TYPE = codecs.JSON.encode()
_RUNTIME_PREFIX, _RUNTIME_SUFFIX = "/endpoints/", "/invocations"


class ServingApp:
    """The ASGI app serving `handlers`: /ping, /invocations, /endpoints/{name}/invocations.

    A plain ASGI callable rather than a framework app: three fixed routes need no router, and
    the layers a framework adds (middleware stack, Request/Response objects) cost ~0.04 ms of
    CPU per request, about 5% of this server's (see docs/inference.md, Benchmark).
    """

    def __init__(
        self,
        handlers: Handlers,
        *,
        max_payload_bytes: int,
        timeout_s: float,
        served_host: str | None = None,
    ) -> None:
        self.program = handlers.program
        # None: no Host check (a Unix socket only its user reaches); else the address served on.
        self._served_host = served_host
        self._transform = handlers.transform
        self._default_accept = handlers.default_accept
        self._max_payload = max_payload_bytes
        self._timeout_s = timeout_s
        # One model thread: torch parallelises inside each call; more threads would only contend.
        # The model runs off the event loop so that a stuck request times out (504) while /ping
        # and the other requests are still answered; the hop costs ~30 µs.
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="model")

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] == "http":
            await self._http(scope, receive, send)
        elif scope["type"] == "lifespan":
            await self._lifespan(receive, send)

    async def _lifespan(self, receive: Callable, send: Callable) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                self._executor.shutdown(wait=False, cancel_futures=True)
                await send({"type": "lifespan.shutdown.complete"})
                return

    async def _http(self, scope: dict, receive: Callable, send: Callable) -> None:
        if self._served_host is not None:
            refusal = _foreign_host(scope["headers"], self._served_host)
            if refusal is not None:
                payload = {"code": 403, "type": "Forbidden", "message": refusal}
                headers = [(b"content-type", _JSON_TYPE)]
                return await _send(send, 403, json.dumps(payload).encode(), headers)
        path, method = scope["path"], scope["method"]
        if path == "/invocations":
            route = self._invocations
        elif path.startswith(_RUNTIME_PREFIX) and path.endswith(_RUNTIME_SUFFIX):
            name = path[len(_RUNTIME_PREFIX) : -len(_RUNTIME_SUFFIX)]
            if not name or "/" in name:
                return await _send(send, 404, b"Not Found", [_PLAIN])
            route = functools.partial(self._runtime_invocations, name)
        elif path == "/ping":
            if method not in ("GET", "HEAD"):
                return await _send(send, 405, b"Method Not Allowed", [_PLAIN, _ALLOW_GET])
            return await _send(send, 200, b'{"status":"healthy"}', [(b"content-type", _JSON_TYPE)])
        else:
            return await _send(send, 404, b"Not Found", [_PLAIN])
        if method != "POST":
            return await _send(send, 405, b"Method Not Allowed", [_PLAIN, _ALLOW_POST])
        with contextlib.suppress(_Disconnected):
            await route(scope, receive, send)

    async def _invocations(self, scope: dict, receive: Callable, send: Callable) -> None:
        try:
            body, content_type, extra = await self._invoke(scope, receive)
        except _Failure as failure:
            payload = {"code": failure.status, "type": failure.kind, "message": failure.message}
            headers = [(b"content-type", _JSON_TYPE)]
            return await _send(send, failure.status, json.dumps(payload).encode(), headers)
        # The handler's type exactly as it gave it.
        await _send(send, 200, body, [(b"content-type", content_type.encode("latin-1")), *extra])

    async def _runtime_invocations(
        self, endpoint: str, scope: dict, receive: Callable, send: Callable
    ) -> None:
        request_id = (b"x-amzn-requestid", str(uuid.uuid4()).encode())
        try:
            body, content_type, extra = await self._invoke(scope, receive)
        except _Failure as failure:
            status, payload, headers = _runtime_error(failure, endpoint)
            return await _send(send, status, payload, [request_id, *headers])
        headers = [
            request_id,
            (b"x-amzn-invoked-production-variant", VARIANT.encode()),
            (b"content-type", content_type.encode("latin-1")),
            *extra,
        ]
        await _send(send, 200, body, headers)

    async def _invoke(self, scope: dict, receive: Callable) -> tuple[bytes, str, list]:
        """(body, content type, extra response headers: the custom attributes the model set)."""
        content_type = accept = length = custom = None
        for name, value in scope["headers"]:  # the first of each, as most frameworks read them
            if name == b"content-type" and content_type is None:
                content_type = value.decode("latin-1")
            elif name == b"accept" and accept is None:
                accept = value.decode("latin-1")
            elif name == b"content-length" and length is None:
                length = value.decode("latin-1")
            elif name == _CUSTOM and custom is None:
                custom = value.decode("latin-1")
        context = Context({CUSTOM_ATTRIBUTES: custom} if custom is not None else None)
        try:
            body = await self._read_body(length, receive)
            content_type = codecs.media_type(content_type)
            accept = codecs.negotiate(accept, self._default_accept)
            deadline = time.monotonic() + self._timeout_s
            future = asyncio.get_running_loop().run_in_executor(
                self._executor, self._run, body, content_type, accept, deadline, context
            )
            try:
                async with asyncio.timeout(self._timeout_s):
                    answer, answer_type = await future
                    extra = [
                        (k.lower().encode("latin-1"), v.encode("latin-1"))
                        for k, v in context.response_headers.items()
                    ]
                    return answer, answer_type, extra
            except TimeoutError:
                raise InvocationTimeout(
                    f"the model did not answer within {self._timeout_s:g} s"
                ) from None
        except _Disconnected:
            raise
        except Exception as err:
            raise _failure(err) from err

    def _run(self, body: bytes, content_type: str, accept: str, deadline: float, context: Context):
        if time.monotonic() > deadline:  # waited past its timeout in the queue: skip the work
            raise InvocationTimeout("request expired before the model could start on it")
        return self._transform(body, content_type, accept, context)

    async def _read_body(self, length: str | None, receive: Callable) -> bytes:
        limit = self._max_payload
        if length is not None and (not length.isdigit() or int(length) > limit):
            raise PayloadTooLarge(f"payload of {length} bytes exceeds {limit} bytes")
        chunks, size = [], 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Disconnected
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise PayloadTooLarge(f"payload exceeds {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                return chunks[0] if len(chunks) == 1 else b"".join(chunks)


_PLAIN = (b"content-type", b"text/plain; charset=utf-8")
_CUSTOM = CUSTOM_ATTRIBUTES.lower().encode()
_ALLOW_GET = (b"allow", b"GET, HEAD")
_ALLOW_POST = (b"allow", b"POST")


async def _send(send: Callable, status: int, body: bytes, headers: list) -> None:
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def create_app(
    handlers: Handlers,
    *,
    max_payload_bytes: int = REALTIME_PAYLOAD_BYTES,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    served_host: str | None = None,
) -> ServingApp:
    """The ASGI app serving `handlers`: /ping, /invocations, /endpoints/{name}/invocations.
    With `served_host` (the address it listens on over TCP), a request whose Host header
    names another machine is refused (403)."""
    return ServingApp(
        handlers,
        max_payload_bytes=max_payload_bytes,
        timeout_s=timeout_s,
        served_host=served_host,
    )


def trusted_host(host: str, served_host: str = "") -> bool:
    """Whether a Host header may reach this server: a loopback name (localhost, *.localhost),
    an IP address, or the address it was told to serve on. A DNS-rebinding page sends its own
    name, which resolves to this machine only in the browser's eyes: that name is refused."""
    host = host.strip().lower()
    if host.startswith("["):  # an IPv6 literal, with or without a port
        literal, bracket, rest = host[1:].partition("]")
        port_ok = not rest or (rest[0] == ":" and rest[1:].isdigit())
        return bool(bracket) and port_ok and _is_ip(literal)
    name, colon, port = host.partition(":")
    if colon and not port.isdigit():
        return False
    return (
        name == "localhost"
        or name.endswith(".localhost")
        or _is_ip(name)
        or (bool(served_host) and name == served_host.lower())
    )


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _foreign_host(headers: list, served_host: str) -> str | None:
    """Why the request's Host header is refused, or None (absent: HTTP/1.0 clients, never a
    browser, may leave it out)."""
    for name, value in headers:
        if name == b"host":
            host = value.decode("latin-1")
            if trusted_host(host, served_host):
                return None
            return (
                f"host {host!r} is not this server's: use localhost, 127.0.0.1, [::1], a "
                "*.localhost name or an IP address"
            )
    return None


def _runtime_error(failure: _Failure, endpoint: str) -> tuple[int, bytes, list]:
    """SageMaker's shapes: the front end refuses big payloads itself (413); anything the model
    container answered with an error becomes a ModelError (424) that carries the original."""
    headers = [(b"content-type", _JSON_TYPE)]
    # Only the payload limit is the front end's; a 413 from decoding is the container's answer.
    if failure.kind == PayloadTooLarge.__name__:
        payload = {"message": f"HTTP content length exceeded: {failure.message}"}
        return 413, json.dumps(payload).encode(), headers
    original = {"code": failure.status, "type": failure.kind, "message": failure.message}
    side = "client" if failure.status < 500 else "server"
    payload = {
        "message": (
            f"Received {side} error ({failure.status}) from primary with message "
            f'"{failure.message}". See the logs of endpoint {endpoint}.'
        ),
        "OriginalStatusCode": failure.status,
        "OriginalMessage": json.dumps(original),
    }
    headers.append((b"x-amzn-errortype", b"ModelError"))
    return 424, json.dumps(payload).encode(), headers
