"""CreateProcessingJob runs the job (`dataplane.processing.ProcessingJobs`), StopProcessingJob
stops it; what the local cloud does not run (Pipe mode, dataset definitions, Continuous
upload) is refused before moto records anything. moto's backend drops `ProcessingResources`
and `Environment`, so the response method is wrapped: it sees the whole request."""

from __future__ import annotations

import functools
import json
from typing import TYPE_CHECKING, Any

from moto.sagemaker.exceptions import ResourceInUseException
from moto.sagemaker.models import FakeProcessingJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localcloud.dataplane.processing import check
from localcloud.services.sagemaker import names
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.processing import ProcessingJobs


def install(processing: ProcessingJobs) -> None:
    """Wrap moto's CreateProcessingJob and StopProcessingJob."""
    create = SageMakerResponse.create_processing_job
    if getattr(create, "_localcloud", False):
        return

    @functools.wraps(create)
    def create_processing_job(self: SageMakerResponse) -> Any:
        request = json.loads(self.body or "{}")
        name = request["ProcessingJobName"]
        names.check("CreateProcessingJob", ProcessingJobName=name)
        backend = self.sagemaker_backend
        if name in backend.processing_jobs:
            arn = FakeProcessingJob.arn_formatter(name, backend.account_id, backend.region_name)
            raise ResourceInUseException(f"Job name must be unique. {arn} already exists.")
        check(request)
        result = create(self)
        processing.start(backend, backend.processing_jobs[name], request)
        return result

    def stop_processing_job(self: SageMakerModelBackend, processing_job_name: str) -> None:
        names.check("StopProcessingJob", ProcessingJobName=processing_job_name)
        job = self.processing_jobs.get(processing_job_name)
        if job is None:
            arn = FakeProcessingJob.arn_formatter(
                processing_job_name, self.account_id, self.region_name
            )
            raise SageMakerValidation(f"Could not find processing job '{arn}'.")
        processing.stop(self, job)

    create_processing_job._localcloud = True  # type: ignore[attr-defined]
    SageMakerResponse.create_processing_job = create_processing_job  # type: ignore[method-assign]
    SageMakerModelBackend.stop_processing_job = stop_processing_job  # type: ignore[method-assign]
