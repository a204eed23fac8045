"""Keep-alive connections for the cloud's HTTP server, and moto's host lookup done once.

werkzeug's development server answers every request with `Connection: close` (http.server
cannot tell where an unread body ends), so each boto3 call paid a TCP connect and a new server
thread, and moto's dispatcher matched the request against every service's URL patterns,
under one lock, on every call. Here a connection stays open when the request's body was read
to its end (or can be, cheaply), and the host → service match is remembered. An answer's head
waits for its body (one segment, not two), and werkzeug's after-answer selector is skipped on a
connection that stays open. A request line or head over http.server's bounds (64 KiB a line,
100 headers) is refused with AWS's error shape for the request's protocol, not an HTML page.
"""

from __future__ import annotations

import contextlib
import io
import logging
import selectors
import socket
import threading
import time
from http import HTTPStatus
from typing import Any

import werkzeug.serving

from localcloud.gateway.auth import credential_scope
from localcloud.gateway.refusals import Refused, error_response

_access_log = logging.getLogger("werkzeug")
IDLE_TIMEOUT_S = 60.0  # an idle kept-alive connection closes after this (its thread ends)
DRAIN_LIMIT = 64 * 1024  # unread body left at the answer that is read and dropped, not closed
# After refusing a head it did not read to its end, how much more of what the client is still
# sending the gateway reads and drops: closing with unread bytes resets the connection, and the
# client may lose the answer.
LINGER_S = 2.0
LINGER_BYTES = 16 * 1024 * 1024
MAX_LINE_BYTES = 65536  # http.server's bound on the request line and on each header line
MAX_HEADERS = 100  # and on the number of header lines (http.client's)
# http.server's refusals of a head, as the kind of the gateway's modelled error.
_HEAD_REFUSALS = {
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri-too-long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "head-too-large",
}


class _Body(io.RawIOBase):
    """A request body of known length over the connection: reads stop at its end and what is
    left unread is known, so the connection can serve the next request."""

    def __init__(self, stream: Any, length: int) -> None:
        super().__init__()
        self._stream = stream
        self.left = length

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        wanted = self.left if size is None or size < 0 else min(size, self.left)
        data = self._stream.read(wanted) if wanted else b""
        self.left -= len(data)
        return data

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self.left if size is None or size < 0 else min(size, self.left)
        line = self._stream.readline(wanted) if wanted else b""
        self.left -= len(line)
        return line

    def drain(self) -> bool:
        """Read what is left (up to DRAIN_LIMIT); whether the body is now read to its end."""
        while 0 < self.left <= DRAIN_LIMIT:
            if not self.read(self.left):
                return False  # the client stopped sending
        return self.left == 0


class _Coalescing(io.RawIOBase):
    """What http.server writes answers to: every write sent whole, the head of an answer held
    back (`hold`) until its body's first write or a flush, so that a small answer leaves in
    one segment, not two (each send on loopback costs the receiver a wake-up)."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__()
        self._sock = sock
        self._head = b""

    def writable(self) -> bool:
        return True

    def hold(self, head: bytes) -> None:
        self._head += head

    def write(self, data: Any) -> int:
        size = memoryview(data).nbytes
        if self._head:
            data, self._head = self._head + bytes(data), b""
        self._sock.sendall(data)
        return size

    def flush(self) -> None:
        if self._head:
            head, self._head = self._head, b""
            self._sock.sendall(head)


class _Recording:
    """The request's reader while http.server reads its header lines: the lines are kept, so
    that a head refused midway still shows the request's protocol (see `send_error`)."""

    def __init__(self, reader: Any) -> None:
        self.reader = reader
        self.lines: list[bytes] = []

    def readline(self, size: int = -1) -> bytes:
        line = self.reader.readline(size)
        self.lines.append(line)
        return line

    def __getattr__(self, name: str) -> Any:
        return getattr(self.reader, name)


