"""ECR's registry login is refused: the local cloud has no Docker engine and no image registry,
so a container image cannot be pushed to it or pulled from it.

moto keeps ECR's records (repositories, their policies and tags) and answers
`GetAuthorizationToken` with a made-up token for `https://ACCOUNT.dkr.ecr.REGION.amazonaws.com`,
a registry nothing serves. The CDK CLI publishes a container image asset by reading the
repository (DescribeRepositories, DescribeImages), then asking for that token for `docker
login`, then running `docker build` and `docker push`: the token is the first step that needs a
registry. It is refused here, as the gateway refuses what the cloud does not run (HTTP 501
`NotImplementedException`, which the CLI prints and does not retry), with the reason in one
line.
"""

from __future__ import annotations

from typing import Any

from moto.ecr.responses import ECRResponse

REASON = (
    "container image assets cannot be published to the local cloud: it has no Docker engine "
    "and no image registry to log in to; deploy a model from S3 (an aws_s3_assets.Asset) on "
    "one of the images the cloud runs instead"
)


def _refuse_login(self: ECRResponse) -> Any:
    raise NotImplementedError(REASON)


def install() -> None:
    """Refuse GetAuthorizationToken (the registry login)."""
    ECRResponse.get_authorization_token = _refuse_login  # type: ignore[method-assign]
