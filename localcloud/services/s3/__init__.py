"""S3 where the local cloud answers otherwise than moto (JumpStart's buckets)."""
