"""CLI commands of this room, registered on the `smlocal` app: `serve` and `predict`."""

from __future__ import annotations

from pathlib import Path

import typer

from smlocal.core.options import EnvDir, EnvName

JSON = "application/json"


def serve(
    model_dir: Path = typer.Option(..., "--model-dir", help="Model directory or model.tar.gz"),
    host: str = typer.Option("127.0.0.1", help="Address to bind"),
    port: int = typer.Option(8080, help="Port to listen on"),
    workers: int = typer.Option(1, help="Worker processes (the cores are split between them)"),
    serverless: bool = typer.Option(False, help="Serverless limits: 4 MB payload, not 6 MB"),
    timeout: float = typer.Option(60.0, help="Seconds a request may take before a 504"),
    request_timeout: float = typer.Option(
        30.0, help="Seconds a client may take to send a request before a 408"
    ),
    keep_alive: float = typer.Option(5.0, help="Seconds an idle connection stays open"),
) -> None:
    """Serve a model the way a SageMaker endpoint container does (/ping, /invocations)."""
    from inference.server import serve as run_server

    run_server(
        model_dir,
        host=host,
        port=port,
        workers=workers,
        serverless=serverless,
        timeout_s=timeout,
        request_timeout_s=request_timeout,
        keep_alive_s=keep_alive,
    )


def predict(
    env: EnvName,
    n: int = typer.Option(16, "--n", help="How many random test images to send"),
    content_type: str = typer.Option(
        JSON, "--content-type", help="application/json, text/csv or application/x-npy"
    ),
    endpoint_name: str = typer.Option(
        None, "--endpoint-name", help="[default: the EndpointName output of the env's stack]"
    ),
    data: Path = typer.Option(Path("data/mnist"), "--data", help="MNIST directory (IDX files)"),
    seed: int = typer.Option(None, "--seed", help="Random seed for the choice of images"),
    envdir: EnvDir = None,
) -> None:
    """Send random MNIST test images to the environment's endpoint and show its answers."""
    from rich.console import Console
    from rich.table import Table

    from inference.client import predict_env

    result = predict_env(
        env,
        n=n,
        content_type=content_type,
        endpoint_name=endpoint_name,
        data_dir=data,
        seed=seed,
        envdir=envdir,
    )
    console = Console(soft_wrap=True)  # the endpoint's name whole, never split across lines
    raw = result.raw
    if result.content_type == "application/x-npy":
        shown = f"{raw[:120]!r}… ({len(raw)} bytes)" if len(raw) > 120 else repr(raw)
    else:
        text = raw.decode(errors="replace")
        shown = f"{text[:600]}… ({len(raw)} bytes)" if len(text) > 600 else text
    console.print(f"[bold]raw response[/] ({result.content_type}):", highlight=False)
    console.print(shown, highlight=False, markup=False, soft_wrap=True)

    table = Table(title=f"{result.endpoint_name}: {len(result.predictions)} test images")
    for column in ("image", "true", "predicted", "confidence", ""):
        table.add_column(column, justify="right")
    for p in result.predictions:
        mark = "[green]✓[/]" if p.label == p.expected else "[red]✗[/]"
        table.add_row(str(p.index), str(p.expected), str(p.label), f"{p.confidence:.1%}", mark)
    console.print(table)
    hits = sum(p.label == p.expected for p in result.predictions)
    console.print(
        f"accuracy: {result.accuracy:.1%} ({hits}/{len(result.predictions)})", highlight=False
    )


def register(app: typer.Typer) -> None:
    """Add this room's commands to `app` (imports inside commands stay lazy)."""
    app.command("serve")(serve)
    app.command("predict")(predict)
