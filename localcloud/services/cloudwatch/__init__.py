"""CloudWatch: metric alarms that evaluate on the cloud's clock and run their actions
(`alarms`)."""
