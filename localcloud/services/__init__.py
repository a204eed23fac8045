"""The control plane: moto keeps the records; one folder per AWS service the local cloud
extends holds the patches that make that service act (`sagemaker`, `runtime` for SageMaker
Runtime, `cloudformation`). Installed by `localcloud.patches`."""
