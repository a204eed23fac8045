"""Lambda functions would be recorded and never run: moto's Invoke answers 200 with "error
running docker" in the payload, as if the function had run and failed. CreateFunction and the
invocations are refused instead, as the SageMaker audit refuses what the cloud does not run:
each raises `NotImplementedError`, which the gateway (`gateway.unimplemented`) answers as HTTP
501 `NotImplementedException` naming the action. With no function, the rest of the API (aliases,
versions, event source mappings, URLs) finds nothing to act on. Layers stay: they are files."""

from __future__ import annotations

from typing import Any

from moto.awslambda.responses import LambdaResponse

WHY = "no Lambda runtime here: a function could never run"
REFUSED = ("create_function", "invoke", "invoke_async")


def _refusal(method: str) -> Any:
    def refuse(self: LambdaResponse) -> Any:
        raise NotImplementedError(WHY)

    refuse.__name__ = method
    return refuse


def install() -> None:
    """Replace moto's CreateFunction, Invoke and InvokeAsync with the refusal."""
    for method in REFUSED:
        setattr(LambdaResponse, method, _refusal(method))
