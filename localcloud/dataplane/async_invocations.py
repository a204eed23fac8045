"""InvokeEndpointAsync: a request is queued with its input's location and runs when its turn
comes (at most MaxConcurrentInvocationsPerInstance per instance at once): it is routed to a
variant, its input read from S3 as that variant's model's execution role, the model invoked
(`Endpoints.invoke`), and the answer written to S3OutputPath (any failure, an unreadable input
or an expired request too, to S3FailurePath) as the same role; the config's success or error
topic hears of it. The caller's request reads nothing: no input waits in memory in the queue.
"""

from __future__ import annotations

import json
import logging
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from localcloud.shared.errors import ValidationError
from smlocal.core.s3uri import split_s3_uri

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints, Fleet

log = logging.getLogger("localcloud.dataplane.async_invocations")

Key = tuple[str, str, str]  # account, region, endpoint name

# A request's RequestTTLSeconds and InvocationTimeoutSeconds: (min, max), SageMaker's default.
ASYNC_TTL_RANGE_S, ASYNC_TTL_DEFAULT_S = (60, 21600), 21600
ASYNC_TIMEOUT_RANGE_S, ASYNC_TIMEOUT_DEFAULT_S = (1, 3600), 900


class AsyncFailure(Exception):
    """An async request fails with this reason, written to its FailureLocation."""


@dataclass(frozen=True)
class AsyncRequest:
    """One queued InvokeEndpointAsync: where its input is, where its answer goes and who hears
    of it (the input is read when its turn comes, as the role of the variant that takes it)."""

    key: Key
    inference_id: str
    input_location: str
    content_type: str
    output: str
    failure: str
    notification: dict[str, Any]  # the config's NotificationConfig
    # What a failure before the request is routed to a variant is written as (the endpoint
    # is gone, say): its first production variant's model's execution role.
    role_arn: str
    received: datetime
    queued_at: float  # cloud seconds
    ttl_s: int
    timeout_s: int


def _check_range(member: str, value: int | None, low: int, high: int) -> None:
    """SageMaker's validation of a request's numeric header (botocore checks only the
    minimum)."""
    if value is None:
        return
    if value < low:
        bound = f"greater than or equal to {low}"
    elif value > high:
        bound = f"less than or equal to {high}"
    else:
        return
    raise ValidationError(
        f"1 validation error detected: Value '{value}' at '{member}' failed to satisfy "
        f"constraint: Member must have value {bound}"
    )


