"""What must hold before a pin moves: the source endpoint serves the pinned model, and the
target does not silently go back to an older model."""

from __future__ import annotations

from datetime import UTC, datetime

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from smlocal.core.aws import describe_endpoint_stack
from smlocal.core.errors import UserError
from smlocal.core.manifest import Environment, ModelPin
from smlocal.core.naming import OUTPUT_ENDPOINT_NAME
from smlocal.gitops.sessions import client

# Names recorded in a pin's `promotion.skipped_checks` when a flag bypassed a check.
ENDPOINT_CHECK = "source-endpoint-serving"
NEWER_MODEL_CHECK = "newer-model"


class CheckFailed(UserError):
    """A promotion precondition that does not hold; the message says which flag bypasses it."""


def _error(err: ClientError) -> str:
    e = err.response.get("Error", {})
    return f"{e.get('Code', '')}: {e.get('Message', '')}".strip(": ")


def deployed_endpoint(session: boto3.Session, env: Environment) -> str:
    """The endpoint name the environment's EndpointStack reports in its outputs."""
    try:
        stack = describe_endpoint_stack(client(session, "cloudformation"), env.name)
    except UserError as err:
        raise CheckFailed(f"{env.name}: {err}") from None
    outputs = stack.outputs
    if OUTPUT_ENDPOINT_NAME not in outputs:
        raise CheckFailed(f"{env.name}: stack {stack.name} has no {OUTPUT_ENDPOINT_NAME} output")
    return outputs[OUTPUT_ENDPOINT_NAME]


def served_model_urls(session: boto3.Session, endpoint: str) -> tuple[str, list[str]]:
    """The endpoint's status and the model data URL of each of its variants."""
    sm = client(session, "sagemaker")
    desc = sm.describe_endpoint(EndpointName=endpoint)
    config = sm.describe_endpoint_config(EndpointConfigName=desc["EndpointConfigName"])
    urls = []
    for variant in config["ProductionVariants"]:
        model = sm.describe_model(ModelName=variant["ModelName"])
        containers = [model["PrimaryContainer"]] if "PrimaryContainer" in model else []
        for c in containers + model.get("Containers", []):
            source = c.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri")
            urls.append(c.get("ModelDataUrl") or source or "(none)")
    return desc["EndpointStatus"], urls


def check_endpoint_serves(session: boto3.Session, env: Environment) -> str:
    """Raise unless `env`'s deployed endpoint is InService and serves `env`'s pinned model."""
    skip = "pass --skip-endpoint-check to promote anyway (it is recorded in the pin)"
    endpoint = deployed_endpoint(session, env)
    try:
        status, urls = served_model_urls(session, endpoint)
    except ClientError as err:
        raise CheckFailed(f"{env.name}: endpoint {endpoint}: {_error(err)}; {skip}") from None
    if status != "InService":
        raise CheckFailed(f"{env.name}: endpoint {endpoint} is {status}, not InService; {skip}")
    wanted = env.model.model_data_url
    if not urls or any(u != wanted for u in urls):
        raise CheckFailed(
            f"{env.name}: endpoint {endpoint} serves {', '.join(urls) or 'no model'}, "
            f"not the pinned {wanted}; deploy {env.name} first, or {skip}"
        )
    return endpoint


def model_time(pin: ModelPin, session: boto3.Session | None = None) -> datetime | None:
    """When the pinned model was made: its `pinned_at`, else its training job's end time."""
    if pin.pinned_at is not None:
        return pin.pinned_at
    if pin.training_job and session is not None:
        try:
            job = client(session, "sagemaker").describe_training_job(
                TrainingJobName=pin.training_job
            )
        except (ClientError, BotoCoreError):
            return None
        return job.get("TrainingEndTime") or job.get("CreationTime")
    return None


def is_older(candidate: datetime | None, current: datetime | None) -> bool:
    """True when both times are known and the candidate model was made before the current one."""
    if candidate is None or current is None:
        return False

    # a naive time in a manifest is taken as UTC, like the times this project writes
    def aware(t: datetime) -> datetime:
        return t if t.tzinfo else t.replace(tzinfo=UTC)

    return aware(candidate) < aware(current)
