"""`smlocal demo` (`make demo`): the main job end to end on the local cloud.

Each step runs the command a user would type (the local cloud, `smlocal data/train/predict`, the
real `cdk deploy` / `cdk destroy`), shows what runs and how long it took, and on failure says
which step failed and why, then cleans up what the demo started: the stacks, the cloud, the pin.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from smlocal.errors import UserError
from smlocal.manifest import ENVIRONMENTS_DIR, load, manifest_path

ROOT = ENVIRONMENTS_DIR.parent
console = Console(highlight=False)


class StepFailed(UserError):
    """A demo step failed; the message names the step and the reason."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _bin(name: str) -> str:
    """A console script of this venv (smlocal), found beside the running interpreter."""
    candidate = Path(sys.executable).parent / name
    return str(candidate) if candidate.exists() else name


class Demo:
    """The demo's steps, their timings and what must be undone."""

    def __init__(self, *, env_name: str, epochs: int, instance_count: int, keep_pin: bool):
        self.env_name = env_name
        self.epochs = epochs
        self.instance_count = instance_count
        self.keep_pin = keep_pin
        self.port = _free_port()
        self.state_dir = Path(tempfile.mkdtemp(prefix="smlocal-demo-"))
        self.manifest = manifest_path(env_name)
        self.original_manifest = self.manifest.read_text()
        self.timings: list[tuple[str, float]] = []
        self.cleanups: list[tuple[str, Callable[[], None]]] = []
        self.env = {
            **os.environ,
            **self.cloud_env(),
            "PYTHONUNBUFFERED": "1",
        }

    def cloud_env(self) -> dict[str, str]:
        from localcloud.config import client_env

        return client_env(self.port)

    @contextmanager
    def step(self, title: str) -> Iterator[None]:
        n = len(self.timings) + 1
        console.rule(f"[bold cyan]step {n}: {title}")
        start = time.monotonic()
        try:
            yield
        except StepFailed:
            raise
        except UserError as err:
            raise StepFailed(f"step {n} ({title}) failed: {err}") from None
        elapsed = time.monotonic() - start
        self.timings.append((title, elapsed))
        console.print(f"[green]✓[/] {title} [dim]({elapsed:.1f} s)[/]")

    def run(self, *argv: str, title: str) -> None:
        console.print(f"[dim]$ {shlex.join(argv)}[/]")
        proc = subprocess.run(argv, cwd=ROOT, env=self.env, check=False)
        if proc.returncode != 0:
            raise StepFailed(f"{title}: `{shlex.join(argv)}` exited with {proc.returncode}")

    def cdk(self, verb: str, *extra: str) -> list[str]:
        return [
            "npx",
            "--no-install",
            "cdk",
            verb,
            "-c",
            f"env={self.env_name}",
            "--all",
            *extra,
        ]

    def main(self) -> None:
        with self.step("start the local cloud"):
            self.run(
                _bin("smlocal"),
                "cloud",
                "start",
                "--detach",
                "--port",
                str(self.port),
                "--state-dir",
                str(self.state_dir),
                title="cloud start",
            )
            self.cleanups.append(("stop the local cloud", self.stop_cloud))
        with self.step("prepare the MNIST-format data"):
            self.run(_bin("smlocal"), "data", "prepare", title="data prepare")
        with self.step(f"train on {self.instance_count} instances and pin into {self.manifest}"):
            self.cleanups.append(("revert the demo's pin", self.revert_pin))
            self.run(
                _bin("smlocal"),
                "train",
                "--env",
                self.env_name,
                "--instance-count",
                str(self.instance_count),
                "--epochs",
                str(self.epochs),
                "--wait",
                "--pin",
                title="train",
            )
            pin = load(self.env_name).model
            console.print(f"pinned {pin.model_data_url} (sha256 {pin.sha256})")
        with self.step(f"cdk deploy {self.env_name}"):
            self.cleanups.append(("cdk destroy", self.destroy))
            self.run(
                *self.cdk("deploy", "--method=direct", "--require-approval", "never"),
                title="cdk deploy",
            )
        with self.step("predict 16 test images"):
            self.run(_bin("smlocal"), "predict", "--env", self.env_name, "--n", "16", title="predict")
        with self.step("accuracy on the whole test split"):
            from inference.client import evaluate_split

            accuracy, count = evaluate_split(load(self.env_name))
            console.print(f"[bold]test accuracy: {accuracy:.2%} on {count} images[/]")
        with self.step("status: deployed vs manifest"):
            self.run(_bin("smlocal"), "status", "--env", self.env_name, title="status")
        with self.step(f"cdk destroy {self.env_name}"):
            self.cleanups.remove(("cdk destroy", self.destroy))
            self.destroy()

    def destroy(self) -> None:
        self.run(*self.cdk("destroy", "--force"), title="cdk destroy")

    def stop_cloud(self) -> None:
        self.run(
            _bin("smlocal"), "cloud", "stop", "--state-dir", str(self.state_dir), title="cloud stop"
        )

    def revert_pin(self) -> None:
        if self.keep_pin:
            console.print(f"keeping the pin in {self.manifest} (--keep-pin)")
            return
        if self.manifest.read_text() != self.original_manifest:
            from smlocal.manifest import atomic_write_text

            atomic_write_text(self.manifest, self.original_manifest)
            console.print(f"reverted the demo's pin in {self.manifest}")

    def close(self) -> None:
        """Undo what the demo started, newest first; report but do not hide cleanup failures."""
        for title, undo in reversed(self.cleanups):
            start = time.monotonic()
            try:
                undo()
                console.print(f"[green]✓[/] {title} [dim]({time.monotonic() - start:.1f} s)[/]")
            except Exception as err:  # keep cleaning up the rest
                console.print(f"[red]✗ cleanup: {title}: {err}[/]")
        self.cleanups.clear()
        shutil.rmtree(self.state_dir, ignore_errors=True)

    def summary(self) -> None:
        console.rule("[bold]summary")
        for title, seconds in self.timings:
            console.print(f"{seconds:7.1f} s  {title}")
        console.print(f"{sum(s for _, s in self.timings):7.1f} s  total")


def run_demo(*, env_name: str = "dev", epochs: int = 3, instance_count: int = 2, keep_pin: bool = False) -> None:
    """Run the demo; raises StepFailed (after cleaning up) when a step fails."""
    demo = Demo(env_name=env_name, epochs=epochs, instance_count=instance_count, keep_pin=keep_pin)
    try:
        demo.main()
    finally:
        console.rule("[bold]cleaning up")
        demo.close()
    demo.summary()
