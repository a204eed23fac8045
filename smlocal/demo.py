"""`smlocal demo` (`make demo`): the main job end to end on the local cloud.

Each step runs what a user would run (the local cloud, `smlocal data/train/predict/status`, the
real `cdk deploy` / `cdk destroy`), shows the command and how long it took, and on failure says
which step failed and why, then undoes what the demo started: the stacks, the cloud, the pin.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from smlocal.core.environments import PROJECT_ROOT, load, manifest_path
from smlocal.core.errors import UserError
from smlocal.core.files import atomic_write_text
from smlocal.core.naming import OUTPUT_ENDPOINT_NAME, endpoint_stack_name, platform_stack_name

ROOT = PROJECT_ROOT
STEPS = 9
EVAL_BATCH = 64  # images per request when scoring the whole test split (well under 4 MB)


class StepFailed(UserError):
    """A demo step failed; the message names the step and the reason."""


def _bin(name: str) -> str:
    """A console script of this venv (smlocal), found beside the running interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


def _reason(lines: list[str]) -> str:
    """The line of a command's output that says why it failed: the last one that names an
    error, else the last non-empty one."""
    text = [line.strip() for line in lines if line.strip()]
    for line in reversed(text):
        lowered = line.lower()
        if "error" in lowered or "failed" in lowered or line.startswith("❌"):
            return line
    return text[-1] if text else "no output"


def client_environment(port: int, state_dir: Path) -> dict[str, str]:
    """This process's environment with every AWS/CDK setting replaced by the local cloud's
    (of `state_dir`, with its key), so that no profile, region or endpoint of the user's own
    reaches a command by accident."""
    from localcloud.control import environment

    kept = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "CDK_"))}
    return {
        **kept,
        **environment(port, state_dir),
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "PYTHONUNBUFFERED": "1",
        # node's own notices (its version support) would bury the CDK CLI's output
        "NODE_NO_WARNINGS": "1",
    }


def evaluate(runtime: Any, endpoint_name: str, data_dir: Path) -> tuple[float, int]:
    """Accuracy of the endpoint on every image of the test split: (accuracy, images)."""
    import numpy as np

    from inference.client import invoke
    from training.data import load_split

    images, labels = load_split(data_dir, "test")
    hits = 0
    for start in range(0, len(images), EVAL_BATCH):
        batch = slice(start, start + EVAL_BATCH)
        indices = np.arange(len(images))[batch]
        result = invoke(runtime, endpoint_name, indices, images[batch], labels[batch])
        hits += sum(p.label == p.expected for p in result.predictions)
    return hits / len(images), len(images)


