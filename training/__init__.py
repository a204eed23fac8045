"""Training: the script-mode MNIST entry point, data, job submission, the local executor, pins.

Never imports aws_cdk: parts of it run inside training containers.
"""
