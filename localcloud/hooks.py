"""Where the local cloud acts and moto only records: wrappers on moto's backend and response
*classes* (so they cover every account, region and reset), installed once per process.

- SageMaker: CreateTrainingJob runs the job, StopTrainingJob stops it; CreateEndpoint /
  UpdateEndpoint / DeleteEndpoint start, switch and stop serving processes.
- SageMaker Runtime: InvokeEndpoint forwards to the endpoint's serving process.
The wrapped moto methods keep their validation and records; the hooks add the behaviour.
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from moto.core.common_types import TYPE_RESPONSE
from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse
from moto.sagemakerruntime.responses import SageMakerRuntimeResponse

from localcloud import names
from localcloud.errors import SageMakerValidation, ValidationError

if TYPE_CHECKING:
    from localcloud.server import LocalCloud

CREATE_GRACE_S = 15.0
_cloud: LocalCloud | None = None
_installed = False


def cloud() -> LocalCloud:
    assert _cloud is not None, "localcloud hooks used before install()"
    return _cloud


def install(local_cloud: LocalCloud) -> None:
    """Patch moto's classes (once) and route the hooks to `local_cloud`."""
    global _cloud, _installed
    _cloud = local_cloud
    if _installed:
        return
    _installed = True
    _wrap_backend()
    SageMakerResponse.update_endpoint = _update_endpoint_action  # type: ignore[attr-defined]
    SageMakerResponse.stop_training_job = _stop_training_job_action  # type: ignore[attr-defined]
    # Binary bodies (application/x-npy) must reach the model as bytes, not decoded text.
    SageMakerRuntimeResponse.use_raw_body = True
    SageMakerRuntimeResponse.invoke_endpoint = _invoke_endpoint  # type: ignore[method-assign]
    from localcloud import cfn

    cfn.install()


def _wrap_backend() -> None:
    create_training_job = SageMakerModelBackend.create_training_job
    create_endpoint = SageMakerModelBackend.create_endpoint
    delete_endpoint = SageMakerModelBackend.delete_endpoint
    create_model = SageMakerModelBackend.create_model
    create_endpoint_config = SageMakerModelBackend.create_endpoint_config

    # Names are checked with AWS's rules first: the cloud builds folders from them.
    @functools.wraps(create_model)
    def create_model_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        names.check("CreateModel", ModelName=kwargs["model_name"])
        return create_model(self, **kwargs)

    @functools.wraps(create_endpoint_config)
    def create_endpoint_config_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        names.check("CreateEndpointConfig", EndpointConfigName=kwargs["endpoint_config_name"])
        return create_endpoint_config(self, **kwargs)

    @functools.wraps(create_training_job)
    def create_training_job_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        name = kwargs["training_job_name"]
        names.check("CreateTrainingJob", TrainingJobName=name)
        if name in self.training_jobs:
            raise SageMakerValidation(f"Training job names must be unique. {name} already exists.")
        # moto replaces MetricDefinitions with made-up ones; keep the request's.
        spec = copy.deepcopy(kwargs.get("algorithm_specification") or {})
        job = create_training_job(self, **kwargs)
        job.algorithm_specification = spec
        cloud().jobs.start(self, job, kwargs)
        return job

    @functools.wraps(create_endpoint)
    def create_endpoint_hook(
        self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: Any
    ) -> FakeEndpoint:
        names.check(
            "CreateEndpoint", EndpointName=endpoint_name, EndpointConfigName=endpoint_config_name
        )
        if endpoint_name in self.endpoints:
            arn = self.endpoints[endpoint_name].arn
            raise SageMakerValidation(f'Cannot create already existing endpoint "{arn}".')
        if endpoint_config_name not in self.endpoint_configs:
            raise SageMakerValidation(
                f"Could not find endpoint configuration '{endpoint_config_name}'."
            )
        endpoint = create_endpoint(self, endpoint_name, endpoint_config_name, tags)
        runtime = cloud().endpoints.create(self, endpoint)
        # AWS answers at once with Creating; answering once the model is up (or after a short
        # grace) saves SDK clients a 30 s poll. The status a client reads is the real one.
        runtime.settled.wait(CREATE_GRACE_S)
        return endpoint

    @functools.wraps(delete_endpoint)
    def delete_endpoint_hook(self: SageMakerModelBackend, endpoint_name: str) -> None:
        names.check("DeleteEndpoint", EndpointName=endpoint_name)
        delete_endpoint(self, endpoint_name)
        cloud().endpoints.delete((self.account_id, self.region_name, endpoint_name))

    def update_endpoint(
        self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str
    ) -> FakeEndpoint:
        names.check(
            "UpdateEndpoint", EndpointName=endpoint_name, EndpointConfigName=endpoint_config_name
        )
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise SageMakerValidation(f"Could not find endpoint '{arn}'.")
        try:
            cloud().endpoints.update(self, endpoint, endpoint_config_name)
        except ValidationError as err:
            raise SageMakerValidation(err.message) from None
        return endpoint

    def stop_training_job(self: SageMakerModelBackend, training_job_name: str) -> None:
        names.check("StopTrainingJob", TrainingJobName=training_job_name)
        job = self.training_jobs.get(training_job_name)
        if job is None:
            raise SageMakerValidation(f"Could not find training job '{training_job_name}'.")
        cloud().jobs.stop(self, job)

    SageMakerModelBackend.create_model = create_model_hook  # type: ignore[method-assign]
    SageMakerModelBackend.create_endpoint_config = create_endpoint_config_hook  # type: ignore[method-assign]
    SageMakerModelBackend.create_training_job = create_training_job_hook  # type: ignore[method-assign]
    SageMakerModelBackend.create_endpoint = create_endpoint_hook  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = delete_endpoint_hook  # type: ignore[method-assign]
    SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerModelBackend.stop_training_job = stop_training_job  # type: ignore[attr-defined]


def _update_endpoint_action(self: SageMakerResponse) -> Any:
    from moto.core.responses import ActionResult

    endpoint = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
        self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    )
    return ActionResult({"EndpointArn": endpoint.arn})


def _stop_training_job_action(self: SageMakerResponse) -> Any:
    from moto.core.responses import EmptyResult

    self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))  # type: ignore[attr-defined]
    return EmptyResult()


def _invoke_endpoint(self: SageMakerRuntimeResponse) -> TYPE_RESPONSE:
    from moto.sagemaker.models import sagemaker_backends

    # /endpoints/{EndpointName}/invocations
    name = unquote(self.path.split("?")[0].split("/")[2])
    account, region = self.current_account, self.region
    endpoint = sagemaker_backends[account][region].endpoints.get(name)
    forwarded = {
        "Content-Type": self.headers.get("Content-Type") or "application/octet-stream",
        "Accept": self.headers.get("Accept") or "application/json",
    }
    custom = self.headers.get("X-Amzn-SageMaker-Custom-Attributes")
    if custom:
        forwarded["X-Amzn-SageMaker-Custom-Attributes"] = custom
    body = self.raw_body if isinstance(self.raw_body, bytes) else (self.raw_body or "").encode()
    answer, headers = cloud().endpoints.invoke((account, region, name), endpoint, body, forwarded)
    return 200, headers, answer