def _iso_ms(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def async_notification(
    request: AsyncRequest, *, ok: bool, answer_type: str, reason: str | None
) -> dict[str, Any]:
    """The SNS message SageMaker sends when an async inference completes or fails."""
    _account, region, name = request.key
    message: dict[str, Any] = {
        "awsRegion": region,
        "eventTime": _iso_ms(datetime.now(UTC)),
        "receivedTime": _iso_ms(request.received),
        "invocationStatus": "Completed" if ok else "Failed",
    }
    if not ok:
        message["failureReason"] = f"ClientError: {reason}"
    message["requestParameters"] = {
        "contentType": request.content_type,
        "endpointName": name,
        "inputLocation": request.input_location,
    }
    message["responseParameters"] = (
        {"contentType": answer_type, "outputLocation": request.output}
        if ok
        else {"failureLocation": request.failure}
    )
    message |= {
        "inferenceId": request.inference_id,
        "eventVersion": "1.0",
        "eventSource": "aws:sagemaker",
        "eventName": "InferenceResult",
    }
    return message


class AsyncInvocations:
    """The async invocations of every endpoint of `endpoints` (each endpoint's queue is its
    runtime's)."""

    def __init__(self, endpoints: Endpoints, store: Any) -> None:
        self._endpoints = endpoints
        self._store = store

    def submit(
        self,
        key: Key,
        endpoint: Any,
        input_location: str,
        headers: dict[str, str],
        inference_id: str | None,
        *,
        ttl_s: int | None = None,
        timeout_s: int | None = None,
    ) -> tuple[str, str, str]:
        """InvokeEndpointAsync: the request is queued (at most
        MaxConcurrentInvocationsPerInstance per instance run at once) with its input's location;
        at its turn the input is read from S3 and the answer goes to S3OutputPath (an error,
        an unreadable input's too, to S3FailurePath) and a notification to the success (error)
        topic. A request still queued after `ttl_s` cloud seconds expires; one the model takes
        longer than `timeout_s` real seconds to answer fails. Returns (inference id, output,
        failure URI)."""
        account, _region, name = key
        _check_range("requestTTLSeconds", ttl_s, *ASYNC_TTL_RANGE_S)
        _check_range("invocationTimeoutSeconds", timeout_s, *ASYNC_TIMEOUT_RANGE_S)
        runtime = self._endpoints.get(key)
        if endpoint is None or runtime is None:
            raise ValidationError(f"Endpoint {name} of account {account} not found.")
        deployment = runtime.deployment
        if deployment is None or not runtime.fleets:
            raise ValidationError(
                f"Endpoint {name} of account {account} is not in service "
                f"(status {endpoint.endpoint_status})."
            )
        if not deployment.async_config:
            raise ValidationError(
                f"Endpoint {name} of account {account} is not an asynchronous endpoint."
            )
        try:
            split_s3_uri(input_location, key_required=True)
        except ValueError:
            raise ValidationError(f"Could not read the input {input_location}.") from None
        output_config = deployment.async_config.get("OutputConfig") or {}
        inference_id = inference_id or str(uuid.uuid4())
        output_path = str(output_config.get("S3OutputPath") or "").rstrip("/")
        failure_path = str(output_config.get("S3FailurePath") or output_path).rstrip("/")
        output = f"{output_path}/{inference_id}.out"
        failure = f"{failure_path}/{inference_id}-error.out"
        with runtime.lock:
            if runtime.queue is None:
                client = deployment.async_config.get("ClientConfig") or {}
                per_instance = int(client.get("MaxConcurrentInvocationsPerInstance") or 4)
                instances = sum(f.variant.instance_count for f in runtime.fleets.values())
                runtime.queue = ThreadPoolExecutor(
                    per_instance * max(1, instances), thread_name_prefix=f"async-{name}"
                )
            queue = runtime.queue
        request = AsyncRequest(
            key=key,
            inference_id=inference_id,
            input_location=input_location,
            content_type=headers.get("Content-Type", "application/octet-stream"),
            output=output,
            failure=failure,
            notification=output_config.get("NotificationConfig") or {},
            role_arn=next((v.role_arn for v in deployment.variants if not v.shadow), ""),
            received=datetime.now(UTC),
            queued_at=self._endpoints.clock.now(),
            ttl_s=ttl_s or ASYNC_TTL_DEFAULT_S,
            timeout_s=timeout_s or ASYNC_TIMEOUT_DEFAULT_S,
        )
        queue.submit(self._run, request, endpoint, headers)
        return inference_id, output, failure

    def _run(self, request: AsyncRequest, endpoint: Any, headers: dict[str, str]) -> None:
        """One queued async invocation's turn: expire it, or route it to a variant, read its
        input and run it, all as that variant's role; then write the answer (or the failure)
        to S3 as that role and notify."""
        waited = self._endpoints.clock.now() - request.queued_at
        answer_type = "application/octet-stream"
        role_arn = request.role_arn
        try:
            if waited > request.ttl_s:
                raise AsyncFailure(
                    f"Request expired: it waited {waited:.0f} s in the queue, more than its "
                    f"RequestTTLSeconds of {request.ttl_s}."
                )
            fleet = self._route(request)
            role_arn = fleet.variant.role_arn
            data, reply = self._endpoints.invoke(
                request.key,
                endpoint,
                self._read_input(request, role_arn),
                headers,
                inference_id=request.inference_id,
                queued=True,
                timeout_s=request.timeout_s,
                routed=fleet,
            )
            ok, answer_type = True, reply.get("Content-Type", answer_type)
        except Exception as err:  # the caller reads the failure from S3, as on SageMaker
            reason = str(getattr(err, "message", None) or err)
            ok, data = False, reason.encode()
        target = request.output if ok else request.failure
        try:
            bucket, object_key = split_s3_uri(target, key_required=True)
            self._endpoints.s3_client(request.key, role_arn).put_object(
                Bucket=bucket, Key=object_key, Body=data, ContentType=answer_type
            )
        except Exception as err:
            log.warning(
                "async invocation %s: could not write %s: %s", request.inference_id, target, err
            )
        topic = request.notification.get("SuccessTopic" if ok else "ErrorTopic")
        if topic:
            message = async_notification(
                request, ok=ok, answer_type=answer_type, reason=None if ok else reason
            )
            self._notify(topic, message)

    def _route(self, request: AsyncRequest) -> Fleet:
        """The fleet that takes an async request at its turn (chosen before its input is read,
        which is read as that variant's role)."""
        key = request.key
        runtime = self._endpoints.get(key)
        if runtime is None:
            raise AsyncFailure(f"Endpoint {key[2]} of account {key[0]} not found.")
        with runtime.lock:
            if not runtime.fleets:
                raise AsyncFailure(f"Endpoint {key[2]} of account {key[0]} is not in service.")
            return self._endpoints.route(runtime, key[2], None)

    def _read_input(self, request: AsyncRequest, role_arn: str) -> bytes:
        """An async request's input, read as `role_arn` when its turn comes."""
        location = request.input_location
        try:
            bucket, object_key = split_s3_uri(location, key_required=True)
            s3 = self._endpoints.s3_client(request.key, role_arn)
            return s3.get_object(Bucket=bucket, Key=object_key)["Body"].read()
        except Exception as err:  # RoleError, or botocore's ClientError: S3's code and message
            raise AsyncFailure(f"Could not read the input {location}: {err}") from None

    def _notify(self, topic_arn: str, message: dict[str, Any]) -> None:
        """Publish to the cloud's SNS, as SageMaker does; a missing topic is logged, as
        SageMaker's failed notification is invisible to the caller."""
        from moto.sns.models import sns_backends

        parts = topic_arn.split(":")
        if len(parts) != 6:
            log.warning("async notification: %s is not an SNS topic ARN", topic_arn)
            return
        region, account = parts[3], parts[4]
        try:
            with self._store.changing():  # a message delivered to an SQS queue is state
                sns_backends[account][region].publish(json.dumps(message), arn=topic_arn)
        except Exception as err:
            log.warning("async notification to %s failed: %s", topic_arn, err)
