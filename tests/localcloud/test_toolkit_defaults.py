"""The serving toolkit's defaults through an endpoint of the cloud: a script whose model_fn
returns a model in training mode (the SageMaker examples' DataParallel pattern) is run in eval
mode by the default predict_fn, so identical requests get identical answers."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.helpers.cloud import create_model_and_config, put_model, wait_endpoint
from tests.helpers.models import model_archive

pytestmark = pytest.mark.slow

DROPOUT_SCRIPT = """
import torch


def build():
    torch.manual_seed(0)
    return torch.nn.Sequential(
        torch.nn.Linear(4, 64), torch.nn.Dropout(0.5), torch.nn.Linear(64, 3)
    )


def model_fn(model_dir):
    return torch.nn.DataParallel(build())  # training mode, as built
"""


def test_a_train_mode_dropout_model_answers_identical_requests_identically(
    s3: Any, sagemaker: Any, runtime: Any
) -> None:
    url = put_model(s3, "models/dropout.tar.gz", model_archive(DROPOUT_SCRIPT, weights=False))
    config = create_model_and_config(sagemaker, "dropout", url)
    sagemaker.create_endpoint(EndpointName="dropout", EndpointConfigName=config)
    try:
        assert wait_endpoint(sagemaker, "dropout")["EndpointStatus"] == "InService"
        answers = [
            runtime.invoke_endpoint(
                EndpointName="dropout",
                Body=b"[[1.0, 2.0, 3.0, 4.0]]",
                ContentType="application/json",
                Accept="application/json",
            )["Body"].read()
            for _ in range(3)
        ]
        assert len(set(answers)) == 1, answers  # dropout was off for every request

        import torch

        namespace: dict[str, Any] = {}
        exec(DROPOUT_SCRIPT, namespace)  # the same network, in eval mode here
        with torch.no_grad():
            expected = namespace["build"]().eval()(torch.tensor([[1.0, 2.0, 3.0, 4.0]]))
        assert json.loads(answers[0])[0] == pytest.approx(expected.tolist()[0])
    finally:
        sagemaker.delete_endpoint(EndpointName="dropout")
