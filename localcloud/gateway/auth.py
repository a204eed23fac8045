"""Who may talk to the local cloud: its user, with keys the cloud issued, from its own origin.

The cloud makes an access key at its first start (`credentials.json` in the state dir, mode
0600, kept across restarts); `smlocal cloud env` exports it. `guard.Guard`, a WSGI
middleware in front of moto's app, checks every request before moto sees it:

- the Host header names this cloud (localhost, 127.0.0.1, [::1] or `*.localhost`, on its port),
  so a page that rebinds its DNS name to 127.0.0.1 is refused;
- moto's internal endpoints (`/moto-api/...`: reset, dashboard, recorder, seed; instance
  metadata) are off; `GET /_smlocal/health` answers `{"status": "ok"}` and nothing else;
- CORS is off: moto's Access-Control-* headers are stripped and preflights are refused, unless
  the origin was allowed with `--cors-origin`;
- the SigV4 signature (Authorization header, or a presigned URL's query) is recomputed with
  botocore's signer from the request as received, with the secret of a key this cloud issued:
  the start key, or a key made later by its IAM `CreateAccessKey`, STS `AssumeRole` or
  `GetSessionToken` (looked up in moto's IAM and STS backends, so every account works), and the
  request's date must be within 15 minutes of now.

A refusal is the error AWS sends, in the shape of the request's protocol
(`localcloud.gateway.refusals`), so boto3 raises a ClientError with AWS's code. moto's own access
control (`INITIAL_NO_AUTH_ACTION_COUNT`) is not used: it checks IAM policies too (the start key
belongs to no IAM user), and it runs only in the services and actions that call it.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import hmac
import io
import re
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from localcloud.gateway.refusals import Refused
from localcloud.shared.credentials import ACCOUNT_ID, Credentials

MAX_SKEW = dt.timedelta(minutes=15)
# Bodies of non-S3 requests are read to hash them; AWS's largest (InvokeEndpoint) is 6 MB.
MAX_SIGNED_BODY = 32 * 1024 * 1024


# --- keys the cloud issued -------------------------------------------------------------------
@dataclass(frozen=True)
class IssuedKey:
    secret_access_key: str
    session_token: str | None
    account: str  # the account the key acts in
    expires: dt.datetime | None
    # An STS key for a role: the session's `assumed-role` ARN and the role's ARN, whose
    # policies `authorize` checks the key's requests against.
    principal: str | None = None
    role_arn: str | None = None
    user: str | None = None  # an IAM user's key (or a session of one): the user's name
    service: str | None = None  # a key of a service the cloud plays ("sagemaker.amazonaws.com")


# Keys the cloud's own services sign with (a role's session as SageMaker, a service's key in an
# account): in this process only, never written to the state dir; `trust.ServiceSessions`
# issues them and they expire as they say.
_SERVICE_KEYS: dict[str, IssuedKey] = {}
_SERVICE_KEYS_LOCK = threading.Lock()


def register_service_key(access_key_id: str, key: IssuedKey) -> None:
    """Make `access_key_id` a key the cloud accepts until `key.expires`; expired ones go."""
    with _SERVICE_KEYS_LOCK:
        now = dt.datetime.now(dt.UTC)
        for old in [k for k, v in _SERVICE_KEYS.items() if v.expires and _utc(v.expires) < now]:
            del _SERVICE_KEYS[old]
        _SERVICE_KEYS[access_key_id] = key


@functools.lru_cache(maxsize=4)
def _start_key(start: Credentials) -> IssuedKey:
    """The cloud's own key, made once (it is asked on most requests)."""
    # the account of the cloud's own key: the management account of the cloud's organization
    return IssuedKey(start.secret_access_key, None, ACCOUNT_ID, None)


def issued_key(access_key_id: str, start: Credentials) -> IssuedKey | None:
    """The key `access_key_id` if this cloud issued it and it is active, else None: the start
    key, a service's key, or one in moto's IAM backends (CreateAccessKey, AssumeRole,
    GetSessionToken)."""
    if hmac.compare_digest(access_key_id, start.access_key_id):
        return _start_key(start)
    service = _SERVICE_KEYS.get(access_key_id)
    if service is not None:
        return service
    from moto.iam.models import iam_backends
    from moto.sts.models import sts_backends

    # dict.items/get: looking must not create backends for accounts nobody used.
    for account, partitions in list(dict.items(iam_backends)):
        for partition, backend in list(dict.items(partitions)):
            key = backend.access_keys.get(access_key_id)
            if key is None or key.status != "Active":
                continue
            token = getattr(key, "session_token", None)
            expires = getattr(key, "expiration", None)
            if key.role_arn:  # AssumeRole: the session is the STS record of the role's account
                sts = dict.get(dict.get(sts_backends, account) or {}, partition)
                role = sts.get_assumed_role_from_access_key(access_key_id) if sts else None
                if role is None:
                    return None
                token, expires = role.session_token, role.expiration
                return IssuedKey(
                    key.secret_access_key, token, account, expires, role.arn, role.role_arn
                )
            # an IAM user's key, or GetSessionToken's key of a user (None: of the account root)
            user = key.user_name or getattr(key, "smlocal_user", None)
            return IssuedKey(key.secret_access_key, token, account, expires, user=user)
    return None


