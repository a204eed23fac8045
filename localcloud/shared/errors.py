"""AWS error shapes the local cloud raises inside moto. moto serialises a ServiceException from
the service's botocore model, so `code` must be a shape the client knows (or a generic code such
as ThrottlingException, which botocore also understands and retries)."""

from __future__ import annotations

from moto.core.exceptions import ServiceException


class ValidationError(ServiceException):
    """400 ValidationError (sagemaker-runtime) / ValidationException (sagemaker)."""

    code = "ValidationError"


class SageMakerValidation(ServiceException):
    """The SageMaker control plane's spelling of a validation error."""

    code = "ValidationException"


class ResourceInUse(ServiceException):
    """SageMaker's 400 for a name already taken by a resource of the same kind."""

    code = "ResourceInUse"


class ModelError(ServiceException):
    """424: the model container answered with an error; the original status travels along."""

    code = "ModelError"

    def __init__(self, message: str, *, original_status: int, original_message: str) -> None:
        super().__init__(message)
        self.OriginalStatusCode = original_status
        self.OriginalMessage = original_message


class ModelNotReady(ServiceException):
    """429: the container exists but cannot take the request."""

    code = "ModelNotReadyException"


class ThrottlingException(ServiceException):
    """Too many concurrent invocations of a serverless endpoint (above MaxConcurrency)."""

    code = "ThrottlingException"
