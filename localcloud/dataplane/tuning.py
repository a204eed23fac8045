"""Hyperparameter tuning jobs that really tune: CreateHyperParameterTuningJob launches real
training jobs through the cloud's own CreateTrainingJob (so they run, log and upload like any
other), at most `MaxParallelTrainingJobs` at a time and `MaxNumberOfTrainingJobs` in all, reads
the objective from each job's `FinalMetricDataList` (the training path parses the
`MetricDefinitions`), and reports `BestTrainingJob`, `TrainingJobStatusCounters` and
`ObjectiveStatusCounters` as the jobs end.

Strategies: `Grid` (every combination of the categorical and integer ranges, in order),
`Random` (ranges sampled with their `ScalingType`, seeded by the job's name), `Bayesian` run as
`Random` (no model of the objective is fitted). No training job is stopped early. Training
jobs are named `<tuning job>-<NNN>-<8 hex>` as SageMaker names them.
StopHyperParameterTuningJob stops the running training jobs (Stopping → Stopped).
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import logging
import math
import random
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import ClientError

from localcloud.dataplane.batch import ACTIVE as _TRAINING_ACTIVE
from localcloud.dataplane.batch import BatchJobs, JobError, Key
from localcloud.dataplane.sessions import client
from localcloud.shared.errors import SageMakerValidation

log = logging.getLogger("localcloud.dataplane.tuning")

_POLL_S = 1.0


def _ranges(config: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    ranges = config.get("ParameterRanges") or {}
    return {
        "Integer": ranges.get("IntegerParameterRanges") or [],
        "Continuous": ranges.get("ContinuousParameterRanges") or [],
        "Categorical": ranges.get("CategoricalParameterRanges") or [],
    }


def check(request: dict[str, Any]) -> None:
    """Refuse what this local cloud does not run, and what AWS refuses, before moto records."""
    if request.get("TrainingJobDefinitions"):
        raise NotImplementedError("TrainingJobDefinitions (several algorithms) are not run")
    if request.get("WarmStartConfig"):
        raise NotImplementedError("a WarmStartConfig is not run")
    definition = request.get("TrainingJobDefinition")
    if not definition:
        raise SageMakerValidation("TrainingJobDefinition is required.")
    config = request["HyperParameterTuningJobConfig"]
    strategy = config.get("Strategy")
    if strategy not in ("Grid", "Random", "Bayesian"):
        raise NotImplementedError(f"Strategy {strategy} is not run (Grid, Random, Bayesian are)")
    objective = config.get("HyperParameterTuningJobObjective") or {}
    metric = objective.get("MetricName")
    defined = {
        d["Name"] for d in definition.get("AlgorithmSpecification", {}).get("MetricDefinitions", [])
    }
    if not metric or metric not in defined:
        raise SageMakerValidation(
            f"The objective metric {metric!r} is not defined in the MetricDefinitions of "
            "the TrainingJobDefinition's AlgorithmSpecification."
        )
    ranges = _ranges(config)
    if strategy == "Grid" and ranges["Continuous"]:
        raise SageMakerValidation("Grid search does not support ContinuousParameterRanges.")
    limits = config.get("ResourceLimits") or {}
    if strategy != "Grid" and not limits.get("MaxNumberOfTrainingJobs"):
        raise SageMakerValidation(
            f"ResourceLimits.MaxNumberOfTrainingJobs is required for the {strategy} strategy."
        )


def _integer_values(item: dict[str, Any]) -> list[str]:
    return [str(v) for v in range(int(item["MinValue"]), int(item["MaxValue"]) + 1)]


def grid(config: dict[str, Any]) -> list[dict[str, str]]:
    """Every combination of the categorical values and integer ranges, in order."""
    ranges = _ranges(config)
    axes = [(c["Name"], [str(v) for v in c["Values"]]) for c in ranges["Categorical"]]
    axes += [(i["Name"], _integer_values(i)) for i in ranges["Integer"]]
    names = [name for name, _ in axes]
    return [
        dict(zip(names, combo, strict=True))
        for combo in itertools.product(*(vals for _, vals in axes))
    ]


def _sample(rng: random.Random, low: float, high: float, scaling: str) -> float:
    if scaling == "Logarithmic" and low > 0:
        return math.exp(rng.uniform(math.log(low), math.log(high)))
    if scaling == "ReverseLogarithmic" and high < 1:
        return 1 - math.exp(rng.uniform(math.log(1 - high), math.log(1 - low)))
    return rng.uniform(low, high)


def sampled(config: dict[str, Any], seed: str) -> Iterator[dict[str, str]]:
    """Random candidates, forever, reproducible for a seed."""
    rng = random.Random(hashlib.sha256(seed.encode()).hexdigest())
    ranges = _ranges(config)
    while True:
        candidate = {}
        for item in ranges["Categorical"]:
            candidate[item["Name"]] = str(rng.choice(item["Values"]))
        for item in ranges["Integer"]:
            low, high = int(item["MinValue"]), int(item["MaxValue"])
            value = _sample(rng, low, high + 0.999999, item.get("ScalingType", "Auto"))
            candidate[item["Name"]] = str(min(high, max(low, int(value))))
        for item in ranges["Continuous"]:
            low, high = float(item["MinValue"]), float(item["MaxValue"])
            candidate[item["Name"]] = repr(_sample(rng, low, high, item.get("ScalingType", "Auto")))
        yield candidate


def candidates(name: str, config: dict[str, Any]) -> tuple[Iterator[dict[str, str]], int]:
    """(candidates, how many training jobs to run) for a tuning job's config."""
    limit = (config.get("ResourceLimits") or {}).get("MaxNumberOfTrainingJobs")
    if config["Strategy"] == "Grid":
        combos = grid(config)
        total = min(len(combos), int(limit)) if limit else len(combos)
        return iter(combos), total
    return sampled(config, name), int(limit)