def head_environ(request_line: bytes, header_lines: list[bytes]) -> dict[str, Any]:
    """What a refused request's line and whole header lines say, as WSGI keys: enough for the
    refusal's protocol (`refusals.protocol`) and the service its signature names."""
    parts = request_line.split(b" ")
    target = (parts[1] if len(parts) > 1 else b"/").decode("latin-1")
    path, _, query = target.partition("?")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": parts[0].decode("latin-1"),
        "RAW_URI": target,
        "PATH_INFO": path,
        "QUERY_STRING": query,
    }
    for line in header_lines:
        if not line.endswith(b"\n"):
            continue  # the line that was too long, cut off
        name, colon, value = line.decode("latin-1").partition(":")
        if colon and name and name == name.strip():
            key = name.upper().replace("-", "_")
            if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
                key = "HTTP_" + key
            environ.setdefault(key, value.strip())
    return environ


class _AfterAnswer:
    """The connection's reader as werkzeug sees it once the app ran: werkzeug reads "whatever
    is left" after each answer (10 ms at a time, up to 10 MB), which on a kept-alive
    connection is the next request. It reads on only when the connection is closing."""

    def __init__(self, handler: Any, stream: Any) -> None:
        self._handler, self._stream = handler, stream

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size) if self._handler.close_connection else b""


_serving = threading.local()  # the handler whose answer this thread is writing


class _NoSelector:
    """A selector that never finds anything to read: see `_Selectors`."""

    def register(self, *_args: Any) -> None:
        pass

    def select(self, timeout: float | None = None) -> list[Any]:
        return []

    def close(self) -> None:
        pass


class _Selectors:
    """werkzeug's `selectors` module as its server sees it. After each answer werkzeug makes a
    selector to wait up to 10 ms for "whatever is left" of the request: four system calls per
    request, for nothing on a connection that stays open (`_AfterAnswer` reads nothing there).
    On such a connection the selector finds nothing; on one that closes, werkzeug's runs."""

    EVENT_READ = selectors.EVENT_READ

    @staticmethod
    def DefaultSelector() -> Any:  # the name werkzeug calls
        handler = getattr(_serving, "handler", None)
        if handler is not None and not handler.close_connection:
            return _NoSelector()
        return selectors.DefaultSelector()


