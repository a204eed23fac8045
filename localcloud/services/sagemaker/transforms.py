"""CreateTransformJob runs the job (`dataplane.transform.TransformJobs`), StopTransformJob
stops it; what the local cloud does not run (RecordIO, manifests) is refused before moto
records anything (`jobs.install`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.sagemaker.models import FakeTransformJob

from localcloud.dataplane.transform import check
from localcloud.services.sagemaker import jobs
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.transform import TransformJobs


def _not_found(backend: Any, name: str) -> Exception:
    arn = FakeTransformJob.arn_formatter(name, backend.account_id, backend.region_name)
    return SageMakerValidation(f"Could not find transform job '{arn}'.")


KIND = jobs.JobKind(
    create="CreateTransformJob",
    stop="StopTransformJob",
    member="TransformJobName",
    check=check,
    not_found=_not_found,
    also_named=("ModelName",),
)


def install(transforms: TransformJobs) -> None:
    """Wrap moto's CreateTransformJob and add StopTransformJob."""
    jobs.install(KIND, transforms)
