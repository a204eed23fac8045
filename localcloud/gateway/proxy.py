"""The local cloud as an HTTPS proxy for AWS's own host names, so that a client finds the cloud
by its environment alone, even one that hard-codes an AWS endpoint (the SageMaker SDK v2
builds its STS client with `endpoint_url=https://sts.<region>.amazonaws.com`).

`smlocal cloud env` exports HTTPS_PROXY=http://localhost:P and AWS_CA_BUNDLE=<state>/ca.pem.
A client then sends `CONNECT sts.us-east-1.amazonaws.com:443` to the cloud's own port; the
cloud answers 200, terminates TLS with a certificate for that name signed by its CA
(`authority`), and reads the requests inside the tunnel as any other: through the same WSGI
app, so the guard checks their signatures with the cloud's keys. Inside a tunnel the Host must
be the tunnel's (`guard.TUNNEL_HOST` marks such requests); moto routes AWS's names itself.

Only `*.amazonaws.com:443` is tunnelled: any other CONNECT is answered 403 and nothing is
relayed anywhere, so the cloud is no open proxy. Bounds: the CONNECT line and headers are
http.server's (64 KiB a line, 100 headers), the TLS handshake must finish within 10 s, and a
tunnel idle for 60 s is closed.
"""

from __future__ import annotations

import io
import re
import socket
import ssl
from typing import Any

from localcloud.gateway.authority import Authority
from localcloud.gateway.guard import TUNNEL_HOST

HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_AWS_HOST = re.compile(rf"(?:{_LABEL}\.)+amazonaws\.com")


def aws_host(target: str) -> str | None:
    """The host of a CONNECT target (`host:443`) when it is an AWS name, else None."""
    host, colon, port = target.lower().rpartition(":")
    if not colon or port != "443" or len(host) > 253 or not _AWS_HOST.fullmatch(host):
        return None
    return host


class _SocketWriter(io.BufferedIOBase):
    """What http.server writes responses to: every write sent whole."""

    def __init__(self, sock: socket.socket) -> None:
        self._sock = sock

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self._sock.sendall(data)
        with memoryview(data) as view:
            return view.nbytes


def tunnelling(base: type, authority: Authority) -> type:
    """A request handler class: `base` (werkzeug's WSGIRequestHandler or a subclass) that also
    answers CONNECT to AWS names by serving the tunnel's requests itself."""

    class TunnellingHandler(base):  # type: ignore[misc, valid-type]
        tunnel_host: str | None = None

        def do_CONNECT(self) -> None:
            host = aws_host(self.path)
            if host is None or self.tunnel_host is not None:
                self._refuse(
                    f"the local cloud proxies *.amazonaws.com:443 only, not {self.path[:200]!r}"
                )
                return
            context = authority.context(host)
            self.send_response(200, "Connection Established")
            self.end_headers()
            self.wfile.flush()
            self.connection.settimeout(HANDSHAKE_TIMEOUT_S)
            try:
                tls = context.wrap_socket(self.connection, server_side=True)
            except (OSError, ssl.SSLError):  # a client that does not trust the CA ends here
                self.close_connection = True
                return
            tls.settimeout(IDLE_TIMEOUT_S)
            self.connection = tls
            self.rfile = tls.makefile("rb", self.rbufsize)
            self.wfile = _SocketWriter(tls)
            self.tunnel_host = host
            self.close_connection = False

        def _refuse(self, message: str) -> None:
            body = (message + "\n").encode()
            self.send_response(403)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(body)
            self.close_connection = True

        def make_environ(self) -> dict[str, Any]:
            environ = super().make_environ()
            if self.tunnel_host is not None:
                environ["wsgi.url_scheme"] = "https"
                environ[TUNNEL_HOST] = self.tunnel_host
            return environ

        def handle(self) -> None:
            try:
                super().handle()
            except ssl.SSLError:  # a tunnel's client went away mid-record
                self.close_connection = True

        def finish(self) -> None:
            super().finish()
            if self.tunnel_host is not None:
                self.connection.close()

        def log_error(self, format: str, *args: Any) -> None:
            if self.tunnel_host is not None and format.startswith("Request timed out"):
                return  # an idle tunnel closed: the client's pool opens another
            super().log_error(format, *args)

    return TunnellingHandler
