"""The gateway: what every request passes before moto sees it (who may call, the errors of
actions moto lacks) and after (the snapshot that makes a change durable before its answer)."""
