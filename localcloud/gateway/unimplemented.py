"""An action the local cloud does not run answers a modelled error in its service's protocol.

moto raises `NotImplementedError` for an action it lacks (or a part of one it does not run), and
werkzeug turns that into an HTML 500 page, which botocore retries and then reports as a parse
error. Here it becomes HTTP 501 `NotImplementedException` with a message naming the action,
serialised by moto's own protocol serialisers (JSON `__type` for SageMaker, an XML
`ErrorResponse` for the query services such as IAM and CloudFormation). botocore parses it as a
`ClientError` and does not retry a 501.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any

from moto.core.exceptions import ServiceException
from moto.core.responses import ActionResult, BaseResponse

STATUS = 501


class NotImplementedException(ServiceException):
    """501: the local cloud does not run this action."""

    code = "NotImplementedException"


def install() -> None:
    """Patch moto's action dispatch (every JSON and query protocol service goes through it)."""
    call_action = BaseResponse.call_action
    if getattr(call_action, "_localcloud", False):
        return

    @functools.wraps(call_action)
    def answer(self: BaseResponse) -> Any:
        try:
            return call_action(self)
        except NotImplementedError as err:
            action = self._get_action() or "this action"
            service = getattr(self, "boto3_service_name", None) or self.service_name
            detail = str(err).rstrip(".")
            error = NotImplementedException(
                f"The local cloud does not run {service}:{action} ({detail})."
            )
            _, headers, body = self.serialized(ActionResult(error))
            return STATUS, headers, body

    # The code is ours, not a shape of the service's model: moto warns on each such answer.
    warnings.filterwarnings("ignore", message=r"Exception\(NotImplementedException\)")
    answer._localcloud = True  # type: ignore[attr-defined]
    BaseResponse.call_action = answer  # type: ignore[method-assign]
