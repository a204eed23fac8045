"""CreateTransformJob runs the job (`dataplane.transform.TransformJobs`), StopTransformJob
stops it; what the local cloud does not run (RecordIO, manifests) is refused before moto
records anything. Wrappers on moto's backend and response classes, as `hooks` has them."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from moto.core.responses import EmptyResult
from moto.sagemaker.exceptions import ResourceInUseException
from moto.sagemaker.models import FakeTransformJob, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localcloud.dataplane.transform import check
from localcloud.services.sagemaker import names
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.transform import TransformJobs

_FIELDS = {
    "transform_job_name": "TransformJobName",
    "model_name": "ModelName",
    "transform_input": "TransformInput",
    "transform_output": "TransformOutput",
}


def install(transforms: TransformJobs) -> None:
    """Wrap moto's CreateTransformJob and add StopTransformJob."""
    create = SageMakerModelBackend.create_transform_job
    if getattr(create, "_localcloud", False):
        return

    @functools.wraps(create)
    def create_transform_job(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        name = kwargs["transform_job_name"]
        names.check("CreateTransformJob", TransformJobName=name, ModelName=kwargs["model_name"])
        if name in self.transform_jobs:
            arn = FakeTransformJob.arn_formatter(name, self.account_id, self.region_name)
            raise ResourceInUseException(f"Job name must be unique. {arn} already exists.")
        check({api: kwargs[arg] for arg, api in _FIELDS.items()}, self)
        job = create(self, **kwargs)
        transforms.start(self, job)
        return job

    def stop_transform_job(self: SageMakerModelBackend, transform_job_name: str) -> None:
        names.check("StopTransformJob", TransformJobName=transform_job_name)
        job = self.transform_jobs.get(transform_job_name)
        if job is None:
            arn = FakeTransformJob.arn_formatter(
                transform_job_name, self.account_id, self.region_name
            )
            raise SageMakerValidation(f"Could not find transform job '{arn}'.")
        transforms.stop(self, job)

    def stop_transform_job_action(self: SageMakerResponse) -> Any:
        self.sagemaker_backend.stop_transform_job(self._get_param("TransformJobName"))  # type: ignore[attr-defined]
        return EmptyResult()

    create_transform_job._localcloud = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_transform_job = create_transform_job  # type: ignore[method-assign]
    SageMakerModelBackend.stop_transform_job = stop_transform_job  # type: ignore[attr-defined]
    SageMakerResponse.stop_transform_job = stop_transform_job_action  # type: ignore[attr-defined]