def keeping_alive(base: type) -> type:
    """A request handler class: `base` (werkzeug's WSGIRequestHandler or a subclass) that keeps
    HTTP/1.1 connections open between requests when that is safe. `close_idle(cls)` closes the
    connections it holds (the server is stopping)."""
    werkzeug.serving.selectors = _Selectors  # type: ignore[attr-defined]

    class KeepAliveHandler(base):  # type: ignore[misc, valid-type]
        timeout = IDLE_TIMEOUT_S
        open_connections: set[socket.socket] = set()
        _open_lock = threading.Lock()
        _body: _Body | None = None
        _chunked = _wsgi = False

        def setup(self) -> None:
            super().setup()
            # werkzeug writes the head and the body of an answer apart: on a connection that
            # stays open, Nagle's algorithm would hold the body until the client's delayed ACK
            # (40 ms on Linux). A closed connection flushed it; an open one must not wait.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._socket = self.connection  # a CONNECT tunnel replaces self.connection
            self.wfile = _Coalescing(self.connection)
            with self._open_lock:
                self.open_connections.add(self._socket)

        def finish(self) -> None:
            with self._open_lock:
                self.open_connections.discard(self._socket)
            super().finish()

        def make_environ(self) -> dict[str, Any]:
            environ = super().make_environ()  # wsgi.input holds the reader itself
            self._wsgi = True
            self._reader, self.rfile = self.rfile, _AfterAnswer(self, self.rfile)
            self._chunked = environ.get("wsgi.input_terminated", False)
            self._body = None
            if not self._chunked and environ["wsgi.input"] is self._reader:
                try:
                    length = max(0, int(environ.get("CONTENT_LENGTH") or 0))
                except ValueError:
                    length = -1
                if length >= 0:
                    self._body = _Body(self._reader, length)
                    environ["wsgi.input"] = self._body
            return environ

        def flush_headers(self) -> None:
            if isinstance(self.wfile, _Coalescing) and hasattr(self, "_headers_buffer"):
                self.wfile.hold(b"".join(self._headers_buffer))
                self._headers_buffer = []
                return
            super().flush_headers()  # a tunnel's writer

        def send_header(self, keyword: str, value: str) -> None:
            # werkzeug sends `Connection: close` on every answer; drop it when the connection
            # can carry the next request (http.server then keeps it open, as HTTP/1.1 does).
            if keyword.lower() == "connection" and value.lower() == "close":
                body = self._body
                if body is not None and not self._chunked and body.left <= DRAIN_LIMIT:
                    return
            super().send_header(keyword, value)

        def handle_one_request(self) -> None:
            self._body = None
            self._recording: _Recording | None = None
            self._chunked = self._wsgi = False
            _serving.handler = self
            try:
                super().handle_one_request()
            finally:
                _serving.handler = None
                if self._wsgi:
                    self.rfile = self._reader
            body = self._body
            if self._wsgi and not self.close_connection and (body is None or not body.drain()):
                self.close_connection = True  # what is left of the body is not a request

        def parse_request(self) -> bool:
            # ~1 µs a request (measured: 39.8 -> 40.6 µs for a boto3 head's parse_headers).
            reader = self.rfile
            self.rfile = self._recording = _Recording(reader)
            try:
                return super().parse_request()
            finally:
                self.rfile = reader

        def send_error(
            self, code: int, message: str | None = None, explain: str | None = None
        ) -> None:
            kind = _HEAD_REFUSALS.get(code)
            if kind is None:
                return super().send_error(code, message, explain)
            # The request line (414) or a header (431) is over http.server's bounds: AWS's
            # error in the request's protocol, as far as what was read tells it.
            recording = self._recording
            lines = recording.lines if recording is not None else []
            environ = head_environ(self.raw_requestline, lines)
            if kind == "uri-too-long":
                detail = f"the request line exceeds {MAX_LINE_BYTES} bytes"
            elif lines and not lines[-1].endswith(b"\n"):
                detail = f"a header line exceeds {MAX_LINE_BYTES} bytes"
            else:
                detail = f"the request has more than {MAX_HEADERS} headers"
            _key, service = credential_scope(environ)
            status, headers, body = error_response(environ, Refused(kind, detail), service)
            self.log_error("code %d, message %s", code, detail)
            self.send_response(int(status.split(" ", 1)[0]))
            for name, value in headers:
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            self.close_connection = True
            self._linger()

        def _linger(self) -> None:
            """Read and drop what the client still sends of the refused request (within
            LINGER_S and LINGER_BYTES), so that it reads the answer before the connection
            closes."""
            left, deadline = LINGER_BYTES, time.monotonic() + LINGER_S
            with contextlib.suppress(OSError):
                while left > 0:
                    wait = deadline - time.monotonic()
                    if wait <= 0:
                        break
                    self.connection.settimeout(wait)
                    data = self.connection.recv(min(left, 65536))
                    if not data:
                        break  # the client read the answer and closed
                    left -= len(data)

        def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
            # werkzeug formats every request's access line (the path back to an IRI, a date)
            # before its logger drops it; the cloud logs werkzeug at WARNING.
            if _access_log.isEnabledFor(logging.INFO):
                super().log_request(code, size)

        def log_error(self, format: str, *args: Any) -> None:
            if format.startswith("Request timed out"):
                return  # an idle connection closed: the client's pool opens another
            super().log_error(format, *args)

    return KeepAliveHandler


def close_idle(handler: type) -> None:
    """Shut the connections a `keeping_alive` handler class holds (the server stopped): their
    threads, waiting for a next request, end now instead of after IDLE_TIMEOUT_S."""
    with handler._open_lock:
        connections = list(handler.open_connections)
    for connection in connections:
        with contextlib.suppress(OSError):  # closed meanwhile
            connection.shutdown(socket.SHUT_RDWR)


def remembering(dispatcher: Any) -> Any:
    """moto's DomainDispatcherApplication with its host → service match remembered: moto tries
    every service's URL patterns in turn on every request (hundreds of regexes, under a lock)."""
    known: dict[str, Any] = {}
    lookup = dispatcher.get_backend_for_host

    def get_backend_for_host(host: str | None) -> Any:
        if host is None:
            return None
        backend = known.get(host)
        if backend is None:
            backend = lookup(host)
            if backend is not None:
                known[host] = backend
        return backend

    dispatcher.get_backend_for_host = get_backend_for_host
    return dispatcher
