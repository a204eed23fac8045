"""SageMaker Runtime's data path: InvokeEndpoint forwards the request to a serving process of
the endpoint (the data plane's `Endpoints`) and answers what the model answered;
InvokeEndpointWithResponseStream answers the same in SageMaker's event-stream framing
(`application/vnd.amazon.eventstream` messages, one `PayloadPart` event per chunk).

`DataPath` answers both right behind the gateway's guard (the signature is checked first), off
moto's dispatch and flask's request objects, which cost more than the forward itself; what it
cannot answer as moto would (an error, a request moto routes elsewhere) goes on to moto, which
gives the error its shape from the service's model, as before."""

from __future__ import annotations

import functools
import io
import json
import re
import string
import struct
import threading
import zlib
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import moto.sagemakerruntime.urls as runtime_urls
from moto.core.common_types import TYPE_RESPONSE
from moto.core.responses import BaseResponse
from moto.moto_api._internal import mock_random
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse
from werkzeug.datastructures import EnvironHeaders

from localcloud.shared.errors import ValidationError

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints


STREAM_PATH = "{0}/endpoints/(?P<name>[^/]+)/invocations-response-stream$"
PART_BYTES = 64 * 1024  # the body is sent as PayloadPart events of at most this size


def event_message(headers: dict[str, str], payload: bytes) -> bytes:
    """One message of the AWS event stream encoding: prelude (total and headers length, CRC),
    string headers, payload, message CRC (botocore's EventStreamBuffer reads it)."""
    encoded = b"".join(
        struct.pack("!B", len(k)) + k.encode() + struct.pack("!BH", 7, len(v)) + v.encode()
        for k, v in headers.items()
    )
    prelude = struct.pack("!II", 12 + len(encoded) + len(payload) + 4, len(encoded))
    message = prelude + struct.pack("!I", zlib.crc32(prelude)) + encoded + payload
    return message + struct.pack("!I", zlib.crc32(message))


def payload_parts(body: bytes) -> bytes:
    """`body` as the PayloadPart events of InvokeEndpointWithResponseStream."""
    headers = {
        ":event-type": "PayloadPart",
        ":content-type": "application/octet-stream",
        ":message-type": "event",
    }
    chunks = [body[i : i + PART_BYTES] for i in range(0, len(body), PART_BYTES)] or [b""]
    return b"".join(event_message(headers, chunk) for chunk in chunks)


_ID_CHARACTERS = string.ascii_letters + string.digits


def _request_id() -> str:
    """What moto's `gen_amzn_requestid_long` makes (52 letters and digits from moto's seedable
    random), drawn in one call instead of 52."""
    return "".join(mock_random.choices(_ID_CHARACTERS, k=52))


def _int_header(value: str | None) -> int | None:
    """An integer header as botocore sends it; one that is not a number is refused."""
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise ValidationError(f"Value '{value}' is not a valid integer.") from None


