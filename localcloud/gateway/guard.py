"""The WSGI middleware in front of moto's app: the Host header, moto's internal endpoints,
CORS, the signature of every request (`auth`), what the request asks as moto will read it
(`params`, once), for a key STS issued for a role the role's identity policies
(`authorize`), and the accounts a request reaches (`accounts`: S3 across accounts,
AssumeRole's trust) are checked before moto sees it. While the cloud recovers its jobs and
endpoints after a restart (`recovering`), only the keys of its own services get in: every
other request is answered 503 `ServiceUnavailable`, which SDKs retry."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from localcloud.gateway import accounts, params
from localcloud.gateway.auth import authenticate, credential_scope, read_body
from localcloud.gateway.authorize import authorize
from localcloud.gateway.principals import caller_of
from localcloud.gateway.refusals import Refused, error_response, status_line
from localcloud.gateway.trust import web_identity
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
_WEB_IDENTITY_BODY = 64 * 1024  # an unsigned AssumeRoleWithWebIdentity's body, at most

_RECOVERING = "the local cloud is recovering its jobs and endpoints after a restart; retry shortly"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


class Guard:
    """WSGI middleware: only requests signed with issued keys, to this cloud's names, reach
    `app`; CORS only for `cors_origins`. Set `port` once the server is bound, `recovering`
    while the cloud recovers what ran before a restart."""

    def __init__(self, app: WSGIApp, start: Credentials, cors_origins: Sequence[str] = ()) -> None:
        self.app = app
        self.start = start
        self.cors_origins = frozenset(o.rstrip("/") for o in cors_origins)
        self.port = 0
        # Set by the server until its jobs and endpoints are recovered: they read their models
        # and inputs through this gateway with their services' keys, which alone get in.
        self.recovering = False

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
            if self._web_identity(environ):
                # AWS takes AssumeRoleWithWebIdentity unsigned: the token is the credential.
                environ.pop("HTTP_X_MOTO_ACCOUNT_ID", None)
                return self.app(environ, respond)
            key = authenticate(environ, self.start)
            if self.recovering and key.service is None:
                raise Refused("unavailable", _RECOVERING)
            caller = caller_of(key)
            if caller.kind == "role" or service in ("s3", "sts"):
                # as moto will read it, for the checks below (refused if it reads two ways);
                # the others' requests are checked no further
                params.read(environ, service)
            if caller.kind == "role":
                authorize(environ, caller, service or "")
            accounts.check(environ, key, caller, service or "")
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

    def _web_identity(self, environ: dict[str, Any]) -> bool:
        """Whether the request is an unsigned STS AssumeRoleWithWebIdentity whose token the
        role's trust accepts (Refused when it does not): an urlencoded POST to `/` that moto
        routes to STS by its body (`DomainDispatcherApplication.get_action_from_body`, its own
        reading) and whose parameters name that action (`params`)."""
        if (
            "HTTP_AUTHORIZATION" in environ
            or "X-Amz-" in environ.get("QUERY_STRING", "")
            or "HTTP_X_AMZ_TARGET" in environ
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("PATH_INFO") != "/"
            or not environ.get("CONTENT_TYPE", "").startswith(params.FORM)
        ):
            return False
        try:
            length = int(environ.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return False
        if not 0 < length <= _WEB_IDENTITY_BODY:
            return False
        from moto.moto_server.werkzeug_app import DomainDispatcherApplication

        body = read_body(environ).decode("utf-8", "replace")
        routed = DomainDispatcherApplication.get_action_from_body(None, body)  # type: ignore[arg-type]
        if routed != "AssumeRoleWithWebIdentity":
            return False
        asked = params.read(environ, "sts")
        if asked.operation != routed:
            return False
        if self.recovering:
            raise Refused("unavailable", _RECOVERING)
        web_identity(asked, "us-east-1")  # moto's region for an unsigned STS request
        return True

    def _check_host(self, environ: dict[str, Any]) -> None:
        host = environ.get("HTTP_HOST", "").lower()
        tunnel = environ.get(TUNNEL_HOST)
        if tunnel is not None:
            if host not in (tunnel, f"{tunnel}:443"):
                raise Refused("forbidden", f"host {host!r} is not the tunnel's ({tunnel}:443)")
            return
        name, _, port = host.rpartition(":")
        if port != str(self.port) or not (name in _LOOPBACK or _virtual_host(name)):
            raise Refused(
                "forbidden",
                f"host {host!r} is not this local cloud's (localhost:{self.port}, "
                f"127.0.0.1:{self.port}, [::1]:{self.port}, BUCKET.localhost:{self.port})",
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


def _virtual_host(name: str) -> bool:
    """Whether `name` is `LABEL.localhost` as moto's S3 reads it, the bucket LABEL (moto takes
    a host's first label as its bucket, and a host starting `localhost` as path style: the
    bucket of `a.b.localhost` would be `a`, of `localhost.x.localhost` the path's)."""
    label = name.removesuffix(".localhost")
    return label != name and bool(label) and "." not in label and not label.startswith("localhost")


def _json(respond: Callable[..., Any], status: int, code: str | None, message: str) -> list[bytes]:
    record = {"status": message} if code is None else {"__type": code, "message": message}
    body = json.dumps(record).encode()
    respond(
        status_line(status),
        [("Content-Type", "application/json"), ("Content-Length", str(len(body)))],
    )
    return [body]
