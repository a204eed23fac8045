"""The deterministic name of an endpoint config: `<env>-<hash of what it serves>`."""

from __future__ import annotations

import hashlib
import json
from typing import Any

HASH_CHARS = 10


def endpoint_config_name(env_name: str, content: Any) -> str:
    """`<env>-<10 hex chars>` over the canonical JSON of `content`.

    `content` is everything the config pins down (model container, variants), so a new model or
    size yields a new name: endpoint configs are immutable, and a new name lets CloudFormation
    create the new config and update the endpoint in place, then delete the old config.
    """
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode()).hexdigest()[:HASH_CHARS]
    return f"{env_name}-{digest}"
