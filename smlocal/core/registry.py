"""The SageMaker Model Registry kept in step with git (git stays the source of truth).

Each pinned model is one version of the project's model package group in the account of the
environment that pins it: `smlocal pin` registers it (artifact, image, sha256, metrics,
training job; `PendingManualApproval`), `smlocal promote` records the target environment on it
(customer metadata `env:<name>` = when) and approves it when it reaches prod, `smlocal history`
shows the version numbers and `smlocal status` reports where the registry disagrees with git.
A version is found by the sha256 in its description, so registering again is a no-op. Only
boto3 calls, so the same code runs on AWS and on the local cloud.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from smlocal.core.manifest import Environment, ModelPin

MODEL_PACKAGE_GROUP = "smlocal-mnist"
APPROVED_IN = "prod"  # the environment whose promotion approves a version
_PENDING, _APPROVED = "PendingManualApproval", "Approved"
_MAX_METADATA_VALUE = 256  # AWS's limit on a customer metadata value


@dataclass(frozen=True)
class Version:
    """One version of the model package group, as the registry holds it."""

    arn: str
    number: int
    sha256: str
    approval: str
    metadata: dict[str, str]

    @property
    def environments(self) -> list[str]:
        return sorted(k.removeprefix("env:") for k in self.metadata if k.startswith("env:"))


def _description(sha256: str) -> str:
    return f"sha256 {sha256}"


def _ensure_group(sagemaker: Any) -> None:
    from botocore.exceptions import ClientError

    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=MODEL_PACKAGE_GROUP)
    except ClientError as err:
        if err.response["Error"]["Code"] not in ("ValidationException", "ResourceNotFound"):
            raise
        sagemaker.create_model_package_group(
            ModelPackageGroupName=MODEL_PACKAGE_GROUP,
            ModelPackageGroupDescription="smlocal: the models pinned in git (environments/)",
        )


def versions(sagemaker: Any) -> dict[str, Version]:
    """Every version of the group by sha256 (empty if the group does not exist yet)."""
    from botocore.exceptions import ClientError

    found: dict[str, Version] = {}
    summaries: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {"ModelPackageGroupName": MODEL_PACKAGE_GROUP}
    try:
        while True:
            page = sagemaker.list_model_packages(**kwargs)
            summaries += page["ModelPackageSummaryList"]
            if not page.get("NextToken"):
                break
            kwargs["NextToken"] = page["NextToken"]
    except ClientError:
        return found
    for summary in summaries:
        description = summary.get("ModelPackageDescription") or ""
        if not description.startswith("sha256 "):
            continue  # a version someone registered by hand: not one of git's
        described = sagemaker.describe_model_package(ModelPackageName=summary["ModelPackageArn"])
        sha = description.removeprefix("sha256 ")
        found[sha] = Version(
            arn=summary["ModelPackageArn"],
            number=int(summary["ModelPackageVersion"]),
            sha256=sha,
            approval=described.get("ModelApprovalStatus", ""),
            metadata=dict(described.get("CustomerMetadataProperties") or {}),
        )
    return found


def register(sagemaker: Any, env: Environment, pin: ModelPin) -> Version:
    """The version of `pin` (registered now, `PendingManualApproval`, if it is new)."""
    assert pin.sha256 is not None and pin.model_data_url is not None
    existing = versions(sagemaker).get(pin.sha256)
    if existing is not None:
        return existing
    _ensure_group(sagemaker)
    metadata = {
        "sha256": pin.sha256,
        "model_data_url": pin.model_data_url,
        "pinned_in": env.name,
        **({"training_job": pin.training_job} if pin.training_job else {}),
        **{f"metric:{k}": f"{v:.6g}" for k, v in sorted(pin.metrics.items())},
    }
    sagemaker.create_model_package(
        ModelPackageGroupName=MODEL_PACKAGE_GROUP,
        ModelPackageDescription=_description(pin.sha256),
        InferenceSpecification={
            "Containers": [
                {"Image": pin.image or env.image_uri, "ModelDataUrl": pin.model_data_url}
            ],
            "SupportedContentTypes": ["application/json", "application/x-npy"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus=_PENDING,
        CustomerMetadataProperties={k: v[:_MAX_METADATA_VALUE] for k, v in metadata.items()},
    )
    return versions(sagemaker)[pin.sha256]


def record_promotion(
    sagemaker: Any, target: Environment, pin: ModelPin, *, when: datetime | None = None
) -> Version:
    """Record on `pin`'s version (in the target's account) that `target` pins it; approve it
    when the target is prod. The full metadata and the status are sent on each update: AWS
    merges metadata, moto replaces it, and both keep what is sent."""
    version = register(sagemaker, target, pin)
    stamp = (when or datetime.now(UTC)).replace(microsecond=0).isoformat()
    approval = _APPROVED if target.name == APPROVED_IN else version.approval or _PENDING
    sagemaker.update_model_package(
        ModelPackageArn=version.arn,
        ModelApprovalStatus=approval,
        CustomerMetadataProperties={**version.metadata, f"env:{target.name}": stamp},
        **({"ApprovalDescription": f"promoted to {target.name}"} if approval == _APPROVED else {}),
    )
    return versions(sagemaker)[version.sha256]


def disagreements(sagemaker: Any, env: Environment) -> list[str]:
    """Where the registry disagrees with git about `env`'s pin (empty when it agrees)."""
    pin = env.model
    if not pin.is_set:
        return []
    assert pin.sha256 is not None
    version = versions(sagemaker).get(pin.sha256)
    group = MODEL_PACKAGE_GROUP
    if version is None:
        return [f"registry: {group} has no version of sha256 {pin.sha256[:12]} that git pins"]
    problems = []
    if env.name not in version.environments and version.metadata.get("pinned_in") != env.name:
        problems.append(f"registry: version {version.number} does not record {env.name}")
    if env.name == APPROVED_IN and version.approval != _APPROVED:
        problems.append(
            f"registry: version {version.number} is {version.approval}, but git pins it in "
            f"{env.name}"
        )
    return problems


def register_quietly(sagemaker: Any, env: Environment, pin: ModelPin) -> str:
    """`register` for the pin command: one line to print, never an exception (git already
    holds the pin; `smlocal status` reports a registry that missed it)."""
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        version = register(sagemaker, env, pin)
    except (ClientError, BotoCoreError) as err:
        return f"warning: not registered in {MODEL_PACKAGE_GROUP} ({err}); git holds the pin"
    return (
        f"registered as version {version.number} of model package group {MODEL_PACKAGE_GROUP} "
        f"({version.approval})"
    )
