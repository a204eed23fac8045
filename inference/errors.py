"""Errors of the serving path. Each carries its HTTP status in `status_code`, as the SageMaker
inference toolkit's errors do, so the server maps any of them (and a user script's own errors
with a `status_code`) to a response without special cases."""

from __future__ import annotations

from smlocal.core.errors import UserError


class InferenceError(Exception):
    """A request the model cannot answer; `status_code` is the HTTP status to return."""

    status_code = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(InferenceError):
    """A body that cannot be decoded, or has the wrong shape, dtype or values (400)."""

    status_code = 400


class UnsupportedContentType(InferenceError):
    """A request Content-Type that no decoder handles (415)."""

    status_code = 415


class UnsupportedAccept(InferenceError):
    """An Accept type that no encoder produces (406)."""

    status_code = 406


class PayloadTooLarge(InferenceError):
    """A body over the endpoint's payload limit: 6 MB real-time, 4 MB serverless (413)."""

    status_code = 413


class DecodedTooLarge(InferenceError):
    """A body that decodes to more bytes or a bigger batch than the model allows (413): the
    container's own answer, unlike PayloadTooLarge, which SageMaker's front end gives."""

    status_code = 413


class InvocationTimeout(InferenceError):
    """The model did not answer within the invocation timeout (504); the server stays up."""

    status_code = 504


class ModelLoadError(UserError):
    """A model directory, archive or user script that cannot be served; raised at start."""


class PredictError(UserError):
    """A predict request that cannot be made, or an endpoint answer that cannot be read."""
