"""Training throughput: the local executor against a bare PyTorch loop, and 1 vs 2 hosts.

All in one run, on the same model (`inference.inference.Net`), data (the digits set in MNIST
format), batch size, optimizer and torch threads per process:

- bare loop: `mnist.py`'s training loop in this process, no executor, no S3;
- executor, 1 host: a CreateTrainingJob request run by `training.executor` (S3 on a moto server);
- executor, 2 hosts: the same with InstanceCount 2 (gloo, DistributedSampler), each host with
  half the CPUs.

Epoch time is the fastest of the epochs after the first (train + test), read from when each
`epoch=N` line arrives: on a machine whose CPUs other processes share, the fastest epoch is the
least disturbed one, so it is the figure that compares setups. The job time is
end to end: fetching inputs, starting processes, importing torch, training, packing, uploading.

    .venv/bin/python benchmarks/bench_training.py [--epochs 4]
"""

from __future__ import annotations

import argparse
import itertools
import os
import socket
import sys
import tempfile
import time
from pathlib import Path

import boto3
import torch
from moto.server import ThreadedMotoServer
from torch.nn import functional as F
from torch.utils.data import DataLoader, TensorDataset

from inference.inference import Net, normalize
from training.data import load_split, prepare
from training.executor import run_training_job
from training.sourcedir import pack_sourcedir
from training.spec import TrainingJobSpec

BUCKET = "bench-training"
BATCH = 64


def _dataset(directory: Path, split: str) -> TensorDataset:
    images, labels = load_split(directory, split)  # type: ignore[arg-type]
    x = normalize(torch.from_numpy(images).float().div_(255).unsqueeze(1))
    return TensorDataset(x, torch.from_numpy(labels.astype("int64")))


def _best_epoch(ends: list[float]) -> float:
    """Fastest epoch after the first (warm-up), from the times each epoch ended."""
    return min(b - a for a, b in itertools.pairwise(ends))


def bare_loop(data_dir: Path, epochs: int, threads: int) -> tuple[float, float]:
    """(best epoch seconds, final test accuracy) of the loop without the executor."""
    torch.set_num_threads(threads)
    torch.manual_seed(1)
    train = DataLoader(
        _dataset(data_dir, "train"),
        batch_size=BATCH,
        shuffle=True,
        generator=torch.Generator().manual_seed(1),
    )
    test_set = _dataset(data_dir, "test")
    test = DataLoader(test_set, batch_size=1000)
    model = Net()
    optimizer = torch.optim.Adadelta(model.parameters(), lr=1.0)
    scheduler = torch.optim.lr_scheduler.StepLR(optimizer, step_size=1, gamma=0.7)
    ends, accuracy = [], 0.0
    for _ in range(epochs):
        model.train()
        for x, y in train:
            optimizer.zero_grad()
            F.nll_loss(model(x), y).backward()
            optimizer.step()
        model.eval()
        correct = 0
        with torch.no_grad():
            for x, y in test:
                correct += model(x).argmax(1).eq(y).sum().item()
        accuracy = correct / len(test_set)
        scheduler.step()
        ends.append(time.perf_counter())
    return _best_epoch(ends), accuracy


def executor_job(
    s3: object, inputs: dict[str, str], hosts: int, epochs: int, work: Path
) -> tuple[float, float, float]:
    """(best epoch seconds, job seconds end to end, final test accuracy)."""
    ends: list[float] = []

    def on_log(host: str, line: str) -> None:
        if host == "algo-1" and line.startswith("epoch="):
            ends.append(time.perf_counter())

    spec = TrainingJobSpec(
        job_name=f"bench-{hosts}-hosts",
        role_arn="arn:aws:iam::123456789012:role/SageMaker-local",
        image_uri="local",
        region="us-east-1",
        sourcedir_uri=inputs["sourcedir"],
        output_path=f"s3://{BUCKET}/jobs",
        channels={"training": inputs["data"]},
        hyperparameters={"epochs": epochs, "batch-size": BATCH},
        instance_count=hosts,
    )
    started = time.perf_counter()
    job_dir = Path(tempfile.mkdtemp(prefix=f"h{hosts}-", dir=work))
    run = run_training_job(spec.to_request(), job_dir, s3, on_log=on_log)
    job_s = time.perf_counter() - started
    if run.status != "Completed":
        sys.exit(f"{hosts}-host job {run.status}: {run.failure_reason}")
    accuracy = next(m["Value"] for m in run.final_metrics if m["MetricName"] == "test_accuracy")
    return _best_epoch(ends), job_s, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=5, help="epochs per run (>= 2)")
    parser.add_argument(
        "--repeats", type=int, default=2, help="rounds of the three setups, interleaved"
    )
    args = parser.parse_args()
    cpus = os.cpu_count() or 1
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=f"http://localhost:{port}",
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        s3.create_bucket(Bucket=BUCKET)
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            prepare(work / "data", echo=lambda _: None)
            for path in sorted((work / "data").iterdir()):
                s3.upload_file(str(path), BUCKET, f"data/{path.name}")
            pack_sourcedir(work / "sourcedir.tar.gz")
            s3.upload_file(str(work / "sourcedir.tar.gz"), BUCKET, "src/sourcedir.tar.gz")
            inputs = {
                "data": f"s3://{BUCKET}/data/",
                "sourcedir": f"s3://{BUCKET}/src/sourcedir.tar.gz",
            }
            n_train = len(load_split(work / "data", "train")[1])
            # Interleaved rounds, best of each: load from other processes hits all setups alike.
            bare, one, two = [], [], []
            for _ in range(args.repeats):
                bare.append(bare_loop(work / "data", args.epochs, cpus))
                one.append(executor_job(s3, inputs, 1, args.epochs, work))
                two.append(executor_job(s3, inputs, 2, args.epochs, work))
            bare_s, bare_acc = min(bare)
            one_s, one_job, one_acc = min(one)
            two_s, two_job, two_acc = min(two)
    finally:
        server.stop()

    print(
        f"\n{n_train} training samples (digits in MNIST format), batch {BATCH}, "
        f"{args.epochs} epochs, {cpus} CPUs, torch {torch.__version__}"
    )
    print(
        f"{'setup':<22}{'threads/proc':>13}{'epoch s':>9}{'samples/s':>11}"
        f"{'vs bare':>9}{'job s':>8}{'test acc':>10}"
    )
    rows = [
        ("bare PyTorch loop", cpus, bare_s, None, bare_acc),
        ("executor, 1 host", cpus, one_s, one_job, one_acc),
        ("executor, 2 hosts", max(1, cpus // 2), two_s, two_job, two_acc),
    ]
    for name, threads, epoch_s, job_s, acc in rows:
        job = f"{job_s:8.1f}" if job_s is not None else f"{'-':>8}"
        print(
            f"{name:<22}{threads:>13}{epoch_s:>9.2f}{n_train / epoch_s:>11.0f}"
            f"{bare_s / epoch_s:>9.2f}{job}{acc:>10.4f}"
        )
    print(f"\nexecutor 1 host / bare loop throughput: {bare_s / one_s:.2f}")
    print(f"2 hosts / 1 host epoch time: {two_s / one_s:.2f} (speed-up {one_s / two_s:.2f}x)")


if __name__ == "__main__":
    main()
