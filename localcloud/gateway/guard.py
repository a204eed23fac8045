"""The WSGI middleware in front of moto's app: the Host header, moto's internal endpoints,
CORS, the signature of every request (`auth`), for a key STS issued for a role the role's
identity policies (`authorize`), and the accounts a request reaches (`accounts`: S3 across
accounts, AssumeRole's trust) are checked before moto sees it."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from localcloud.gateway import accounts
from localcloud.gateway.auth import authenticate, credential_scope
from localcloud.gateway.authorize import authorize, web_identity
from localcloud.gateway.refusals import Refused, error_response, status_line
from localcloud.shared.credentials import Credentials

HEALTH_PATH = "/_smlocal/health"
# Set by the proxy (`localcloud.gateway.proxy`) on requests that came through a CONNECT tunnel:
# the AWS host name the client asked for, the only Host such a request may name.
TUNNEL_HOST = "smlocal.tunnel_host"
_INTERNAL_PREFIXES = ("/moto-api", "/favicon.ico", "/latest/meta-data", "/latest/api")
_EXPOSED = (
    "ETag, x-amz-request-id, x-amz-id-2, x-amz-version-id, x-amz-delete-marker, "
    "x-amzn-RequestId, x-amzn-ErrorType, Content-Length, Content-Type"
)
_LOOPBACK = ("localhost", "127.0.0.1", "[::1]")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Guard:
    """WSGI middleware: only requests signed with issued keys, to this cloud's names, reach
    `app`; CORS only for `cors_origins`. Set `port` once the server is bound."""

    def __init__(self, app: WSGIApp, start: Credentials, cors_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.start = start
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.port = 0

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        origin = environ.get("HTTP_ORIGIN", "")
        respond = self._cors(start_response, origin if origin in self.cors_origins else None)
        access_key_id, service = credential_scope(environ)
        try:
            self._check_host(environ)
            path = environ.get("PATH_INFO", "")
            if path.startswith(_INTERNAL_PREFIXES):
                return _json(respond, 404, "NotFound", f"{path} is not served by the local cloud")
            if path == HEALTH_PATH and environ.get("REQUEST_METHOD") == "GET":
                return _json(respond, 200, None, "ok")
            if environ.get("REQUEST_METHOD") == "OPTIONS":
                return self._preflight(environ, start_response, origin)
            if (
                "HTTP_AUTHORIZATION" not in environ
                and "X-Amz-Signature" not in environ.get("QUERY_STRING", "")
                and web_identity(environ)
            ):
                # AWS takes AssumeRoleWithWebIdentity unsigned: the token is the credential.
                environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
                return self.app(environ, respond)
            key = authenticate(environ, self.start)
            if key.principal is not None and key.role_arn is not None:
                authorize(environ, key.principal, key.role_arn, service or "")
            accounts.check(environ, key, service or "")
        except Refused as refusal:
            if not refusal.access_key_id:
                refusal.access_key_id = access_key_id
            status, headers, body = error_response(environ, refusal, service)
            respond(status, headers)
            return [body]
        # Every key acts in its own account (the cloud's own key in the management account):
        # moto's account header is the key's, whatever the client sent.
        environ["HTTP_X_MOTO_ACCOUNT_ID"] = key.account
        return self.app(environ, respond)

    def _check_host(self, environ: dict[str, Any]) -> None:
        host = environ.get("HTTP_HOST", "").lower()
        tunnel = environ.get(TUNNEL_HOST)
        if tunnel is not None:
            if host not in (tunnel, f"{tunnel}:443"):
                raise Refused("forbidden", f"host {host!r} is not the tunnel's ({tunnel}:443)")
            return
        name, _, port = host.rpartition(":")
        if port != str(self.port) or not (name in _LOOPBACK or name.endswith(".localhost")):
            raise Refused(
                "forbidden",
                f"host {host!r} is not this local cloud's (localhost:{self.port}, "
                f"127.0.0.1:{self.port}, [::1]:{self.port}, *.localhost:{self.port})",
            )

    def _preflight(
        self, environ: dict[str, Any], start_response: Callable[..., Any], origin: str
    ) -> Any:
        if origin not in self.cors_origins or not environ.get("HTTP_ACCESS_CONTROL_REQUEST_METHOD"):
            raise Refused(
                "forbidden",
                f"CORS request from origin {origin!r} is not allowed "
                "(smlocal cloud start --cors-origin ORIGIN allows one)",
            )
        start_response(
            "200 OK",
            [
                ("Access-Control-Allow-Origin", origin),
                ("Vary", "Origin"),
                ("Access-Control-Allow-Methods", "GET, PUT, POST, DELETE, HEAD"),
                (
                    "Access-Control-Allow-Headers",
                    environ.get("HTTP_ACCESS_CONTROL_REQUEST_HEADERS", ""),
                ),
                ("Access-Control-Max-Age", "600"),
                ("Content-Length", "0"),
            ],
        )
        return [b""]

    @staticmethod
    def _cors(start_response: Callable[..., Any], origin: str | None) -> Callable[..., Any]:
        def respond(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            if origin:
                kept += [
                    ("Access-Control-Allow-Origin", origin),
                    ("Access-Control-Expose-Headers", _EXPOSED),
                    ("Vary", "Origin"),
                ]
            return start_response(status, kept, exc_info)

        return respond


def _json(respond: Callable[..., Any], status: int, code: str | None, message: str) -> list[bytes]:
    record = {"status": message} if code is None else {"__type": code, "message": message}
    body = json.dumps(record).encode()
    respond(
        status_line(status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
