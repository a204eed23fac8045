"""CreateHyperParameterTuningJob runs the tuning job (`dataplane.tuning.TuningJobs`);
ListTrainingJobsForHyperParameterTuningJob and StopHyperParameterTuningJob, which moto lacks,
are added. What the local cloud does not run is refused before moto records anything."""

from __future__ import annotations

import functools
from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult, EmptyResult
from moto.sagemaker.exceptions import ResourceNotFound
from moto.sagemaker.models import SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localcloud.dataplane.tuning import check
from localcloud.services.sagemaker import names
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.tuning import TuningJobs

_SORT_KEYS = {
    "Name": lambda s: s["TrainingJobName"],
    "CreationTime": lambda s: s["CreationTime"],
    "Status": lambda s: s["TrainingJobStatus"],
}


def _tuning_job(backend: SageMakerModelBackend, name: str) -> Any:
    names.check("DescribeHyperParameterTuningJob", HyperParameterTuningJobName=name)
    job = backend.hyper_parameter_tuning_jobs.get(name)
    if job is None:
        raise ResourceNotFound(f"Could not find hyper parameter tuning job '{name}'.")
    return job


def summaries(
    job: Any, sort_by: str | None, sort_order: str | None, status: str | None
) -> list[dict[str, Any]]:
    """The job's training jobs, filtered and sorted as the List action asks (AWS's default:
    by Name, Ascending; by FinalObjectiveMetricValue, jobs without a value come last)."""
    found = [
        s
        for s in getattr(job, "training_job_summaries", [])
        if status is None or s["TrainingJobStatus"] == status
    ]
    descending = sort_order == "Descending"
    if sort_by == "FinalObjectiveMetricValue":
        scored = [s for s in found if "FinalHyperParameterTuningJobObjectiveMetric" in s]
        rest = [s for s in found if "FinalHyperParameterTuningJobObjectiveMetric" not in s]
        scored.sort(
            key=lambda s: s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"],
            reverse=descending,
        )
        return scored + rest
    return sorted(
        found, key=_SORT_KEYS.get(sort_by or "Name", _SORT_KEYS["Name"]), reverse=descending
    )


def install(tuning: TuningJobs) -> None:
    """Wrap moto's CreateHyperParameterTuningJob and add the List and Stop actions."""
    create = SageMakerModelBackend.create_hyper_parameter_tuning_job
    if getattr(create, "_localcloud", False):
        return

    @functools.wraps(create)
    def create_tuning_job(self: SageMakerModelBackend, **kwargs: Any) -> str:
        name = kwargs["hyper_parameter_tuning_job_name"]
        names.check("CreateHyperParameterTuningJob", HyperParameterTuningJobName=name)
        check(
            {
                "HyperParameterTuningJobConfig": kwargs["hyper_parameter_tuning_job_config"],
                "TrainingJobDefinition": kwargs.get("training_job_definition"),
                "TrainingJobDefinitions": kwargs.get("training_job_definitions"),
                "WarmStartConfig": kwargs.get("warm_start_config"),
            }
        )
        arn = create(self, **kwargs)
        tuning.start(self, self.hyper_parameter_tuning_jobs[name])
        return arn

    def stop_tuning_job(self: SageMakerModelBackend, name: str) -> None:
        tuning.stop(self, _tuning_job(self, name))

    def list_action(self: SageMakerResponse) -> Any:
        job = _tuning_job(self.sagemaker_backend, self._get_param("HyperParameterTuningJobName"))
        found = summaries(
            job,
            self._get_param("SortBy"),
            self._get_param("SortOrder"),
            self._get_param("StatusEquals"),
        )
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 10)
        if start < 0 or start > len(found):
            raise SageMakerValidation("Invalid pagination token.")
        page = found[start : start + size]
        result: dict[str, Any] = {
            "TrainingJobSummaries": [
                {k: v for k, v in s.items() if k != "TuningJobName"} for s in page
            ]
        }
        if start + size < len(found):
            result["NextToken"] = str(start + size)
        return ActionResult(result)

    def stop_action(self: SageMakerResponse) -> Any:
        stop_tuning_job(self.sagemaker_backend, self._get_param("HyperParameterTuningJobName"))
        return EmptyResult()

    create_tuning_job._localcloud = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_hyper_parameter_tuning_job = create_tuning_job  # type: ignore[method-assign]
    SageMakerResponse.list_training_jobs_for_hyper_parameter_tuning_job = list_action  # type: ignore[attr-defined]
    SageMakerResponse.stop_hyper_parameter_tuning_job = stop_action  # type: ignore[attr-defined]
