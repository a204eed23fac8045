"""The one install shape of the batch jobs' hooks (processing, transform, tuning): Create<Kind>
refuses what the local cloud does not run before moto records anything, lets moto record the
job and hands it to the data plane; Stop<Kind> finds the job (AWS's not-found error) and stops
it. Both wrap moto's response methods, so each sees the whole request (moto's backends drop
fields such as `ProcessingResources`). The request itself (its names among its members) and a
name already taken are checked earlier, by `validation`, for every kind alike."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.core.responses import EmptyResult
from moto.core.utils import camelcase_to_underscores
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemaker.utils import arn_formatter

from localcloud.shared.errors import SageMakerValidation

if TYPE_CHECKING:
    from localcloud.dataplane.batch import BatchJobs


@dataclass(frozen=True)
class JobKind:
    create: str  # the Create action, e.g. "CreateTransformJob"
    stop: str  # the Stop action
    member: str  # the request member naming the job, e.g. "TransformJobName"
    check: Callable[[dict[str, Any], Any], None]  # (request, backend): refuse what is not run
    arn_type: str  # the ARN's resource type, e.g. "transform-job"
    not_found: str  # AWS's message for no such job; {arn} and {name} are filled in
    error: type[Exception] = SageMakerValidation  # and its error

    @classmethod
    def named(
        cls,
        word: str,
        check: Callable[[dict[str, Any], Any], None],
        not_found: str | None = None,
        **extra: Any,
    ) -> JobKind:
        """The kind whose actions and members SageMaker names after `word` ("Transform":
        CreateTransformJob, StopTransformJob, TransformJobName, transform-job ARNs)."""
        arn_type = camelcase_to_underscores(word).replace("_", "-") + "-job"
        return cls(
            create=f"Create{word}Job",
            stop=f"Stop{word}Job",
            member=f"{word}JobName",
            check=check,
            arn_type=arn_type,
            not_found=not_found or f"Could not find {arn_type.replace('-', ' ')} '{{arn}}'.",
            **extra,
        )


def find(kind: JobKind, runner: BatchJobs, backend: Any, name: str) -> Any:
    """The job named `name`, or the kind's not-found error."""
    job = getattr(backend, runner.records).get(name)
    if job is None:
        arn = arn_formatter(kind.arn_type, name, backend.account_id, backend.region_name)
        raise kind.error(kind.not_found.format(arn=arn, name=name))
    return job


def install(kind: JobKind, runner: BatchJobs) -> None:
    """Wrap moto's Create action of the kind and (re)place its Stop action."""
    method = camelcase_to_underscores(kind.create)
    create = getattr(SageMakerResponse, method)
    if getattr(create, "_localcloud", False):
        return

    @functools.wraps(create)
    def create_job(self: SageMakerResponse) -> Any:
        request = json.loads(self.body or "{}")
        name = request[kind.member]
        backend = self.sagemaker_backend
        kind.check(request, backend)
        result = create(self)
        runner.start(backend, getattr(backend, runner.records)[name], request)
        return result

    def stop_job(self: SageMakerResponse) -> Any:
        backend = self.sagemaker_backend
        runner.stop(backend, find(kind, runner, backend, self._get_param(kind.member)))
        return EmptyResult()

    create_job._localcloud = True  # type: ignore[attr-defined]
    setattr(SageMakerResponse, method, create_job)
    setattr(SageMakerResponse, camelcase_to_underscores(kind.stop), stop_job)
