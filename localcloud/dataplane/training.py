"""Training jobs that really train: CreateTrainingJob runs `training.executor.TrainingRun`.

moto records the job; this module runs it in the background and mirrors the run's status,
secondary status transitions, FailureReason, ModelArtifacts and FinalMetricDataList onto the
record, and writes each host's output to CloudWatch Logs (`/aws/sagemaker/TrainingJobs`, one
stream `<job>/algo-N-<epoch>` per host, as SageMaker names them). The run uploads its model
through a boto3 S3 client pointed at the local cloud itself, signed with a session of the job's
`RoleArn` that the cloud issues as SageMaker would: the job reads and writes what its role may.
"""

from __future__ import annotations

import logging
import math
import os
import shutil
import threading
import time
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from localcloud.dataplane.batch import (
    LogLine,
    QueueWriter,
    discard_work_dir,
    now_ms,
    write_log_lines,
)
from localcloud.dataplane.sessions import RoleError, Sessions, role_client
from localcloud.dataplane.training_metrics import Point, put_metrics
from localcloud.shared.errors import SageMakerValidation
from smlocal.core.archives import ArchiveError, inside

log = logging.getLogger("localcloud.dataplane.training")

LOG_GROUP = "/aws/sagemaker/TrainingJobs"
RESTART_REASON = "the local cloud restarted while the job ran"
_POLL_S = 0.5
# StopTrainingJob: SIGTERM, then SIGKILL this long after (SageMaker gives 120 s).
STOP_GRACE_ENV = "SMLOCAL_STOP_GRACE_S"
_SHUTDOWN_GRACE_S = 10.0  # the cloud itself is stopping
_ACTIVE = ("InProgress", "Stopping")

Key = tuple[str, str, str]  # account, region, job name


def _request(kwargs: dict[str, Any], algorithm_specification: dict[str, Any]) -> dict[str, Any]:
    """The CreateTrainingJob request (API field names) that moto's backend got as arguments."""
    names = {
        "training_job_name": "TrainingJobName",
        "hyper_parameters": "HyperParameters",
        "role_arn": "RoleArn",
        "input_data_config": "InputDataConfig",
        "output_data_config": "OutputDataConfig",
        "resource_config": "ResourceConfig",
        "stopping_condition": "StoppingCondition",
        "checkpoint_config": "CheckpointConfig",
        "tags": "Tags",
    }
    request = {api: kwargs[arg] for arg, api in names.items() if kwargs.get(arg) is not None}
    request["AlgorithmSpecification"] = algorithm_specification
    return request


