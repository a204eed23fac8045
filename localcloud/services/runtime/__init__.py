"""SageMaker Runtime: invocations forwarded to the endpoint's serving processes (`invoke`)."""
