"""boto3 access for an environment. Nothing here knows the local cloud: boto3 itself honours
`AWS_ENDPOINT_URL` (and `AWS_ENDPOINT_URL_<SERVICE>`), so the same code reaches AWS or it."""

from __future__ import annotations

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


def stack_outputs(env: Environment) -> dict[str, str]:
    """Outputs of the environment's EndpointStack; a UserError if it is not deployed."""
    from botocore.exceptions import ClientError

    name = endpoint_stack_name(env.name)
    try:
        stacks = client("cloudformation", env).describe_stacks(StackName=name)["Stacks"]
    except ClientError as err:
        raise UserError(
            f"stack {name} of environment {env.name!r} is not deployed "
            f"({err.response['Error'].get('Message', err)}); run `cdk deploy -c env={env.name}`"
        ) from None
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
