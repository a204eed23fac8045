"""What acting as a role costs the cloud: a job's or an endpoint's S3 client, signed with
SageMaker's session of its execution role (`localcloud.dataplane.sessions`).

- CreateTrainingJob's answer time: the request builds the job's client before it answers
  (each job waits for the one before to end, so no job's run disturbs the next answer);
- the cloud's RSS after N endpoint starts: each endpoint's model download builds its client,
  kept while the endpoint lives. The models are not archives, so every start fails right after
  the download and no serving process runs: the figure is the clients' (and the records').

Run it against another checkout by putting that first on PYTHONPATH (the cloud inherits it):

    PYTHONPATH=$PWD .venv/bin/python benchmarks/bench_role_clients.py [--jobs 10] [--endpoints 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from localcloud import control  # noqa: E402
from tests.helpers import cloud as clouds  # noqa: E402

SCRIPT = "print('done')\n"


def load() -> str:
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def rss_mb(cloud: clouds.Cloud) -> float:
    record = control.read_record(cloud.state_dir)
    assert record is not None
    status = Path(f"/proc/{record['pid']}/status").read_text()
    kib = next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:"))
    return int(kib) / 1024


def training_answers(cloud: clouds.Cloud, s3: Any, count: int, tmp: Path) -> list[float]:
    """Seconds CreateTrainingJob took to answer, one job at a time."""
    sagemaker = cloud.client("sagemaker")
    script = tmp / "done.py"
    script.write_text(SCRIPT)
    s3.put_object(Bucket=clouds.BUCKET, Key="bench/data/x", Body=b"x")
    source = clouds.upload_sourcedir(s3, "bench/sourcedir.tar.gz", {"done.py": script})
    inputs = f"s3://{clouds.BUCKET}/bench/data"
    seconds = []
    for n in range(count + 1):  # the first warms the cloud's own imports up: not counted
        request = clouds.training_request(f"bench-{n}", source, inputs, program="done.py")
        began = time.perf_counter()
        sagemaker.create_training_job(**request)
        if n:
            seconds.append(time.perf_counter() - began)
        clouds.wait_job(sagemaker, f"bench-{n}", timeout_s=120)
    return seconds


def endpoint_rss(cloud: clouds.Cloud, s3: Any, count: int) -> tuple[float, float]:
    """The cloud's RSS (MiB) before and after `count` endpoint starts."""
    sagemaker = cloud.client("sagemaker")
    url = clouds.put_model(s3, "bench/not-a-model.tar.gz", b"not an archive")
    clouds.create_model_and_config(sagemaker, "bench", url)
    # One first: what any endpoint start loads once (modules, the service model) is not counted.
    names = [f"bench-{n}" for n in range(count + 1)]
    sagemaker.create_endpoint(EndpointName=names[0], EndpointConfigName="bench")
    clouds.wait_endpoint(sagemaker, names[0])
    before = rss_mb(cloud)
    for name in names[1:]:
        sagemaker.create_endpoint(EndpointName=name, EndpointConfigName="bench")
    for name in names[1:]:
        assert clouds.wait_endpoint(sagemaker, name)["EndpointStatus"] == "Failed"
    return before, rss_mb(cloud)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=10, help="training jobs timed (default 10)")
    parser.add_argument("--endpoints", type=int, default=40, help="endpoints started (default 40)")
    args = parser.parse_args()
    print(f"code: {os.environ.get('PYTHONPATH', ROOT)}; load before: {load()}")
    with tempfile.TemporaryDirectory() as tmp:
        cloud = clouds.start_cloud(Path(tmp) / "state")
        try:
            s3 = cloud.client("s3")
            s3.create_bucket(Bucket=clouds.BUCKET)
            answers = training_answers(cloud, s3, args.jobs, Path(tmp))
            print(
                f"CreateTrainingJob answer: median {statistics.median(answers) * 1000:.0f} ms "
                f"(min {min(answers) * 1000:.0f}, max {max(answers) * 1000:.0f}; "
                f"{len(answers)} jobs); load: {load()}"
            )
            before, after = endpoint_rss(cloud, s3, args.endpoints)
            print(
                f"cloud RSS: {before:.0f} MiB -> {after:.0f} MiB after {args.endpoints} endpoint "
                f"starts ({(after - before) / args.endpoints:.2f} MiB each); load: {load()}"
            )
        finally:
            clouds.stop_cloud(cloud)


if __name__ == "__main__":
    main()
