"""CLI commands of this room (`data prepare`, `train`, `pin`), registered on the `smlocal` app."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from smlocal.core.options import EnvDir, EnvName

if TYPE_CHECKING:
    from rich.console import Console

data_app = typer.Typer(no_args_is_help=True, help="Training data in the MNIST IDX format.")


@data_app.command("prepare")
def data_prepare(
    out: Path = typer.Option(Path("data/mnist"), "--out", help="Output folder"),
    source: str = typer.Option(
        "digits",
        "--source",
        help="digits: scikit-learn's digits upscaled to 28×28 (no network); "
        "mnist: download real MNIST, falling back to digits",
    ),
    layout: str = typer.Option(
        "flat",
        "--layout",
        help="flat: the 4 .gz files in --out (this project's mnist.py, the SageMaker examples' "
        "channel); torchvision: --out/MNIST/raw/, uncompressed, where "
        "torchvision.datasets.MNIST(root=--out) reads them",
    ),
) -> None:
    """Write an MNIST-format training channel (4 IDX files) into --out."""
    from training.data import prepare

    prepare(out, source, layout=layout)  # type: ignore[arg-type]  # prepare validates the values


def train(
    env_name: EnvName,
    instance_count: int = typer.Option(1, "--instance-count", help="Hosts (data-parallel)"),
    instance_type: str = typer.Option("ml.c5.2xlarge", "--instance-type"),
    epochs: int = typer.Option(1, "--epochs"),
    batch_size: int = typer.Option(64, "--batch-size"),
    dry_run: bool = typer.Option(False, "--dry-run", help="One batch per epoch (smoke test)"),
    data: str = typer.Option("data/mnist", "--data", help="Local IDX folder or s3:// prefix"),
    max_runtime: int = typer.Option(86400, "--max-runtime", help="MaxRuntimeInSeconds"),
    spot: bool = typer.Option(False, "--spot", help="Managed spot training, with checkpoints"),
    wait: bool = typer.Option(False, "--wait", help="Wait, streaming the job's logs"),
    pin: bool = typer.Option(False, "--pin", help="Pin the model when it completes (--wait)"),
    envdir: EnvDir = None,
) -> None:
    """Submit the MNIST training job of an environment (SageMaker or the local cloud)."""
    from rich.console import Console

    from smlocal.core import aws
    from smlocal.core.environments import load
    from training.spec import TrainingOptions
    from training.submit import submit, wait_for_job

    console = Console(stderr=True, soft_wrap=True)  # S3 URIs and job names never split
    env = load(env_name, envdir)
    hyperparameters: dict[str, object] = {"epochs": epochs, "batch-size": batch_size}
    if dry_run:
        hyperparameters["dry-run"] = True
    s3 = aws.client("s3", env)
    sagemaker = aws.client("sagemaker", env)
    options = TrainingOptions(
        hyperparameters=hyperparameters,
        instance_type=instance_type,
        instance_count=instance_count,
        max_runtime_sec=max_runtime,
        use_spot=spot,
    )
    submitted = submit(env, sagemaker=sagemaker, s3=s3, data=data, options=options, console=console)
    if not (wait or pin):
        console.print(f"follow it with: smlocal pin --env {env.name} --job {submitted.job_name}")
        return
    job = wait_for_job(sagemaker, aws.client("logs", env), submitted.job_name, console=console)
    _report(console, job)
    if pin:
        _pin(console, env.name, job, s3, envdir)


def _report(console: Console, job: dict[str, Any]) -> None:
    name, state = job["TrainingJobName"], job["TrainingJobStatus"]
    if state != "Completed":
        console.print(
            f"[bold red]training job {name} {state}[/]: "
            f"{job.get('FailureReason', 'no reason given')}",
            highlight=False,
        )
        raise typer.Exit(1)
    metrics = ", ".join(
        f"{m['MetricName']}={m['Value']:g}" for m in job.get("FinalMetricDataList", [])
    )
    console.print(
        f"[green]training job {name} Completed[/]: "
        f"{job['ModelArtifacts']['S3ModelArtifacts']} ({metrics or 'no metrics'})",
        highlight=False,
    )


def _pin(
    console: Console, env_name: str, job: dict[str, Any], s3: Any, envdir: Path | None
) -> None:
    from smlocal.core.environments import manifest_path
    from training.pin import pin_description

    model = pin_description(env_name, job, s3_client=s3, envdir=envdir)
    console.print(
        f"pinned {model.model_data_url} (sha256 {model.sha256}) into "
        f"{manifest_path(env_name, envdir)}",
        highlight=False,
    )
    _register(console, env_name, model, envdir)


def _register(console: Console, env_name: str, model: Any, envdir: Path | None) -> None:
    """The pinned model as a version in the SageMaker Model Registry (issue 17)."""
    from smlocal.core import aws
    from smlocal.core.environments import load
    from smlocal.core.registry import register_quietly

    env = load(env_name, envdir)
    console.print(register_quietly(aws.client("sagemaker", env), env, model), highlight=False)


def pin(
    env_name: EnvName,
    job_name: str = typer.Option(..., "--job", help="A Completed training job"),
    envdir: EnvDir = None,
) -> None:
    """Pin a Completed training job's model (checksum verified) into the environment manifest."""
    from rich.console import Console

    from smlocal.core import aws
    from smlocal.core.environments import load
    from training.pin import pin_training_job

    env = load(env_name, envdir)
    model = pin_training_job(
        env.name,
        job_name,
        sagemaker_client=aws.client("sagemaker", env),
        s3_client=aws.client("s3", env),
        envdir=envdir,
    )
    console = Console(stderr=True, soft_wrap=True)
    console.print(
        f"pinned {model.model_data_url} (sha256 {model.sha256}) from {job_name}",
        highlight=False,
    )
    _register(console, env.name, model, envdir)


def register(app: typer.Typer) -> None:
    """Add this room's commands to `app` (imports inside commands stay lazy)."""
    app.add_typer(data_app, name="data")
    app.command("train")(train)
    app.command("pin")(pin)
