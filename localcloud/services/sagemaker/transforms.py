"""CreateTransformJob runs the job (`dataplane.transform.TransformJobs`), StopTransformJob
stops it; what the local cloud does not run (RecordIO, manifests) is refused before moto
records anything (`jobs.install`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localcloud.dataplane.transform import check
from localcloud.services.sagemaker import jobs

if TYPE_CHECKING:
    from localcloud.dataplane.transform import TransformJobs


KIND = jobs.JobKind.named("Transform", check)


def install(transforms: TransformJobs) -> None:
    """Wrap moto's CreateTransformJob and add StopTransformJob."""
    jobs.install(KIND, transforms)