# --- the signature ---------------------------------------------------------------------------
def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        return environ.get(key)
    return environ.get(f"HTTP_{key}")


def _utc(value: dt.datetime) -> dt.datetime:
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


_BODY = "smlocal.body"  # the environ key that keeps a request's body once read


def read_body(environ: dict[str, Any]) -> bytes:
    """The whole body (to hash it, to read its parameters), read once and left for moto to
    read again; capped at MAX_SIGNED_BODY."""
    body = environ.get(_BODY)
    if body is None:
        body = environ[_BODY] = _read_body(environ)
    return body


def _read_body(environ: dict[str, Any]) -> bytes:
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_SIGNED_BODY:
        raise Refused("too-large", f"the request body is over {MAX_SIGNED_BODY} bytes")
    stream = environ["wsgi.input"]
    if length:
        body = stream.read(length)
    elif environ.get("wsgi.input_terminated"):  # chunked: read to its end, within the cap
        body = stream.read(MAX_SIGNED_BODY + 1)
        if len(body) > MAX_SIGNED_BODY:
            raise Refused("too-large", f"the request body is over {MAX_SIGNED_BODY} bytes")
    else:
        body = b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    return body


@dataclass
class _Signed:
    access_key_id: str
    date: str  # yyyymmdd of the scope
    region: str
    service: str
    signed_headers: list[str]
    signature: str
    amz_date: str | None
    token: str | None
    expires_s: int | None  # presigned URLs only


def credential_scope(environ: dict[str, Any]) -> tuple[str, str | None]:
    """(access key id, service) named by a request's signature, as far as it can be read."""
    signed = _parse(environ)
    return (signed.access_key_id, signed.service) if signed else ("", None)


_PARSED = "smlocal.sigv4"  # the environ key that keeps a request's parsed signature


def scope_region(environ: dict[str, Any]) -> str:
    """The region of the request's credential scope (us-east-1 when it names none)."""
    return getattr(_parse(environ), "region", "") or "us-east-1"


def presigned(environ: dict[str, Any]) -> bool:
    """Whether the request is signed in its URL's query (no Authorization header)."""
    signed = _parse(environ)
    return signed is not None and signed.expires_s is not None


def _parse(environ: dict[str, Any]) -> _Signed | None:
    """The signature a request carries (parsed once: the guard and `authenticate` both ask)."""
    if _PARSED in environ:
        return environ[_PARSED]
    environ[_PARSED] = signed = _parse_signature(environ)
    return signed


def _parse_signature(environ: dict[str, Any]) -> _Signed | None:
    header = environ.get("HTTP_AUTHORIZATION", "")
    if header.startswith("AWS4-HMAC-SHA256 "):
        fields = {}
        for part in header[len("AWS4-HMAC-SHA256 ") :].split(","):
            name, _, value = part.strip().partition("=")
            fields[name] = value
        credential, headers, signature = (
            fields.get("Credential", ""),
            fields.get("SignedHeaders", ""),
            fields.get("Signature", ""),
        )
        amz_date = _header(environ, "x-amz-date")
        token = _header(environ, "x-amz-security-token")
        expires = None
    else:
        query = dict(parse_qsl(_raw_target(environ)[1], keep_blank_values=True))
        if query.get("X-Amz-Algorithm") != "AWS4-HMAC-SHA256" or "X-Amz-Signature" not in query:
            return None
        credential = query.get("X-Amz-Credential", "")
        headers = query.get("X-Amz-SignedHeaders", "")
        signature = query["X-Amz-Signature"]
        amz_date = query.get("X-Amz-Date")
        token = query.get("X-Amz-Security-Token")
        try:
            expires = int(query.get("X-Amz-Expires", ""))
        except ValueError:
            expires = -1
    scope = credential.split("/")
    if len(scope) != 5 or scope[4] != "aws4_request":
        return _Signed("", "", "", "", [], "", None, None, None)
    return _Signed(
        scope[0],
        scope[1],
        scope[2],
        scope[3].lower(),
        [h for h in headers.split(";") if h],
        signature,
        amz_date,
        token,
        expires,
    )


def _raw_target(environ: dict[str, Any]) -> tuple[str, str]:
    """Path and query exactly as the client sent them (the signature covers their encoding)."""
    raw = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if raw:
        parts = urlsplit(raw)
        return parts.path or "/", parts.query
    from urllib.parse import quote

    return quote(environ.get("PATH_INFO", "/")), environ.get("QUERY_STRING", "")


