"""ECR: what the local cloud refuses because it has no image registry (`registry`)."""
