"""Resource names checked with SageMaker's own rules before the cloud records them or builds a
path from them. The rules (pattern, length) come from botocore's SageMaker service model, and a
bad name gets the ValidationException AWS sends, worded as AWS words it."""

from __future__ import annotations

import functools
import re
from typing import Any

from localcloud.shared.errors import SageMakerValidation


@functools.cache
def _members(operation: str) -> dict[str, Any]:
    import botocore.session

    model = botocore.session.get_session().get_service_model("sagemaker")
    return dict(model.operation_model(operation).input_shape.members)


def _violations(operation: str, member: str, value: str) -> list[str]:
    meta = _members(operation)[member].metadata
    at = f"Value '{value}' at '{member[0].lower()}{member[1:]}' failed to satisfy constraint:"
    found = []
    if "max" in meta and len(value) > meta["max"]:
        found.append(f"{at} Member must have length less than or equal to {meta['max']}")
    if "min" in meta and len(value) < meta["min"]:
        found.append(f"{at} Member must have length greater than or equal to {meta['min']}")
    pattern = meta.get("pattern")
    if pattern and not re.fullmatch(pattern, value):
        found.append(f"{at} Member must satisfy regular expression pattern: ^{pattern}")
    return found


def check(operation: str, **names: str | None) -> None:
    """Raise SageMaker's ValidationException if a name breaks its shape's pattern or length,
    e.g. `check("CreateEndpoint", EndpointName=name, EndpointConfigName=config)`."""
    errors = [
        violation
        for member, value in names.items()
        if value is not None
        for violation in _violations(operation, member, str(value))
    ]
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise SageMakerValidation(count + "; ".join(errors))
