"""The local executor: runs a `CreateTrainingJob` request on this machine, without Docker.

API (the local cloud builds on it; keep it stable):

    run = TrainingRun(request, work_dir=Path("..."), s3_client=boto3.client("s3"),
                      on_log=lambda host, line: ...,   # optional
                      on_metrics=lambda points: ...)   # optional: host 1's metric points
    run.start()                 # returns at once; the job runs in a background thread
    run.wait(timeout=None)      # -> bool: True once the job has finished
    run.stop()                  # StopTrainingJob: every host terminated, then status Stopped
                                # (SIGTERM, SIGKILL after stop_grace_sec; 120 s as on AWS)
    run.status                  # "InProgress" | "Completed" | "Failed" | "Stopping" | "Stopped"
    run.secondary_status        # "Starting" | "Downloading" | "Training" | "Uploading" |
                                # "Completed" | "Failed" | "Stopping" | "Stopped" |
                                # "MaxRuntimeExceeded"
    run.secondary_status_transitions  # [{"Status", "StartTime", "EndTime"?, "StatusMessage"}]
    run.failure_reason          # str | None (exit code and the last stderr lines of the host)
    run.model_artifact          # "s3://…/<job>/output/model.tar.gz" once Completed, else None
    run.model_sha256            # hex SHA-256 of that artifact (also stored with the object)
    run.final_metrics           # [{"MetricName", "Value", "Timestamp"}]: last value of each
                                # MetricDefinitions regex over the first host's log
    run.start_time, run.end_time, run.training_start_time, run.training_end_time  # UTC
                                # (training_*: from the download to the end of the upload,
                                # or to the failure: what SageMaker bills)
    run.checkpoints_uploaded    # files uploaded to CheckpointConfig.S3Uri so far
    run.hosts                   # ["algo-1", …]; run.addresses: {"algo-1": "127.0.0.1", …}
    run.pids                    # {"algo-1": pid, …} of the running hosts
    run.logs                    # {"algo-1": [line, …], …}: stdout and stderr, in order read

    run_training_job(request, work_dir, s3_client) -> TrainingRun  # start + wait

Each of the `InstanceCount` hosts is one process (its own process group), named `algo-N` like
on SageMaker, at address `127.0.0.N` (every 127/8 address reaches loopback on Linux), which is
what `SM_HOSTS` lists, so scripts that use `hosts[0]` as `MASTER_ADDR` work unmodified.
`MASTER_PORT` is a free port per job, so concurrent jobs do not collide. The host trees live
under `work_dir/algo-N/` (the `/opt/ml` layout). Host 1's `SM_MODEL_DIR` becomes
`model.tar.gz`, uploaded with a SHA-256 checksum stored on the object (and its
`SM_OUTPUT_DATA_DIR`, if not empty, `output.tar.gz`). A host that fails or is killed fails the
job: the other hosts are terminated, nothing is uploaded. A stopped job (StopTrainingJob or
MaxRuntimeInSeconds: SIGTERM, the grace period, SIGKILL) whose script had started uploads what
its hosts left, as on SageMaker: host 1's model directory as `model.tar.gz`. `CheckpointConfig`
is synced both ways (`training.checkpoints`): down before the script starts, up while it runs
and once more when its hosts have ended, whatever the outcome. A `requirements.txt` in the
sourcedir is installed before the script starts, into an overlay environment cached under
`overlay_cache` (`training.requirements`); the hosts run its interpreter. No process outlives
the job, and each dies with this process (`training.hosts.spawn`).

`MaxRuntimeInSeconds` counts from `start()` and covers every phase (download, unpack, the run,
the upload), as on SageMaker: the job ends Stopped / MaxRuntimeExceeded. A stop or the time
limit interrupts any phase: file work (unpacking, copying, packing) runs in a helper process
that is killed at once, every S3 call and transferred chunk checks first, and a phase that
still has not returned after the grace period is abandoned (its results are never used).

The phases live beside this module: `training.inputs` (download), `training.launch` (each
host's command and environment), `training.outputs` (upload); `training.interrupts` and
`training.filework` end any of them at once.
"""

