"""Clients on the cloud itself, signed with the keys SageMaker gets (`gateway.trust`): a job's
or an endpoint's session of its execution role, or the service's own key in an account.

Every client shares one botocore data loader, so the service models (S3's is 1.5 MB of JSON)
are read and parsed once per cloud, not once per client: a role's client costs about a tenth
of a fresh botocore session, in time and memory.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from localcloud.shared.arns import sagemaker_arn


@dataclass(frozen=True)
class SessionKey:
    """A temporary key the cloud issued to one of its services (`gateway.trust`)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expires: datetime


class RoleError(Exception):
    """The service could not assume the role (gone, or its trust no longer allows it)."""


class Sessions(Protocol):
    """How the data plane gets its keys (`gateway.trust.ServiceSessions`, handed in by
    `localcloud.patches`): SageMaker's session of an execution role, acting for a resource,
    and SageMaker's own key in an account."""

    def role(self, account: str, region: str, role_arn: str, source_arn: str) -> SessionKey: ...

    def service(self, account: str) -> SessionKey: ...


_loader: Any = None
_loader_lock = threading.Lock()


def _data_loader() -> Any:
    """The one botocore data loader of this process: it caches what it has parsed."""
    global _loader
    with _loader_lock:
        if _loader is None:
            import botocore.session

            _loader = botocore.session.get_session().get_component("data_loader")
        return _loader


def client(
    service: str,
    endpoint_url: str,
    region: str,
    issue: Callable[[], SessionKey],
    config: Any = None,
) -> Any:
    """A boto3 client on this cloud signing with the keys `issue` gives, asked again before
    each expires (so a job or an endpoint that outlives a session keeps its role's rights, and
    loses them when the role stops trusting SageMaker). RoleError when the first fails."""
    import botocore.session
    from boto3.utils import lazy_call
    from botocore.credentials import RefreshableCredentials

    def metadata() -> dict[str, str]:
        key = issue()
        return {
            "access_key": key.access_key_id,
            "secret_key": key.secret_access_key,
            "token": key.session_token,
            "expiry_time": key.expires.isoformat(),
        }

    # A session of its own (the credentials are the session's), on the shared parsed models.
    core = botocore.session.Session()
    core.register_component("data_loader", _data_loader())
    # What boto3 adds to an S3 client (upload_file, download_file, ...). Not through a
    # boto3.Session: each one appends boto3's data folder to its loader's search paths, and the
    # loader is shared.
    core.register(
        "creating-client-class.s3", lazy_call("boto3.s3.inject.inject_s3_transfer_methods")
    )
    # botocore has no public setter for refreshable credentials; its own assume-role
    # providers build them the same way.
    core._credentials = RefreshableCredentials.create_from_metadata(
        metadata(), refresh_using=metadata, method="sts-assume-role"
    )
    return core.create_client(service, region_name=region, endpoint_url=endpoint_url, config=config)


def role_client(
    sessions: Sessions | None,
    service: str,
    endpoint_url: str,
    key: tuple[str, str, str],
    role_arn: str,
    kind: str,
) -> Any:
    """A client acting as `role_arn`, assumed by SageMaker for the `kind` resource named by
    `key` (account, region, name): what the job or endpoint may do is what its role may."""

    if sessions is None:
        raise RoleError("the local cloud hands its data plane no keys (localcloud.patches)")
    account, region, name = key
    arn = sagemaker_arn(kind, account, region, name)
    return client(
        service, endpoint_url, region, lambda: sessions.role(account, region, role_arn, arn)
    )
