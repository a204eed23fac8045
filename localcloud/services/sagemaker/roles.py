"""SageMaker assumes the role a request hands it, before it records anything: CreateModel
(`ExecutionRoleArn`), CreateTrainingJob and CreateProcessingJob (`RoleArn`),
CreateHyperParameterTuningJob (each training job definition's `RoleArn`) and CreateTransformJob
(its model's role). A role that does not exist, is in another account, or whose trust policy
does not let `sagemaker.amazonaws.com` assume it for this resource (SageMaker sends
`aws:SourceAccount` and `aws:SourceArn`) is refused as SageMaker refuses it:
`ValidationException` "Could not assume role ARN. Please ensure that the role exists and allows
principal 'sagemaker.amazonaws.com' to assume the role."

The check itself is the gateway's (`gateway.trust.ServiceSessions.check`), handed in by
`localcloud.patches`; this module wraps moto's backend methods, so CloudFormation's resources
are checked as the API's requests are.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from typing import Any

from moto.sagemaker.models import SageMakerModelBackend

from localcloud.shared.arns import sagemaker_arn
from localcloud.shared.errors import SageMakerValidation

# (account, region, role ARN, source ARN) -> None, or the refusal's message
Check = Callable[[str, str, str, str], str | None]


def _training(kwargs: dict[str, Any], _backend: Any) -> Iterable[str]:
    return [kwargs.get("role_arn") or ""]


def _tuning(kwargs: dict[str, Any], _backend: Any) -> Iterable[str]:
    definitions = [
        kwargs.get("training_job_definition"),
        *(kwargs.get("training_job_definitions") or []),
    ]
    return [d.get("RoleArn") or "" for d in definitions if d]


def _model(kwargs: dict[str, Any], _backend: Any) -> Iterable[str]:
    role = kwargs.get("execution_role_arn")
    return [role] if role else []  # a model without a role is checked when it is served


def _transform(kwargs: dict[str, Any], backend: Any) -> Iterable[str]:
    model = backend._models.get(kwargs.get("model_name"))
    role = getattr(model, "execution_role_arn", None) if model is not None else None
    return [role] if role else []  # no such model: moto's own error answers


# backend method -> (the resource's ARN type, its name argument, the roles it hands SageMaker)
_CREATES: dict[str, tuple[str, str, Callable[[dict[str, Any], Any], Iterable[str]]]] = {
    "create_model": ("model", "model_name", _model),
    "create_training_job": ("training-job", "training_job_name", _training),
    "create_processing_job": ("processing-job", "processing_job_name", _training),
    "create_transform_job": ("transform-job", "transform_job_name", _transform),
    "create_hyper_parameter_tuning_job": (
        "hyper-parameter-tuning-job",
        "hyper_parameter_tuning_job_name",
        _tuning,
    ),
}


def install(check: Check) -> None:
    """Refuse each Create whose role SageMaker could not assume, before moto records it."""
    for method, (kind, name_arg, roles) in _CREATES.items():
        original = getattr(SageMakerModelBackend, method)
        if getattr(original, "_assumes_role", False):
            continue

        def create(
            self: SageMakerModelBackend,
            *args: Any,
            _original: Any = original,
            _kind: str = kind,
            _name_arg: str = name_arg,
            _roles: Callable[[dict[str, Any], Any], Iterable[str]] = roles,
            **kwargs: Any,
        ) -> Any:
            account, region = self.account_id, self.region_name
            source = sagemaker_arn(_kind, account, region, str(kwargs.get(_name_arg) or ""))
            for role in _roles(kwargs, self):
                refusal = check(account, region, str(role), source)
                if refusal is not None:
                    raise SageMakerValidation(refusal)
            return _original(self, *args, **kwargs)

        functools.update_wrapper(create, original)
        create._assumes_role = True  # type: ignore[attr-defined]
        setattr(SageMakerModelBackend, method, create)
