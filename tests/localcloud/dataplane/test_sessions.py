"""The data plane's clients, in-process: a role's client is signed with SageMaker's session of
the role (the gateway's `ServiceSessions`, on an IAM role of moto's backend) and shares the
parsed service models with every other client, so a job or an endpoint start does not parse
S3's model again; an endpoint keeps its clients while it lives, and only then."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

from moto.iam.models import iam_backends

from localcloud.dataplane import sessions
from localcloud.dataplane.endpoints import Endpoints
from localcloud.gateway.trust import ServiceSessions
from localcloud.shared.persistence import StateStore

ACCOUNT, REGION = "222233334444", "us-east-1"
ROLE = f"arn:aws:iam::{ACCOUNT}:role/sessions-tests"
TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Effect": "Allow",
            "Principal": {"Service": "sagemaker.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def _role() -> None:
    backend = iam_backends[ACCOUNT]["global"]
    if "sessions-tests" not in {r.name for r in backend.roles.values()}:
        backend.create_role("sessions-tests", json.dumps(TRUST), "/", None, "", [], None)


def _client(name: str) -> object:
    key = (ACCOUNT, REGION, name)
    return sessions.role_client(
        ServiceSessions(), "s3", "http://localhost:1", key, ROLE, "endpoint"
    )


def test_role_clients_share_the_parsed_service_models() -> None:
    _role()
    first = _client("sessions-first")  # S3's model is parsed here, once per process
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        clients = [_client(f"sessions-{n}") for n in range(4)]
        each = (tracemalloc.get_traced_memory()[0] - before) / len(clients)
    finally:
        tracemalloc.stop()
    # A session of its own parses S3's model again: about 10 MB a client.
    assert each < 3 * 2**20, f"{each / 2**20:.1f} MiB a client"

    for client in [first, *clients]:
        # Signed with the role's session SageMaker was issued, as boto3's S3 clients are.
        frozen = client._request_signer._credentials.get_frozen_credentials()  # type: ignore[attr-defined]
        assert frozen.access_key.startswith("ASIA") and frozen.token
        assert callable(client.upload_file) and callable(client.download_file)  # type: ignore[attr-defined]
    loader = sessions._data_loader()
    assert len(loader.search_paths) == len(set(loader.search_paths))  # no path added per client


def test_an_endpoint_keeps_its_clients_while_it_lives_and_drops_them_when_deleted(
    tmp_path: Path,
) -> None:
    _role()
    endpoints = Endpoints(tmp_path, StateStore(tmp_path), "http://localhost:1")
    endpoints.sessions = ServiceSessions()
    try:
        live = [(ACCOUNT, REGION, f"sessions-live-{n}") for n in range(2)]
        for key in live:
            endpoints._runtime(key)  # what CreateEndpoint registers before it downloads
        first = endpoints.s3_client(live[0], ROLE)
        other = endpoints.s3_client(live[1], ROLE)
        assert endpoints.s3_client(live[0], ROLE) is first  # one a role while it lives

        endpoints.delete(live[0])
        again = endpoints.s3_client(live[0], ROLE)  # the deleted endpoint's last capture lines
        assert again is not first
        assert endpoints.s3_client(live[0], ROLE) is not again  # and kept by no one
        assert endpoints.s3_client(live[1], ROLE) is other
    finally:
        endpoints.stop_all()
