"""The stack tests' fixture manifests (never environments/*.yaml: pins there move) and the
session's synthesis they are read from (`Synth`, built by tests/stacks/conftest.py)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.helpers import ROOT

REPO = ROOT

ACCOUNT = "123456789012"
EU_ACCOUNT = "210987654321"
KMS_KEY_ARN = f"arn:aws:kms:eu-west-1:{EU_ACCOUNT}:key/0a1b2c3d-0000-4000-8000-000000000001"
SHA_A = "a" * 64
SHA_B = "b" * 64
URL_A = f"s3://sagemaker-us-east-1-{ACCOUNT}/mnist/job-a/output/model.tar.gz"
URL_B = f"s3://sagemaker-us-east-1-{ACCOUNT}/mnist/job-b/output/model.tar.gz"


GITHUB_REPOSITORY = "acme/smlocal"
_GITHUB = f"github: {{repository: {GITHUB_REPOSITORY}}}\n"
"""dev, staging and prod name the repository that may deploy them: one CiAccessStack."""


def _pin(url: str, sha: str) -> str:
    return f"""model:
  model_data_url: {url}
  sha256: "{sha}"
  training_job: mnist-job
  metrics: {{test_accuracy: 0.97}}
  pinned_at: "2026-01-02T03:04:05Z"
"""


MANIFESTS: dict[str, str] = {
    "dev": f"""# serverless, pinned
name: dev
account: "{ACCOUNT}"
region: us-east-1
endpoint_kind: serverless
serverless: {{memory_size_mb: 2048, max_concurrency: 5}}
cost: {{idle_limit_hours: 24}}
"""
    + _GITHUB
    + _pin(URL_A, SHA_A),
    "staging": f"""# serverless with provisioned concurrency, pinned
name: staging
account: "{ACCOUNT}"
region: us-east-1
endpoint_kind: serverless
serverless: {{memory_size_mb: 3072, max_concurrency: 10, provisioned_concurrency: 2}}
"""
    + _GITHUB
    + _pin(URL_A, SHA_A),
    "prod": f"""# provisioned with autoscaling and data capture, pinned, bucket retained
name: prod
account: "{ACCOUNT}"
region: us-east-1
bucket_removal_policy: retain
endpoint_kind: provisioned
provisioned:
  instance_type: ml.m5.large
  initial_instance_count: 2
  autoscaling: {{min: 1, max: 4, target_invocations_per_instance: 200}}
  data_capture: {{sampling_percentage: 50}}
"""
    + _GITHUB
    + _pin(URL_A, SHA_A),
    "queue": f"""# async: answers into the default bucket's async-inference/ prefixes, autoscaled
name: queue
account: "{ACCOUNT}"
region: us-east-1
endpoint_kind: async
async:
  instance_type: ml.m5.large
  autoscaling: {{min: 1, max: 3, target_invocations_per_instance: 50}}
  max_concurrent_invocations_per_instance: 4
  invocation_timeout_seconds: 600
"""
    + _pin(URL_A, SHA_A),
    "qa": f"""# no pin yet: platform stack only
name: qa
account: "{ACCOUNT}"
region: us-east-1
endpoint_kind: serverless
serverless: {{memory_size_mb: 1024, max_concurrency: 1}}
model: {{}}
""",
    "eu": f"""# another account+region, bucket encrypted with a KMS key, no autoscaling, canary
name: eu
account: "{EU_ACCOUNT}"
region: eu-west-1
bucket_kms_key_arn: {KMS_KEY_ARN}
endpoint_kind: provisioned
provisioned:
  instance_type: ml.c5.large
  deployment: {{traffic: canary, canary_percent: 50, wait_seconds: 120, bake_seconds: 600}}
"""
    + _pin(f"s3://sagemaker-eu-west-1-{EU_ACCOUNT}/mnist/job-e/output/model.tar.gz", SHA_A),
}

PLATFORM_US = f"SageMakerPlatform-{ACCOUNT}-us-east-1"
PLATFORM_EU = f"SageMakerPlatform-{EU_ACCOUNT}-eu-west-1"
CI_ACCESS = f"SmlocalCiAccess-{ACCOUNT}"
STACKS = [
    PLATFORM_US,
    PLATFORM_EU,
    "SageMakerEndpoint-dev",
    "SageMakerEndpoint-staging",
    "SageMakerEndpoint-prod",
    "SageMakerEndpoint-queue",
    "SageMakerEndpoint-eu",
    CI_ACCESS,
]
"""What `add_stacks` builds from MANIFESTS (qa has no pin, hence no endpoint stack)."""


def write_manifests(directory: Path) -> Path:
    """Write MANIFESTS into `directory` and return it."""
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in MANIFESTS.items():
        (directory / f"{name}.yaml").write_text(text)
    return directory


@dataclass
class Synth:
    manifests: Path
    outdir: Path
    validation_error: str | None
    changed_pin_prod: dict[str, Any]
    """The prod EndpointStack's template with another model pinned (URL_B, SHA_B)."""

    def template_text(self, artifact_id: str) -> str:
        return (self.outdir / f"{artifact_id}.template.json").read_text()

    def template(self, artifact_id: str) -> dict[str, Any]:
        return json.loads(self.template_text(artifact_id))

    def manifest(self) -> dict[str, Any]:
        return json.loads((self.outdir / "manifest.json").read_text())
