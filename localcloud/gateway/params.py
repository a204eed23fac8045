"""What a request asks, read once and as moto reads it: its protocol, its operation and the
operation's parameters (`Asked`), kept in the environ (`ASKED`) for every check the guard
makes (a role's policies, AssumeRole's and AssumeRoleWithWebIdentity's trust, S3 across
accounts), so that no check reads a request otherwise than moto will run it.

How moto 5.2.5 reads a request (`BaseResponse.setup_class`, `_get_action`, `_get_param`, over
werkzeug's `Request`):
- its `querystring` is the form (werkzeug's `request.form`: an urlencoded or multipart body,
  whatever the method), the first copy of a repeated key; when the form is empty, the URL's
  query; when that is empty too, the body read as a query string (the last copy wins) unless
  the service keeps raw bodies; when that is empty, the request's headers;
- the operation is that querystring's `Action`, else `X-Amz-Target`'s, else the route's;
- services that parse by botocore's model (IAM, STS, CloudFormation, CloudWatch, SageMaker)
  read their parameters from `request.values` (the URL's query, then the form) or the JSON or
  CBOR body; the others (Logs, SSM, ECR, KMS, the runtime, ...) read each parameter from the
  querystring first, then from the JSON body.

Rather than follow each of those orders, a request that could be read two ways is refused as
malformed, in its protocol's shape (query `MalformedQueryString`, JSON `SerializationException`,
S3 `InvalidRequest`; 400):
- a query request: a key given twice, parameters both in the URL's query and in the body, a
  body that is not an urlencoded form (multipart included), no `Action`;
- a JSON request (`X-Amz-Target`): a URL query, a path other than `/`, a form body, a body
  with no parameters (moto would read the headers), an `Action` in the body read as a query
  string;
- the other protocols (SageMaker Runtime's routes, CloudWatch's RPC v2 CBOR): an `Action` in
  the URL's query, in a form body, in the body read as a query string or in a header, and an
  `X-Amz-Target` (moto takes either over the route);
- a presigned URL (the signature in the query) of a service other than S3: moto routes those
  by their body or path, not by their signature (every such request reaches S3).
What is left reads one way, but for one case: a JSON body whose strings hold `&Name=value`
gives the services that do not parse by the model a second value for `Name` (the body read as
a query string); that reading is kept (`Asked.views`) and authorised too.

S3 requests are named from their method, path, Host and headers (`arns_s3`), not here: moto's
S3 dispatch reads the URL's query only; what the cloud does not serve of S3 is refused here
(`arns_s3.unserved`: POST Object form uploads among it).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl

from localcloud.gateway.arns_s3 import unserved
from localcloud.gateway.auth import presigned, read_body
from localcloud.gateway.refusals import Refused, protocol

ASKED = "smlocal.asked"  # the environ key that keeps a request's `Asked`
FORM = "application/x-www-form-urlencoded"
_MULTIPART = "multipart/form-data"
RUNTIME_ROUTE = re.compile(
    r"/endpoints/([^/]+)/(invocations|async-invocations|invocations-response-stream)"
)
_RPC_V2_ROUTE = re.compile(r"/service/[^/]+/operation/([A-Za-z0-9]+)")


@dataclass
class Asked:
    """A request's protocol, operation and parameters, as moto reads them."""

    protocol: str  # "query", "json", "rpc-v2-cbor", "rest-json", "rest-xml"
    operation: str  # query: its Action; JSON: its target's; RPC v2: its path's; REST: ""
    params: dict[str, Any] = field(default_factory=dict)
    # Further readings of the parameters moto may make (a JSON body read as a query string).
    views: list[dict[str, Any]] = field(default_factory=list)


def read(environ: dict[str, Any], service: str | None) -> Asked:
    """The request's `Asked`, read once (the body is read and kept: `auth.read_body`);
    Refused("malformed") when moto could read it otherwise."""
    asked = environ.get(ASKED)
    if asked is None:
        asked = environ[ASKED] = _read(environ, service)
    return asked


def _read(environ: dict[str, Any], service: str | None) -> Asked:
    if service == "s3":  # whatever headers it carries: moto's S3 reads no X-Amz-Target
        unserved(environ)
        return Asked("rest-xml", "")
    if presigned(environ):
        raise Refused(
            "malformed", f"a presigned URL is taken for S3 only, not for {service or 'this'}"
        )
    path = environ.get("PATH_INFO", "")
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    rpc = _RPC_V2_ROUTE.fullmatch(path)
    if target and rpc is None:
        return _json(environ, target)
    kind = "rpc-v2-cbor" if rpc is not None else protocol(environ, service)
    if kind == "query":
        return _query(environ)
    if target:
        raise Refused("malformed", f"X-Amz-Target names an operation on the route {path}")
    body = read_body(environ)
    _no_action(environ, body, body_as_query=kind == "rpc-v2-cbor")
    if rpc is not None:
        return Asked(kind, rpc.group(1), _cbor(body))
    return Asked(kind, "")


