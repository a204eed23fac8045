"""The local cloud's refusals, as AWS words them, in the shape of each request's protocol:
S3's XML `Error`, the JSON protocols' `{"__type", "message"}`, the query protocol's
`ErrorResponse`; botocore parses each into a ClientError with AWS's code."""

from __future__ import annotations

import json
import uuid
from http import HTTPStatus
from typing import Any
from xml.sax.saxutils import escape

_SIGNATURE = (
    "The request signature we calculated does not match the signature you provided. "
    "Check your AWS Secret Access Key and signing method. "
    "Consult the service documentation for details."
)
_TOKEN = "The security token included in the request is invalid."
_EXPIRED = "The security token included in the request is expired"
# kind -> protocol family -> (HTTP status, code, message); None: the refusal's own detail.
_REFUSALS: dict[str, dict[str, tuple[int, str, str | None]]] = {
    "missing": {
        "s3": (403, "AccessDenied", "Access Denied"),
        "json": (400, "MissingAuthenticationTokenException", "Missing Authentication Token"),
        "query": (403, "MissingAuthenticationToken", "Request is missing Authentication Token"),
    },
    "unknown-key": {
        "s3": (
            403,
            "InvalidAccessKeyId",
            "The AWS Access Key Id you provided does not exist in our records.",
        ),
        "json": (400, "UnrecognizedClientException", _TOKEN),
        "query": (403, "InvalidClientTokenId", _TOKEN),
    },
    "bad-token": {
        "s3": (400, "InvalidToken", "The provided token is malformed or otherwise invalid."),
        "json": (400, "UnrecognizedClientException", _TOKEN),
        "query": (403, "InvalidClientTokenId", _TOKEN),
    },
    "expired-token": {
        "s3": (400, "ExpiredToken", "The provided token has expired."),
        "json": (400, "ExpiredTokenException", _EXPIRED),
        "query": (403, "ExpiredToken", _EXPIRED),
    },
    "signature": {
        "s3": (
            403,
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided. "
            "Check your key and signing method.",
        ),
        "json": (400, "InvalidSignatureException", _SIGNATURE),
        "query": (403, "SignatureDoesNotMatch", _SIGNATURE),
    },
    "skew": {
        "s3": (
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        ),
        "json": (400, "InvalidSignatureException", None),
        "query": (403, "SignatureDoesNotMatch", None),
    },
    "url-expired": {
        "s3": (403, "AccessDenied", "Request has expired"),
        "json": (400, "InvalidSignatureException", None),
        "query": (403, "SignatureDoesNotMatch", None),
    },
    "forbidden": {
        "s3": (403, "AccessDenied", None),
        "json": (403, "AccessDeniedException", None),
        "query": (403, "AccessDenied", None),
    },
    # IAM refused an STS key's request (`authorize`): AWS's "User: ... is not authorized to
    # perform: ..." message; JSON services answer 400 (AWS's common errors), REST ones 403.
    "denied": {
        "s3": (403, "AccessDenied", None),
        "json": (400, "AccessDeniedException", None),
        "query": (403, "AccessDenied", None),
    },
    # AssumeRoleWithWebIdentity (STS, query) whose token the role's trust does not accept
    "assume-denied": {
        "s3": (403, "AccessDenied", None),
        "json": (403, "AccessDeniedException", None),
        "query": (403, "AccessDenied", None),
    },
    "bad-identity-token": {
        "s3": (400, "InvalidIdentityToken", None),
        "json": (400, "InvalidIdentityTokenException", None),
        "query": (400, "InvalidIdentityToken", None),
    },
    "too-large": {
        "s3": (413, "RequestEntityTooLarge", None),
        "json": (413, "RequestEntityTooLargeException", None),
        "query": (413, "RequestEntityTooLarge", None),
    },
    # A request line or head over the gateway's bounds (`connections`); S3's code and words.
    "head-too-large": {
        "s3": (
            400,
            "RequestHeaderSectionTooLarge",
            "Your request header section exceeds the maximum allowed size.",
        ),
        "json": (431, "RequestHeaderSectionTooLarge", None),
        "query": (431, "RequestHeaderSectionTooLarge", None),
    },
    # A request moto could read otherwise than the gateway (`params`): refused, not guessed at.
    "malformed": {
        "s3": (400, "InvalidRequest", None),
        "json": (400, "SerializationException", None),
        "query": (400, "MalformedQueryString", None),
    },
    # What the cloud does not serve at all (S3's POST Object form uploads, S3 Control).
    "not-implemented": {
        "s3": (501, "NotImplemented", None),
        "json": (501, "NotImplementedException", None),
        "query": (501, "NotImplemented", None),
    },
    # The cloud is recovering its jobs and endpoints after a restart (`guard.Guard.recovering`);
    # SDKs retry a 503.
    "unavailable": {
        "s3": (503, "ServiceUnavailable", None),
        "json": (503, "ServiceUnavailable", None),
        "query": (503, "ServiceUnavailable", None),
    },
    "uri-too-long": {
        "s3": (414, "RequestURITooLong", None),
        "json": (414, "RequestURITooLong", None),
        "query": (414, "RequestURITooLong", None),
    },
}
# Query-protocol services among those the cloud keeps (by signing name).
_QUERY_SERVICES = ("iam", "sts", "cloudformation", "monitoring")


