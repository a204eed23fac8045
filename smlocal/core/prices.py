"""The price table the cost estimates use: shipped with the catalog, read without network.

On-demand SageMaker prices for the page named in SOURCE, entered by hand as of AS_OF. They
change, so every estimate prints the date it used. A region or instance type missing here
gives an estimate that says so instead of a guess. CROSS_CHECKS records, per figure, what it
was compared with (2026-11-30, through a search of stored public pages; AWS's own pricing
page was not among them with its figures, so nothing here is confirmed by AWS itself): check
a figure on SOURCE before quoting it.
"""

from __future__ import annotations

SOURCE = "https://aws.amazon.com/sagemaker/pricing/ (On-Demand: Real-Time and Serverless Inference)"
AS_OF = "2025-10-01"
HOURS_PER_MONTH = 730  # AWS's own monthly figure (8,760 h / 12)

# region -> currency -> prices
PRICES: dict[str, dict[str, dict[str, object]]] = {
    "us-east-1": {
        "USD": {
            # real-time inference, per instance-hour
            "instance_hour": {
                "ml.t2.medium": 0.056,
                "ml.m5.large": 0.115,
                "ml.m5.xlarge": 0.23,
                "ml.m5.2xlarge": 0.461,
                "ml.c5.large": 0.102,
                "ml.c5.xlarge": 0.204,
                "ml.c5.2xlarge": 0.408,
                "ml.g4dn.xlarge": 0.7364,
                "ml.g5.xlarge": 1.408,
            },
            # serverless inference: compute per GB-second of configured memory, provisioned
            # concurrency per GB-second it is held, and data processed (in + out) per GB
            "serverless_gb_second": 0.00002,
            "serverless_provisioned_gb_second": 0.000004646,
            "serverless_data_gb": 0.016,
            # data capture lands in S3 Standard, per GB-month
            "s3_standard_gb_month": 0.023,
        }
    },
}

_TRANSCRIPT = (
    "https://raw.githubusercontent.com/api-evangelist/amazon-sagemaker/refs/heads/main/plans/"
    "amazon-sagemaker-plans-pricing.yml (a third party's transcript of "
    "https://aws.amazon.com/sagemaker-ai/pricing/, us-east-1, dated 2026-05-04)"
)
_ZIRCON = (
    "https://zircon.tech/blog/the-real-cost-of-running-ai-models-on-aws-sagemaker-inference-"
    "deep-dive (third party, 'us-east-1 as of October 2025')"
)
# us-east-1 USD figure -> what it was compared with (checked 2026-11-30); "unverified": no
# source found. Third-party pages are not AWS: agreement raises confidence, no more.
CROSS_CHECKS: dict[str, str] = {
    "ml.c5.xlarge": f"agrees: 0.204 real-time inference in {_TRANSCRIPT}",
    "ml.m5.xlarge": (
        f"agrees with 0.23 (listed there for training) in {_TRANSCRIPT}; "
        f"disagrees: 0.269 in {_ZIRCON}"
    ),
    "ml.g4dn.xlarge": f"agrees with 0.7364 (listed there for notebooks/training) in {_TRANSCRIPT}",
    "ml.g5.xlarge": (
        f"agrees: about 1.41 in {_ZIRCON}; disagrees: 1.21 in "
        "https://www.wring.co/blog/aws-sagemaker-inference-guide (third party, 2026-03-15)"
    ),
    "s3_standard_gb_month": (
        "agrees: about 0.023 for the first 50 TB in https://deepeshsoni.com/archives/256 "
        "(third party, 'representative', undated)"
    ),
    "ml.t2.medium": "unverified",
    "ml.m5.large": "unverified",
    "ml.m5.2xlarge": "unverified",
    "ml.c5.large": "unverified",
    "ml.c5.2xlarge": "unverified",
    "serverless_gb_second": "unverified",
    "serverless_provisioned_gb_second": "unverified",
    "serverless_data_gb": "unverified",
}