_AMZ_DATE = re.compile(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z")


def _amz_date(value: str) -> dt.datetime:
    """An X-Amz-Date (`yyyymmddThhmmssZ`) as a UTC time; Refused when it is not one.
    (strptime took a fifth of the whole check.)"""
    match = _AMZ_DATE.fullmatch(value)
    if match is None:
        raise Refused("signature")
    try:
        return dt.datetime(*map(int, match.groups()), tzinfo=dt.UTC)
    except ValueError:  # month 13 and the like
        raise Refused("signature") from None


class _Received:
    """What botocore's signer reads of a request (method, url, headers, body, timestamp),
    without AWSRequest's preparation of a request to send, which cost more than the hash."""

    def __init__(self, method: str, url: str, headers: dict, body: bytes, timestamp: Any) -> None:
        from botocore.awsrequest import HTTPHeaders

        self.method, self.url, self.body = method, url, body
        self.headers = HTTPHeaders()
        for name, value in headers.items():
            self.headers[name] = value
        self.params: dict[str, str] = {}
        self.context = {"timestamp": timestamp}
        self.stream_output = False


_SIGNING_KEYS: dict[tuple[str, str, str, str], bytes] = {}
_SIGNING_KEYS_MAX = 1024


def _signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """SigV4's derived key (four HMACs), kept per secret, date, region and service as AWS's
    SDKs keep it: it changes once a day."""
    cache_key = (secret, date, region, service)
    derived = _SIGNING_KEYS.get(cache_key)
    if derived is None:
        derived = f"AWS4{secret}".encode()
        for part in (date, region, service, "aws4_request"):
            derived = hmac.new(derived, part.encode(), hashlib.sha256).digest()
        if len(_SIGNING_KEYS) >= _SIGNING_KEYS_MAX:
            _SIGNING_KEYS.clear()
        _SIGNING_KEYS[cache_key] = derived
    return derived


def authenticate(
    environ: dict[str, Any], start: Credentials, now: dt.datetime | None = None
) -> IssuedKey:
    """The issued key that signed this request; raises Refused otherwise."""
    from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
    from botocore.credentials import Credentials as BotoCredentials

    signed = _parse(environ)
    if signed is None:
        if environ.get("HTTP_AUTHORIZATION"):
            raise Refused("signature", "only AWS Signature Version 4 is accepted")
        raise Refused("missing")
    if not signed.access_key_id or not signed.signature:
        raise Refused("signature")
    key = issued_key(signed.access_key_id, start)
    if key is None:
        raise Refused("unknown-key", access_key_id=signed.access_key_id)
    if key.session_token is None:
        if signed.token:
            raise Refused("bad-token")
    elif not signed.token or not hmac.compare_digest(signed.token, key.session_token):
        raise Refused("bad-token")
    now = now or dt.datetime.now(dt.UTC)
    if key.expires is not None and now > _utc(key.expires):
        raise Refused("expired-token")
    fmt = "%Y%m%dT%H%M%SZ"
    when = _amz_date(signed.amz_date or "")
    if signed.expires_s is None:
        if now - when > MAX_SKEW:
            raise Refused(
                "skew",
                f"Signature expired: {when:{fmt}} is now earlier than "
                f"{now - MAX_SKEW:{fmt}} ({now:{fmt}} - 15 min.)",
            )
        if when - now > MAX_SKEW:
            raise Refused(
                "skew",
                f"Signature not yet current: {when:{fmt}} is still later than "
                f"{now + MAX_SKEW:{fmt}} ({now:{fmt}} + 15 min.)",
            )
    elif when - now > MAX_SKEW or now > when + dt.timedelta(seconds=signed.expires_s):
        raise Refused("url-expired", f"Signature expired: {when:{fmt}} plus X-Amz-Expires")

    presigned = signed.expires_s is not None
    s3 = signed.service == "s3"
    auth_class = {
        (True, False): S3SigV4Auth,
        (True, True): S3SigV4QueryAuth,
        (False, False): SigV4Auth,
        (False, True): SigV4QueryAuth,
    }[(s3, presigned)]
    headers = {}
    for name in signed.signed_headers:
        value = _header(environ, name)
        if value is None:
            raise Refused("signature")
        headers[name] = value
    path, query = _raw_target(environ)
    if presigned:
        query = "&".join(p for p in query.split("&") if not p.startswith("X-Amz-Signature="))
    # S3 signs its x-amz-content-sha256 header (a hash, UNSIGNED-PAYLOAD or STREAMING-*) in
    # place of the body; other services sign the body's hash.
    body = b"" if s3 else read_body(environ)
    host = environ.get("HTTP_HOST", "")
    url = f"http://{host}{path}" + (f"?{query}" if query else "")
    request = _Received(environ.get("REQUEST_METHOD", "GET"), url, headers, body, signed.amz_date)
    auth = auth_class(
        BotoCredentials(signed.access_key_id, key.secret_access_key, key.session_token),
        signed.service,
        signed.region,
    )
    canonical = auth.canonical_request(request)
    signing_key = _signing_key(key.secret_access_key, signed.date, signed.region, signed.service)
    string_to_sign = auth.string_to_sign(request, canonical).encode()
    expected = hmac.new(signing_key, string_to_sign, hashlib.sha256).hexdigest()
    if signed.date != when.strftime("%Y%m%d") or not hmac.compare_digest(
        expected, signed.signature
    ):
        raise Refused("signature")
    return key
