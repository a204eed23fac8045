"""The services that act on the clock (CloudWatch alarms, Application Auto Scaling) use the
second local cloud, `fast_cloud` (tests/localcloud/conftest.py), whose clock runs at FAST x;
here, one endpoint of the smallest model on it, for the scaling tests to scale."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.helpers.cloud import (
    BUCKET,
    Cloud,
    create_model_and_config,
    put_model,
    wait_endpoint,
)
from tests.helpers.models import model_archive

SCALED = "scaled"
# The smallest model the serving process loads: no torch weights to read.
ECHO = """
def model_fn(model_dir):
    return None


def predict_fn(data, model):
    return data
"""


@pytest.fixture(scope="session")
def scaled_endpoint(fast_cloud: Cloud) -> Iterator[str]:
    """The name of an InService one-instance endpoint (variant AllTraffic) on the fast cloud."""
    s3, sagemaker = fast_cloud.client("s3"), fast_cloud.client("sagemaker")
    s3.create_bucket(Bucket=BUCKET)
    url = put_model(s3, "models/echo/model.tar.gz", model_archive(ECHO, weights=False))
    create_model_and_config(sagemaker, SCALED, url)
    sagemaker.create_endpoint(EndpointName=SCALED, EndpointConfigName=SCALED)
    assert wait_endpoint(sagemaker, SCALED)["EndpointStatus"] == "InService"
    yield SCALED
    sagemaker.delete_endpoint(EndpointName=SCALED)