class Refused(Exception):
    """A request the cloud does not serve: `kind` picks AWS's code for the request's protocol."""

    def __init__(self, kind: str, detail: str = "", access_key_id: str = "") -> None:
        super().__init__(detail or kind)
        self.kind = kind
        self.detail = detail
        self.access_key_id = access_key_id


def protocol(environ: dict[str, Any], service: str | None) -> str:
    """The wire protocol of a request: rest-xml (S3), json, rest-json (runtime) or query."""
    if environ.get("HTTP_X_AMZ_TARGET"):
        return "json"
    if service == "s3":
        return "rest-xml"
    if environ.get("PATH_INFO", "").startswith("/endpoints/") and service in (None, "sagemaker"):
        return "rest-json"
    form = environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded")
    if service in _QUERY_SERVICES or form or "Action=" in environ.get("QUERY_STRING", ""):
        return "query"
    return "rest-xml"


def error_response(
    environ: dict[str, Any], refusal: Refused, service: str | None
) -> tuple[str, list[tuple[str, str]], bytes]:
    """Status line, headers and body of AWS's error for `refusal`, in the request's protocol."""
    shape = protocol(environ, service)
    family = {"rest-xml": "s3", "rest-json": "json"}.get(shape, shape)
    status, code, message = _REFUSALS[refusal.kind][family]
    message = message or refusal.detail
    if shape == "rest-json" and status == 400 and refusal.kind != "malformed":
        status = 403  # REST services answer authentication failures with 403
    request_id = str(uuid.uuid4())
    if family == "json":
        body = json.dumps({"__type": code, "message": message}).encode()
        headers = [
            ("Content-Type", "application/x-amz-json-1.1"),
            ("x-amzn-RequestId", request_id),
            ("x-amzn-ErrorType", code),
        ]
    elif family == "query":
        body = (
            "<ErrorResponse><Error><Type>Sender</Type>"
            f"<Code>{code}</Code><Message>{escape(message)}</Message></Error>"
            f"<RequestId>{request_id}</RequestId></ErrorResponse>"
        ).encode()
        headers = [("Content-Type", "text/xml"), ("x-amzn-RequestId", request_id)]
    else:
        key = refusal.access_key_id if code == "InvalidAccessKeyId" else ""
        body = (
            '<?xml version="1.0" encoding="UTF-8"?>\n'
            f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>"
            + (f"<AWSAccessKeyId>{escape(key)}</AWSAccessKeyId>" if key else "")
            + f"<RequestId>{request_id}</RequestId></Error>"
        ).encode()
        headers = [("Content-Type", "application/xml"), ("x-amz-request-id", request_id)]
    headers.append(("Content-Length", str(len(body))))
    return status_line(status), headers, body


def status_line(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"
