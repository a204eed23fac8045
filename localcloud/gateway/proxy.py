"""The local cloud as the HTTPS proxy of a shell with its environment: AWS's own host names
are served by the cloud itself, every other host is relayed, so a client finds the cloud by its
environment alone (even one that hard-codes an AWS endpoint: the SageMaker SDK v2 builds its
STS client with `endpoint_url=https://sts.<region>.amazonaws.com`) while pip, curl, npm and a
notebook's downloads still reach the internet.

`smlocal cloud env` exports HTTPS_PROXY=http://smlocal:<password>@localhost:P and a CA bundle
holding the cloud's CA. Every CONNECT must carry that password (Proxy-Authorization, Basic;
407 otherwise): it is derived from the cloud's own secret key (`proxy_password`), so only who
can read the state dir can use the proxy, and no other local user gets a relay. Then:
- `*.amazonaws.com:443`: the cloud answers 200, terminates TLS with a certificate for that name
  signed by its CA (`authority`), and reads the requests inside the tunnel as any other:
  through the same WSGI app, so the guard checks their signatures with the cloud's keys. Inside
  a tunnel the Host must be the tunnel's (`guard.TUNNEL_HOST` marks such requests); moto routes
  AWS's names itself. Any other port of an AWS name is refused: nothing of AWS's is relayed.
- any other host: relayed as a plain TCP stream to a public address of that host (`relay`);
  loopback and private destinations are refused, so the relay is no way into a local service.

Bounds: the CONNECT line and headers are http.server's (64 KiB a line, 100 headers), the TLS
handshake must finish within 10 s, a tunnel idle for 60 s is closed; the relay's in `relay`.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import hmac
import io
import re
import socket
import ssl
import threading
from pathlib import Path
from typing import Any

from localcloud.gateway import relay
from localcloud.gateway.authority import Authority
from localcloud.gateway.guard import TUNNEL_HOST
from localcloud.shared.credentials import credentials

HANDSHAKE_TIMEOUT_S = 10.0
IDLE_TIMEOUT_S = 60.0
PROXY_USER = "smlocal"
_LABEL = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?")
SERVED_DOMAIN = "amazonaws.com"


def aws_host(target: str) -> str | None:
    """The host of a CONNECT target (`host:443`) when it is an AWS name the cloud serves (a
    name under `amazonaws.com` by the relay's reading, `relay.aws_domain`, each label one a
    certificate can carry), else None."""
    host, colon, port = target.lower().rpartition(":")
    if not colon or port != "443" or len(host) > 253 or host.endswith("."):
        return None
    if host == SERVED_DOMAIN or relay.aws_domain(host) != SERVED_DOMAIN:
        return None
    if not all(_LABEL.fullmatch(label) for label in host.split(".")):
        return None
    return host


def proxy_password(state_dir: Path) -> str:
    """The proxy's password for the cloud of `state_dir`: derived from the cloud's secret key
    (so it needs no file of its own and reveals nothing of the key)."""
    secret = credentials(state_dir).secret_access_key.encode()
    return hmac.new(secret, b"smlocal proxy", hashlib.sha256).hexdigest()[:32]


def proxy_url(port: int, state_dir: Path) -> str:
    """HTTPS_PROXY for clients of the cloud of `state_dir` on `port`, its password inside."""
    return f"http://{PROXY_USER}:{proxy_password(state_dir)}@localhost:{port}"


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
    answers CONNECT: AWS names by serving the tunnel's requests itself, other hosts relayed."""
    expected = f"{PROXY_USER}:{proxy_password(authority.state_dir)}".encode()
    relays = threading.BoundedSemaphore(relay.MAX_RELAYS)

    class TunnellingHandler(base):  # type: ignore[misc, valid-type]
        tunnel_host: str | None = None

        def do_CONNECT(self) -> None:
            if self.tunnel_host is not None:
                self._refuse(403, "a CONNECT inside a tunnel is not proxied")
                return
            if not self._authorized():
                self._refuse(
                    407,
                    "the local cloud's proxy needs the password in its URL "
                    '(HTTPS_PROXY from `eval "$(smlocal cloud env)"`)',
                )
                return
            host = aws_host(self.path)
            if host is not None:
                self._terminate(host)
                return
            try:
                target, port = relay.split_target(self.path)
                if relay.is_aws_name(target):
                    raise relay.Refusal(
                        403,
                        f"the local cloud serves *.amazonaws.com:443 itself and relays nothing "
                        f"of AWS's, not {self.path[:200]!r}",
                    )
                self._relay(target, port)
            except relay.Refusal as refusal:
                self._refuse(refusal.status, str(refusal))

        def _authorized(self) -> bool:
            scheme, _, value = self.headers.get("Proxy-Authorization", "").partition(" ")
            if scheme.lower() != "basic":
                return False
            try:
                given = base64.b64decode(value.strip(), validate=True)
            except (binascii.Error, ValueError):
                return False
            return hmac.compare_digest(given, expected)

        def _terminate(self, host: str) -> None:
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

        def _relay(self, host: str, port: int) -> None:
            if not relays.acquire(blocking=False):
                raise relay.Refusal(
                    503, f"the local cloud relays {relay.MAX_RELAYS} connections at most at once"
                )
            try:
                upstream = relay.open_upstream(host, port)
                self.close_connection = True
                with upstream, contextlib.suppress(OSError):  # either end went away
                    self.send_response(200, "Connection Established")
                    self.end_headers()
                    self.wfile.flush()
                    # What the client sent right after its CONNECT may sit in our read buffer.
                    self.connection.setblocking(False)
                    try:
                        early = self.rfile.read1(65536) or b""
                    except BlockingIOError:
                        early = b""
                    self.connection.setblocking(True)
                    if early:
                        upstream.sendall(early)
                    relay.pump(self.connection, upstream)
            finally:
                relays.release()

        def _refuse(self, status: int, message: str) -> None:
            body = (message + "\n").encode()
            self.send_response(status)
            if status == 407:
                self.send_header("Proxy-Authenticate", 'Basic realm="smlocal local cloud"')
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
