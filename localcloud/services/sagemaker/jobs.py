"""The one install shape of the batch jobs' hooks (processing, transform, tuning): Create<Kind>
names-checks the request, refuses what the local cloud does not run before moto records
anything, lets moto record the job and hands it to the data plane; Stop<Kind> finds the job
(AWS's not-found error) and stops it. Both wrap moto's response methods, so each sees the whole
request (moto's backends drop fields such as `ProcessingResources`). A name already taken is
refused earlier, by `validation`, for every kind alike."""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from moto.core.responses import EmptyResult
from moto.core.utils import camelcase_to_underscores
from moto.sagemaker.responses import SageMakerResponse

from localcloud.services.sagemaker import names

if TYPE_CHECKING:
    from localcloud.dataplane.batch import BatchJobs


@dataclass(frozen=True)
class JobKind:
    create: str  # the Create action, e.g. "CreateTransformJob"
    stop: str  # the Stop action
    member: str  # the request member naming the job, e.g. "TransformJobName"
    check: Callable[[dict[str, Any], Any], None]  # (request, backend): refuse what is not run
    not_found: Callable[[Any, str], Exception]  # (backend, name): AWS's error for no such job
    also_named: tuple[str, ...] = ()  # other members whose names are checked, e.g. ModelName


def find(kind: JobKind, runner: BatchJobs, backend: Any, name: str) -> Any:
    """The job named `name`, or the kind's not-found error."""
    names.check(kind.stop, **{kind.member: name})
    job = getattr(backend, runner.records).get(name)
    if job is None:
        raise kind.not_found(backend, name)
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
        names.check(kind.create, **{m: request.get(m) for m in (kind.member, *kind.also_named)})
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
