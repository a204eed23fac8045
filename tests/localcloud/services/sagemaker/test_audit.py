"""The rule: every SageMaker action runs, records metadata, or is refused with a modelled error.

One walk over botocore's whole SageMaker model against the session's cloud, each action called
with a minimal request built from its input shape (in a region no other test uses), checks the
answer against the audit table (`localcloud.services.sagemaker.audit`): a refused action answers
HTTP 501 `NotImplementedException` naming it; any other answers JSON (a result, or a client
error botocore parses), never an HTML page or a 5xx; and no record the walk leaves behind
reports work done (`Completed`, `Succeeded`, `InService`) that the cloud does not run.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from botocore.model import ListShape, MapShape, Shape, StructureShape

from localcloud.services.sagemaker import audit, names
from localcloud.shared.credentials import credentials

REGION = "eu-west-3"  # the walk's own: its records and deletions touch no other test's
DOCS = Path(__file__).resolve().parents[4] / "docs" / "localcloud.md"
WORK_DONE = {"Completed", "Succeeded", "InService"}
# Metadata whose status AWS itself settles at once (no work behind it).
# Values of the patterned members a minimal request needs (roles, domain ids, execution ARNs).
SHAPED = (
    "arn:aws:iam::123456789012:role/walk",
    "d-walk",
    f"arn:aws:sagemaker:{REGION}:123456789012:pipeline/walk/execution/walk",
    f"arn:aws:sagemaker:{REGION}:123456789012:model-package/walk/1",
)
METADATA_STATUS = {"ModelPackageStatus", "ModelPackageGroupStatus", "ModelCardStatus"}


def value(shape: Shape, name: str = "") -> Any:
    """A minimal value of `shape` that botocore's client-side validation accepts."""
    if isinstance(shape, StructureShape):
        if shape.is_tagged_union:
            first = next(iter(shape.members))
            return {first: value(shape.members[first], first)}
        return {m: value(shape.members[m], m) for m in shape.required_members}
    if isinstance(shape, ListShape):
        return [value(shape.member, name) for _ in range(int(shape.metadata.get("min", 0)))]
    if isinstance(shape, MapShape):
        return {}
    kind, meta = shape.type_name, shape.metadata
    if kind == "string":
        if shape.enum:
            return shape.enum[0]
        if name.endswith("Arn"):
            text = f"arn:aws:sagemaker:{REGION}:123456789012:walk/walk"
        else:
            text = "s3://walk/walk" if "Uri" in name or "S3" in name else "walk"
        text = text.ljust(int(meta.get("min", 0)), "x")[: int(meta.get("max", 1 << 16))]
        pattern = meta.get("pattern")
        if pattern and not names.compiled(pattern).fullmatch(text):
            # The request is checked against the pattern first: a value it takes, if one of
            # the usual shapes fits, so that the walk reaches the action itself.
            text = next((c for c in SHAPED if names.compiled(pattern).fullmatch(c)), text)
        return text
    if kind in ("integer", "long"):
        return max(int(meta.get("min", 1)), 1)
    if kind in ("float", "double"):
        return float(meta.get("min", 1))
    if kind == "boolean":
        return False
    if kind == "timestamp":
        return datetime.now(UTC)
    if kind == "blob":
        return b"walk"
    raise AssertionError(f"no value for {kind}")


def call(client: Any, action: str, params: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, parsed answer) of one call; a ClientError is an answer too."""
    try:
        answer = client._make_api_call(action, params)
    except ClientError as err:
        answer = err.response
    return answer["ResponseMetadata"]["HTTPStatusCode"], answer


def statuses(answer: Any, path: str = "") -> list[tuple[str, str]]:
    """Every (field, value) of a `...Status` field anywhere in an answer."""
    if isinstance(answer, dict):
        found = []
        for key, item in answer.items():
            if key.endswith("Status") and isinstance(item, str):
                found.append((key, item))
            found.extend(statuses(item, key))
        return found
    if isinstance(answer, list):
        return [s for item in answer for s in statuses(item, path)]
    return []


def test_the_audit_table_in_the_docs_is_the_code_s() -> None:
    assert audit.markdown() in DOCS.read_text(), (
        "docs/localcloud.md's audit table is stale: "
        "python -m localcloud.services.sagemaker.audit prints the current one"
    )


@pytest.fixture(scope="module")
def walked(cloud: Any) -> dict[str, tuple[int, dict[str, Any]]]:
    key = credentials(cloud.state_dir)
    client = botocore.session.get_session().create_client(
        "sagemaker",
        endpoint_url=cloud.url,
        region_name=REGION,
        aws_access_key_id=key.access_key_id,
        aws_secret_access_key=key.secret_access_key,
        config=Config(retries={"total_max_attempts": 1}, read_timeout=60),
    )
    model = client.meta.service_model
    answers = {}
    for action in model.operation_names:
        input_shape = model.operation_model(action).input_shape
        params = value(input_shape) if input_shape is not None else {}
        answers[action] = call(client, action, params)
    return answers


def test_every_action_answers_as_the_audit_says(walked: dict[str, Any]) -> None:
    table = audit.table()
    assert set(walked) == set(table)
    wrong = []
    for action, (status, answer) in sorted(walked.items()):
        error = answer.get("Error", {})
        refusal = (
            status == 501
            and error.get("Code") == "NotImplementedException"
            and f"sagemaker:{action} " in error.get("Message", "")
        )
        if table[action][0] == audit.REFUSED:
            ok = refusal
        else:
            # A result, or an error botocore parsed from JSON: a code, not an HTTP status; an
            # action that runs may refuse an option it does not run (RecordIO, a manifest).
            ok = (status < 500 and not error.get("Code", "x").isdigit()) or (
                refusal and table[action][0] == audit.RUNS
            )
        if not ok:
            wrong.append(f"{action} ({table[action][0]}): {status} {error or 'success'}")
    assert wrong == [], "\n".join(wrong)


def test_no_record_reports_work_the_cloud_did_not_do(walked: dict[str, Any]) -> None:
    table = audit.table()
    claims = [
        f"{action}: {field}={status}"
        for action, (code, answer) in sorted(walked.items())
        if code < 300 and table[action][0] == audit.RECORDS
        for field, status in statuses(answer)
        if status in WORK_DONE and field not in METADATA_STATUS
    ]
    assert claims == [], "\n".join(claims)
