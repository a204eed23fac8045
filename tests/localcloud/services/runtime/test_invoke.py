"""The runtime's data path (`DataPath`) answers InvokeEndpoint as moto's dispatch did: the same
status, headers and body, errors included. A request with `Content-Encoding` is left to moto
(moto may inflate its body), so each request is sent both ways and the answers compared."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from localcloud.services.runtime.invoke import DataPath
from localcloud.shared.credentials import credentials
from tests.helpers.cloud import Cloud, create_model_and_config, put_model, wait_endpoint
from tests.helpers.models import model_archive

ENDPOINT = "data-path"
# The smallest model the serving process loads; it answers its input, or 400 for bad JSON.
ECHO = """
def model_fn(model_dir):
    return None


def predict_fn(data, model):
    return data
"""
_VARYING = ("date", "x-amzn-requestid")  # a new value in every answer


@pytest.fixture(scope="module")
def endpoint(cloud: Cloud, s3: Any, sagemaker: Any) -> Iterator[str]:
    url = put_model(s3, "models/data-path/model.tar.gz", model_archive(ECHO, weights=False))
    create_model_and_config(sagemaker, ENDPOINT, url)
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=ENDPOINT)
    assert wait_endpoint(sagemaker, ENDPOINT)["EndpointStatus"] == "InService"
    yield ENDPOINT
    sagemaker.delete_endpoint(EndpointName=ENDPOINT)


def send(cloud: Cloud, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, list, bytes]:
    """A signed POST as boto3 sends it; (status, headers but the varying ones, body)."""
    key = credentials(cloud.state_dir)
    request = AWSRequest("POST", f"http://localhost:{cloud.port}{path}", headers, data=body)
    SigV4Auth(
        Credentials(key.access_key_id, key.secret_access_key), "sagemaker", "us-east-1"
    ).add_auth(request)
    connection = http.client.HTTPConnection("localhost", cloud.port, timeout=60)
    try:
        connection.request("POST", path, body=body, headers=dict(request.headers.items()))
        response = connection.getresponse()
        answer = response.read()
    finally:
        connection.close()
    kept = sorted((k.lower(), v) for k, v in response.getheaders() if k.lower() not in _VARYING)
    return response.status, kept, answer


BODY = json.dumps([[1.0, 2.0], [3.0, 4.0]]).encode()
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
CASES = {
    "an answer": ("/endpoints/{}/invocations", BODY, JSON),
    "custom attributes": (
        "/endpoints/{}/invocations",
        BODY,
        {**JSON, "X-Amzn-SageMaker-Custom-Attributes": "trace=1"},
    ),
    "a target variant": (
        "/endpoints/{}/invocations",
        BODY,
        {**JSON, "X-Amzn-SageMaker-Target-Variant": "AllTraffic"},
    ),
    "a response stream": ("/endpoints/{}/invocations-response-stream", BODY, JSON),
    "a model error": ("/endpoints/{}/invocations", b"{not json", JSON),
    "no such variant": (
        "/endpoints/{}/invocations",
        BODY,
        {**JSON, "X-Amzn-SageMaker-Target-Variant": "Nowhere"},
    ),
    "no such endpoint": ("/endpoints/nowhere/invocations", BODY, JSON),
}


@pytest.mark.parametrize("case", list(CASES))
def test_the_data_path_answers_as_moto_does(cloud: Cloud, endpoint: str, case: str) -> None:
    path, body, headers = CASES[case]
    path = path.format(endpoint)
    direct = send(cloud, path, body, headers)
    through_moto = send(cloud, path, body, {**headers, "Content-Encoding": "identity"})
    assert direct == through_moto
    assert direct[0] in (200, 400, 424)


def test_requests_moto_routes_elsewhere_pass_through() -> None:
    """Only a signed POST that moto's dispatcher routes to the runtime is taken; the rest, and
    anything before the data plane is wired, reach the app behind it unchanged."""
    reached: list[str] = []

    def app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        reached.append(environ["PATH_INFO"])
        start_response("204 No Content", [])
        return [b""]

    data_path = DataPath(app, DomainDispatcherApplication(create_backend_app))
    data_path.endpoints = object()  # type: ignore[assignment]  # never reached below
    scope = "Credential=AKIAIOSFODNN7EXAMPLE/20260101/us-east-1/{}/aws4_request, Signature=x"
    requests = [
        ("GET", "/endpoints/e/invocations", "sagemaker"),  # not InvokeEndpoint's method
        ("POST", "/endpoints/e/invocations/", "sagemaker"),  # not its path
        ("POST", "/endpoints/e/x/invocations", "sagemaker"),
        ("POST", "/endpoints/e/invocations", "s3"),  # signed for another service
        ("POST", "/endpoints/e/invocations", None),  # unsigned
    ]
    for method, path, service in requests:
        environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path}
        if service:
            environ["HTTP_AUTHORIZATION"] = "AWS4-HMAC-SHA256 " + scope.format(service)
        assert data_path(environ, lambda *_: None) == [b""]
    assert reached == [path for _, path, _ in requests]