class Demo:
    """The demo's steps, their timings and what must be undone."""

    def __init__(
        self,
        *,
        env_name: str = "dev",
        epochs: int = 5,
        instance_count: int = 2,
        keep_pin: bool = False,
        envdir: Path | None = None,
        data_dir: Path = Path("data/mnist"),
        console: Console | None = None,
    ) -> None:
        self.env_name = env_name
        self.epochs = epochs
        self.instance_count = instance_count
        self.keep_pin = keep_pin
        self.envdir = envdir
        self.data_dir = data_dir if data_dir.is_absolute() else ROOT / data_dir
        self.console = console or Console(highlight=False)
        self.environment = load(env_name, envdir)  # a bad manifest fails before anything starts
        self.manifest = manifest_path(env_name, envdir)
        self.original_manifest = self.manifest.read_text()
        self.state_dir = Path(tempfile.mkdtemp(prefix="smlocal-demo-"))
        self.port = 0
        self.env: dict[str, str] = {}
        self.step_number = 0
        self.timings: list[tuple[str, float]] = []
        self.cleanups: list[tuple[str, Callable[[], None]]] = []
        self.accuracy: float | None = None

    # --- plumbing ------------------------------------------------------------------------------
    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        """One numbered step: a header, then ✓ and its time, or StepFailed naming it."""
        self.step_number += 1
        label = f"step {self.step_number}/{STEPS}"
        self.console.rule(f"[bold cyan]{label}: {title}", align="left")
        start = time.monotonic()
        try:
            yield
        except StepFailed as err:
            raise StepFailed(f"{label} ({title}) failed: {err}") from None
        except UserError as err:
            raise StepFailed(f"{label} ({title}) failed: {err}") from None
        except Exception as err:  # an unexpected error still names its step
            raise StepFailed(f"{label} ({title}) failed: {type(err).__name__}: {err}") from err
        elapsed = time.monotonic() - start
        self.timings.append((title, elapsed))
        self.console.print(f"[green]✓[/] {title} [dim]({elapsed:.1f} s)[/]")

    def run(self, *argv: str) -> None:
        """Run a command as the user would, showing its output; StepFailed if it fails."""
        self.console.print(f"[dim]$ {shlex.join(argv)}[/]", soft_wrap=True)
        tail: deque[str] = deque(maxlen=40)
        # A pipe rather than the terminal, so the failure's reason can be quoted; the width is
        # passed on so that the commands' tables fit the demo's console.
        env = {**self.env, "COLUMNS": str(self.console.width)}
        with subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
        ) as proc:
            assert proc.stdout is not None
            blank = False
            for raw in proc.stdout:
                line = raw.rstrip("\n")
                tail.append(line)
                # Progress bars drawn for a pipe leave runs of empty lines: keep one.
                if not (blank and not line.strip()):
                    self.console.out(line, highlight=False)
                blank = not line.strip()
        if proc.returncode != 0:
            raise StepFailed(
                f"`{shlex.join(argv[:4])} …` exited with {proc.returncode}: {_reason(list(tail))}"
            )

    def smlocal(self, *args: str) -> None:
        envdir = ("--envdir", str(self.envdir)) if self.envdir else ()
        self.run(_bin("smlocal"), *args, *envdir)

    def cdk(self, verb: str, *args: str) -> None:
        context = ["-c", f"env={self.env_name}"]
        if self.envdir:
            context += ["-c", f"envdir={self.envdir}"]
        out = ["-o", str(self.state_dir / "cdk.out")]  # never the checkout's cdk.out
        self.run("npx", "--no-install", "cdk", verb, *context, *out, *args)

    # --- the steps -----------------------------------------------------------------------------
    def main(self) -> None:
        env = self.environment
        with self.step("start the local cloud"):
            from localcloud import control

            record = control.start_detached(self.state_dir, 0)
            self.cleanups.append(("stop the local cloud", self.stop_cloud))
            self.port = int(record["port"])
            self.env = client_environment(self.port, self.state_dir)
            self.console.print(
                f"local cloud on {record['endpoint_url']} (pid {record['pid']}, "
                f"state {self.state_dir})",
                soft_wrap=True,
            )
        with self.step("prepare the training data"):
            self.run(_bin("smlocal"), "data", "prepare", "--out", str(self.data_dir))
        platform = platform_stack_name(env.account, env.region)
        with self.step("cdk deploy the platform stack (role and default bucket)"):
            self.cleanups.append(("cdk destroy", self.destroy))
            self.cdk("deploy", platform, "--require-approval", "never")
        with self.step(f"train on {self.instance_count} instances and pin the model"):
            self.cleanups.append(("revert the demo's pin", self.revert_pin))
            self.smlocal(
                "train",
                "--env",
                self.env_name,
                "--instance-count",
                str(self.instance_count),
                "--epochs",
                str(self.epochs),
                "--data",
                str(self.data_dir),
                "--wait",
                "--pin",
            )
            pin = load(self.env_name, self.envdir).model
            self.console.print(
                f"{self.manifest} now pins {pin.model_data_url} (sha256 {pin.sha256})",
                soft_wrap=True,
            )
        with self.step(f"cdk deploy {self.env_name} ({env.endpoint_kind} endpoint)"):
            self.cdk("deploy", "--all", "--require-approval", "never")
        with self.step("predict 16 test images"):
            self.smlocal(
                "predict", "--env", self.env_name, "--n", "16", "--data", str(self.data_dir)
            )
        with self.step("accuracy on the whole test split"):
            from localcloud.control import client

            outputs = client(
                "cloudformation", self.port, self.state_dir, env.region
            ).describe_stacks(StackName=endpoint_stack_name(self.env_name))["Stacks"][0]["Outputs"]
            endpoint = next(
                o["OutputValue"] for o in outputs if o["OutputKey"] == OUTPUT_ENDPOINT_NAME
            )
            runtime = client("sagemaker-runtime", self.port, self.state_dir, env.region)
            self.accuracy, count = evaluate(runtime, endpoint, self.data_dir)
            self.console.print(f"[bold]test accuracy: {self.accuracy:.2%} on {count} images[/]")
        with self.step("status: deployed vs manifest"):
            self.smlocal("status", "--env", self.env_name)
        with self.step(f"cdk destroy {self.env_name}"):
            self.cleanups.remove(("cdk destroy", self.destroy))
            self.destroy()

    # --- cleanup -------------------------------------------------------------------------------
    def destroy(self) -> None:
        self.cdk("destroy", "--all", "--force")

    def stop_cloud(self) -> None:
        from localcloud import control

        record = control.stop(self.state_dir)
        if record is not None:
            self.console.print(f"stopped the local cloud on {record['endpoint_url']}")

    def revert_pin(self) -> None:
        if self.keep_pin:
            self.console.print(f"keeping the demo's pin in {self.manifest} (--keep-pin)")
            return
        if self.manifest.read_text() != self.original_manifest:
            atomic_write_text(self.manifest, self.original_manifest)
            self.console.print(f"reverted the demo's pin in {self.manifest}")

    def close(self) -> list[str]:
        """Undo what the demo started, newest first; returns the cleanups that failed."""
        failed = []
        for title, undo in reversed(self.cleanups):
            start = time.monotonic()
            try:
                undo()
                self.console.print(
                    f"[green]✓[/] {title} [dim]({time.monotonic() - start:.1f} s)[/]"
                )
            except Exception as err:  # keep cleaning up the rest
                self.console.print(f"[red]✗ {title}: {err}[/]", soft_wrap=True)
                failed.append(f"{title}: {err}")
        self.cleanups.clear()
        shutil.rmtree(self.state_dir, ignore_errors=True)
        return failed

    def summary(self, total_s: float) -> None:
        self.console.rule("[bold]summary", align="left")
        for title, seconds in self.timings:
            self.console.print(f"{seconds:7.1f} s  {title}")
        self.console.print(f"{total_s:7.1f} s  in all, cleanup included")
        if self.accuracy is not None:
            self.console.print(f"[bold]test accuracy {self.accuracy:.2%}[/]")


def run_demo(**options: Any) -> Demo:
    """Run the demo (options as `Demo`); raises StepFailed after cleaning up if a step fails."""
    start = time.monotonic()
    demo = Demo(**options)
    try:
        demo.main()
    finally:
        demo.console.rule("[bold]cleaning up", align="left")
        failed = demo.close()
    if failed:
        raise StepFailed(f"the demo ran, but cleaning up failed: {'; '.join(failed)}")
    demo.summary(time.monotonic() - start)
    return demo
