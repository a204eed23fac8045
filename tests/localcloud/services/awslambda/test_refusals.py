"""Lambda functions cannot run here: CreateFunction and Invoke answer HTTP 501 naming the action
(moto would create the function and answer Invoke with 200 and "error running docker")."""

from __future__ import annotations

import io
import zipfile
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.helpers.cloud import ROLE_ARN


def _zip() -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("index.py", "def handler(event, context):\n    return 1\n")
    return out.getvalue()


@pytest.mark.parametrize(
    ("action", "call"),
    [
        (
            "CreateFunction",
            lambda client: client.create_function(
                FunctionName="refused",
                Runtime="python3.11",
                Role=ROLE_ARN,
                Handler="index.handler",
                Code={"ZipFile": _zip()},
            ),
        ),
        ("Invoke", lambda client: client.invoke(FunctionName="refused", Payload=b"{}")),
    ],
)
def test_functions_are_refused_naming_the_action(cloud: Any, action: str, call: Any) -> None:
    client = cloud.client("lambda", retries=1)
    with pytest.raises(ClientError) as err:
        call(client)
    response = err.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 501
    assert response["Error"]["Code"] == "NotImplementedException"
    assert response["Error"]["Message"].startswith(
        f"The local cloud does not run lambda:{action} ("
    )
    assert client.list_functions()["Functions"] == []
