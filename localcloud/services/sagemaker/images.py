"""Images that cannot run here are refused when a model would use them, naming the image and
what runs, instead of failing later with an error about something else.

The cloud serves and batch-transforms a model with this machine's Python through the SageMaker
PyTorch inference toolkit's contract (`inference.handlers`: `model_fn` / `input_fn` /
`predict_fn` / `output_fn` in `code/`, its PyTorch defaults), which is what the PyTorch framework
images run: the Deep Learning Containers' ECR repositories `pytorch-inference`,
`pytorch-training` (the SDK v3 examples deploy with it), `pytorch-inference-graviton` (the same
toolkit on ARM) and `sagemaker-pytorch` (the framework's first images). Any registry account is
taken: a private copy of a framework image under its repository name is that image.

Refused, with the image's name: Hugging Face, XGBoost, other built-in algorithms, bring-your-own
and non-ECR images, the Elastic Inference image `pytorch-inference-eia` (retired, TorchScript
on an accelerator), and scikit-learn's `sagemaker-scikit-learn`: its serving contract has the
same handler names but other defaults (numpy in, `model.predict(data)`), so a model that relies
on them would get answers computed another way. A container whose model data lies in JumpStart's
buckets is refused as JumpStart (`shared.jumpstart`).

Checked at CreateModel (after a `ModelPackageName` is resolved to its image), and where a
model recorded earlier would start: CreateEndpoint / UpdateEndpoint (every model the config's
variants and shadow variants name) and CreateTransformJob.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from moto.sagemaker.models import SageMakerModelBackend

from localcloud.shared.errors import SageMakerValidation
from localcloud.shared.jumpstart import bucket_of, not_offline
from smlocal.core.catalog import ecr_repository_arn, pytorch_image_uri

RUNNABLE_REPOSITORIES = (
    "pytorch-inference",
    "pytorch-training",
    "pytorch-inference-graviton",
    "sagemaker-pytorch",
)


def runs_here(image: str) -> bool:
    """Whether an image URI is a PyTorch framework image (an ECR image of those repositories)."""
    arn = ecr_repository_arn(image)
    return arn is not None and arn.split(":repository/", 1)[1] in RUNNABLE_REPOSITORIES


def _model_data_uris(container: dict[str, Any]) -> Iterator[str]:
    yield container.get("ModelDataUrl") or ""
    yield ((container.get("ModelDataSource") or {}).get("S3DataSource") or {}).get("S3Uri") or ""
    for extra in container.get("AdditionalModelDataSources") or []:
        yield (extra.get("S3DataSource") or {}).get("S3Uri") or ""


def check_container(container: dict[str, Any], where: str, region: str) -> None:
    """ValidationException for a container whose model data is JumpStart's or whose image
    cannot run here; `where` names it in the message (e.g. "PrimaryContainer")."""
    for uri in _model_data_uris(container):
        bucket = bucket_of(uri)
        if bucket is not None:
            raise SageMakerValidation(f"{where} model data {uri}: {not_offline(bucket)}")
    image = container.get("Image")
    if image and not runs_here(image):
        example = pytorch_image_uri(
            scope="inference",
            region=region,
            framework_version="2.6.0",
            py_version="py312",
            processor="cpu",
        )
        raise SageMakerValidation(
            f"{where} image {image} cannot run in the local cloud: it runs the SageMaker PyTorch "
            f"framework images only (ECR repositories {', '.join(RUNNABLE_REPOSITORIES)}; e.g. "
            f"{example}). Hugging Face, XGBoost, scikit-learn, other built-in algorithm and "
            "bring-your-own images run on AWS only."
        )


def check_model(backend: SageMakerModelBackend, model_name: str, where: str) -> None:
    """ValidationException for a recorded model with a container `check_container` refuses."""
    model = backend._models.get(model_name)
    if model is None:
        return  # a missing model is the callers' own error to give
    containers = [model.primary_container] if model.primary_container else []
    containers += list(model.containers or [])
    for container in containers:
        check_container(container, f"{where} (model {model_name})", backend.region_name)


def check_config(backend: SageMakerModelBackend, config_name: str) -> None:
    """ValidationException for an endpoint config that reaches a model `check_model` refuses."""
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        return
    variants = list(config.production_variants or [])
    variants += list(getattr(config, "shadow_production_variants", None) or [])
    for variant in variants:
        if variant.get("ModelName"):
            where = f"Variant {variant.get('VariantName')}"
            check_model(backend, variant["ModelName"], where)


def _checking_config(original: Any) -> Any:
    """`original` (CreateEndpoint or UpdateEndpoint: endpoint name, config name, ...) with the
    config's models checked first."""

    @functools.wraps(original)
    def hook(
        self: SageMakerModelBackend,
        endpoint_name: str,
        endpoint_config_name: str,
        *args: Any,
        **kwargs: Any,
    ) -> Any:
        check_config(self, endpoint_config_name)
        return original(self, endpoint_name, endpoint_config_name, *args, **kwargs)

    return hook


def install() -> None:
    """Wrap moto's CreateModel, CreateEndpoint, UpdateEndpoint (the cloud's) and
    CreateTransformJob with the check (the request's names are checked before, with the rest
    of the request: `validation`)."""
    create_model = SageMakerModelBackend.create_model
    if getattr(create_model, "_localcloud_images", False):
        return
    create_transform_job = SageMakerModelBackend.create_transform_job

    @functools.wraps(create_model)
    def create_model_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        if kwargs.get("primary_container"):
            check_container(kwargs["primary_container"], "PrimaryContainer", self.region_name)
        for i, container in enumerate(kwargs.get("containers") or [], start=1):
            check_container(container, f"Containers.{i}", self.region_name)
        return create_model(self, **kwargs)

    @functools.wraps(create_transform_job)
    def create_transform_job_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        check_model(self, kwargs["model_name"], "ModelName")
        return create_transform_job(self, **kwargs)

    create_model_hook._localcloud_images = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_model = create_model_hook  # type: ignore[method-assign]
    for method in ("create_endpoint", "update_endpoint"):  # the latter is the cloud's
        setattr(
            SageMakerModelBackend, method, _checking_config(getattr(SageMakerModelBackend, method))
        )
    SageMakerModelBackend.create_transform_job = create_transform_job_hook  # type: ignore[method-assign]
