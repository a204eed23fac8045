"""Endpoints that really serve: one serving process per endpoint, blue/green on update.

moto keeps the records (FakeEndpoint); this module keeps what runs. CreateEndpoint starts the
model in the background (Creating → InService | Failed); UpdateEndpoint starts the new model
first, switches new requests to it once /ping answers, then stops the old process when its
in-flight requests are done, so no request fails during an update.
"""

from __future__ import annotations

import contextlib
import json
import logging
import shutil
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from localcloud.dataplane.serving import ServingProcess, StartError, clip_reason
from localcloud.shared.errors import ModelError, ModelNotReady, ThrottlingException, ValidationError
from smlocal.core.archives import ArchiveError, inside
from smlocal.core.files import write_atomically

log = logging.getLogger("localcloud.dataplane.endpoints")

SERVERLESS_PAYLOAD_BYTES = 4 * 1024 * 1024
REALTIME_PAYLOAD_BYTES = 6 * 1024 * 1024
RESTART_REASON = "the local cloud restarted and could not serve the model again: {}"

Key = tuple[str, str, str]  # account, region, endpoint name


@dataclass
class Deployment:
    """What one endpoint config asks to serve, resolved from its first production variant."""

    config_name: str
    variant_name: str
    model_data_url: str
    environment: dict[str, str]
    workers: int
    max_concurrency: int | None  # serverless only

    @property
    def serverless(self) -> bool:
        return self.max_concurrency is not None


@dataclass
class Runtime:
    """What runs for one endpoint. `active` takes new requests; `settled` is set when no
    create or update is in progress."""

    key: Key
    active: ServingProcess | None = None
    deployment: Deployment | None = None
    generation: int = 0
    inflight: int = 0
    deleted: bool = False
    settled: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def resolve(backend: Any, config_name: str) -> Deployment:
    """The deployment an endpoint config describes; ValidationError if it or its model is gone."""
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        raise ValidationError(f"Could not find endpoint configuration '{config_name}'.")
    variant = config.production_variants[0]
    model = backend._models.get(variant["ModelName"])
    if model is None:
        raise ValidationError(f"Could not find model '{variant['ModelName']}'.")
    container = model.primary_container or (model.containers or [{}])[0]
    url = container.get("ModelDataUrl") or (
        container.get("ModelDataSource", {}).get("S3DataSource", {}).get("S3Uri")
    )
    if not url:
        raise ValidationError(f"model {model.model_name} has no ModelDataUrl to serve")
    serverless = variant.get("ServerlessConfig")
    return Deployment(
        config_name=config_name,
        variant_name=variant["VariantName"],
        model_data_url=url,
        environment={str(k): str(v) for k, v in (container.get("Environment") or {}).items()},
        workers=int(variant.get("InitialInstanceCount") or 1),
        max_concurrency=int(serverless["MaxConcurrency"]) if serverless else None,
    )


def _read_s3(account: str, url: str) -> bytes:
    from moto.s3.models import s3_backends

    if not url.startswith("s3://") or "/" not in url[5:]:
        raise StartError(f"ModelDataUrl {url} is not an s3://bucket/key URL")
    bucket, key = url[5:].split("/", 1)
    try:
        obj = s3_backends[account]["aws"].get_object(bucket, key)
    except Exception as err:  # moto raises MissingBucket / MissingKey (its own types)
        raise StartError(f"could not download the model data {url}: {err}") from None
    if obj is None:
        raise StartError(f"could not download the model data {url}: no such key")
    return obj.value


