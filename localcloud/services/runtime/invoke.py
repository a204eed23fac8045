"""SageMaker Runtime's data path: InvokeEndpoint forwards the request to a serving process of
the endpoint (the data plane's `Endpoints`) and answers what the model answered."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints


def install(endpoints: Endpoints) -> None:
    """Route InvokeEndpoint to `endpoints`."""

    def invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
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
        answer, headers = endpoints.invoke(
            (account, region, name), endpoint, body, forwarded, target_variant=target
        )
        return 200, headers, answer

    # Binary bodies (application/x-npy) must reach the model as bytes, not decoded text.
    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = invoke_endpoint  # type: ignore[method-assign]
