"""Inference: handlers, codecs, the SageMaker serving contract, and the predict client.

Never imports aws_cdk: parts of it run inside serving containers.
"""
