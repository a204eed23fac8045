"""Hyperparameter tuning on the local cloud, through boto3: real training jobs, at most
MaxParallelTrainingJobs at a time, their objective read from their metrics, the best
reported; the grid of a Grid strategy (no cloud)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest

from localcloud.dataplane.tuning import candidates, grid
from tests.helpers.cloud import poll, training_request, upload_sourcedir

# A tiny "training" script: its loss is (x - 3)^2, printed as mnist.py prints its metrics.
TUNE = """
import argparse
p = argparse.ArgumentParser()
p.add_argument("--x", type=int)
args, _ = p.parse_known_args()
print(f"epoch=1 train_loss=0.5 test_loss={(args.x - 3) ** 2} test_accuracy=0.5")
"""


def test_grid_is_every_combination_in_order() -> None:
    config = {
        "Strategy": "Grid",
        "ParameterRanges": {
            "CategoricalParameterRanges": [{"Name": "opt", "Values": ["sgd", "adam"]}],
            "IntegerParameterRanges": [{"Name": "x", "MinValue": "1", "MaxValue": "2"}],
        },
        "ResourceLimits": {"MaxParallelTrainingJobs": 1},
    }
    assert grid(config) == [
        {"opt": "sgd", "x": "1"},
        {"opt": "sgd", "x": "2"},
        {"opt": "adam", "x": "1"},
        {"opt": "adam", "x": "2"},
    ]
    limited = {**config, "ResourceLimits": {"MaxNumberOfTrainingJobs": 3}}
    assert candidates("t", limited)[1] == 3


@pytest.mark.slow
def test_a_tuning_job_of_four_real_jobs_reports_the_best(
    s3: Any, sagemaker: Any, training_inputs: str, tmp_path: Path
) -> None:
    script = tmp_path / "tune.py"
    script.write_text(TUNE)
    sourcedir = upload_sourcedir(s3, "code/tune/sourcedir.tar.gz", {"tune.py": script})
    definition = training_request("unused", sourcedir, training_inputs, program="tune.py")
    del definition["TrainingJobName"]
    definition["StaticHyperParameters"] = definition.pop("HyperParameters")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-x",
        HyperParameterTuningJobConfig={
            "Strategy": "Random",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "test_loss"},
            "ResourceLimits": {"MaxNumberOfTrainingJobs": 4, "MaxParallelTrainingJobs": 2},
            "ParameterRanges": {
                "IntegerParameterRanges": [{"Name": "x", "MinValue": "0", "MaxValue": "9"}]
            },
            "TrainingJobEarlyStoppingType": "Off",
        },
        TrainingJobDefinition=definition,
    )
    read = partial(
        sagemaker.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="tune-x"
    )
    done = poll(
        read,
        lambda got: got["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"),
        lambda got: f"tuning job still {got['HyperParameterTuningJobStatus']}",
        300,
        1.0,
    )

    assert done["HyperParameterTuningJobStatus"] == "Completed", done.get("FailureReason")
    assert done["TrainingJobStatusCounters"]["Completed"] == 4
    assert done["ObjectiveStatusCounters"]["Succeeded"] == 4
    listed = sagemaker.list_training_jobs_for_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-x",
        SortBy="FinalObjectiveMetricValue",
        SortOrder="Ascending",
    )["TrainingJobSummaries"]
    assert len(listed) == 4
    losses = [s["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] for s in listed]
    assert losses == sorted(losses)
    for summary in listed:  # each job's objective is what its own hyperparameter gives
        x = int(summary["TunedHyperParameters"]["x"])
        assert summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"] == (x - 3) ** 2
    best = done["BestTrainingJob"]
    assert best["TrainingJobName"] == listed[0]["TrainingJobName"]
    assert best["TrainingJobName"].startswith("tune-x-")
    assert (
        sagemaker.describe_training_job(TrainingJobName=best["TrainingJobName"])["HyperParameters"][
            "x"
        ]
        == best["TunedHyperParameters"]["x"]
    )
    # Never more than MaxParallelTrainingJobs at once: no job started while two others ran.
    spans = [
        (j["TrainingStartTime"], j["TrainingEndTime"])
        for j in (
            sagemaker.describe_training_job(TrainingJobName=s["TrainingJobName"]) for s in listed
        )
    ]
    for start, _ in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2


@pytest.mark.slow
def test_a_stopped_tuning_job_stops_its_training_jobs_and_launches_no_more(
    s3: Any, sagemaker: Any, training_inputs: str, tmp_path: Path
) -> None:
    script = tmp_path / "sleep.py"
    script.write_text("import time\ntime.sleep(300)\n")
    sourcedir = upload_sourcedir(s3, "code/sleep/sourcedir.tar.gz", {"sleep.py": script})
    definition = training_request("unused", sourcedir, training_inputs, program="sleep.py")
    del definition["TrainingJobName"]
    definition["StaticHyperParameters"] = definition.pop("HyperParameters")
    sagemaker.create_hyper_parameter_tuning_job(
        HyperParameterTuningJobName="tune-stop",
        HyperParameterTuningJobConfig={
            "Strategy": "Grid",
            "HyperParameterTuningJobObjective": {"Type": "Minimize", "MetricName": "test_loss"},
            "ResourceLimits": {"MaxParallelTrainingJobs": 1},
            "ParameterRanges": {
                "CategoricalParameterRanges": [{"Name": "x", "Values": ["1", "2", "3"]}]
            },
        },
        TrainingJobDefinition=definition,
    )
    listed = partial(
        sagemaker.list_training_jobs_for_hyper_parameter_tuning_job,
        HyperParameterTuningJobName="tune-stop",
    )
    poll(listed, lambda got: got["TrainingJobSummaries"], lambda _: "no job launched", 60, 0.3)

    sagemaker.stop_hyper_parameter_tuning_job(HyperParameterTuningJobName="tune-stop")
    read = partial(
        sagemaker.describe_hyper_parameter_tuning_job, HyperParameterTuningJobName="tune-stop"
    )
    done = poll(
        read,
        lambda got: got["HyperParameterTuningJobStatus"] not in ("InProgress", "Stopping"),
        lambda got: f"tuning job still {got['HyperParameterTuningJobStatus']}",
        120,
        0.5,
    )

    assert done["HyperParameterTuningJobStatus"] == "Stopped"
    assert done["TrainingJobStatusCounters"]["Stopped"] == 1
    assert [s["TrainingJobStatus"] for s in listed()["TrainingJobSummaries"]] == ["Stopped"]
    assert "BestTrainingJob" not in done
