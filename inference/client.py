"""Ask a deployed endpoint about MNIST test images: the reusable half of `smlocal predict`.

Nothing here knows where the endpoint runs: boto3 reaches AWS, or the local cloud when
`AWS_ENDPOINT_URL` points at it.
"""

from __future__ import annotations

import io
import json
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from inference import codecs
from inference.errors import PredictError
from smlocal.core.s3uri import split_s3_uri

CONTENT_TYPES = (codecs.JSON, codecs.CSV, codecs.NPY)
ASYNC_INPUT_PREFIX = "async-inference/input"
"""Where `smlocal predict` uploads an async endpoint's requests in the default bucket."""
ASYNC_DEFAULT_TIMEOUT_S = 900  # SageMaker's InvocationTimeoutSeconds when none is sent
ASYNC_GRACE_S = 60  # beyond the invocation timeout: the queue and the upload of the answer
ASYNC_POLL_S = 0.5


@dataclass(frozen=True)
class Prediction:
    """One image's answer: its index in the test split, true label, predicted label and the
    probability of each class."""

    index: int
    expected: int
    label: int
    probabilities: tuple[float, ...]

    @property
    def confidence(self) -> float:
        """Probability of the predicted label."""
        return self.probabilities[self.label]


@dataclass(frozen=True)
class PredictResult:
    """The raw response and what it says about each image."""

    endpoint_name: str
    content_type: str
    raw: bytes
    predictions: list[Prediction]

    @property
    def accuracy(self) -> float:
        """Share of images whose predicted label is the true one."""
        hits = sum(p.label == p.expected for p in self.predictions)
        return hits / len(self.predictions)


