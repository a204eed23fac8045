"""Processing jobs that really run: CreateProcessingJob runs the container's entry point on this
machine, one process per instance (`algo-N`), with this machine's Python in place of the
image's interpreter.

Each instance's `/opt/ml` is a folder under the job's work dir; every `/opt/ml/...` path in the
entry point, the arguments and the environment is rewritten to it, so the script reads and
writes where it was told. `ProcessingInputs` (S3, File mode, `S3Prefix`) are downloaded to their
`LocalPath` first (`ShardedByS3Key`: object i to instance i mod N), `/opt/ml/config`
holds `processingjobconfig.json` and `resourceconfig.json` as SageMaker writes them, and when
every instance exits 0 the `ProcessingOutputs` (`EndOfJob`) are uploaded from each instance.
Output goes to CloudWatch Logs `/aws/sagemaker/ProcessingJobs`, stream `<job>/algo-N-<epoch>`.
A non-zero exit fails the job (`FailureReason` with the last stderr lines, `ExitMessage` from
`/opt/ml/output/message`); StopProcessingJob sends SIGTERM, SIGKILL after the grace period, and
so does `StoppingCondition.MaxRuntimeInSeconds` (on the cloud's clock): the job ends Stopped,
with no FailureReason, as on AWS (its log stream says why).
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.dataplane.batch import (
    BatchJobs,
    JobError,
    Key,
    LogQueue,
    list_keys,
    put_logs,
    relative,
    split_uri,
)
from localcloud.shared.clock import Clock
from localcloud.shared.errors import SageMakerValidation
from smlocal.core.archives import ArchiveError, inside

log = logging.getLogger("localcloud.dataplane.processing")

LOG_GROUP = "/aws/sagemaker/ProcessingJobs"
OPT_ML = "/opt/ml"
STOP_GRACE_S = 20.0  # SIGTERM, then SIGKILL
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")
_EXIT_MESSAGE_MAX = 1024


def check(request: dict[str, Any]) -> None:
    """Refuse what this local cloud does not run, before moto records the job."""
    for item in request.get("ProcessingInputs") or []:
        s3 = item.get("S3Input")
        if s3 is None:
            raise NotImplementedError("a DatasetDefinition processing input is not run")
        if s3.get("S3InputMode", "File") != "File":
            raise NotImplementedError(f"S3InputMode {s3['S3InputMode']} is not run, only File")
        if s3.get("S3DataType", "S3Prefix") != "S3Prefix":
            raise NotImplementedError(f"S3DataType {s3['S3DataType']} is not run, only S3Prefix")
        if s3.get("S3CompressionType", "None") != "None":
            raise NotImplementedError("S3CompressionType Gzip is not run")
        _check_local_path(item["InputName"], s3["LocalPath"])
    for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
        s3 = item.get("S3Output")
        if s3 is None:
            raise NotImplementedError("a FeatureStoreOutput processing output is not run")
        if s3.get("S3UploadMode", "EndOfJob") != "EndOfJob":
            raise NotImplementedError("S3UploadMode Continuous is not run, only EndOfJob")
        _check_local_path(item["OutputName"], s3["LocalPath"])


def _check_local_path(name: str, path: str) -> None:
    if not path.startswith("/opt/ml/processing/") or ".." in path.split("/"):
        raise SageMakerValidation(
            f"LocalPath {path} of {name} must be a path under /opt/ml/processing/."
        )


def rewrite(value: str, host_root: Path) -> str:
    """Every `/opt/ml` path in `value` moved under `host_root` (the instance's /opt/ml)."""
    return re.sub(r"(?<![\w/])/opt/ml(?=/|\b|$)", str(host_root), value)


def command(request: dict[str, Any], host_root: Path) -> list[str]:
    """ContainerEntrypoint + ContainerArguments, paths rewritten, `python*` this Python."""
    spec = request["AppSpecification"]
    entry = list(spec.get("ContainerEntrypoint") or [])
    if not entry:
        raise JobError(
            "AppSpecification.ContainerEntrypoint is empty: the local cloud runs no image's "
            "default entry point"
        )
    argv = [rewrite(part, host_root) for part in entry + list(spec.get("ContainerArguments") or [])]
    if _PYTHON.fullmatch(Path(argv[0]).name):
        argv[0] = sys.executable
    return argv


class ProcessingJobs(BatchJobs):
    """Every processing job this local cloud runs (all accounts and regions)."""

    kind = "processing"
    prefix = "processing_job"
    records = "processing_jobs"
    end_field = "processing_end_time"
    stop_all_timeout_s = 30.0

    def __init__(
        self, state_dir: Path, endpoint_url: str, store: Any, clock: Clock | None = None
    ) -> None:
        super().__init__(state_dir, endpoint_url, store, clock)
        self.root = self.state_dir / "processing-jobs"

    def start(self, backend: Any, job: Any, request: dict[str, Any]) -> None:
        """Run a job moto just recorded (called inside the CreateProcessingJob request)."""
        key = self.key(backend, job)
        try:
            work_dir = inside(self.root, *key)
        except ArchiveError as err:
            del backend.processing_jobs[job.processing_job_name]
            raise SageMakerValidation(str(err)) from None
        # moto drops these from its record; Describe shows them as AWS does.
        job.processing_resources = request.get("ProcessingResources")
        job.environment = request.get("Environment")
        job.processing_start_time = None
        job.exit_message = None
        self._begin(job, self._run, key, request, work_dir)

    def _run(
        self,
        key: Key,
        job: Any,
        stop: threading.Event,
        request: dict[str, Any],
        work_dir: Path,
    ) -> None:
        status, reason, exit_message = "Completed", None, None
        # MaxRuntimeInSeconds, on the cloud's clock, covers the whole job (as on AWS, the
        # download and upload too): then the job is stopped as StopProcessingJob stops it.
        timed_out = threading.Event()
        max_runtime = (request.get("StoppingCondition") or {}).get("MaxRuntimeInSeconds")
        timer = None
        if max_runtime:

            def out_of_time() -> None:
                timed_out.set()
                stop.set()

            timer = threading.Timer(self.clock.real(float(max_runtime)), out_of_time)
            timer.daemon = True
            timer.start()
        try:
            shutil.rmtree(work_dir, ignore_errors=True)
            count = int(request["ProcessingResources"]["ClusterConfig"]["InstanceCount"])
            hosts = [f"algo-{i}" for i in range(1, count + 1)]
            roots = {h: work_dir / h for h in hosts}
            s3 = self._s3(key, str(request.get("RoleArn") or ""), "processing-job")
            self._download(s3, request, hosts, roots, stop)
            for host in hosts:
                self._configure(request, host, hosts, roots[host])
            job.processing_start_time = datetime.now(UTC)
            job.last_modified_time = job.processing_start_time
            failed = self._execute(key, request, hosts, roots, stop)
            if stop.is_set():
                status = "Stopped"
            elif failed is not None:
                status, reason = "Failed", failed.failure()[:_EXIT_MESSAGE_MAX]
                message = roots[failed.name] / "output" / "message"
                if message.is_file():
                    exit_message = message.read_text(errors="replace")[:_EXIT_MESSAGE_MAX]
            else:
                self._upload(s3, request, hosts, roots)
        except JobError as err:
            status, reason = ("Stopped", None) if stop.is_set() else ("Failed", str(err))
        except Exception as err:  # the job fails with why; the cloud keeps serving
            log.exception("processing job %s failed", key[2])
            status, reason = "Failed", f"{type(err).__name__}: {err}"[:_EXIT_MESSAGE_MAX]
        finally:
            if timer is not None:
                timer.cancel()
            if timed_out.is_set() and status == "Stopped":
                # AWS says nothing in FailureReason for this stop; the job's log says why.
                put_logs(
                    self._store,
                    key[0],
                    key[1],
                    LOG_GROUP,
                    f"{key[2]}/algo-1-{int(time.time())}",
                    [f"the job ran past MaxRuntimeInSeconds ({max_runtime} s) and was stopped"],
                )
            # The instances go, as on AWS: their inputs and outputs are not kept.
            shutil.rmtree(work_dir, ignore_errors=True)
            job.exit_message = exit_message
            self._end(key, job, status, reason)

    def _download(
        self,
        s3: Any,
        request: dict[str, Any],
        hosts: list[str],
        roots: dict[str, Path],
        stop: threading.Event,
    ) -> None:
        for item in request.get("ProcessingInputs") or []:
            source = item["S3Input"]
            uri, local = source["S3Uri"], source["LocalPath"]
            bucket, prefix = split_uri(uri)
            keys = list_keys(s3, uri)
            if not keys:
                raise JobError(f"no object under the input {item['InputName']} ({uri})")
            sharded = source.get("S3DataDistributionType") == "ShardedByS3Key"
            for i, object_key in enumerate(keys):
                if stop.is_set():
                    raise JobError("stopped")
                targets = [hosts[i % len(hosts)]] if sharded else hosts
                for host in targets:
                    folder = Path(rewrite(local, roots[host]))
                    try:
                        path = inside(folder, relative(object_key, prefix))
                    except ArchiveError as err:
                        raise JobError(f"input {item['InputName']}: {err}") from None
                    path.parent.mkdir(parents=True, exist_ok=True)
                    s3.download_file(bucket, object_key, str(path))
            for host in hosts:  # an instance whose shard is empty still gets the folder
                Path(rewrite(local, roots[host])).mkdir(parents=True, exist_ok=True)

    def _configure(self, request: dict[str, Any], host: str, hosts: list[str], root: Path) -> None:
        config = root / "config"
        config.mkdir(parents=True, exist_ok=True)
        resource = {"current_host": host, "hosts": hosts, "network_interface_name": "lo"}
        (config / "resourceconfig.json").write_text(json.dumps(resource))
        (config / "processingjobconfig.json").write_text(json.dumps(request, default=str))
        (root / "output").mkdir(exist_ok=True)
        for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            Path(rewrite(item["S3Output"]["LocalPath"], root)).mkdir(parents=True, exist_ok=True)

    def _execute(
        self,
        key: Key,
        request: dict[str, Any],
        hosts: list[str],
        roots: dict[str, Path],
        stop: threading.Event,
    ) -> Any:
        """Run every instance to its end; the first that failed (a HostProcess) or None."""
        from training.hosts import HostProcess, end_all

        epoch = int(time.time())
        venv_bin = str(Path(sys.executable).parent)
        processes = []
        exited = threading.Event()
        logs = LogQueue(self._store, key[0], key[1], LOG_GROUP)
        for i, host in enumerate(hosts, start=1):
            root = roots[host]
            env = {
                **os.environ,
                **{k: rewrite(v, root) for k, v in (request.get("Environment") or {}).items()},
                "PYTHONUNBUFFERED": "1",
                # `python` / `python3` in a shell entry point (runproc.sh) is this Python too.
                "PATH": venv_bin + os.pathsep + os.environ.get("PATH", ""),
            }
            env.pop("AWS_ENDPOINT_URL", None)
            process = HostProcess(host, f"127.0.0.{i}", root)
            stream = f"{key[2]}/{host}-{epoch}"
            put_logs(self._store, key[0], key[1], LOG_GROUP, stream, [])  # one per instance

            def on_line(_host: Any, line: str, _err: bool, stream: str = stream) -> None:
                logs.put(stream, line)

            process.launch(
                command(request, root), cwd=root, env=env, on_line=on_line, on_exit=exited.set
            )
            processes.append(process)
        while not all(p.exit_code is not None for p in processes):
            if stop.is_set() or any(p.exit_code not in (None, 0) for p in processes):
                end_all(processes, STOP_GRACE_S)
                break
            exited.wait(0.5)
            exited.clear()
        for p in processes:
            p.join_output()
        end_all(processes, 0)  # reap, and nothing of a group outlives the job
        logs.close()
        return next((p for p in processes if p.exit_code not in (None, 0)), None)

    def _upload(
        self, s3: Any, request: dict[str, Any], hosts: list[str], roots: dict[str, Path]
    ) -> None:
        for item in (request.get("ProcessingOutputConfig") or {}).get("Outputs") or []:
            target = item["S3Output"]
            bucket, prefix = split_uri(target["S3Uri"])
            for host in hosts:
                folder = Path(rewrite(target["LocalPath"], roots[host]))
                for path in sorted(p for p in folder.rglob("*") if p.is_file()):
                    below = path.relative_to(folder).as_posix()
                    s3.upload_file(str(path), bucket, f"{prefix.rstrip('/')}/{below}".lstrip("/"))
