"""ECR's registry login (`localcloud.services.ecr.registry`): the local cloud has no registry,
so GetAuthorizationToken is refused with one line saying so, once (not retried), while ECR's
records (repositories) still answer."""

from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import Cloud


def test_the_registry_login_is_refused_naming_why(cloud: Cloud) -> None:
    ecr = cloud.client("ecr")
    ecr.create_repository(repositoryName="registry-tests")
    assert ecr.describe_repositories(repositoryNames=["registry-tests"])["repositories"]
    with pytest.raises(ClientError) as refused:
        ecr.get_authorization_token()
    response = refused.value.response
    assert response["Error"]["Code"] == "NotImplementedException"
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["ResponseMetadata"]["RetryAttempts"] == 0
    assert response["Error"]["Message"] == (
        "The local cloud does not run ecr:GetAuthorizationToken (container image assets cannot "
        "be published to the local cloud: it has no Docker engine and no image registry to log "
        "in to; deploy a model from S3 (an aws_s3_assets.Asset) on one of the images the cloud "
        "runs instead)."
    )