def install(endpoints: Endpoints) -> None:
    """Route InvokeEndpoint and InvokeEndpointWithResponseStream to `endpoints`."""

    def forward(self: SageMakerRuntimeResponse) -> tuple[bytes, dict[str, Any]]:
        from moto.sagemaker.models import sagemaker_backends

        failure = getattr(_answered, "failure", None)
        if failure is not None:  # `DataPath` ran this request: its error, in moto's shape
            _answered.failure = None
            raise failure

        # /endpoints/{EndpointName}/invocations
        name = unquote(self.path.split("?")[0].split("/")[2])
        account, region = self.current_account, self.region
        endpoint = sagemaker_backends[account][region].endpoints.get(name)
        forwarded = {
            "Content-Type": self.headers.get("Content-Type") or "application/octet-stream",
            "Accept": self.headers.get("Accept") or "application/json",
        }
        custom = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        if custom:
            forwarded["X-Amzn-SageMaker-Custom-Attributes"] = custom
        body = self.raw_body if isinstance(self.raw_body, bytes) else (self.raw_body or "").encode()
        target = self.headers.get("X-Amzn-SageMaker-Target-Variant")
        return endpoints.invoke(
            (account, region, name),
            endpoint,
            body,
            forwarded,
            target_variant=target,
            inference_id=self.headers.get("X-Amzn-SageMaker-Inference-Id"),
        )

    def invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
        answer, headers = forward(self)
        return 200, headers, answer

    def invoke_endpoint_async(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
        from moto.sagemaker.models import sagemaker_backends

        # /endpoints/{EndpointName}/async-invocations
        name = unquote(self.path.split("?")[0].split("/")[2])
        account, region = self.current_account, self.region
        endpoint = sagemaker_backends[account][region].endpoints.get(name)
        forwarded = {
            "Content-Type": self.headers.get("X-Amzn-SageMaker-Content-Type")
            or "application/octet-stream",
            "Accept": self.headers.get("X-Amzn-SageMaker-Accept") or "application/json",
        }
        custom = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
        if custom:
            forwarded["X-Amzn-SageMaker-Custom-Attributes"] = custom
        inference_id, output, failure = endpoints.invoke_async(
            (account, region, name),
            endpoint,
            self.headers.get("X-Amzn-SageMaker-InputLocation") or "",
            forwarded,
            self.headers.get("X-Amzn-SageMaker-Inference-Id"),
            ttl_s=_int_header(self.headers.get("X-Amzn-SageMaker-RequestTTLSeconds")),
            timeout_s=_int_header(self.headers.get("X-Amzn-SageMaker-InvocationTimeoutSeconds")),
        )
        headers = {
            "X-Amzn-SageMaker-OutputLocation": output,
            "X-Amzn-SageMaker-FailureLocation": failure,
            "Content-Type": "application/json",
        }
        return 202, headers, json.dumps({"InferenceId": inference_id})

    def invoke_endpoint_with_response_stream(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
        answer, headers = forward(self)
        # The model's type travels in its own header; the body is the event stream.
        headers["X-Amzn-SageMaker-Content-Type"] = headers.pop("Content-Type")
        headers["Content-Type"] = "application/vnd.amazon.eventstream"
        return 200, headers, payload_parts(answer)

    # Binary bodies (application/x-npy) must reach the model as bytes, not decoded text.
    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
    SageMakerRuntimeResponse.invoke_endpoint_async = invoke_endpoint_async  # type: ignore[method-assign]
    SageMakerRuntimeResponse.invoke_endpoint_with_response_stream = (  # type: ignore[attr-defined]
        invoke_endpoint_with_response_stream
    )
    # moto has no route for it (a client got an HTML 404); its server reads the paths when it
    # builds the service's app, after this. Requests signed for "sagemaker" reach the runtime
    # only if their path ends in "invocations": this one is sent there too.
    runtime_urls.url_paths.setdefault(STREAM_PATH, runtime_urls.response.dispatch)
    _route_stream_to_runtime()


def _route_stream_to_runtime() -> None:
    infer = DomainDispatcherApplication.infer_service_region_host
    if getattr(infer, "_streams", False):
        return

    @functools.wraps(infer)
    def infer_hook(self: DomainDispatcherApplication, environ: dict[str, Any], path: str) -> Any:
        suffix = "-response-stream"
        if environ.get("PATH_INFO", "").endswith("/invocations" + suffix):
            probe = {**environ, "PATH_INFO": environ["PATH_INFO"][: -len(suffix)]}
            return infer(self, probe, path.removesuffix(suffix))
        return infer(self, environ, path)

    infer_hook._streams = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.infer_service_region_host = infer_hook  # type: ignore[method-assign]


# --- the data path -----------------------------------------------------------------------------
_INVOCATION = re.compile(r"/endpoints/([^/]+)/invocations(-response-stream)?")
_RUNTIME_HOST = "runtime.sagemaker."
# A body moto would not hand over as sent: form bodies are parsed, gzip ones inflated.
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")
# An error raised by the data path, for moto's answer to the same request (same thread) to raise.
_answered = threading.local()


class _Request:
    """What moto's response class reads of a request to find its account and region; its own
    methods do the reading, so the data path lands where moto's dispatch would."""

    access_key_regex = BaseResponse.access_key_regex
    region_regex = BaseResponse.region_regex
    region_from_useragent_regex = BaseResponse.region_from_useragent_regex
    default_region = BaseResponse.default_region
    get_access_key = BaseResponse.get_access_key
    get_current_account = BaseResponse.get_current_account
    get_region_from_url = BaseResponse.get_region_from_url

    def __init__(self, environ: dict[str, Any]) -> None:
        self.headers = EnvironHeaders(environ)
        self.querystring: dict[str, list[str]] = {}


class DataPath:
    """WSGI middleware behind the guard: InvokeEndpoint and InvokeEndpointWithResponseStream
    go straight to the data plane (`endpoints`, set once it exists); every other request, and
    the error of one of these, goes on to `app` (moto). A request is taken only when moto's
    `dispatcher` would route it to the runtime."""

    def __init__(self, app: Callable[..., Iterable[bytes]], dispatcher: Any) -> None:
        self.app = app
        self.dispatcher = dispatcher
        self.endpoints: Endpoints | None = None
        self.service_name = SageMakerRuntimeResponse().service_name

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        match = _INVOCATION.fullmatch(path)
        if (
            match is None
            or self.endpoints is None
            or environ.get("REQUEST_METHOD") != "POST"
            or environ.get("HTTP_CONTENT_ENCODING")
            or environ.get("CONTENT_TYPE", "").startswith(_FORM_TYPES)
            or not environ.get("HTTP_AUTHORIZATION")
        ):
            return self.app(environ, start_response)
        try:
            scope = self._scope(environ, path)
        except Exception:  # moto answers what it makes of such a request, as before
            scope = None
        if scope is None:
            return self.app(environ, start_response)
        account, region, name, endpoint = scope
        stream = environ["wsgi.input"]
        body = stream.read()
        environ["wsgi.input"] = io.BytesIO(body)  # for moto, if it answers after all
        headers = EnvironHeaders(environ)
        forwarded = {
            "Content-Type": headers.get("Content-Type") or "application/octet-stream",
            "Accept": headers.get("Accept") or "application/json",
        }
        custom = headers.get("X-Amzn-SageMaker-Custom-Attributes")
        if custom:
            forwarded["X-Amzn-SageMaker-Custom-Attributes"] = custom
        try:
            answer, reply = self.endpoints.invoke(
                (account, region, name),
                endpoint,
                body,
                forwarded,
                target_variant=headers.get("X-Amzn-SageMaker-Target-Variant"),
                inference_id=headers.get("X-Amzn-SageMaker-Inference-Id"),
            )
        except Exception as err:  # moto serialises it from the service's model
            _answered.failure = err
            try:
                return self.app(environ, start_response)
            finally:
                _answered.failure = None
        if match.group(2):  # the response stream: the model's type in its own header
            reply["X-Amzn-SageMaker-Content-Type"] = reply.pop("Content-Type")
            reply["Content-Type"] = "application/vnd.amazon.eventstream"
            answer = payload_parts(answer)
        # The headers moto's dispatch adds to an answer, in its order.
        sent = [("server", "amazon.com"), *reply.items()]
        sent += [
            ("x-amzn-requestid", _request_id()),
            ("Content-Length", str(len(answer))),
        ]
        start_response("200 OK", sent)
        return [answer]

    def _scope(self, environ: dict[str, Any], path: str) -> tuple[str, str, str, Any] | None:
        """(account, region, name, endpoint record) as moto's runtime sees them; None when
        moto would not route this request to the runtime."""
        from moto.iam.models import mark_account_as_visited
        from moto.sagemaker.models import sagemaker_backends

        host = self.dispatcher.infer_service_region_host(environ, path)
        if not isinstance(host, str) or not host.startswith(_RUNTIME_HOST):
            return None
        request = _Request(environ)
        if request.access_key_regex.search(request.headers.get("Authorization", "")) is None:
            return None
        raw = environ.get("RAW_URI") or environ.get("REQUEST_URI") or path
        if not raw.startswith("/"):  # an absolute-form target: moto reads it its own way
            return None
        scheme = environ.get("wsgi.url_scheme", "http")
        url = f"{scheme}://{environ.get('HTTP_HOST', '')}{raw}"
        region = request.get_region_from_url(request, url)
        account = request.get_current_account()
        access_key = request.get_access_key()
        mark_account_as_visited(
            account_id=account, access_key=access_key, service=self.service_name, region=region
        )
        # /endpoints/{EndpointName}/invocations, read from the path as sent, as `forward` reads it
        name = unquote(raw.split("?")[0].split("/")[2])
        endpoint = sagemaker_backends[account][region].endpoints.get(name)
        return account, region, name, endpoint