class TuningJobs(BatchJobs):
    """Every tuning job this local cloud runs (all accounts and regions)."""

    kind = "hyperparameter tuning"
    prefix = "hyper_parameter_tuning_job"
    records = "hyper_parameter_tuning_jobs"
    end_field = "hyper_parameter_tuning_end_time"
    stop_all_timeout_s = 10.0  # it only stops launching: its training jobs stop with the cloud

    def _client(self, account: str, region: str) -> Any:
        """A SageMaker client on this cloud itself, signed with SageMaker's own key in the
        tuning job's account: the training jobs go the users' way (each checked, its role
        assumed for it)."""
        from botocore.config import Config

        sessions = self.sessions
        if sessions is None:
            raise JobError("the local cloud hands its data plane no keys (localcloud.patches)")
        # One attempt: a retried CreateTrainingJob would meet the name its first try took.
        config = Config(retries={"total_max_attempts": 1}, read_timeout=120)
        return client(
            "sagemaker", self.endpoint_url, region, lambda: sessions.service(account), config
        )

    def start(self, backend: Any, job: Any, request: dict[str, Any]) -> None:
        """Run a tuning job moto just recorded (inside the CreateHyperParameterTuningJob
        request): nothing is reported done until its training jobs are."""
        job.best_training_job = None
        job.OverallBestTrainingJob = None
        job.tuning_job_completion_details = None
        job.consumed_resources = None
        job.training_job_summaries = []
        self._count(job)
        self._begin(job, self._run, self.key(backend, job))

    @staticmethod
    def _count(job: Any) -> None:
        summaries = job.training_job_summaries
        status = [s["TrainingJobStatus"] for s in summaries]
        objective = [s["ObjectiveStatus"] for s in summaries]
        job.training_job_status_counters = {
            "Completed": status.count("Completed"),
            "InProgress": sum(s in _TRAINING_ACTIVE for s in status),
            "RetryableError": 0,
            "NonRetryableError": status.count("Failed"),
            "Stopped": status.count("Stopped"),
        }
        job.objective_status_counters = {
            "Succeeded": objective.count("Succeeded"),
            "Pending": objective.count("Pending"),
            "Failed": objective.count("Failed"),
        }

    def _best(self, job: Any) -> dict[str, Any] | None:
        objective = job.hyper_parameter_tuning_job_config["HyperParameterTuningJobObjective"]
        scored = [s for s in job.training_job_summaries if s["ObjectiveStatus"] == "Succeeded"]
        if not scored:
            return None

        def value(summary: dict[str, Any]) -> float:
            return summary["FinalHyperParameterTuningJobObjectiveMetric"]["Value"]

        pick = max if objective["Type"] == "Maximize" else min
        return dict(pick(scored, key=value))

    def _launch(
        self, client: Any, job: Any, number: int, candidate: dict[str, str]
    ) -> dict[str, Any]:
        definition = job.training_job_definition
        name = job.hyper_parameter_tuning_job_name
        suffix = hashlib.sha256(f"{name}/{number}/{time.time_ns()}".encode()).hexdigest()[:8]
        training_name = f"{name}-{number:03d}-{suffix}"
        request = {
            "TrainingJobName": training_name,
            "HyperParameters": {**(definition.get("StaticHyperParameters") or {}), **candidate},
        }
        for field in (
            "AlgorithmSpecification",
            "RoleArn",
            "InputDataConfig",
            "OutputDataConfig",
            "ResourceConfig",
            "StoppingCondition",
            "CheckpointConfig",
            "Environment",
            "VpcConfig",
            "EnableNetworkIsolation",
        ):
            if definition.get(field) is not None:
                request[field] = definition[field]
        tuning_resources = definition.get("HyperParameterTuningResourceConfig")
        if "ResourceConfig" not in request and tuning_resources:
            # The SDK's tuner sends this form; a training job takes the plain fields.
            fields = ("InstanceType", "InstanceCount", "VolumeSizeInGB", "VolumeKmsKeyId")
            request["ResourceConfig"] = {
                k: tuning_resources[k] for k in fields if tuning_resources.get(k) is not None
            }
        request["AlgorithmSpecification"] = {
            k: v for k, v in request["AlgorithmSpecification"].items() if k != "AlgorithmName"
        }
        summary: dict[str, Any] = {
            "TrainingJobName": training_name,
            "TuningJobName": name,
            "TunedHyperParameters": candidate,
            "CreationTime": datetime.now(UTC),
            "TrainingJobStatus": "InProgress",
            "ObjectiveStatus": "Pending",
        }
        try:
            arn = client.create_training_job(**request)["TrainingJobArn"]
            summary["TrainingJobArn"] = arn
        except ClientError as err:  # the job could not start: it counts as failed
            summary.update(
                TrainingJobStatus="Failed",
                ObjectiveStatus="Failed",
                FailureReason=str(err)[:1024],
                TrainingJobArn=f"{job.arn.rsplit(':', 1)[0]}:training-job/{training_name}",
            )
        return summary

    def _refresh(self, client: Any, job: Any, summary: dict[str, Any]) -> None:
        described = client.describe_training_job(TrainingJobName=summary["TrainingJobName"])
        status = described["TrainingJobStatus"]
        summary["TrainingJobStatus"] = status
        for field in ("TrainingStartTime", "TrainingEndTime", "FailureReason"):
            if described.get(field) is not None:
                summary[field] = described[field]
        if status in _TRAINING_ACTIVE:
            return
        objective = job.hyper_parameter_tuning_job_config["HyperParameterTuningJobObjective"]
        metrics = {m["MetricName"]: m["Value"] for m in described.get("FinalMetricDataList", [])}
        if status == "Completed" and objective["MetricName"] in metrics:
            summary["FinalHyperParameterTuningJobObjectiveMetric"] = {
                "Type": objective["Type"],
                "MetricName": objective["MetricName"],
                "Value": metrics[objective["MetricName"]],
            }
            summary["ObjectiveStatus"] = "Succeeded"
        else:
            summary["ObjectiveStatus"] = "Failed"

    def _run(self, key: Key, job: Any, stop: threading.Event) -> None:
        started = time.monotonic()
        status, reason = "Completed", None
        try:
            client = self._client(key[0], key[1])
            config = job.hyper_parameter_tuning_job_config
            pending, total = candidates(key[2], config)
            parallel = int(config["ResourceLimits"]["MaxParallelTrainingJobs"])
            launched = 0
            while True:
                summaries = job.training_job_summaries
                running = [s for s in summaries if s["TrainingJobStatus"] in _TRAINING_ACTIVE]
                for summary in running:
                    self._refresh(client, job, summary)
                if stop.is_set():
                    for summary in running:
                        if summary["TrainingJobStatus"] == "InProgress":
                            # It may have ended since it was read: then there is nothing to stop.
                            with contextlib.suppress(ClientError):
                                client.stop_training_job(TrainingJobName=summary["TrainingJobName"])
                running = [s for s in summaries if s["TrainingJobStatus"] in _TRAINING_ACTIVE]
                while not stop.is_set() and len(running) < parallel and launched < total:
                    candidate = next(pending)
                    launched += 1
                    summary = self._launch(client, job, launched, candidate)
                    job.training_job_summaries = [*job.training_job_summaries, summary]
                    if summary["TrainingJobStatus"] in _TRAINING_ACTIVE:
                        running.append(summary)
                self._count(job)
                job.best_training_job = self._best(job)
                job.last_modified_time = datetime.now(UTC)
                if not running and (stop.is_set() or launched >= total):
                    break
                if stop.is_set():
                    time.sleep(_POLL_S)  # its training jobs are stopping
                else:
                    stop.wait(_POLL_S)
            if stop.is_set():
                status = "Stopped"
            elif job.best_training_job is None:
                status = "Failed"
                reason = "No training job succeeded with a value of the objective metric."
        except Exception as err:  # the tuning job fails with why; the cloud keeps serving
            log.exception("tuning job %s failed", key[2])
            status, reason = "Failed", f"{type(err).__name__}: {err}"[:1024]
        finally:
            self._count(job)
            job.best_training_job = self._best(job)
            job.consumed_resources = {"RuntimeInSeconds": int(time.monotonic() - started)}
            self._end(key, job, status, reason)
