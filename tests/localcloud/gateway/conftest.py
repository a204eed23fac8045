from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from localcloud.shared.credentials import credentials
from tests.helpers.cloud import Cloud


@pytest.fixture(scope="module")
def key(cloud: Cloud, s3: Any) -> Any:
    """The cloud's start key (the s3 fixture has made the test bucket)."""
    return credentials(cloud.state_dir)


@pytest.fixture(scope="session")
def signed(cloud: Cloud) -> Callable[..., httpx.Response]:
    """Send a request to the cloud as a client library would not: any method, path, query,
    body and headers, SigV4-signed for `service` with `creds` (a Session's `credentials`;
    the cloud's own key by default) by botocore's own signer."""
    from botocore.auth import S3SigV4Auth, SigV4Auth
    from botocore.awsrequest import AWSRequest
    from botocore.credentials import Credentials

    def send(
        service: str,
        method: str = "POST",
        path: str = "/",
        body: bytes = b"",
        headers: dict[str, str] | None = None,
        creds: dict[str, Any] | None = None,
        host: str | None = None,
    ) -> httpx.Response:
        if creds is None:
            own = credentials(cloud.state_dir)
            signing = Credentials(own.access_key_id, own.secret_access_key)
        else:
            signing = Credentials(
                creds["AccessKeyId"], creds["SecretAccessKey"], creds.get("SessionToken")
            )
        sent = {"Host": host or f"localhost:{cloud.port}", **(headers or {})}
        if service == "s3":
            sent.setdefault("x-amz-content-sha256", "UNSIGNED-PAYLOAD")
        request = AWSRequest(method=method, url=f"{cloud.url}{path}", data=body, headers=sent)
        signer = S3SigV4Auth if service == "s3" else SigV4Auth
        signer(signing, service, "us-east-1").add_auth(request)
        return httpx.request(
            method, f"{cloud.url}{path}", content=body, headers=dict(request.headers.items())
        )

    return send
