"""The model registry serves: CreateModel with a container that names a `ModelPackageName`
(a name or ARN, versioned or not) is resolved at create time to the package's
`InferenceSpecification` (its first container's image, model data and environment, the
request's environment on top), so the model record carries the `ModelDataUrl` that endpoints and
transform jobs serve. A versioned package must be `Approved` to be deployed.

moto's package records are corrected where they would claim work or lose what AWS keeps:
`ModelPackageStatusDetails` has no validation or image scan `Completed` (none runs; a
`ValidationSpecification` is refused), and UpdateModelPackage keeps the approval status,
`ApprovalDescription` and customer metadata a request leaves out, as AWS does.
"""

from __future__ import annotations

import functools
from typing import Any

from moto.sagemaker.models import SageMakerModelBackend

from localcloud.shared.errors import SageMakerValidation


def package(backend: SageMakerModelBackend, name: str) -> Any:
    """The package record a name or ARN designates; ValidationException if there is none."""
    arn = backend.model_package_name_mapping.get(name, name)
    found = backend.model_packages.get(arn)
    if found is None:
        raise SageMakerValidation(f"Model package {name} does not exist.")
    return found


def resolve(backend: SageMakerModelBackend, container: dict[str, Any]) -> dict[str, Any]:
    """`container` with its `ModelPackageName` resolved to image, model data and environment."""
    name = container.get("ModelPackageName")
    if not name:
        return container
    found = package(backend, name)
    if found.model_package_group_name and found.model_approval_status != "Approved":
        raise SageMakerValidation(
            f"Model package {found.arn} has ModelApprovalStatus "
            f"{found.model_approval_status}; only an Approved model package can be deployed."
        )
    spec_containers = (found.inference_specification or {}).get("Containers") or []
    if not spec_containers:
        raise SageMakerValidation(f"Model package {found.arn} has no InferenceSpecification.")
    spec = spec_containers[0]
    resolved = {k: v for k, v in spec.items() if k in ("Image", "ModelDataUrl", "ModelDataSource")}
    environment = {**(spec.get("Environment") or {}), **(container.get("Environment") or {})}
    out = {**resolved, **container, "ModelPackageName": found.arn}
    if environment:
        out["Environment"] = environment
    return out


def install() -> None:
    """Wrap moto's CreateModel, CreateModelPackage and UpdateModelPackage."""
    create_model = SageMakerModelBackend.create_model
    if getattr(create_model, "_localcloud_packages", False):
        return
    create_package = SageMakerModelBackend.create_model_package
    update_package = SageMakerModelBackend.update_model_package

    @functools.wraps(create_model)
    def create_model_hook(self: SageMakerModelBackend, **kwargs: Any) -> Any:
        if kwargs.get("primary_container"):
            kwargs["primary_container"] = resolve(self, kwargs["primary_container"])
        if kwargs.get("containers"):
            kwargs["containers"] = [resolve(self, c) for c in kwargs["containers"]]
        return create_model(self, **kwargs)

    @functools.wraps(create_package)
    def create_package_hook(self: SageMakerModelBackend, **kwargs: Any) -> str:
        if kwargs.get("validation_specification"):
            raise NotImplementedError("a ValidationSpecification is not run")
        arn = create_package(self, **kwargs)
        # No validation or image scan runs: nothing is reported Completed.
        self.model_packages[arn].model_package_status_details = {
            "ValidationStatuses": [],
            "ImageScanStatuses": [],
        }
        return arn

    @functools.wraps(update_package)
    def update_package_hook(self: SageMakerModelBackend, **kwargs: Any) -> str:
        name = kwargs["model_package_arn"]
        found = self.model_packages.get(self.model_package_name_mapping.get(name, name))
        if found is not None:
            # AWS changes only what the request sets.
            if kwargs.get("model_approval_status") is None:
                kwargs["model_approval_status"] = found.model_approval_status
            if kwargs.get("approval_description") is None:
                kwargs["approval_description"] = found.approval_description
            kwargs["customer_metadata_properties"] = {
                **(found.customer_metadata_properties or {}),
                **(kwargs.get("customer_metadata_properties") or {}),
            }
        return update_package(self, **kwargs)

    create_model_hook._localcloud_packages = True  # type: ignore[attr-defined]
    SageMakerModelBackend.create_model = create_model_hook  # type: ignore[method-assign]
    SageMakerModelBackend.create_model_package = create_package_hook  # type: ignore[method-assign]
    SageMakerModelBackend.update_model_package = update_package_hook  # type: ignore[method-assign]
