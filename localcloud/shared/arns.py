"""SageMaker resource ARNs as SageMaker writes them, for the parts that must agree on one: the
authorizer's resource of a request (`gateway.arns`), the `aws:SourceArn` SageMaker sends when
it assumes a role for a resource, checked at create (`services.sagemaker.roles`) and sent again
for the sessions of the jobs and endpoints that run (`dataplane.batch`)."""

from __future__ import annotations


def sagemaker_arn(kind: str, account: str, region: str, name: str) -> str:
    """The ARN of SageMaker resource `name` of `kind` (`training-job`, `endpoint`, ...):
    SageMaker lowercases names in its ARNs. A name that is already an ARN (a request may name
    a resource by its ARN) is that ARN."""
    if name.startswith("arn:"):
        return name
    return f"arn:aws:sagemaker:{region}:{account}:{kind}/{name.lower()}"