class Endpoints:
    """All endpoint runtimes of the local cloud (every account and region)."""

    def __init__(self, state_dir: Path, persist: Any) -> None:
        self.root = Path(state_dir) / "endpoints"
        self._persist = persist  # called after a background status change
        self._runtimes: dict[Key, Runtime] = {}
        self._lock = threading.Lock()

    def _runtime(self, key: Key) -> Runtime:
        with self._lock:
            runtime = self._runtimes.get(key)
            if runtime is None or runtime.deleted:
                runtime = self._runtimes[key] = Runtime(key)
            return runtime

    def get(self, key: Key) -> Runtime | None:
        with self._lock:
            return self._runtimes.get(key)

    def _dir(self, key: Key) -> Path:
        # Names were checked against AWS's patterns; the folder is checked again here.
        try:
            return inside(self.root, *key)
        except ArchiveError as err:
            raise ValidationError(str(err)) from None

    # --- lifecycle -----------------------------------------------------------------------------
    def create(self, backend: Any, endpoint: Any) -> Runtime:
        """Called after moto recorded CreateEndpoint: start serving in the background."""
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        runtime = self._runtime(key)
        endpoint.endpoint_status = "Creating"
        endpoint.failure_reason = None
        runtime.settled.clear()
        thread = threading.Thread(
            target=self._deploy,
            args=(backend, endpoint, runtime, endpoint.endpoint_config_name, None),
            name=f"endpoint-create-{endpoint.endpoint_name}",
            daemon=True,
        )
        thread.start()
        return runtime

    def update(self, backend: Any, endpoint: Any, config_name: str) -> Runtime:
        """UpdateEndpoint: the new config is validated now, deployed in the background."""
        resolve(backend, config_name)
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        runtime = self._runtime(key)
        if endpoint.endpoint_status in ("Creating", "Updating"):
            raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
        endpoint.endpoint_status = "Updating"
        runtime.settled.clear()
        thread = threading.Thread(
            target=self._deploy,
            args=(backend, endpoint, runtime, config_name, None),
            name=f"endpoint-update-{endpoint.endpoint_name}",
            daemon=True,
        )
        thread.start()
        return runtime

    def delete(self, key: Key) -> None:
        """DeleteEndpoint: stop what serves it (after its in-flight requests)."""
        with self._lock:
            runtime = self._runtimes.pop(key, None)
        if runtime is None:
            return
        with runtime.lock:
            runtime.deleted = True
            active, runtime.active = runtime.active, None
        if active is not None:
            active.retire()
        shutil.rmtree(self._dir(key), ignore_errors=True)

    def _deploy(
        self,
        backend: Any,
        endpoint: Any,
        runtime: Runtime,
        config_name: str,
        deployment: Deployment | None,
    ) -> None:
        creating = runtime.active is None
        try:
            serving, deployment = self._start(backend, runtime, config_name, deployment)
        except (StartError, ValidationError) as err:
            reason = clip_reason(str(getattr(err, "message", None) or err))
            log.warning("endpoint %s: %s", endpoint.endpoint_name, reason)
            endpoint.failure_reason = reason
            # A failed update leaves the old model serving, as SageMaker rolls back.
            endpoint.endpoint_status = "Failed" if creating else "InService"
            runtime.settled.set()
            self._persist()
            return
        with runtime.lock:
            if runtime.deleted:
                old = serving  # deleted while starting: nothing may keep running
            else:
                old, runtime.active, runtime.deployment = runtime.active, serving, deployment
        if old is serving:
            serving.stop()
            runtime.settled.set()
            return
        self._remember(runtime)
        if config_name != endpoint.endpoint_config_name:
            config = backend.endpoint_configs.get(config_name)
            if config is not None:
                endpoint.production_variants = endpoint._process_production_variants(
                    config.production_variants
                )
            endpoint.endpoint_config_name = config_name
        endpoint.failure_reason = None
        endpoint.endpoint_status = "InService"
        runtime.settled.set()
        self._persist()
        if old is not None:
            old.retire()
            shutil.rmtree(old.workdir, ignore_errors=True)

    def _start(
        self, backend: Any, runtime: Runtime, config_name: str, deployment: Deployment | None
    ) -> tuple[ServingProcess, Deployment]:
        if deployment is None:
            deployment = resolve(backend, config_name)
        with runtime.lock:
            runtime.generation += 1
            workdir = self._dir(runtime.key) / str(runtime.generation)
        shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True)
        model_dir = workdir / "model"
        archive = _read_s3(backend.account_id, deployment.model_data_url)
        from localcloud.dataplane.serving import unpack_model

        unpack_model(archive, workdir)
        serving = ServingProcess.start(
            model_dir,
            workdir,
            workers=deployment.workers,
            serverless=deployment.serverless,
            environment=deployment.environment,
            overlay_cache=self.root.parent / "overlays",  # code/requirements.txt, shared
        )
        return serving, deployment

    def _remember(self, runtime: Runtime) -> None:
        """Record what serves, so a restart serves the same model even if its config is gone."""
        assert runtime.deployment is not None and runtime.active is not None
        record = {"generation": runtime.generation, **runtime.deployment.__dict__}
        write_atomically(self._dir(runtime.key) / "current.json", json.dumps(record).encode())

    def recover(self, backends: Any) -> None:
        """After a restart: serve again every endpoint that was serving (in parallel)."""
        threads = []
        for account, region, backend in backends.iter_backends():
            for endpoint in list(backend.endpoints.values()):
                if endpoint.endpoint_status not in ("InService", "Creating", "Updating"):
                    continue
                key = (account, region, endpoint.endpoint_name)
                thread = threading.Thread(
                    target=self._recover_one, args=(backend, endpoint, key), daemon=True
                )
                thread.start()
                threads.append(thread)
        for thread in threads:
            thread.join()

    def _recover_one(self, backend: Any, endpoint: Any, key: Key) -> None:
        runtime = self._runtime(key)
        deployment = None
        record_path = self._dir(key) / "current.json"
        with contextlib.suppress(OSError, ValueError, TypeError):
            record = json.loads(record_path.read_text())
            runtime.generation = int(record.pop("generation"))
            deployment = Deployment(**record)
        config_name = deployment.config_name if deployment else endpoint.endpoint_config_name
        try:
            serving, deployment = self._start(backend, runtime, config_name, deployment)
        except (StartError, ValidationError) as err:
            reason = str(getattr(err, "message", None) or err)
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = clip_reason(RESTART_REASON.format(reason))
            runtime.settled.set()
            return
        runtime.active, runtime.deployment = serving, deployment
        self._remember(runtime)
        endpoint.endpoint_status = "InService"
        runtime.settled.set()

    def stop_all(self) -> None:
        """Stop every serving process (the cloud is shutting down); records stay on disk."""
        with self._lock:
            runtimes = list(self._runtimes.values())
        for runtime in runtimes:
            with runtime.lock:
                active, runtime.active = runtime.active, None
            if active is not None:
                active.stop()

    def processes(self) -> list[ServingProcess]:
        with self._lock:
            return [r.active for r in self._runtimes.values() if r.active is not None]

    # --- requests ------------------------------------------------------------------------------
    def invoke(
        self, key: Key, endpoint: Any, body: bytes, headers: dict[str, str]
    ) -> tuple[bytes, dict[str, str]]:
        """Forward one InvokeEndpoint to the serving process; SageMaker's errors otherwise."""
        account, _region, name = key
        runtime = self.get(key)
        if endpoint is None or runtime is None:
            raise ValidationError(f"Endpoint {name} of account {account} not found.")
        with runtime.lock:
            serving, deployment = runtime.active, runtime.deployment
            if serving is None or deployment is None:
                raise ValidationError(
                    f"Endpoint {name} of account {account} is not in service "
                    f"(status {endpoint.endpoint_status})."
                )
            if deployment.serverless and runtime.inflight >= (deployment.max_concurrency or 0):
                raise ThrottlingException(
                    f"endpoint {name} is at its MaxConcurrency of {deployment.max_concurrency} "
                    "concurrent invocations"
                )
            runtime.inflight += 1
            serving.enter()
        try:
            limit = SERVERLESS_PAYLOAD_BYTES if deployment.serverless else REALTIME_PAYLOAD_BYTES
            if len(body) > limit:
                raise ValidationError(
                    f"Request payload of {len(body)} bytes exceeds the {limit // (1024 * 1024)} MB "
                    f"limit of endpoint {name}."
                )
            try:
                status, answer_headers, answer = serving.invoke(body, headers)
            except TimeoutError:
                raise ModelError(
                    f"Your invocation timed out while waiting for a response from container "
                    f"primary. See the logs of endpoint {name}.",
                    original_status=0,
                    original_message="timeout",
                ) from None
            except OSError as err:
                raise ModelNotReady(
                    f"the serving process of endpoint {name} did not answer: {err}"
                ) from None
        finally:
            serving.leave()
            with runtime.lock:
                runtime.inflight -= 1
        if status >= 400:
            text = answer.decode("utf-8", errors="replace")
            side = "client" if status < 500 else "server"
            raise ModelError(
                f'Received {side} error ({status}) from primary with message "{text}". '
                f"See the logs of endpoint {name}.",
                original_status=status,
                original_message=text,
            )
        content_type = next(
            (v for k, v in answer_headers.items() if k.lower() == "content-type"),
            "application/octet-stream",
        )
        return answer, {
            "Content-Type": content_type,
            "x-Amzn-Invoked-Production-Variant": deployment.variant_name,
        }
