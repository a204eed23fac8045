"""The price table the cost estimates use: shipped with the catalog, read without network.

On-demand SageMaker prices for the page named in SOURCE, entered by hand as of AS_OF and not
machine-checked against it (no network here): check them there before quoting a figure. They
change, so every estimate prints the date it used. A region or instance type
missing here gives an estimate that says so instead of a guess.
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
