"""State benchmark: 256 KB S3 PUT latency through boto3 against a detached local cloud, as the
stored volume grows (0, 100 MB, 300 MB), for this code and for the previous implementation
(every snapshot pickles all backends, object bodies included, into one `state.pickle`),
measured side by side in one run, in interleaved rounds.

    python benchmarks/bench_state.py [--rounds 3] [--puts 10] [--keys 1000]

The previous implementation runs from a temporary copy of this tree whose
localcloud/shared/persistence.py is the one of commit BASELINE. Each level is filled with 4 MiB
objects (the same bytes in both clouds), then each round PUTs `--puts` times a 256 KB body to one
key in each cloud, the order of the two alternating between rounds. p99 of so few samples is
close to their maximum. Last, this code alone: the same PUT once `--keys` more 1 KB objects are
stored, since its snapshot cost follows the count of changed keys, not the count stored.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from localcloud import control  # noqa: E402

BASELINE = "4639937"  # the last commit whose persistence pickled object bodies
BUCKET = "bench-state"
PROBE = 256 * 1024
FILL = 4 * 1024 * 1024
LEVELS_MB = (0, 100, 300)
SERVE = [sys.executable, "-m", "localcloud", "serve", "--port", "0"]


class Cloud:
    """`python -m localcloud serve` from `tree`, on a free port, with its own state dir."""

    def __init__(self, name: str, tree: Path, state_dir: Path) -> None:
        self.name = name
        self.state_dir = state_dir
        env = {**os.environ, "PYTHONPATH": str(tree)}
        self.log = open(state_dir.parent / f"{name}.log", "wb")  # noqa: SIM115
        state_dir.mkdir(parents=True)
        self.proc = subprocess.Popen(
            [*SERVE, "--state-dir", str(state_dir)],
            cwd=tree,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while True:
            record = control.read_record(state_dir)
            if record and record["pid"] == self.proc.pid and control.answers(record["port"]):
                break
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {name} cloud did not start; see {self.log.name}")
            time.sleep(0.1)
        self.s3 = boto3.client(
            "s3",
            endpoint_url=f"http://localhost:{record['port']}",
            region_name="us-east-1",
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(retries={"total_max_attempts": 1}, read_timeout=300),
        )
        self.s3.create_bucket(Bucket=BUCKET)

    def put(self, key: str, body: bytes) -> float:
        start = time.perf_counter()
        self.s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        return time.perf_counter() - start

    def snapshot_bytes(self) -> int:
        names = ("state.pickle", "state.db", "state.db-wal")
        return sum(
            (self.state_dir / n).stat().st_size for n in names if (self.state_dir / n).exists()
        )

    def body_bytes(self) -> int:
        objects = self.state_dir / "objects"
        return sum(p.stat().st_size for p in objects.iterdir()) if objects.is_dir() else 0

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
        self.log.close()


def baseline_tree(into: Path) -> Path:
    """This tree's sources with localcloud/shared/persistence.py as of BASELINE."""
    tree = into / "baseline"
    tree.mkdir()
    archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    old = subprocess.run(
        ["git", "show", f"{BASELINE}:localcloud/persistence.py"],
        cwd=ROOT,
        check=True,
        capture_output=True,
    )
    (tree / "localcloud" / "shared" / "persistence.py").write_bytes(old.stdout)
    return tree


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--puts", type=int, default=10, help="256 KB PUTs per cloud per round")
    parser.add_argument("--keys", type=int, default=1000, help="small objects for the last line")
    args = parser.parse_args()
    print(f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at start")
    with tempfile.TemporaryDirectory(prefix="bench-state-") as tmp:
        work = Path(tmp)
        clouds = [
            Cloud("new", ROOT, work / "new-state"),
            Cloud("old", baseline_tree(work), work / "old-state"),
        ]
        try:
            run(clouds, args)
        finally:
            for cloud in clouds:
                cloud.stop()
    print(f"load average {os.getloadavg()[0]:.1f} at end (other processes share these cores)")


def run(clouds: list[Cloud], args: Any) -> None:
    new, old = clouds
    probe = os.urandom(PROBE)
    stored = 0
    print(
        f"{'stored':>7} {'impl':>4} {'p50 ms':>7} {'p99 ms':>7}  "
        f"{'snapshot':>10} {'bodies':>10}  ratio old/new p50 per round (median, spread)  load"
    )
    for level in LEVELS_MB:
        while stored < level * 1024 * 1024:
            body = os.urandom(FILL)
            for cloud in clouds:
                cloud.put(f"fill/{stored:012d}", body)
            stored += FILL
        samples: dict[str, list[float]] = {"new": [], "old": []}
        ratios = []
        for round_ in range(args.rounds):
            p50 = {}
            for cloud in clouds if round_ % 2 == 0 else clouds[::-1]:
                times = [cloud.put("probe", probe) for _ in range(args.puts)]
                samples[cloud.name] += times
                p50[cloud.name] = statistics.median(times)
            ratios.append(p50["old"] / p50["new"])
        for cloud in clouds:
            mine = samples[cloud.name]
            line = (
                f"{stored // 2**20:>4} MB {cloud.name:>4} {ms(percentile(mine, 0.5))}"
                f" {ms(percentile(mine, 0.99))}  "
                f"{cloud.snapshot_bytes() / 2**20:7.2f} MB {cloud.body_bytes() / 2**20:7.1f} MB"
            )
            if cloud is old:
                rounds = " ".join(f"{r:.1f}x" for r in ratios)
                line += (
                    f"  {rounds} ({statistics.median(ratios):.1f}x, "
                    f"{min(ratios):.1f}-{max(ratios):.1f}x)  {os.getloadavg()[0]:.1f}"
                )
            print(line, flush=True)
    for n in range(args.keys):
        new.put(f"small/{n:06d}", os.urandom(1024))
    times = [new.put("probe", probe) for _ in range(args.rounds * args.puts)]
    print(
        f"{stored // 2**20:>4} MB +{args.keys} keys, new only: p50 {ms(percentile(times, 0.5))} ms,"
        f" p99 {ms(percentile(times, 0.99))} ms, snapshot {new.snapshot_bytes() / 2**20:.2f} MB"
    )


if __name__ == "__main__":
    main()