from __future__ import annotations

import copy
import sys
import threading
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from training import checkpoints, requirements
from training.filework import run_file_work
from training.hosts import HostProcess, end_all
from training.inputs import prepare_inputs
from training.interrupts import CheckedS3, Interrupted, run_bounded
from training.launch import host_commands, host_environments
from training.metrics import MetricParser
from training.outputs import upload_outputs
from training.scriptmode import FetchError

LogCallback = Callable[[str, str], None]
# The data points (`MetricName`, `Value`, `Timestamp`) one line of host 1 held: the matches
# that make FinalMetricDataList, each once, for whoever publishes them (CloudWatch).
MetricsCallback = Callable[[list[dict[str, Any]]], None]
_FAILURE_REASON_MAX = 1024  # DescribeTrainingJob's FailureReason limit
_TERMINAL = ("Completed", "Failed", "Stopped")
# A stopped job's last upload (model, checkpoints) is abandoned after this long (a hung network).
STOPPED_UPLOAD_S = 120.0
STOP_GRACE_S = 120.0  # SIGTERM, then SIGKILL this long after: what SageMaker gives a job


def _now() -> datetime:
    return datetime.now(UTC)


class TrainingRun:
    """One training job run locally; see the module docstring for the API."""

    def __init__(
        self,
        request: Mapping[str, Any],
        *,
        work_dir: Path,
        s3_client: Any,
        on_log: LogCallback | None = None,
        on_metrics: MetricsCallback | None = None,
        python: str = sys.executable,
        num_gpus: int = 0,
        stop_grace_sec: float = STOP_GRACE_S,
        overlay_cache: Path | None = None,
    ) -> None:
        self.request = copy.deepcopy(dict(request))
        self.job_name: str = self.request["TrainingJobName"]
        self.work_dir = Path(work_dir)
        self._s3 = s3_client  # set to a CheckedS3 in start()
        self._raw_s3 = s3_client  # for what a stopped job still uploads
        self._launched = False  # the hosts were started: a stop uploads what they left
        self._checkpoints: checkpoints.CheckpointSync | None = None
        self._on_log = on_log
        self._on_metrics = on_metrics
        self._python = python
        self._host_python = python  # an overlay's when the sourcedir has a requirements.txt
        self._overlay_cache = Path(overlay_cache or Path(work_dir) / "overlays")
        self._num_gpus = num_gpus
        self._stop_grace = stop_grace_sec
        count = int(self.request["ResourceConfig"]["InstanceCount"])
        self.hosts = [f"algo-{i}" for i in range(1, count + 1)]
        self.addresses = {h: f"127.0.0.{i}" for i, h in enumerate(self.hosts, start=1)}
        self._hosts = [HostProcess(h, self.addresses[h], self.work_dir / h) for h in self.hosts]
        definitions = self.request["AlgorithmSpecification"].get("MetricDefinitions", [])
        self._metrics = MetricParser(definitions)
        self.logs: dict[str, list[str]] = {h: [] for h in self.hosts}
        self._lock = threading.RLock()
        self._done = threading.Event()
        self._wake = threading.Event()
        self._stop_requested = False
        self._timed_out = False
        self._interrupted = threading.Event()  # stopped or out of time: every phase ends
        self._timer: threading.Timer | None = None
        self._thread: threading.Thread | None = None
        self.status = "InProgress"
        self.secondary_status = "Starting"
        self._transitions: list[dict[str, Any]] = []
        self.failure_reason: str | None = None
        self.model_artifact: str | None = None
        self.model_sha256: str | None = None
        self.start_time: datetime | None = None
        self.end_time: datetime | None = None
        self.training_start_time: datetime | None = None
        self.training_end_time: datetime | None = None

    # --- public API -------------------------------------------------------------------------

    def start(self) -> None:
        """Start the job in a background thread; returns at once."""
        with self._lock:
            if self._thread is not None:
                raise RuntimeError(f"training job {self.job_name} was already started")
            self.start_time = _now()
            self._s3 = CheckedS3(self._s3, self._interrupted)
            self._transition("Starting", "Preparing the instances for training")
            max_runtime = self.request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
            if max_runtime:
                self._timer = threading.Timer(float(max_runtime), self._out_of_time)
                self._timer.daemon = True
                self._timer.start()
            self._thread = threading.Thread(
                target=self._run, name=f"training-{self.job_name}", daemon=True
            )
            self._thread.start()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished or `timeout` seconds passed; True if finished."""
        return self._done.wait(timeout)

    def stop(self, grace: float | None = None) -> None:
        """Terminate every host (SIGTERM, then SIGKILL after the grace period, `stop_grace_sec`
        unless given): status Stopped. Any phase ends; returns at once."""
        with self._lock:
            if grace is not None:
                self._stop_grace = grace
            if self.status in _TERMINAL or self._stop_requested:
                return
            self._stop_requested = True
            self.status = "Stopping"
            self._transition("Stopping", "Stopping the training job")
        self._interrupted.set()
        self._wake.set()

    def _out_of_time(self) -> None:
        with self._lock:
            if self.status in _TERMINAL or self._stop_requested:
                return
            self._timed_out = True
        self._interrupted.set()
        self._wake.set()

    @property
    def secondary_status_transitions(self) -> list[dict[str, Any]]:
        with self._lock:
            return [dict(t) for t in self._transitions]

    @property
    def final_metrics(self) -> list[dict[str, Any]]:
        with self._lock:
            return self._metrics.final_metrics

    def describe(self) -> dict[str, Any]:
        """The job as DescribeTrainingJob answers it (the fields this run knows)."""
        r = self.request
        with self._lock:
            out: dict[str, Any] = {
                "TrainingJobName": self.job_name,
                "TrainingJobStatus": self.status,
                "SecondaryStatus": self.secondary_status,
                "AlgorithmSpecification": r["AlgorithmSpecification"],
                "RoleArn": r.get("RoleArn"),
                "HyperParameters": r.get("HyperParameters", {}),
                "InputDataConfig": r.get("InputDataConfig", []),
                "OutputDataConfig": r["OutputDataConfig"],
                "ResourceConfig": r["ResourceConfig"],
                "StoppingCondition": r.get("StoppingCondition", {}),
                "CreationTime": self.start_time,
                "TrainingStartTime": self.training_start_time,
                "TrainingEndTime": self.training_end_time,
                "SecondaryStatusTransitions": [dict(t) for t in self._transitions],
                "FinalMetricDataList": self._metrics.final_metrics,
                "FailureReason": self.failure_reason,
                "ModelArtifacts": {"S3ModelArtifacts": self.model_artifact},
            }
        return {k: v for k, v in out.items() if v is not None and v != {"S3ModelArtifacts": None}}

    @property
    def checkpoints_uploaded(self) -> int:
        return self._checkpoints.uploaded if self._checkpoints is not None else 0

    @property
    def pids(self) -> dict[str, int]:
        return {h.name: h.pid for h in self._hosts if h.pid is not None}

    # --- the job ----------------------------------------------------------------------------

    def _transition(self, status: str, message: str) -> None:
        with self._lock:
            now = _now()
            if self._transitions and "EndTime" not in self._transitions[-1]:
                self._transitions[-1]["EndTime"] = now
            self._transitions.append({"Status": status, "StartTime": now, "StatusMessage": message})
            self.secondary_status = status

    def _finish(self, status: str, secondary: str, message: str, reason: str | None) -> None:
        with self._lock:
            self._transition(secondary, message)
            now = _now()
            self._transitions[-1]["EndTime"] = now
            self.failure_reason = reason[:_FAILURE_REASON_MAX] if reason else None
            self.end_time = now
            if self.training_start_time is not None and self.training_end_time is None:
                self.training_end_time = now
            self.status = status

    def _finish_interrupted(self) -> None:
        if self._timed_out and not self._stop_requested:
            message = "The job exceeded MaxRuntimeInSeconds and was stopped"
            self._finish("Stopped", "MaxRuntimeExceeded", message, None)
        else:
            self._finish("Stopped", "Stopped", "Training job stopped", None)

    def _run(self) -> None:
        try:
            self._transition("Downloading", "Downloading input data")
            self.training_start_time = _now()  # billed from here, as on SageMaker
            hyperparameters, program = self._bounded(self._prepare)
            self._transition("Training", "Training image download completed. Training in progress.")
            self._launch(hyperparameters, program)
            outcome, reason = self._supervise()
            self._bounded_after_stop(self._sync_checkpoints)
            if outcome == "completed":
                self._transition("Uploading", "Uploading generated training model")
                self._bounded(self._upload)
                self._finish("Completed", "Completed", "Training job completed", None)
            elif outcome == "interrupted":
                if self._launched:
                    self._bounded_after_stop(self._upload_stopped)
                self._finish_interrupted()
            else:
                self._finish("Failed", "Failed", "Training job failed", reason)
        except Interrupted:
            if self._launched:  # stopped while uploading a finished job's model
                self._bounded_after_stop(self._upload_stopped)
            self._finish_interrupted()
        except requirements.RequirementsError as err:  # the script's, as the toolkit says
            reason = f"AlgorithmError: InstallRequirementsError: {err}"
            self._finish("Failed", "Failed", "Training job failed", reason)
        except FetchError as err:
            self._finish("Failed", "Failed", "Training job failed", f"ClientError: {err}")
        except Exception as err:  # any bug here must still end the job, with the reason
            reason = f"InternalServerError: {type(err).__name__}: {err}"
            self._finish("Failed", "Failed", "Training job failed", reason)
        finally:
            if self._timer is not None:
                self._timer.cancel()
            end_all(self._hosts, grace=0)
            for host in self._hosts:
                host.join_output()
            self._done.set()

    def _bounded(self, phase: Callable[[], Any]) -> Any:
        """Run a phase (download, upload); `Interrupted` once the job is stopped or out of time."""
        return run_bounded(
            phase,
            interrupted=self._interrupted,
            wake=self._wake,
            grace=lambda: self._stop_grace,
            name=f"{self.job_name}-phase",
        )

    def _files(self, *calls: tuple[str, list[str]]) -> list[Any]:
        """File work in a helper process, killed at once when the job is stopped or out of time."""
        return run_file_work(
            calls, python=self._python, cwd=self.work_dir, interrupted=self._interrupted
        )

    def _prepare(self) -> tuple[dict[str, Any], str]:
        prepared = prepare_inputs(
            self.request, work_dir=self.work_dir, hosts=self._hosts, s3=self._s3, files=self._files
        )
        code = self.work_dir / "shared" / "code"
        if (code / requirements.FILENAME).is_file():  # as the training toolkit installs it
            self._host_python = str(
                requirements.ensure_overlay(
                    code / requirements.FILENAME,
                    self._overlay_cache,
                    cwd=code,
                    interrupted=self._interrupted,
                )
            )
        dirs = [checkpoints.local_dir(h.root, self.request) for h in self._hosts]
        for directory in dirs:
            directory.mkdir(parents=True, exist_ok=True)
        checkpoints.download(self.request, dirs, self._s3)  # a resumed job finds them
        self._checkpoints = checkpoints.CheckpointSync(
            self.request, dirs, self._raw_s3, checkpoints.SYNC_INTERVAL_S
        )
        return prepared

    def _sync_checkpoints(self) -> None:
        if self._checkpoints is not None:
            self._checkpoints.finish()

    def _bounded_after_stop(self, work: Callable[[], None]) -> None:
        """Work that must happen even once the job is stopped (a last upload), on a thread
        abandoned after STOPPED_UPLOAD_S; a failure is logged, the outcome stays."""

        def guarded() -> None:
            try:
                work()
            except Exception as err:
                print(f"training {self.job_name}: {err}", file=sys.stderr)

        worker = threading.Thread(target=guarded, name=f"{self.job_name}-final", daemon=True)
        worker.start()
        worker.join(STOPPED_UPLOAD_S)

    def _upload_stopped(self) -> None:
        """A stopped job's model: what host 1 left in its model directory (the SIGTERM window
        is there to save it), uploaded where ModelArtifacts says."""
        never = threading.Event()
        artifact, sha256 = upload_outputs(
            self.request,
            job_name=self.job_name,
            work_dir=self.work_dir,
            host=self._hosts[0],
            s3=self._raw_s3,
            files=lambda *calls: run_file_work(
                calls, python=self._python, cwd=self.work_dir, interrupted=never
            ),
        )
        with self._lock:
            self.model_artifact, self.model_sha256 = artifact, sha256

    def _launch(self, hyperparameters: Mapping[str, Any], program: str) -> None:
        commands = host_commands(
            self.request, self._host_python, program, hyperparameters, self._hosts
        )
        environments = host_environments(
            self.request,
            hyperparameters,
            self._hosts,
            num_gpus=self._num_gpus,
            python=self._host_python,
        )
        if self._checkpoints is not None:
            self._checkpoints.start()
        for host in self._hosts:
            with self._lock:
                if self._interrupted.is_set():
                    return  # _supervise ends what was launched
                self._launched = True
                command, cwd = commands[host.name]
                host.launch(
                    command,
                    cwd=cwd,
                    env=environments[host.name],
                    on_line=self._line,
                    on_exit=self._wake.set,
                )

    def _line(self, host: HostProcess, line: str, is_stderr: bool) -> None:
        when = _now()
        points: list[dict[str, Any]] = []
        with self._lock:
            self.logs[host.name].append(line)
            if host is self._hosts[0]:
                points = self._metrics.feed(line, when)
        self._hand_on("on_log", self._on_log, host.name, line)
        if points:
            self._hand_on("on_metrics", self._on_metrics, points)

    def _hand_on(self, name: str, sink: Callable[..., None] | None, *args: Any) -> None:
        if sink is not None:
            try:
                sink(*args)
            except Exception as err:  # a broken sink must not break the job
                print(f"training {self.job_name}: {name} failed: {err}", file=sys.stderr)

    def _supervise(self) -> tuple[str, str | None]:
        while True:
            if self._interrupted.is_set():  # stopped, or MaxRuntimeInSeconds reached
                end_all(self._hosts, grace=self._stop_grace)
                return "interrupted", None
            failed = [h for h in self._hosts if h.exit_code not in (None, 0)]
            if failed:
                first = min(failed, key=lambda h: h.exited_at)  # the cause, not its echoes
                end_all(self._hosts, grace=5.0)
                first.join_output()  # the last stderr lines, for the reason
                return "failed", first.failure()
            if all(h.exit_code == 0 for h in self._hosts):
                for h in self._hosts:
                    h.join_output()  # the last lines hold the final metrics
                return "completed", None
            self._wake.wait(0.2)
            self._wake.clear()

    def _upload(self) -> None:
        artifact, sha256 = upload_outputs(
            self.request,
            job_name=self.job_name,
            work_dir=self.work_dir,
            host=self._hosts[0],
            s3=self._s3,
            files=self._files,
        )
        with self._lock:
            if self._interrupted.is_set():
                return  # an abandoned upload: the job has ended Stopped, without an artifact
            self.model_artifact, self.model_sha256 = artifact, sha256


def run_training_job(
    request: Mapping[str, Any], work_dir: Path, s3_client: Any, **kwargs: Any
) -> TrainingRun:
    """Run a job to its end (blocking) and return it; check `.status` for the outcome."""
    run = TrainingRun(request, work_dir=work_dir, s3_client=s3_client, **kwargs)
    run.start()
    run.wait()
    return run
