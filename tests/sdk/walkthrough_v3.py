"""The SageMaker Python SDK v3 as its docs write it, unmodified: `ModelTrainer` (SourceCode +
Compute, 2 instances) trains the MNIST script with gloo, then sagemaker-core's `Model`,
`EndpointConfig` and `Endpoint` serve the model it made: create, wait, invoke, delete. Runs in
the SDK's own venv (`.venv-sdk3`, sagemaker>=3, no torch):

    python walkthrough_v3.py SOURCE_DIR DATA_DIR IMAGE_URI

with nothing but `smlocal cloud env`'s environment. Prints one JSON line of what it saw.
"""

import io
import json
import sys
import time

import numpy as np
from sagemaker.core.helper.iam_role_resolver import IamRoleResolver
from sagemaker.core.resources import Endpoint, EndpointConfig, Model
from sagemaker.core.shapes import ContainerDefinition, ProductionVariant
from sagemaker.train import ModelTrainer
from sagemaker.train.configs import Compute, InputData, SourceCode


def main(source_dir: str, data_dir: str, image_uri: str) -> None:
    seen = {}
    started = time.monotonic()
    seconds = {}
    # The execution role as v3 makes one (its least-privilege training policies); ModelTrainer
    # then validates it through IAM SimulatePrincipalPolicy.
    role = IamRoleResolver().create_execution_role(role_type="training", role_name="SageMaker-v3")
    seen["role"] = role
    trainer = ModelTrainer(
        training_image=image_uri,
        role=role,
        source_code=SourceCode(source_dir=source_dir, entry_script="mnist.py"),
        compute=Compute(instance_type="ml.c5.xlarge", instance_count=2),
        hyperparameters={"epochs": 1, "backend": "gloo", "batch-size": 128},
        base_job_name="mnist-v3",
    )
    # A local folder: the SDK uploads it to the session's default bucket.
    trainer.train(
        input_data_config=[InputData(channel_name="training", data_source=data_dir)],
        wait=True,
        logs=False,
    )
    seconds["role_and_training"] = round(time.monotonic() - started, 1)
    job = trainer._latest_training_job  # the job ModelTrainer ran, as the SDK's examples read it
    job.refresh()
    seen["job_status"] = job.training_job_status
    seen["model_data"] = job.model_artifacts.s3_model_artifacts
    seen["hosts"] = job.resource_config.instance_count

    name = job.training_job_name
    model = Model.create(
        model_name=name,
        primary_container=ContainerDefinition(image=image_uri, model_data_url=seen["model_data"]),
        execution_role_arn=role,
    )
    config = EndpointConfig.create(
        endpoint_config_name=name,
        production_variants=[
            ProductionVariant(
                variant_name="AllTraffic",
                model_name=model.model_name,
                instance_type="ml.m5.xlarge",
                initial_instance_count=1,
            )
        ],
    )
    endpoint = Endpoint.create(endpoint_name=name, endpoint_config_name=config.endpoint_config_name)
    endpoint.wait_for_status("InService", poll=1)
    seconds["endpoint_in_service"] = round(time.monotonic() - started, 1)
    seen["endpoint_status"] = Endpoint.get(endpoint_name=name).endpoint_status

    images = np.random.default_rng(0).random((2, 28, 28), dtype=np.float32)
    buffer = io.BytesIO()
    np.save(buffer, images)
    answer = endpoint.invoke(
        body=buffer.getvalue(), content_type="application/x-npy", accept="application/json"
    )
    predictions = json.loads(answer.body.read())["predictions"]
    seen["labels"] = [p["label"] for p in predictions]
    seen["probabilities_shape"] = list(np.asarray([p["probabilities"] for p in predictions]).shape)

    endpoint.delete()
    endpoint.wait_for_delete(poll=1)
    config.delete()
    model.delete()
    seen["deleted"] = name
    seconds["all"] = round(time.monotonic() - started, 1)
    seen["seconds"] = seconds
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
