"""A plain moto server (in this process, on a free port) and the environment that points boto3
at it with moto's test credentials, whatever the machine's own AWS settings are."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from tests.helpers.ports import free_port

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
"""moto accepts any key; these keep boto3 from looking for real ones."""


@contextmanager
def moto_server() -> Iterator[str]:
    """A ThreadedMotoServer on 127.0.0.1; yields its URL (localhost: see design.md)."""
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        yield f"http://localhost:{port}"
    finally:
        server.stop()


@contextmanager
def key_checking_moto_server(address: str = "127.0.0.2") -> Iterator[str]:
    """A moto server in its own process that checks keys as AWS does (an unknown one is refused
    with AWS's code and message: `INITIAL_NO_AUTH_ACTION_COUNT=0`), on `address`: AWS as a
    client meets it, at an address that is not the local cloud's. Yields its URL."""
    port = free_port(address)
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", address, "-p", str(port)],
        env={**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # until it listens
            try:
                socket.create_connection((address, port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, "the moto server exited"
                assert time.monotonic() < deadline, f"no moto server on {address}:{port}"
                time.sleep(0.1)
        yield f"http://{address}:{port}"
    finally:
        server.kill()  # it keeps nothing worth a graceful stop (which takes it seconds)
        server.wait(10)


def use_moto(
    monkeypatch: pytest.MonkeyPatch, url: str, *, drop: tuple[str, ...] = ("AWS_",)
) -> None:
    """Reset the moto server at `url` and point this process's boto3 at it: every variable
    starting with one of `drop` goes, then the endpoint and the test credentials are set."""
    import httpx

    httpx.post(f"{url}/moto-api/reset").raise_for_status()
    for var in list(os.environ):
        if var.startswith(drop):
            monkeypatch.delenv(var)
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    for key, value in CREDENTIALS.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)


def moto_client(service: str, url: str, region: str = "us-east-1") -> Any:
    """A boto3 client of the moto server at `url`, with the test credentials."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=url,
        region_name=region,
        aws_access_key_id=CREDENTIALS["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
    )


SERVERLESS_2048 = {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}


def deploy_endpoint_stand_in(
    session: Any,
    env_name: str,
    model_data_url: str,
    variant: dict[str, Any],
    *,
    image: str,
    config: dict[str, Any] | None = None,
) -> str:
    """An EndpointStack stand-in on a moto server: model, endpoint config (one AllTraffic
    variant with `variant`'s settings, and `config`'s other properties) and endpoint through
    CloudFormation, with the EndpointName output the real stack has. Returns the endpoint
    name."""
    import json

    from smlocal.core.naming import endpoint_stack_name

    template = {
        "Resources": {
            "Model": {
                "Type": "AWS::SageMaker::Model",
                "Properties": {
                    "ExecutionRoleArn": "arn:aws:iam::123456789012:role/SageMaker-local",
                    "PrimaryContainer": {"Image": image, "ModelDataUrl": model_data_url},
                },
            },
            "Config": {
                "Type": "AWS::SageMaker::EndpointConfig",
                "Properties": {
                    "ProductionVariants": [
                        {
                            "VariantName": "AllTraffic",
                            "ModelName": {"Fn::GetAtt": ["Model", "ModelName"]},
                            **variant,
                        }
                    ],
                    **(config or {}),
                },
            },
            "Endpoint": {
                "Type": "AWS::SageMaker::Endpoint",
                "Properties": {
                    "EndpointConfigName": {"Fn::GetAtt": ["Config", "EndpointConfigName"]}
                },
            },
        },
        "Outputs": {"EndpointName": {"Value": {"Fn::GetAtt": ["Endpoint", "EndpointName"]}}},
    }
    cf = session.client("cloudformation")
    name = endpoint_stack_name(env_name)
    cf.create_stack(StackName=name, TemplateBody=json.dumps(template))
    return cf.describe_stacks(StackName=name)["Stacks"][0]["Outputs"][0]["OutputValue"]
