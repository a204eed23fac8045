"""Application Auto Scaling that acts: SageMaker variants checked at registration, target
tracking alarms as AWS makes them, policies run by alarms, scaling activities (`scaling`)."""
