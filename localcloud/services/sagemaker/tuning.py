"""CreateHyperParameterTuningJob runs the tuning job (`dataplane.tuning.TuningJobs`);
ListTrainingJobsForHyperParameterTuningJob and StopHyperParameterTuningJob, which moto lacks,
are added. What the local cloud does not run is refused before moto records anything."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from moto.core.responses import ActionResult
from moto.sagemaker.exceptions import ResourceNotFound
from moto.sagemaker.responses import SageMakerResponse

from localcloud.dataplane.tuning import check
from localcloud.services.sagemaker import jobs
from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.tuning import TuningJobs

_LIST = "list_training_jobs_for_hyper_parameter_tuning_job"
_SORT_KEYS = {
    "Name": lambda s: s["TrainingJobName"],
    "CreationTime": lambda s: s["CreationTime"],
    "Status": lambda s: s["TrainingJobStatus"],
}


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


KIND = jobs.JobKind.named(
    "HyperParameterTuning",
    lambda request, _backend: check(request),
    not_found="Could not find hyper parameter tuning job '{name}'.",
    error=ResourceNotFound,
)


def install(tuning: TuningJobs) -> None:
    """Wrap moto's CreateHyperParameterTuningJob, add its Stop and List actions."""
    jobs.install(KIND, tuning)
    if getattr(SageMakerResponse.__dict__.get(_LIST), "_localcloud", False):
        return

    def list_action(self: SageMakerResponse) -> Any:
        backend = self.sagemaker_backend
        job = jobs.find(KIND, tuning, backend, self._get_param("HyperParameterTuningJobName"))
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

    list_action._localcloud = True  # type: ignore[attr-defined]
    setattr(SageMakerResponse, _LIST, list_action)
