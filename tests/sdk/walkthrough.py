"""The standard SageMaker PyTorch MNIST walkthrough, unmodified except for how the session is
built. Runs in the SDK's own venv (`.venv-sdk`, sagemaker>=2,<3, no torch):

    python walkthrough.py SOURCE_DIR DATA_DIR

with AWS_ENDPOINT_URL (and dummy keys) pointing at the local cloud. Prints one JSON line of
what it saw, for the test to check.
"""

import json
import os
import sys
from urllib.parse import urlsplit, urlunsplit

import boto3
import numpy as np
import sagemaker
from sagemaker.pytorch import PyTorch, PyTorchModel
from sagemaker.serverless import ServerlessInferenceConfig

ROLE = "arn:aws:iam::123456789012:role/SageMaker-local"
FRAMEWORK = {"framework_version": "2.5", "py_version": "py311"}


def local_cloud_session(url: str) -> sagemaker.Session:
    """The only local-cloud part: a Session from boto clients pointed at the local cloud.

    AWS_ENDPOINT_URL covers the clients the SDK makes itself, except STS, which it builds with
    an explicit regional AWS endpoint; a `before-sign` hook sends those requests to the local
    cloud too (before signing: the signature covers the Host, which must be the cloud's)."""
    boto_session = boto3.Session(region_name="us-east-1")
    base = urlsplit(url)

    def to_local_cloud(request, **_):
        parts = urlsplit(request.url)
        if parts.netloc != base.netloc:
            request.url = urlunsplit((base.scheme, base.netloc, parts.path, parts.query, ""))

    boto_session.events.register("before-sign", to_local_cloud)
    return sagemaker.Session(
        boto_session=boto_session,
        sagemaker_client=boto_session.client("sagemaker", endpoint_url=url),
        sagemaker_runtime_client=boto_session.client("sagemaker-runtime", endpoint_url=url),
    )


def main(source_dir: str, data_dir: str) -> None:
    session = local_cloud_session(os.environ["AWS_ENDPOINT_URL"])
    seen = {"bucket": session.default_bucket()}
    inputs = session.upload_data(path=data_dir, key_prefix="data/mnist")
    seen["inputs"] = inputs

    estimator = PyTorch(
        entry_point="mnist.py",
        source_dir=source_dir,
        role=ROLE,
        instance_count=2,
        instance_type="ml.c5.2xlarge",
        hyperparameters={"epochs": 1, "backend": "gloo"},
        sagemaker_session=session,
        **FRAMEWORK,
    )
    estimator.fit({"training": inputs})
    job = session.describe_training_job(estimator.latest_training_job.name)
    seen["job_status"] = job["TrainingJobStatus"]
    seen["model_data"] = estimator.model_data

    images = np.random.default_rng(0).random((2, 28, 28), dtype=np.float32)
    # As in the walkthrough: the training entry point (mnist.py) is the serving script too.
    predictor = estimator.deploy(initial_instance_count=1, instance_type="ml.m5.xlarge")
    seen["realtime_shape"] = list(np.asarray(predictor.predict(images)).shape)
    predictor.delete_endpoint()
    seen["realtime_deleted"] = predictor.endpoint_name

    model = PyTorchModel(
        model_data=estimator.model_data,
        role=ROLE,
        entry_point="inference.py",
        source_dir=source_dir,
        sagemaker_session=session,
        **FRAMEWORK,
    )
    serverless = model.deploy(
        serverless_inference_config=ServerlessInferenceConfig(
            memory_size_in_mb=2048, max_concurrency=1
        )
    )
    seen["serverless_shape"] = list(np.asarray(serverless.predict(images)).shape)
    serverless.delete_endpoint()
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
