"""The predict client: request bodies, response parsing, and `smlocal predict` against a really
served model reached through AWS_ENDPOINT_URL (boto3 alone decides where requests go)."""

from __future__ import annotations

import io
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from inference import client
from inference.errors import PredictError
from tests.helpers import ROOT
from tests.helpers.cli import run
from tests.helpers.served import Served
from training.data import write_split

IMAGES = np.random.default_rng(5).integers(0, 256, size=(3, 28, 28), dtype=np.uint8)


@pytest.mark.parametrize("content_type", client.CONTENT_TYPES)
def test_encode_images_round_trips_through_the_model_script(content_type: str) -> None:
    from inference import inference as mnist

    tensor = mnist.input_fn(client.encode_images(IMAGES, content_type), content_type)
    expected = (IMAGES / 255.0 - mnist.MNIST_MEAN) / mnist.MNIST_STD
    assert np.allclose(tensor[:, 0].numpy(), expected, atol=1e-5)


@pytest.mark.parametrize("content_type", client.CONTENT_TYPES)
def test_parse_probabilities_reads_every_answer_type(content_type: str) -> None:
    import torch

    from inference import inference as mnist

    probabilities = torch.softmax(torch.randn(3, 10, generator=torch.Generator().manual_seed(2)), 1)
    body, answered = mnist.output_fn(probabilities, content_type)
    assert np.allclose(client.parse_probabilities(body, answered), probabilities.numpy(), atol=1e-6)


def test_unknown_types_and_unreadable_answers_are_user_errors() -> None:
    with pytest.raises(PredictError, match="image/png"):
        client.encode_images(IMAGES, "image/png")
    with pytest.raises(PredictError, match="cannot be read"):
        client.parse_probabilities(b'{"no": "predictions"}', "application/json")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("mnist")
    labels = np.arange(40, dtype=np.uint8) % 10
    images = np.random.default_rng(0).integers(0, 256, size=(40, 28, 28), dtype=np.uint8)
    write_split(directory, "test", images, labels)
    return directory


def test_sample_is_seeded_and_checks_n(data_dir: Path) -> None:
    first, second = client.sample(data_dir, 5, seed=1), client.sample(data_dir, 5, seed=1)
    assert np.array_equal(first[0], second[0])
    assert len(set(first[0].tolist())) == 5
    with pytest.raises(PredictError, match="--n must be 1–40"):
        client.sample(data_dir, 41)


@pytest.mark.slow
@pytest.mark.parametrize("content_type", client.CONTENT_TYPES)
def test_invoke_pairs_answers_with_labels(served: Served, data_dir: Path, content_type) -> None:
    import boto3

    runtime = boto3.client(
        "sagemaker-runtime",
        endpoint_url=served.url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    indices, images, labels = client.sample(data_dir, 8, seed=3)
    result = client.invoke(runtime, "mnist-dev", indices, images, labels, content_type)
    assert result.content_type == content_type
    assert [p.index for p in result.predictions] == indices.tolist()
    assert [p.expected for p in result.predictions] == labels.tolist()
    assert all(abs(sum(p.probabilities) - 1) < 1e-4 for p in result.predictions)
    hits = sum(p.label == p.expected for p in result.predictions)
    assert result.accuracy == hits / 8


@pytest.mark.slow
def test_smlocal_predict_cli(served: Served, data_dir: Path) -> None:
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL": served.url,
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "COLUMNS": "120",
    }
    command = [sys.executable, "-c", "from smlocal.cli import main; main()", "predict"]
    command += ["--env", "dev", "--endpoint-name", "mnist-dev", "--data", str(data_dir)]
    result = run([*command, "--n", "4", "--seed", "7"], cwd=ROOT, env=env)
    assert result.returncode == 0, result.stderr
    assert '{"predictions": [{"label"' in result.stdout
    assert "accuracy:" in result.stdout
    assert "mnist-dev: 4 test images" in result.stdout

    refused = run([*command, "--content-type", "text/plain"], cwd=ROOT, env=env)
    assert refused.returncode == 2
    assert "--content-type must be one of" in refused.stderr


def test_npy_answer_is_a_probability_array() -> None:
    buffer = io.BytesIO()
    np.save(buffer, np.full((2, 10), 0.1, dtype=np.float32))
    assert client.parse_probabilities(buffer.getvalue(), "application/x-npy").shape == (2, 10)


def test_a_refused_request_is_one_line_naming_the_endpoint_and_aws_code() -> None:
    import boto3
    from botocore.stub import Stubber

    runtime = boto3.client(
        "sagemaker-runtime",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="secret",
    )
    message = "Endpoint nope of account 123456789012 not found."
    with Stubber(runtime) as stub:
        stub.add_client_error("invoke_endpoint", "ValidationError", message, 400)
        with pytest.raises(PredictError) as caught:
            client.invoke(runtime, "nope", np.arange(1), IMAGES[:1], np.zeros(1, dtype=int))
    assert str(caught.value) == f"endpoint nope refused the request: ValidationError: {message}"
