"""Names shared across rooms: CloudFormation stack names, their output keys, the default bucket.

The stacks declare them, and the CLI (predict, status, promote) reads deployed resources back
through them, so they live here, in a module that imports nothing heavy.
"""

from __future__ import annotations

# Stack outputs of an EndpointStack (read back by `smlocal predict` / `status` / `promote`).
OUTPUT_ENDPOINT_NAME = "EndpointName"
OUTPUT_ENDPOINT_CONFIG_NAME = "EndpointConfigName"
OUTPUT_MODEL_NAME = "ModelName"
OUTPUT_ROLE_ARN = "RoleArn"
OUTPUT_BUCKET_NAME = "BucketName"


def platform_stack_name(account: str, region: str) -> str:
    """The one PlatformStack of an account and region (role + default bucket)."""
    return f"SageMakerPlatform-{account}-{region}"


def endpoint_stack_name(env_name: str) -> str:
    """The EndpointStack of one environment (model, endpoint config, endpoint)."""
    return f"SageMakerEndpoint-{env_name}"


def default_bucket_name(account: str, region: str) -> str:
    """SageMaker's default bucket of an account and region, shared by its environments."""
    return f"sagemaker-{region}-{account}"


DATA_CAPTURE_PREFIX = "data-capture"
"""Where an endpoint's captured requests go in the default bucket unless the manifest names a
destination."""


def ci_access_stack_name(account: str) -> str:
    """The CiAccessStack of one account: GitHub's OIDC provider and the plan and deploy roles."""
    return f"SmlocalCiAccess-{account}"


CI_PLAN_ROLE = "smlocal-github-plan"
CI_DEPLOY_ROLE = "smlocal-github-deploy"