def _mimetype(environ: dict[str, Any]) -> str:
    """The body's media type as werkzeug reads it (lowercased, parameters dropped)."""
    from werkzeug.http import parse_options_header

    return parse_options_header(environ.get("CONTENT_TYPE", ""))[0].lower()


def _pairs(text: bytes) -> list[tuple[str, str]]:
    """werkzeug's reading of a query string or an urlencoded form (`Request.args`, `.form`);
    bytes that are not UTF-8 (werkzeug fails or drops the form on them) are refused."""
    import werkzeug.urls  # noqa: F401  (registers the "werkzeug.url_quote" error handler)

    try:
        decoded = text.decode()
    except UnicodeDecodeError:
        raise Refused("malformed", "the parameters are not UTF-8") from None
    return parse_qsl(decoded, keep_blank_values=True, errors="werkzeug.url_quote")


def _args(environ: dict[str, Any]) -> list[tuple[str, str]]:
    return _pairs(environ.get("QUERY_STRING", "").encode("latin-1"))


def _query(environ: dict[str, Any]) -> Asked:
    body = read_body(environ)
    mimetype = _mimetype(environ)
    if body and mimetype != FORM:
        raise Refused(
            "malformed",
            f"a query request's parameters are an {FORM} body, not {mimetype or 'an untyped body'}",
        )
    form = _pairs(body) if body else []
    args = _args(environ)
    if form and args:
        raise Refused("malformed", "parameters both in the URL's query and in the body")
    pairs = form or args
    fields = dict(pairs)
    if len(fields) != len(pairs):
        twice = next(k for k in fields if sum(1 for n, _ in pairs if n == k) > 1)
        raise Refused("malformed", f"the parameter {twice} is given more than once")
    if not fields.get("Action"):
        raise Refused("malformed", "a query request names its Action")
    return Asked("query", fields["Action"], _query_structure(fields))


def _query_structure(fields: dict[str, str]) -> dict[str, Any]:
    """A query request's flat fields, with `X.member.N` lists as lists (AlarmNames)."""
    result: dict[str, Any] = {}
    for name, value in fields.items():
        head, _, rest = name.partition(".member.")
        if rest:
            result.setdefault(head, []).append(value)
        else:
            result[name] = value
    return result


def _json(environ: dict[str, Any], target: str) -> Asked:
    if environ.get("QUERY_STRING"):
        raise Refused("malformed", "a JSON request carries its parameters in its body only")
    if environ.get("PATH_INFO", "") != "/":
        raise Refused("malformed", "a JSON request is sent to /")
    if _mimetype(environ) in (FORM, _MULTIPART):
        raise Refused("malformed", f"a JSON request's body is JSON, not {_mimetype(environ)}")
    body = read_body(environ)
    text = body.decode("utf-8", "replace")
    as_query = parse_qsl(text, keep_blank_values=True)
    if not as_query:  # empty (or `&` alone): moto would read the headers as its parameters
        raise Refused("malformed", "a JSON request's body is a JSON object ({} for none)")
    if any(name == "Action" for name, _ in as_query):
        raise Refused("malformed", "a JSON request names no Action: its X-Amz-Target does")
    try:
        params = json.loads(body)
    except ValueError:
        params = {}
    params = params if isinstance(params, dict) else {}
    views = [{**params, **dict(as_query)}] if len(as_query) > 1 else []
    return Asked("json", target.rsplit(".", 1)[-1], params, views)


def _no_action(environ: dict[str, Any], body: bytes, body_as_query: bool) -> None:
    """Refuse a REST or RPC request that carries an `Action` where moto looks for one before
    the route: the URL's query, a form body, the body read as a query string (where moto reads
    it so: not the runtime's raw bodies), a header."""
    found = "HTTP_ACTION" in environ or any(n == "Action" for n, _ in _args(environ))
    if not found and b"Action" in body:
        if _mimetype(environ) == _MULTIPART:
            found = True  # a multipart form's field names are not worth parsing for this
        elif body_as_query or _mimetype(environ) == FORM:
            text = body.decode("utf-8", "replace")
            found = any(n == "Action" for n, _ in parse_qsl(text, keep_blank_values=True))
    if found:
        raise Refused("malformed", "an Action parameter on a route that names the operation")


def _cbor(body: bytes) -> dict[str, Any]:
    """An RPC v2 request's CBOR body as a dict (botocore's own CBOR decoder)."""
    from botocore.parsers import RpcV2CBORParser

    if not body:
        return {}
    parser = RpcV2CBORParser()
    try:
        decoded = parser.parse_data_item(parser.get_peekable_stream_from_bytes(body))
    except Exception:  # a body botocore cannot read names no resource
        return {}
    return decoded if isinstance(decoded, dict) else {}
