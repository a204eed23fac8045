"""SageMaker Runtime's data path: InvokeEndpoint forwards the request to a serving process of
the endpoint (the data plane's `Endpoints`) and answers what the model answered;
InvokeEndpointWithResponseStream answers the same in SageMaker's event-stream framing
(`application/vnd.amazon.eventstream` messages, one `PayloadPart` event per chunk)."""

from __future__ import annotations

import functools
import json
import struct
import zlib
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

import moto.sagemakerruntime.urls as runtime_urls
from moto.core.common_types import TYPE_RESPONSE
from moto.moto_server.werkzeug_app import DomainDispatcherApplication
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

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
