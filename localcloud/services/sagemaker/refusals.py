"""The actions moto fakes are refused, as the actions moto lacks are: moto's answer would report
work (a job Completed, a domain InService) that never happened. Each becomes a
`NotImplementedError` that the gateway (`gateway.unimplemented`) answers as HTTP 501
`NotImplementedException` naming the action and why."""

from __future__ import annotations

from typing import Any

from moto.core.utils import camelcase_to_underscores
from moto.sagemaker.responses import SageMakerResponse

from localcloud.services.sagemaker.audit import FAKED, REFUSED, table


def _refusal(action: str, why: str) -> Any:
    def refuse(self: SageMakerResponse) -> Any:
        raise NotImplementedError(why)

    refuse.__name__ = camelcase_to_underscores(action)
    return refuse


def install() -> None:
    """Replace moto's method of every refused action it implements."""
    for action, (kind, why) in table().items():
        method = camelcase_to_underscores(action)
        if kind == REFUSED and action in FAKED and hasattr(SageMakerResponse, method):
            setattr(SageMakerResponse, method, _refusal(action, why))
