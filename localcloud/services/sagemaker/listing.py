"""ListTrainingJobs as SageMaker answers it: `NameContains` and the creation and modification
time bounds applied before the page is cut, `SortBy` (`Name`, `CreationTime`, `Status`) and
`SortOrder` honoured (default CreationTime, Ascending), pages of `MaxResults` (1-100, default
10) chained by an opaque `NextToken`. `StatusEquals` filters the page once it is cut, as the
API reference documents ("the MaxResults number of training jobs are first retrieved ignoring
the StatusEquals parameter and then they are filtered"): a page may hold fewer jobs than
`MaxResults` and still have a next one. moto cut the page before any filter and never sorted;
its answer is replaced here, its records are read as they are.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.core.utils import get_service_model
from moto.sagemaker.responses import SageMakerResponse

from localcloud.shared.errors import SageMakerValidation

DEFAULT_MAX_RESULTS = 10
_MEMBERS = ("SortBy", "SortOrder", "StatusEquals")


def _instant(value: Any) -> datetime | None:
    """A request timestamp (datetime, epoch seconds or ISO 8601) as an aware datetime."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    try:
        return datetime.fromtimestamp(float(value), UTC)
    except ValueError:
        return _instant(datetime.fromisoformat(str(value)))


def _validate(params: dict[str, Any]) -> None:
    members = get_service_model("sagemaker").operation_model("ListTrainingJobs").input_shape
    errors = []
    for name in _MEMBERS:
        value = params.get(name)
        enum = members.members[name].enum
        if value is not None and value not in enum:
            errors.append(
                f"Value '{value}' at '{name[0].lower()}{name[1:]}' failed to satisfy constraint: "
                f"Member must satisfy enum value set: [{', '.join(enum)}]"
            )
    max_results = params.get("MaxResults")
    if max_results is not None and not 1 <= int(max_results) <= 100:
        bound = (
            "less than or equal to 100" if int(max_results) > 100 else "greater than or equal to 1"
        )
        errors.append(
            f"Value '{max_results}' at 'maxResults' failed to satisfy constraint: "
            f"Member must have value {bound}"
        )
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise SageMakerValidation(count + "; ".join(errors))


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(json.loads(base64.urlsafe_b64decode(token.encode()))["offset"])
    except (binascii.Error, ValueError, KeyError, TypeError):
        raise SageMakerValidation(f"Invalid pagination token: {token}") from None


def _token(offset: int) -> str:
    return base64.urlsafe_b64encode(json.dumps({"offset": offset}).encode()).decode()


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _ms(value: datetime) -> datetime:
    """At the precision clients see (milliseconds), so a time read back from a Describe bounds
    its own job out."""
    value = _aware(value)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


def list_training_jobs(backend: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ListTrainingJobs answer for `params` (the request) over `backend`'s records."""
    _validate(params)
    jobs = list(backend.training_jobs.values())
    name = params.get("NameContains")
    if name:
        jobs = [j for j in jobs if name in j.training_job_name]
    bounds = {
        ("creation_time", True): _instant(params.get("CreationTimeAfter")),
        ("creation_time", False): _instant(params.get("CreationTimeBefore")),
        ("last_modified_time", True): _instant(params.get("LastModifiedTimeAfter")),
        ("last_modified_time", False): _instant(params.get("LastModifiedTimeBefore")),
    }
    for (field, after), bound in bounds.items():
        if bound is not None:
            jobs = [
                j
                for j in jobs
                if (_ms(getattr(j, field)) > bound if after else _ms(getattr(j, field)) < bound)
            ]
    sort_by = params.get("SortBy") or "CreationTime"
    keys = {
        "Name": lambda j: (j.training_job_name, _aware(j.creation_time)),
        "CreationTime": lambda j: (_aware(j.creation_time), j.training_job_name),
        "Status": lambda j: (j.training_job_status, _aware(j.creation_time)),
    }
    jobs.sort(key=keys[sort_by], reverse=params.get("SortOrder") == "Descending")
    start = _offset(params.get("NextToken"))
    size = int(params.get("MaxResults") or DEFAULT_MAX_RESULTS)
    page = jobs[start : start + size]
    status = params.get("StatusEquals")
    if status:  # after the page is cut, as AWS does
        page = [j for j in page if j.training_job_status == status]
    answer: dict[str, Any] = {
        "TrainingJobSummaries": [
            {
                "TrainingJobName": j.training_job_name,
                "TrainingJobArn": j.arn,
                "CreationTime": j.creation_time,
                "TrainingEndTime": j.training_end_time,
                "LastModifiedTime": j.last_modified_time,
                "TrainingJobStatus": j.training_job_status,
                "SecondaryStatus": j.secondary_status,
            }
            for j in page
        ]
    }
    for summary in answer["TrainingJobSummaries"]:
        if summary["TrainingEndTime"] is None:
            del summary["TrainingEndTime"]
    if start + size < len(jobs):
        answer["NextToken"] = _token(start + size)
    return answer


def _list_training_jobs_action(self: SageMakerResponse) -> ActionResult:
    return ActionResult(list_training_jobs(self.sagemaker_backend, dict(self.params)))


def install() -> None:
    """Answer ListTrainingJobs here instead of moto."""
    SageMakerResponse.list_training_jobs = _list_training_jobs_action  # type: ignore[method-assign]
