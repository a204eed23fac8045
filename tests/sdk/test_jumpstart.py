"""The SageMaker SDK's JumpStart lookup, unmodified, against the local cloud: it gets S3's
error with a message that says JumpStart is not available offline (not a bare NoSuchBucket)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.sdk import SDK_PYTHON, run_script

SCRIPT = """
import json
from sagemaker import image_uris

try:
    image_uris.retrieve(
        framework=None,
        region="us-east-1",
        image_scope="inference",
        model_id="pytorch-ic-mobilenet-v2-100-224",
        model_version="*",
        instance_type="ml.m5.xlarge",
    )
except Exception as err:
    print(json.dumps({"error": type(err).__name__, "message": str(err)}))
"""


@pytest.mark.skipif(not SDK_PYTHON.exists(), reason="the SageMaker SDK venv .venv-sdk is absent")
def test_image_uris_retrieve_of_a_jumpstart_model_says_it_is_not_available_offline(
    cloud_env: dict[str, str], tmp_path: Path
) -> None:
    script = tmp_path / "jumpstart.py"
    script.write_text(SCRIPT)
    seen = run_script(SDK_PYTHON, script, [], cloud_env, tmp_path, '{"error"', timeout_s=120)
    assert seen["error"] == "NoSuchBucket"
    assert "GetObject operation: JumpStart is not available offline: " in seen["message"]
    assert "jumpstart-cache-prod-us-east-1 is AWS's JumpStart bucket" in seen["message"]
