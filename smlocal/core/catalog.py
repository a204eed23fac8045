"""What SageMaker offers: instance types and the PyTorch Deep Learning Container images.

Plain data and pure functions, shared by the manifest validation, the training submission and
the stacks. Nothing here calls AWS.
"""

from __future__ import annotations

import re
from typing import Literal

Processor = Literal["cpu", "gpu"]

# ECR registry accounts of the AWS Deep Learning Containers, by region. Most public regions use
# 763104351884; the opt-in regions and the China partition have their own.
_DLC_ACCOUNTS: dict[str, str] = {
    "af-south-1": "626614931356",
    "ap-east-1": "871362719292",
    "ap-south-2": "772153158452",
    "ap-southeast-3": "907027046896",
    "ap-southeast-4": "457447274322",
    "eu-central-2": "380420809688",
    "eu-south-1": "692866216735",
    "eu-south-2": "503227376785",
    "il-central-1": "780543022126",
    "me-central-1": "914824155844",
    "me-south-1": "217643126080",
    "cn-north-1": "727897471807",
    "cn-northwest-1": "727897471807",
}
_DEFAULT_DLC_ACCOUNT = "763104351884"

# Instance types a SageMaker endpoint or training job can use here, with their GPU count.
# The list is deliberately the common subset; an unknown type is a manifest error, so that a
# typo fails before `cdk deploy` instead of minutes into a CloudFormation rollback.
INSTANCE_GPUS: dict[str, int] = {
    **{f"ml.t2.{s}": 0 for s in ("medium", "large", "xlarge", "2xlarge")},
    **{f"ml.m5.{s}": 0 for s in ("large", "xlarge", "2xlarge", "4xlarge", "12xlarge", "24xlarge")},
    **{f"ml.m6i.{s}": 0 for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")},
    **{f"ml.c5.{s}": 0 for s in ("large", "xlarge", "2xlarge", "4xlarge", "9xlarge", "18xlarge")},
    **{f"ml.c6i.{s}": 0 for s in ("large", "xlarge", "2xlarge", "4xlarge", "8xlarge")},
    **{f"ml.r5.{s}": 0 for s in ("large", "xlarge", "2xlarge", "4xlarge")},
    "ml.g4dn.xlarge": 1,
    "ml.g4dn.2xlarge": 1,
    "ml.g4dn.12xlarge": 4,
    "ml.g5.xlarge": 1,
    "ml.g5.2xlarge": 1,
    "ml.g5.12xlarge": 4,
    "ml.p3.2xlarge": 1,
    "ml.p3.8xlarge": 4,
    "ml.p4d.24xlarge": 8,
}


def is_known_instance_type(instance_type: str) -> bool:
    """Whether SageMaker offers this `ml.*` instance type (from the catalog above)."""
    return instance_type in INSTANCE_GPUS


def instance_gpus(instance_type: str) -> int:
    """GPUs of an instance type; raises ValueError for an unknown type."""
    try:
        return INSTANCE_GPUS[instance_type]
    except KeyError:
        raise ValueError(f"unknown instance type {instance_type!r}") from None


def dlc_registry(region: str) -> str:
    """The ECR registry host of the Deep Learning Containers in a region."""
    account = _DLC_ACCOUNTS.get(region, _DEFAULT_DLC_ACCOUNT)
    suffix = "amazonaws.com.cn" if region.startswith("cn-") else "amazonaws.com"
    return f"{account}.dkr.ecr.{region}.{suffix}"


def pytorch_image_uri(
    *,
    scope: Literal["training", "inference"],
    region: str,
    framework_version: str,
    py_version: str,
    processor: Processor,
) -> str:
    """URI of the PyTorch DLC image, as the SageMaker SDK's `image_uris.retrieve` gives it."""
    return f"{dlc_registry(region)}/pytorch-{scope}:{framework_version}-{processor}-{py_version}"


_ECR_IMAGE_RE = re.compile(
    r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com(?P<cn>\.cn)?"
    r"/(?P<repository>[a-z0-9._/-]+?)(?::[\w.-]+|@sha256:[0-9a-f]{64})?$"
)


def ecr_repository_arn(image_uri: str) -> str | None:
    """The ECR repository ARN an image URI is pulled from; None when it is not an ECR image."""
    m = _ECR_IMAGE_RE.match(image_uri)
    if m is None:
        return None
    partition = "aws-cn" if m["cn"] else "aws"
    return f"arn:{partition}:ecr:{m['region']}:{m['account']}:repository/{m['repository']}"


def dlc_repository_arns(region: str) -> list[str]:
    """The PyTorch training and inference DLC repositories of a region (what jobs pull)."""
    return [
        arn
        for scope in ("training", "inference")
        if (arn := ecr_repository_arn(f"{dlc_registry(region)}/pytorch-{scope}")) is not None
    ]


# --- prices (issue 17): the table of smlocal/core/prices.py, by region and currency -----------
def price_table(region: str, currency: str) -> dict[str, object] | None:
    """The on-demand prices of `region` in `currency`, or None where the table has none."""
    from smlocal.core.prices import PRICES

    return PRICES.get(region, {}).get(currency)
