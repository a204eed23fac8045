"""The standard SageMaker PyTorch MNIST walkthrough, unmodified, as written for AWS. Runs in
the SDK's own venv (`.venv-sdk`, sagemaker>=2,<3, no torch):

    python walkthrough.py SOURCE_DIR DATA_DIR

with nothing but `smlocal cloud env`'s environment (the cloud's URL and key, and the cloud as
HTTPS proxy of AWS's names for the clients the SDK points at AWS itself, such as STS). Prints
one JSON line of what it saw, for the test to check.
"""

import json
import sys

import numpy as np
import sagemaker
from sagemaker.pytorch import PyTorch, PyTorchModel
from sagemaker.serverless import ServerlessInferenceConfig

ROLE = "arn:aws:iam::123456789012:role/SageMaker-local"
FRAMEWORK = {"framework_version": "2.5", "py_version": "py311"}


def main(source_dir: str, data_dir: str) -> None:
    session = sagemaker.Session()
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
        metric_definitions=[{"Name": "test:accuracy", "Regex": r"test_accuracy=([0-9.]+)"}],
        sagemaker_session=session,
        **FRAMEWORK,
    )
    estimator.fit({"training": inputs})
    job = session.describe_training_job(estimator.latest_training_job.name)
    seen["job_status"] = job["TrainingJobStatus"]
    seen["final_metrics"] = {m["MetricName"]: m["Value"] for m in job["FinalMetricDataList"]}
    # The metrics as the SDK reads them back from CloudWatch (TrainingJobAnalytics).
    frame = estimator.training_job_analytics.dataframe()
    seen["analytics"] = {str(r.metric_name): float(r.value) for r in frame.itertuples()}
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