def sample(
    data_dir: Path | str, n: int, seed: int | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`n` random distinct test images: (indices, images uint8 (n,28,28), labels)."""
    from training.data import load_split

    images, labels = load_split(data_dir, "test")
    if not 1 <= n <= len(images):
        raise PredictError(f"--n must be 1–{len(images)} (the test split of {data_dir}), got {n}")
    indices = np.sort(np.random.default_rng(seed).choice(len(images), size=n, replace=False))
    return indices, images[indices], labels[indices]


def encode_images(images: np.ndarray, content_type: str) -> bytes:
    """uint8 images (N,28,28) as a request body: JSON nested lists, CSV rows of 784, or npy."""
    if content_type == codecs.JSON:
        return json.dumps(images.tolist()).encode()
    if content_type == codecs.CSV:
        rows = images.reshape(len(images), -1)
        return ("\n".join(",".join(map(str, row)) for row in rows.tolist()) + "\n").encode()
    if content_type == codecs.NPY:
        buffer = io.BytesIO()
        np.save(buffer, images, allow_pickle=False)
        return buffer.getvalue()
    raise PredictError(
        f"--content-type must be one of {', '.join(CONTENT_TYPES)}, got {content_type!r}"
    )


def parse_probabilities(body: bytes, content_type: str) -> np.ndarray:
    """The model's response (any of the three types it answers in) → probabilities (N,10)."""
    content_type = codecs.media_type(content_type)
    try:
        if content_type == codecs.JSON:
            rows = json.loads(body)["predictions"]
            return np.asarray([row["probabilities"] for row in rows], dtype=np.float64)
        if content_type == codecs.CSV:
            rows = [line.split(",")[1:] for line in body.decode().splitlines() if line.strip()]
            return np.asarray(rows, dtype=np.float64)
        if content_type == codecs.NPY:
            return np.load(io.BytesIO(body), allow_pickle=False).astype(np.float64)
    except (ValueError, KeyError, TypeError) as err:
        raise PredictError(f"the endpoint's {content_type} answer cannot be read: {err}") from None
    raise PredictError(f"the endpoint answered in {content_type!r}, which this client cannot read")


def invoke(
    runtime: Any,
    endpoint_name: str,
    indices: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    content_type: str = codecs.JSON,
) -> PredictResult:
    """Send the images to `endpoint_name` with a boto3 `sagemaker-runtime` client, asking for
    the same type back, and pair each answer with its true label."""
    from botocore.exceptions import ClientError

    body = encode_images(images, content_type)
    try:
        response = runtime.invoke_endpoint(
            EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=content_type
        )
    except ClientError as err:
        raise _refused(endpoint_name, err) from None
    raw = response["Body"].read()
    answered = codecs.media_type(response.get("ContentType") or content_type)
    return _result(endpoint_name, indices, labels, raw, answered)


def _refused(endpoint_name: str, err: Any) -> PredictError:
    """The one-line error for a request the endpoint (or SageMaker before it) refused."""
    error = err.response.get("Error", {})
    return PredictError(
        f"endpoint {endpoint_name} refused the request: {error.get('Code', '?')}: "
        f"{error.get('Message', err)}"
    )


def _result(
    endpoint_name: str, indices: np.ndarray, labels: np.ndarray, raw: bytes, answered: str
) -> PredictResult:
    """An answer's probabilities paired with the true labels of the images sent."""
    probabilities = parse_probabilities(raw, answered)
    if probabilities.shape != (len(labels), 10):
        raise PredictError(
            f"endpoint {endpoint_name} answered {probabilities.shape} probabilities "
            f"for {len(labels)} images; expected ({len(labels)}, 10)"
        )
    predictions = [
        Prediction(int(i), int(y), int(p.argmax()), tuple(float(v) for v in p))
        for i, y, p in zip(indices, labels, probabilities, strict=True)
    ]
    return PredictResult(endpoint_name, answered, raw, predictions)


def invoke_async(
    runtime: Any,
    s3: Any,
    bucket: str,
    endpoint_name: str,
    indices: np.ndarray,
    images: np.ndarray,
    labels: np.ndarray,
    content_type: str = codecs.JSON,
    *,
    timeout_s: int | None = None,
) -> PredictResult:
    """Ask an async endpoint: upload the request under the bucket's `async-inference/input/`,
    InvokeEndpointAsync, then wait for the answer at its OutputLocation (or the failure at its
    FailureLocation) and pair it with the true labels."""
    from botocore.exceptions import ClientError

    key = f"{ASYNC_INPUT_PREFIX}/{uuid.uuid4()}"
    s3.put_object(
        Bucket=bucket, Key=key, Body=encode_images(images, content_type), ContentType=content_type
    )
    options = {"InvocationTimeoutSeconds": timeout_s} if timeout_s else {}
    try:
        response = runtime.invoke_endpoint_async(
            EndpointName=endpoint_name,
            InputLocation=f"s3://{bucket}/{key}",
            ContentType=content_type,
            Accept=content_type,
            **options,
        )
    except ClientError as err:
        raise _refused(endpoint_name, err) from None
    wait_s = (timeout_s or ASYNC_DEFAULT_TIMEOUT_S) + ASYNC_GRACE_S
    output, failure = response["OutputLocation"], response.get("FailureLocation")
    deadline = time.monotonic() + wait_s
    while True:
        answer = _s3_object(s3, output)
        if answer is not None:
            raw, answered = answer
            answered = codecs.media_type(answered or content_type)
            if answered == "application/octet-stream":  # stored without the model's type
                answered = content_type
            return _result(endpoint_name, indices, labels, raw, answered)
        failed = _s3_object(s3, failure) if failure else None
        if failed is not None:
            reason = " ".join(failed[0].decode(errors="replace").split())
            raise PredictError(
                f"endpoint {endpoint_name} failed request {response['InferenceId']}: {reason} "
                f"({failure})"
            )
        if time.monotonic() > deadline:
            raise PredictError(
                f"endpoint {endpoint_name}: no answer at {output} after {wait_s} s "
                f"(request {response['InferenceId']})"
            )
        time.sleep(ASYNC_POLL_S)


def _s3_object(s3: Any, uri: str) -> tuple[bytes, str | None] | None:
    """(body, content type) of the object at `uri`, None while there is none."""
    from botocore.exceptions import ClientError

    bucket, key = split_s3_uri(uri, key_required=True)
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except ClientError as err:
        if err.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise
    return got["Body"].read(), got.get("ContentType")


def predict_env(
    env_name: str,
    *,
    n: int = 16,
    content_type: str = codecs.JSON,
    endpoint_name: str | None = None,
    data_dir: Path | str = "data/mnist",
    seed: int | None = None,
    envdir: Path | None = None,
) -> PredictResult:
    """`smlocal predict` without the printing: find the environment's endpoint (its
    EndpointStack output unless `endpoint_name` is given) and ask it about `n` test images;
    an async endpoint through the default bucket."""
    from smlocal.core import aws, environments, naming
    from smlocal.core.manifest import AsyncEndpoint

    env = environments.load(env_name, envdir)
    if endpoint_name is None:
        outputs = aws.stack_outputs(env)
        if naming.OUTPUT_ENDPOINT_NAME not in outputs:
            raise PredictError(
                f"the endpoint stack of {env_name!r} has no {naming.OUTPUT_ENDPOINT_NAME} "
                f"output (outputs: {', '.join(sorted(outputs)) or 'none'}); redeploy it"
            )
        endpoint_name = outputs[naming.OUTPUT_ENDPOINT_NAME]
    indices, images, labels = sample(data_dir, n, seed)
    runtime = aws.client("sagemaker-runtime", env)
    spec = env.endpoint
    if isinstance(spec, AsyncEndpoint):
        s3 = aws.client("s3", env)
        return invoke_async(
            runtime,
            s3,
            env.bucket_name,
            endpoint_name,
            indices,
            images,
            labels,
            content_type,
            timeout_s=spec.invocation_timeout_seconds,
        )
    return invoke(runtime, endpoint_name, indices, images, labels, content_type)
