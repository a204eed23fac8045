"""Processing, tuning and batch transform through the SageMaker Python SDK v2, unmodified, as
written for AWS. Runs in the SDK's own venv (`.venv-sdk`):

    python batch_jobs.py SOURCE_DIR DATA_DIR RAW_CSV

`SKLearnProcessor.run()` turns RAW_CSV (label, 784 pixels a row) into the features alone;
`HyperparameterTuner.fit()` trains the MNIST script twice (two learning rates) and names the
best job; that job's `Transformer.transform()` predicts the processed rows, one request a line.
With nothing but `smlocal cloud env`'s environment. Prints one JSON line of what it saw (and
the seconds of each step), for the test to check.
"""

import json
import sys
import time
from pathlib import Path

import sagemaker
from sagemaker.processing import ProcessingInput, ProcessingOutput
from sagemaker.pytorch import PyTorch
from sagemaker.sklearn.processing import SKLearnProcessor
from sagemaker.tuner import ContinuousParameter, HyperparameterTuner

ROLE = "arn:aws:iam::123456789012:role/SageMaker-local"
# Paths come as arguments: the local cloud rewrites `/opt/ml` in a job's arguments and
# environment, not inside a script's text.
PREPROCESS = """
import csv, pathlib, sys
source, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
rows = list(csv.reader(open(source / "raw.csv")))
out.mkdir(parents=True, exist_ok=True)
(out / "features.csv").write_text("".join(",".join(row[1:]) + "\\n" for row in rows))
print("features of", len(rows), "rows")
"""


def main(source_dir: str, data_dir: str, raw_csv: str) -> None:
    session = sagemaker.Session()
    bucket = session.default_bucket()
    seen: dict = {"seconds": {}}
    mark = [time.monotonic()]

    def lap(step: str) -> None:
        now = time.monotonic()
        seen["seconds"][step] = round(now - mark[0], 1)
        mark[0] = now

    raw = session.upload_data(path=raw_csv, key_prefix="batch/raw")
    script = Path(raw_csv).parent / "preprocess.py"
    script.write_text(PREPROCESS)
    processor = SKLearnProcessor(
        framework_version="1.2-1",
        role=ROLE,
        instance_type="ml.m5.large",
        instance_count=1,
        sagemaker_session=session,
    )
    processor.run(
        code=str(script),
        inputs=[ProcessingInput(source=raw, destination="/opt/ml/processing/input")],
        outputs=[ProcessingOutput(output_name="features", source="/opt/ml/processing/output")],
        arguments=["/opt/ml/processing/input", "/opt/ml/processing/output"],
        wait=True,
        logs=False,
    )
    described = processor.latest_job.describe()
    seen["processing_status"] = described["ProcessingJobStatus"]
    features = described["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"]
    seen["features"] = features
    lap("processing")

    inputs = session.upload_data(path=data_dir, key_prefix="batch/mnist")
    estimator = PyTorch(
        entry_point="mnist.py",
        source_dir=source_dir,
        role=ROLE,
        instance_count=1,
        instance_type="ml.c5.2xlarge",
        framework_version="2.5",
        py_version="py311",
        hyperparameters={"epochs": 1},
        sagemaker_session=session,
    )
    tuner = HyperparameterTuner(
        estimator,
        objective_metric_name="test_accuracy",
        hyperparameter_ranges={"lr": ContinuousParameter(0.05, 1.0)},
        metric_definitions=[{"Name": "test_accuracy", "Regex": r"test_accuracy=([0-9.]+)"}],
        objective_type="Maximize",
        strategy="Random",
        max_jobs=2,
        max_parallel_jobs=2,
    )
    tuner.fit({"training": inputs}, wait=True)
    tuning = tuner.describe()
    seen["tuning_status"] = tuning["HyperParameterTuningJobStatus"]
    seen["completed"] = tuning["TrainingJobStatusCounters"]["Completed"]
    seen["best"] = tuner.best_training_job()
    seen["best_value"] = tuning["BestTrainingJob"]["FinalHyperParameterTuningJobObjectiveMetric"][
        "Value"
    ]
    seen["values"] = [
        s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]
        for s in session.sagemaker_client.list_training_jobs_for_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=tuner.latest_tuning_job.name
        )["TrainingJobSummaries"]
    ]
    lap("tuning")

    best = tuner.best_estimator()
    seen["model_data"] = best.model_data
    lap("attach")
    output = f"s3://{bucket}/batch/predictions"
    transformer = best.transformer(
        instance_count=1,
        instance_type="ml.m5.large",
        strategy="SingleRecord",
        assemble_with="Line",
        accept="text/csv",
        output_path=output,
    )
    lap("model")
    transformer.transform(
        features, content_type="text/csv", split_type="Line", wait=True, logs=False
    )
    job = session.describe_transform_job(transformer.latest_transform_job.name)
    seen["transform_status"] = job["TransformJobStatus"]
    seen["seconds"]["transform_job"] = round(
        (job["TransformEndTime"] - job["TransformStartTime"]).total_seconds(), 1
    )
    seen["output"] = output
    lap("transform")
    print(json.dumps(seen))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
