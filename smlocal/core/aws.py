"""boto3 access for an environment. Nothing here knows the local cloud: boto3 itself honours
`AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), so the same code reaches AWS or it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import boto3

from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment
from smlocal.core.naming import endpoint_stack_name


def session(env: Environment) -> boto3.Session:
    """A boto3 session in the environment's region, with the caller's credentials."""
    return boto3.Session(region_name=env.region)


def client(service: str, env: Environment) -> Any:
    """A boto3 client for `service` in the environment's region."""
    return session(env).client(service)


@dataclass(frozen=True)
class DeployedStack:
    """An environment's EndpointStack as CloudFormation reports it."""

    name: str
    status: str
    outputs: dict[str, str]


def describe_endpoint_stack(cloudformation: Any, env_name: str) -> DeployedStack:
    """DescribeStacks of the environment's EndpointStack through `cloudformation` (a boto3
    client of any session); a UserError naming the stack if it is not deployed."""
    from botocore.exceptions import ClientError

    name = endpoint_stack_name(env_name)
    try:
        stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as err:
        raise UserError(
            f"stack {name} is not deployed ({err.response['Error'].get('Message', err)}); "
            f"run `cdk deploy -c env={env_name}`"
        ) from None
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return DeployedStack(name, stack["StackStatus"], outputs)


def stack_outputs(env: Environment) -> dict[str, str]:
    """Outputs of the environment's EndpointStack; a UserError if it is not deployed."""
    return describe_endpoint_stack(client("cloudformation", env), env.name).outputs


# What a client answers when the key it signed with is not one the endpoint issued.
_KEY_REFUSED = frozenset(
    {
        "InvalidAccessKeyId",
        "InvalidClientTokenId",
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
    }
)


def access_problem(err: BaseException) -> Exception | None:
    """The botocore error behind `err` (itself, or one it was raised from or while handling)
    that says this shell cannot reach AWS: no credentials found, nothing answering at the
    endpoint or the proxy, or a key the endpoint does not know; None for anything else."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        NoCredentialsError,
        PartialCredentialsError,
    )

    seen: set[int] = set()
    current: BaseException | None = err
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, NoCredentialsError | PartialCredentialsError | ConnectionError):
            return current
        if (
            isinstance(current, ClientError)
            and current.response.get("Error", {}).get("Code") in _KEY_REFUSED
        ):
            return current
        current = current.__cause__ or current.__context__
    return None
