"""SageMaker's control plane: where the local cloud acts and moto only records. Wrappers on
moto's backend and response *classes* (so they cover every account, region and reset):

- CreateTrainingJob runs the job, StopTrainingJob stops it (the data plane's `TrainingJobs`);
- CreateEndpoint / UpdateEndpoint / DeleteEndpoint start, switch and stop serving processes
  (the data plane's `Endpoints`; UpdateEndpoint's DeploymentConfig shifts traffic and rolls
  back on its alarms); UpdateEndpointWeightsAndCapacities (the API's or Application
  Auto Scaling's) changes the weights and starts or stops instance processes.
The wrapped moto methods keep their validation and records; the hooks add the behaviour.
Every create, update, stop or delete reaches them through the API (a client's request,
CloudFormation's in-process ones, a tuning job's training jobs), whose request, names
included, is checked once before any hook runs (`validation`); what else calls them
(CloudFormation deleting what it made, Application Auto Scaling) names recorded resources.
`localcloud.patches` installs them, with the data plane's parts as arguments.
"""

from __future__ import annotations

import copy
import functools
from typing import TYPE_CHECKING, Any

from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
from moto.sagemaker.responses import SageMakerResponse

from localcloud.shared.errors import SageMakerValidation, ValidationError

if TYPE_CHECKING:
    from localcloud.dataplane.endpoints import Endpoints
    from localcloud.dataplane.training import TrainingJobs

CREATE_GRACE_S = 15.0


def install(jobs: TrainingJobs, endpoints: Endpoints) -> None:
    """Wrap moto's SageMaker backend so that its jobs and endpoints run in `jobs` and
    `endpoints`, and add the actions moto lacks (UpdateEndpoint, StopTrainingJob)."""
    _wrap_backend(jobs, endpoints)
    SageMakerResponse.update_endpoint = _update_endpoint_action  # type: ignore[attr-defined]
    _keep_shadow_variants()
    SageMakerResponse.stop_training_job = _stop_training_job_action  # type: ignore[attr-defined]


def _wrap_backend(jobs: TrainingJobs, endpoints: Endpoints) -> None:
    create_training_job = SageMakerModelBackend.create_training_job
    create_endpoint = SageMakerModelBackend.create_endpoint
    delete_endpoint = SageMakerModelBackend.delete_endpoint
    update_weights = SageMakerModelBackend.update_endpoint_weights_and_capacities

    @functools.wraps(create_training_job)
    def create_training_job_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        # moto replaces MetricDefinitions with made-up ones; keep the request's.
        spec = copy.deepcopy(kwargs.get("algorithm_specification") or {})
        job = create_training_job(self, **kwargs)
        job.algorithm_specification = spec
        jobs.start(self, job, kwargs)
        return job

    @functools.wraps(create_endpoint)
    def create_endpoint_hook(
        self: SageMakerModelBackend, endpoint_name: str, endpoint_config_name: str, tags: Any
    ) -> FakeEndpoint:
        if endpoint_config_name not in self.endpoint_configs:
            raise SageMakerValidation(
                f"Could not find endpoint configuration '{endpoint_config_name}'."
            )
        endpoint = create_endpoint(self, endpoint_name, endpoint_config_name, tags)
        runtime = endpoints.create(self, endpoint)
        # AWS answers at once with Creating; answering once the model is up (or after a short
        # grace) saves SDK clients a 30 s poll. The status a client reads is the real one.
        runtime.settled.wait(CREATE_GRACE_S)
        return endpoint

    @functools.wraps(delete_endpoint)
    def delete_endpoint_hook(self: SageMakerModelBackend, endpoint_name: str) -> None:
        delete_endpoint(self, endpoint_name)
        endpoints.delete((self.account_id, self.region_name, endpoint_name))

    def update_endpoint(
        self: SageMakerModelBackend,
        endpoint_name: str,
        endpoint_config_name: str,
        deployment_config: dict[str, Any] | None = None,
        retain_deployment_config: bool = False,
    ) -> FakeEndpoint:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise SageMakerValidation(f"Could not find endpoint '{arn}'.")
        try:
            endpoints.update(
                self,
                endpoint,
                endpoint_config_name,
                deployment_config,
                retain=retain_deployment_config,
            )
        except ValidationError as err:
            raise SageMakerValidation(err.message) from None
        return endpoint

    @functools.wraps(update_weights)
    def update_weights_hook(
        self: SageMakerModelBackend,
        endpoint_name: str,
        desired_weights_and_capacities: list[dict[str, Any]],
    ) -> str:
        # Any caller of the backend (the API, Application Auto Scaling) scales for real: moto's
        # method checks the request on a copy, the data plane acts and keeps the record true.
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None:
            saved = copy.deepcopy(endpoint.production_variants), endpoint.endpoint_status
        arn = update_weights(self, endpoint_name, desired_weights_and_capacities)
        endpoint.production_variants, endpoint.endpoint_status = saved
        try:
            endpoints.update_weights_and_capacities(self, endpoint, desired_weights_and_capacities)
        except ValidationError as err:
            raise SageMakerValidation(err.message) from None
        return arn

    def stop_training_job(self: SageMakerModelBackend, training_job_name: str) -> None:
        job = self.training_jobs.get(training_job_name)
        if job is None:
            raise SageMakerValidation(f"Could not find training job '{training_job_name}'.")
        jobs.stop(self, job)

    SageMakerModelBackend.create_training_job = create_training_job_hook  # type: ignore[method-assign]
    SageMakerModelBackend.create_endpoint = create_endpoint_hook  # type: ignore[method-assign]
    SageMakerModelBackend.delete_endpoint = delete_endpoint_hook  # type: ignore[method-assign]
    SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerModelBackend.update_endpoint_weights_and_capacities = update_weights_hook  # type: ignore[method-assign]
    SageMakerModelBackend.stop_training_job = stop_training_job  # type: ignore[attr-defined]


def _keep_shadow_variants() -> None:
    """moto drops a config's ShadowProductionVariants; the record keeps them (they serve)."""
    create = SageMakerResponse.create_endpoint_config
    if getattr(create, "_keeps_shadows", False):
        return

    @functools.wraps(create)
    def create_endpoint_config(self: SageMakerResponse) -> Any:
        result = create(self)
        shadows = self._get_param("ShadowProductionVariants")
        if shadows:
            config = self.sagemaker_backend.endpoint_configs[self._get_param("EndpointConfigName")]
            config.shadow_production_variants = shadows
        return result

    create_endpoint_config._keeps_shadows = True  # type: ignore[attr-defined]
    SageMakerResponse.create_endpoint_config = create_endpoint_config  # type: ignore[method-assign]


def _update_endpoint_action(self: SageMakerResponse) -> Any:
    from moto.core.responses import ActionResult

    # moto has no UpdateEndpoint; its DeploymentConfig is read from the request here.
    endpoint = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
        self._get_param("EndpointName"),
        self._get_param("EndpointConfigName"),
        self._get_param("DeploymentConfig"),
        bool(self._get_param("RetainDeploymentConfig")),
    )
    return ActionResult({"EndpointArn": endpoint.arn})


def _stop_training_job_action(self: SageMakerResponse) -> Any:
    from moto.core.responses import EmptyResult

    self.sagemaker_backend.stop_training_job(self._get_param("TrainingJobName"))  # type: ignore[attr-defined]
    return EmptyResult()
