"""An action the local cloud does not run answers a modelled error in its service's protocol
(HTTP 501 `NotImplementedException` naming the action), which botocore reads as a ClientError
at once, instead of an HTML 500 page that it retries and cannot parse."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError


def refused(call: Callable[[], Any]) -> dict[str, Any]:
    with pytest.raises(ClientError) as raised:
        call()
    return raised.value.response


@pytest.mark.parametrize(
    ("service", "action", "call"),
    [
        # JSON protocol
        ("sagemaker", "ListHubs", lambda c: c.list_hubs()),
        # query protocol, XML errors
        (
            "iam",
            "GenerateServiceLastAccessedDetails",
            lambda c: c.generate_service_last_accessed_details(
                Arn="arn:aws:iam::123456789012:role/SageMaker-local"
            ),
        ),
        ("cloudformation", "DetectStackDrift", lambda c: c.detect_stack_drift(StackName="any")),
    ],
)
def test_an_unimplemented_action_answers_a_modelled_error_once(
    cloud: Any, service: str, action: str, call: Callable[[Any], Any]
) -> None:
    client = cloud.client(service, retries=5)
    response = refused(lambda: call(client))
    assert response["Error"]["Code"] == "NotImplementedException"
    assert f"does not run {service}:{action}" in response["Error"]["Message"]
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["ResponseMetadata"]["RetryAttempts"] == 0  # not retried: no storm
