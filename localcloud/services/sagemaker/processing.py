"""CreateProcessingJob runs the job (`dataplane.processing.ProcessingJobs`), StopProcessingJob
stops it; what the local cloud does not run (Pipe mode, dataset definitions, Continuous
upload) is refused before moto records anything (`jobs.install`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.sagemaker.models import FakeProcessingJob

from localcloud.dataplane.processing import check
from localcloud.services.sagemaker import jobs
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.processing import ProcessingJobs


def _not_found(backend: Any, name: str) -> Exception:
    arn = FakeProcessingJob.arn_formatter(name, backend.account_id, backend.region_name)
    return SageMakerValidation(f"Could not find processing job '{arn}'.")


KIND = jobs.JobKind(
    create="CreateProcessingJob",
    stop="StopProcessingJob",
    member="ProcessingJobName",
    check=lambda request, _backend: check(request),
    not_found=_not_found,
)


def install(processing: ProcessingJobs) -> None:
    """Wrap moto's CreateProcessingJob and StopProcessingJob."""
    jobs.install(KIND, processing)
