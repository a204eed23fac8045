"""One boto3 session per environment, in that environment's account and region.

Promotion reads the source environment and writes the target one, which may live in another
account. For each environment, the first of these that is set gives the credentials:
- `SMLOCAL_<ENV>_ROLE_ARN`: assume that role (with the default credentials), the usual way
  across accounts;
- `SMLOCAL_<ENV>_PROFILE`: a named profile of the AWS config;
- otherwise the default credentials.
The session's account is checked against the manifest, so a promotion never writes into the
wrong account by accident.
"""

from __future__ import annotations

import os
from typing import Any
from weakref import WeakKeyDictionary

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment


class CredentialsError(UserError):
    """No credentials for an environment, or credentials for another account."""


def _var(env: Environment, what: str) -> str:
    return f"SMLOCAL_{env.name.upper().replace('-', '_')}_{what}"


def session_for(env: Environment) -> boto3.Session:
    """A session in `env`'s region whose account is `env.account`."""
    role_var, profile_var = _var(env, "ROLE_ARN"), _var(env, "PROFILE")
    try:
        if role_arn := os.environ.get(role_var):
            creds = (
                boto3.Session(region_name=env.region)
                .client("sts")
                .assume_role(RoleArn=role_arn, RoleSessionName=f"smlocal-promote-{env.name}"[:64])[
                    "Credentials"
                ]
            )
            session = boto3.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=env.region,
            )
            how = f"role {role_arn} ({role_var})"
        elif profile := os.environ.get(profile_var):
            session = boto3.Session(profile_name=profile, region_name=env.region)
            how = f"profile {profile} ({profile_var})"
        else:
            session = boto3.Session(region_name=env.region)
            how = "the default credentials"
        account = session.client("sts").get_caller_identity()["Account"]
    except (BotoCoreError, ClientError) as err:
        raise CredentialsError(
            f"environment {env.name!r}: no usable AWS credentials ({err}); set "
            f"{role_var} or {profile_var}, or the default credentials"
        ) from None
    if account != env.account:
        raise CredentialsError(
            f"environment {env.name!r}: manifest account is {env.account} but {how} "
            f"reach account {account}; set {role_var} to a role in {env.account}"
        )
    return session


_CLIENTS: WeakKeyDictionary[boto3.Session, dict[str, Any]] = WeakKeyDictionary()


def client(session: boto3.Session, service: str) -> Any:
    """One client per session and service: creating a boto3 client costs ~0.1 s each time."""
    per_session = _CLIENTS.setdefault(session, {})
    if service not in per_session:
        per_session[service] = session.client(service)
    return per_session[service]
