"""One kept-alive HTTP/1.1 connection from the cloud to a serving process, for the hop every
invocation takes, over the process's Unix socket (no TCP port: only the cloud's user may
connect, see `serving`).

`http.client` cost the cloud more here than anything else it does per call: it sends a request's
head and body in two writes (the serving process then wakes twice, and its event loop turns
twice) and parses every answer's head with the `email` package. Here the request leaves in one
write and the answer is parsed by httptools, the C parser the serving process's own uvicorn
uses. Only what the hop needs: a POST with a known body, an answer with Content-Length or
chunked framing, keep-alive as the server says.
"""

from __future__ import annotations

from pathlib import Path

import httptools

from smlocal.core import sockets

RECV_BYTES = 256 * 1024


class Disconnected(ConnectionError):
    """The server closed the connection before any byte of an answer: it never read the
    request (an idle keep-alive connection it ended), so the request may be sent again."""


class BadAnswer(OSError):
    """The server's bytes are not an HTTP/1.1 answer, or end in the middle of one."""


def _clean(value: str, name: str) -> str:
    """A header value as sent (the names are the cloud's own): one that would end the line
    is refused, as http.client refuses it."""
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"invalid value for header {name}: {value!r}")
    return value


class Connection:
    """A connection to the Unix socket at `address` that carries one request at a time."""

    def __init__(self, address: Path, timeout_s: float) -> None:
        self.address = address
        self.sock = sockets.connect(address, timeout_s)
        self.open = True

    def close(self) -> None:
        self.open = False
        self.sock.close()

    def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> tuple[int, dict[str, str], bytes, bool]:
        """(status, headers, body, whether the connection can carry another request).
        Disconnected if the server closed it before answering; another OSError (TimeoutError
        among them) when it did not answer in time or broke off; the connection is closed
        on any error."""
        answer = _Answer()
        parser = answer.parser = httptools.HttpResponseParser(answer)
        try:
            lines = [f"{method} {path} HTTP/1.1", "Host: localhost"]
            lines += [f"{name}: {_clean(value, name)}" for name, value in headers.items()]
            lines.append(f"Content-Length: {len(body)}")
            request = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
            self.sock.settimeout(timeout_s)
            self.sock.sendall(request)
            while not answer.complete:
                data = self.sock.recv(RECV_BYTES)
                if not data:
                    if not answer.received:
                        raise Disconnected("the serving process closed the connection")
                    raise BadAnswer("the serving process closed the connection mid-answer")
                answer.received = True
                try:
                    parser.feed_data(data)
                except httptools.HttpParserError as err:
                    raise BadAnswer(f"the serving process answered no HTTP: {err}") from None
            if answer.keep_alive and not answer.extra:
                return parser.get_status_code(), answer.headers, b"".join(answer.body), True
            self.close()
            return parser.get_status_code(), answer.headers, b"".join(answer.body), False
        except (ConnectionResetError, BrokenPipeError) as err:
            self.close()
            if not answer.received:
                raise Disconnected(str(err)) from None
            raise
        except BaseException:
            self.close()
            raise


class _Answer:
    """httptools' callbacks: the answer's headers and body as they arrive."""

    def __init__(self) -> None:
        self.headers: dict[str, str] = {}
        self.body: list[bytes] = []
        self.received = self.complete = self.extra = self.keep_alive = False
        self.parser: httptools.HttpResponseParser | None = None

    def on_message_begin(self) -> None:
        if self.complete:
            self.extra = True  # bytes after the answer: the connection is not reused

    def on_header(self, name: bytes, value: bytes) -> None:
        self.headers[name.decode("latin-1")] = value.decode("latin-1")

    def on_headers_complete(self) -> None:
        # Read here, as uvicorn reads it: once the message is complete the parser has moved on.
        assert self.parser is not None
        self.keep_alive = self.parser.should_keep_alive()

    def on_body(self, body: bytes) -> None:
        self.body.append(body)

    def on_message_complete(self) -> None:
        self.complete = True
