"""CreateProcessingJob runs the job (`dataplane.processing.ProcessingJobs`), StopProcessingJob
stops it; what the local cloud does not run (Pipe mode, dataset definitions, Continuous
upload) is refused before moto records anything (`jobs.install`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localcloud.dataplane.processing import check
from localcloud.services.sagemaker import jobs

if TYPE_CHECKING:
    from localcloud.dataplane.processing import ProcessingJobs


KIND = jobs.JobKind.named("Processing", lambda request, _backend: check(request))


def install(processing: ProcessingJobs) -> None:
    """Wrap moto's CreateProcessingJob and StopProcessingJob."""
    jobs.install(KIND, processing)