class TrainingJobs:
    """Every training job this local cloud runs (all accounts and regions)."""

    def __init__(self, state_dir: Path, endpoint_url: str, store: Any) -> None:
        self.state_dir = Path(state_dir)
        self.root = self.state_dir / "jobs"
        self.endpoint_url = endpoint_url
        self._store = store
        self._runs: dict[Key, Any] = {}
        self._lock = threading.Lock()
        # Log lines and MetricDefinitions' matches into CloudWatch, off the jobs' threads.
        self._logs: QueueWriter[LogLine] = QueueWriter(
            "training-logs", partial(write_log_lines, store, LOG_GROUP)
        )
        self._metrics: QueueWriter[Point] = QueueWriter(
            "training-metrics", partial(put_metrics, store)
        )
        self._shutting_down = False
        self.sessions: Sessions | None = None  # handed in by `localcloud.patches`

    def _s3_client(self, key: Key, role_arn: str) -> Any:
        """S3 as the job's role (SageMaker's session of it, for this job)."""
        return role_client(self.sessions, "s3", self.endpoint_url, key, role_arn, "training-job")

    def start(self, backend: Any, job: Any, kwargs: dict[str, Any]) -> None:
        """Run a job moto just recorded (called inside the CreateTrainingJob request)."""
        from training.executor import STOP_GRACE_S, TrainingRun
        from training.metrics import MetricDefinitionError

        account, region, name = backend.account_id, backend.region_name, job.training_job_name
        key = (account, region, name)
        epoch = int(time.time())
        streams = {}

        def on_log(host: str, line: str) -> None:
            stream = streams.setdefault(host, f"{name}/{host}-{epoch}")
            self._logs.put((account, region, stream, line, now_ms()))

        def on_metrics(points: list[dict[str, Any]]) -> None:
            for point in points:
                self._metrics.put((account, region, name, point))

        request = _request(kwargs, job.algorithm_specification)
        # AWS answers KmsKeyId "" when none was given; the SDK's Estimator.attach reads it.
        job.output_data_config = {"KmsKeyId": "", **(job.output_data_config or {})}
        try:
            # Names were checked against AWS's patterns; the folders are checked again here.
            work_dir = inside(self.root, *key)
            for channel in request.get("InputDataConfig", []):
                inside(work_dir / "data", channel["ChannelName"])
        except ArchiveError as err:
            del backend.training_jobs[name]
            raise SageMakerValidation(str(err)) from None
        try:
            s3 = self._s3_client(key, str(kwargs.get("role_arn") or ""))
        except RoleError as err:
            del backend.training_jobs[name]
            raise SageMakerValidation(str(err)) from None
        try:
            run = TrainingRun(
                request,
                work_dir=work_dir,
                s3_client=s3,
                on_log=on_log,
                on_metrics=on_metrics,
                stop_grace_sec=float(os.environ.get(STOP_GRACE_ENV, STOP_GRACE_S)),
                # requirements.txt overlays, shared by every job of this cloud
                overlay_cache=self.state_dir / "overlays",
            )
        except MetricDefinitionError as err:
            del backend.training_jobs[name]
            raise SageMakerValidation(str(err)) from None
        # Every attribute the monitor will set exists now, inside the request's lock: a snapshot
        # never sees the record's attribute set change size.
        job.training_job_status = "InProgress"
        job.secondary_status = "Starting"
        job.secondary_status_transitions = []
        job.failure_reason = None
        job.final_metric_data_list = []
        job.training_start_time = None
        job.training_end_time = None
        job.training_time_in_seconds = None
        job.billable_time_in_seconds = None
        job.last_modified_time = datetime.now(UTC)
        with self._lock:
            self._runs[key] = run
        run.start()
        self._sync(job, run)
        threading.Thread(
            target=self._monitor,
            args=(key, job, run, work_dir),
            name=f"monitor-{name}",
            daemon=True,
        ).start()

    def _sync(self, job: Any, run: Any, *, final: bool = False) -> None:
        """Mirror the run onto moto's record (attribute assignments only; the statuses last,
        so a client that sees the job ended sees its times and artifact too). Only the `final`
        mirror, once the run is over and cleaned up, may say that the job ended."""
        # Read first: the run sets its times and artifact before its status.
        status, secondary = run.status, run.secondary_status
        if status not in _ACTIVE and not final:
            return
        job.secondary_status_transitions = run.secondary_status_transitions
        job.failure_reason = run.failure_reason
        job.final_metric_data_list = run.final_metrics or []
        job.training_start_time = run.training_start_time
        job.training_end_time = run.training_end_time
        if run.training_start_time and run.training_end_time:
            # Wall-clock seconds per instance, as SageMaker reports both (no spot savings
            # here): the bill is BillableTimeInSeconds * InstanceCount.
            seconds = (run.training_end_time - run.training_start_time).total_seconds()
            job.training_time_in_seconds = job.billable_time_in_seconds = max(1, math.ceil(seconds))
        if run.model_artifact:
            job.model_artifacts = {"S3ModelArtifacts": run.model_artifact}
        job.last_modified_time = datetime.now(UTC)
        job.secondary_status = secondary
        job.training_job_status = status

    def _monitor(self, key: Key, job: Any, run: Any, work_dir: Path) -> None:
        while not run.wait(_POLL_S):
            if self._shutting_down:
                return
            self._sync(job, run)
        if self._shutting_down:
            return  # the record stays InProgress: the next start marks it Failed, with why
        # The instances go, as on AWS: their sourcedir, inputs and model are not kept (gone
        # before the record says the job ended, so a client that sees it ended sees them gone).
        shutil.rmtree(work_dir, ignore_errors=True)
        self._sync(job, run, final=True)
        with self._lock:
            self._runs.pop(key, None)
        self._store.flush()  # the outcome is durable once the job has ended

    def stop(self, backend: Any, job: Any) -> None:
        """StopTrainingJob: returns at once; the job goes Stopping → Stopped."""
        key = (backend.account_id, backend.region_name, job.training_job_name)
        with self._lock:
            run = self._runs.get(key)
        if run is None or job.training_job_status not in _ACTIVE:
            raise SageMakerValidation(
                f"The training job {job.training_job_name} is {job.training_job_status}; "
                "only an InProgress job can be stopped."
            )
        run.stop()
        self._sync(job, run)

    def running(self) -> list[Any]:
        with self._lock:
            return list(self._runs.values())

    def recover(self, backends: Any) -> None:
        """After a restart nothing runs the jobs that were in progress: they failed."""
        now = datetime.now(UTC)
        for account, region, backend in backends.iter_backends():
            for job in backend.training_jobs.values():
                if job.training_job_status not in _ACTIVE:
                    continue
                discard_work_dir(self.root, (account, region, job.training_job_name))
                transitions = list(getattr(job, "secondary_status_transitions", []) or [])
                if transitions and "EndTime" not in transitions[-1]:
                    transitions[-1]["EndTime"] = now
                transitions.append(
                    {
                        "Status": "Failed",
                        "StartTime": now,
                        "EndTime": now,
                        "StatusMessage": RESTART_REASON,
                    }
                )
                job.secondary_status_transitions = transitions
                job.training_job_status = "Failed"
                job.secondary_status = "Failed"
                job.failure_reason = RESTART_REASON
                job.training_end_time = now
                job.last_modified_time = now

    def stop_all(self, timeout_s: float = 20.0) -> None:
        """Stop every running job and wait for its hosts to exit (the cloud is shutting down)."""
        self._shutting_down = True
        runs = self.running()
        for run in runs:
            run.stop(grace=_SHUTDOWN_GRACE_S)
        deadline = time.monotonic() + timeout_s
        for run in runs:
            run.wait(max(0.0, deadline - time.monotonic()))
        self._logs.close()
        self._metrics.close()
