"""Endpoints that really serve: one serving process per endpoint, blue/green on update.

moto keeps the records (FakeEndpoint); this module keeps what runs. CreateEndpoint starts the
model in the background (Creating → InService | Failed); UpdateEndpoint starts the new model
first, switches new requests to it once /ping answers, then stops the old process when its
in-flight requests are done, so no request fails during an update. An UpdateEndpoint with a
DeploymentConfig shifts traffic as it says (canary, linear, all at once, rolling batches),
bakes, and rolls back when one of its alarms goes into ALARM (`rollout`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import random
import secrets
import shutil
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from localcloud.dataplane import rollout
from localcloud.dataplane.async_invocations import AsyncInvocations
from localcloud.dataplane.capture import CaptureSettings, CaptureWriter, capture_line
from localcloud.dataplane.serving import (
    NotReached,
    ServingProcess,
    StartError,
    clip_reason,
    fetch_model,
)
from localcloud.dataplane.sessions import RoleError, Sessions, role_client
from localcloud.dataplane.telemetry import Telemetry
from localcloud.shared.clock import Clock
from localcloud.shared.errors import ModelError, ModelNotReady, ThrottlingException, ValidationError
from smlocal.core.archives import ArchiveError, inside
from smlocal.core.files import write_atomically

log = logging.getLogger("localcloud.dataplane.endpoints")

SERVERLESS_PAYLOAD_BYTES = 4 * 1024 * 1024
REALTIME_PAYLOAD_BYTES = 6 * 1024 * 1024
DEATH_GRACE_S = 1.0  # a reset connection: how long to wait for its process to be gone
CUSTOM_HEADER = "x-amzn-sagemaker-custom-attributes"
WATCH_INTERVAL_S = 1.0  # how soon a dead instance is noticed without traffic
RESTART_REASON = "the local cloud restarted and could not serve the model again: {}"

Key = tuple[str, str, str]  # account, region, endpoint name


@dataclass
class Variant:
    """One production variant of an endpoint config, resolved to what serves it."""

    name: str
    image: str
    model_data_url: str
    environment: dict[str, str]
    instance_count: int  # the desired count (1 for serverless)
    weight: float
    max_concurrency: int | None  # serverless only
    shadow: bool = False  # a shadow variant: gets a copy of each request, never answers
    role_arn: str = ""  # its model's ExecutionRoleArn: what SageMaker acts as for it

    @property
    def serverless(self) -> bool:
        return self.max_concurrency is not None


@dataclass
class Deployment:
    """What one endpoint config asks to serve: every production variant."""

    config_name: str
    variants: list[Variant]
    capture: dict[str, Any] | None = None  # the config's DataCaptureConfig
    async_config: dict[str, Any] | None = None  # the config's AsyncInferenceConfig


@dataclass
class Fleet:
    """The serving processes of one variant, one per instance; `instances` maps SageMaker's
    instance id to its process. `lock` serialises scaling (the watchdog and updates)."""

    key: Key
    variant: Variant
    model_dir: Path
    workdir: Path
    instances: dict[str, ServingProcess] = field(default_factory=dict)
    inflight: int = 0
    turn: int = 0
    retired: bool = False
    status: list[dict[str, Any]] = field(default_factory=list)  # VariantStatus while updating
    started: datetime = field(default_factory=lambda: datetime.now(UTC))
    scaling: threading.Lock = field(default_factory=threading.Lock)

    def live(self) -> list[tuple[str, ServingProcess]]:
        return [(i, p) for i, p in list(self.instances.items()) if p.alive()]


@dataclass
class Runtime:
    """What runs for one endpoint. `fleets` take new requests; `settled` is set when no
    create or update is in progress. During a deployment with a DeploymentConfig, `green`
    (the new config's fleets) takes `green_share` of the requests."""

    key: Key
    fleets: dict[str, Fleet] = field(default_factory=dict)
    green: dict[str, Fleet] = field(default_factory=dict)
    green_share: float = 0.0
    watch: rollout.Watch | None = None
    deployment: Deployment | None = None
    generation: int = 0
    deleted: bool = False
    capture: CaptureSettings | None = None
    queue: ThreadPoolExecutor | None = None  # async invocations: the model's work queue
    endpoint: Any = None  # moto's FakeEndpoint record, whose variants `describe` keeps true
    settled: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _instance_id() -> str:
    return "i-" + secrets.token_hex(9)[:17]


def resolve(backend: Any, config_name: str) -> Deployment:
    """The deployment an endpoint config describes; ValidationError if it or a model is gone."""
    config = backend.endpoint_configs.get(config_name)
    if config is None:
        raise ValidationError(f"Could not find endpoint configuration '{config_name}'.")
    variants = []
    shadows = getattr(config, "shadow_production_variants", None) or []
    for variant in [*config.production_variants, *({**v, "_shadow": True} for v in shadows)]:
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
        weight = variant.get("InitialVariantWeight")
        variants.append(
            Variant(
                name=variant["VariantName"],
                image=str(container.get("Image") or ""),
                model_data_url=url,
                environment={
                    str(k): str(v) for k, v in (container.get("Environment") or {}).items()
                },
                instance_count=1 if serverless else int(variant.get("InitialInstanceCount") or 1),
                weight=1.0 if weight is None else float(weight),
                max_concurrency=int(serverless["MaxConcurrency"]) if serverless else None,
                shadow=bool(variant.get("_shadow")),
                role_arn=str(model.execution_role_arn or ""),
            )
        )
    return Deployment(
        config_name=config_name,
        variants=variants,
        capture=config.data_capture_config or None,
        async_config=config.async_inference_config or None,
    )


def _fill_roles(backend: Any, deployment: Deployment, endpoint_config: str) -> None:
    """A record of what served written before endpoints acted as their role has no role: each
    such variant gets its model's execution role, through the recorded config (or, if that is
    gone, the endpoint's)."""
    for variant in deployment.variants:
        for config_name in (deployment.config_name, endpoint_config):
            if variant.role_arn:
                break
            config = backend.endpoint_configs.get(config_name)
            listed = [
                *(getattr(config, "production_variants", None) or []),
                *(getattr(config, "shadow_production_variants", None) or []),
            ]
            for entry in listed:
                model = backend._models.get(entry.get("ModelName"))
                if entry.get("VariantName") == variant.name and model is not None:
                    variant.role_arn = str(model.execution_role_arn or "")


def _discard_models(fleets: dict[str, Fleet]) -> None:
    """A start that failed keeps no unpacked model (its instances' logs stay for their streams)."""
    for fleet in fleets.values():
        shutil.rmtree(fleet.model_dir, ignore_errors=True)


class Endpoints:
    """All endpoint runtimes of the local cloud (every account and region)."""

    def __init__(
        self, state_dir: Path, store: Any, endpoint_url: str, clock: Clock | None = None
    ) -> None:
        self.root = Path(state_dir) / "endpoints"
        self.clock = clock or Clock()  # waits, bakes and async time to live run on it
        self._store = store
        # What an alarm's state is; the cloud hands in CloudWatch's (see `localcloud.patches`).
        self.alarm_state: rollout.AlarmState = lambda _account, _region, _name: None
        self._state_dir = Path(state_dir)
        self._endpoint_url = endpoint_url
        self._s3_clients: dict[tuple[Key, str], Any] = {}
        self.sessions: Sessions | None = None  # handed in by `localcloud.patches`
        self._persist = store.flush  # called after a background status change
        self.telemetry = Telemetry(store, clock=self.clock, live=self._provisioned_variants)
        self.capture = CaptureWriter(self.s3_client)
        self.async_invocations = AsyncInvocations(self, store)
        # Shadow copies run off the caller's request; a few threads are plenty on one machine.
        self._shadow_pool = ThreadPoolExecutor(4, thread_name_prefix="shadow")
        self._runtimes: dict[Key, Runtime] = {}
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._watchdog: threading.Thread | None = None

    def s3_client(self, key: Key, role_arn: str) -> Any:
        """S3 as SageMaker's session of `role_arn` for the endpoint `key` (its model's
        download, capture files, async inputs and answers): what its role may, no more. Kept
        while the endpoint lives (`delete` drops them); RoleError when SageMaker cannot assume
        the role."""
        with self._lock:
            client = self._s3_clients.get((key, role_arn))
        if client is None:
            client = role_client(self.sessions, "s3", self._endpoint_url, key, role_arn, "endpoint")
            with self._lock:
                # A deleted endpoint's last capture lines get a client that is not kept.
                if key in self._runtimes:
                    client = self._s3_clients.setdefault((key, role_arn), client)
        return client

    def _runtime(self, key: Key) -> Runtime:
        with self._lock:
            runtime = self._runtimes.get(key)
            if runtime is None or runtime.deleted:
                runtime = self._runtimes[key] = Runtime(key)
            return runtime

    def _provisioned_variants(self) -> list[tuple[str, str, str, str]]:
        """(account, region, endpoint, variant) of each provisioned fleet taking requests."""
        with self._lock:
            runtimes = [r for r in self._runtimes.values() if not r.deleted]
        return [
            (*r.key, name)
            for r in runtimes
            for name, fleet in list(r.fleets.items())
            if not fleet.retired and not fleet.variant.serverless and fleet.instances
        ]

    def get(self, key: Key) -> Runtime | None:
        with self._lock:
            return self._runtimes.get(key)

    def _dir(self, key: Key, *parts: str) -> Path:
        # Names were checked against AWS's patterns; the folder is checked again here.
        try:
            return inside(self.root, *key, *parts)
        except ArchiveError as err:
            raise ValidationError(str(err)) from None

    # --- lifecycle -----------------------------------------------------------------------------
    def create(self, backend: Any, endpoint: Any) -> Runtime:
        """Called after moto recorded CreateEndpoint: start serving in the background."""
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        runtime = self._runtime(key)
        runtime.endpoint = endpoint
        endpoint.endpoint_status = "Creating"
        endpoint.failure_reason = None
        runtime.settled.clear()
        self._background(
            f"endpoint-create-{endpoint.endpoint_name}",
            self._deploy,
            backend,
            endpoint,
            runtime,
            endpoint.endpoint_config_name,
        )
        return runtime

    def update(
        self,
        backend: Any,
        endpoint: Any,
        config_name: str,
        deployment_config: dict[str, Any] | None = None,
        *,
        retain: bool = False,
    ) -> Runtime:
        """UpdateEndpoint: the new config and DeploymentConfig (or, with `retain`, the last
        one) are validated now, deployed in the background as the policy says."""
        if not deployment_config and retain:
            deployment_config = getattr(endpoint, "last_deployment_config", None)
        policy = rollout.parse(deployment_config)
        resolve(backend, config_name)
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        runtime = self._runtime(key)
        runtime.endpoint = endpoint
        if endpoint.endpoint_status in ("Creating", "Updating"):
            raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
        endpoint.endpoint_status = "Updating"
        if policy is not None:
            endpoint.last_deployment_config = policy.raw
        runtime.settled.clear()
        self._background(
            f"endpoint-update-{endpoint.endpoint_name}",
            self._deploy,
            backend,
            endpoint,
            runtime,
            config_name,
            policy,
        )
        return runtime

    def update_weights_and_capacities(
        self, backend: Any, endpoint: Any, desired: list[dict[str, Any]]
    ) -> None:
        """UpdateEndpointWeightsAndCapacities, after moto's checks of the request: weights
        change at once, instances start or stop in the background (Updating → InService)."""
        key = (backend.account_id, backend.region_name, endpoint.endpoint_name)
        runtime = self.get(key)
        if endpoint.endpoint_status != "InService" or runtime is None or not runtime.fleets:
            raise ValidationError(f'Cannot update in-progress endpoint "{endpoint.arn}".')
        changes: list[tuple[Fleet, float | None, int | None]] = []
        for item in desired:
            fleet = runtime.fleets[item["VariantName"]]
            weight, count = item.get("DesiredWeight"), item.get("DesiredInstanceCount")
            if count is not None and fleet.variant.serverless:
                raise ValidationError(
                    f"variant {fleet.variant.name} is serverless: DesiredInstanceCount does not "
                    "apply to it"
                )
            changes.append(
                (
                    fleet,
                    None if weight is None else float(weight),
                    None if count is None else int(count),
                )
            )
        endpoint.endpoint_status = "Updating"
        runtime.settled.clear()
        started = datetime.now(UTC)
        for fleet, weight, count in changes:
            if weight is not None:
                fleet.variant.weight = weight  # routing reads it: traffic shifts at once
            if count is not None and count != fleet.variant.instance_count:
                fleet.variant.instance_count = count
                fleet.status = [
                    {
                        "Status": "Updating",
                        "StatusMessage": f"scaling to {count} instances",
                        "StartTime": started,
                    }
                ]
        self.describe(runtime)

        def scale() -> None:
            threads = [
                threading.Thread(target=self._reconcile, args=(runtime, fleet), daemon=True)
                for fleet, _weight, count in changes
                if count is not None
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            for fleet, _weight, _count in changes:
                fleet.status = []
            self._remember(runtime)
            endpoint.endpoint_status = "InService"
            self.describe(runtime)
            runtime.settled.set()
            self._persist()

        self._background(f"endpoint-scale-{endpoint.endpoint_name}", scale)

    def delete(self, key: Key) -> None:
        """DeleteEndpoint: stop what serves it (after its in-flight requests)."""
        with self._lock:
            runtime = self._runtimes.pop(key, None)
            for client_key in [k for k in self._s3_clients if k[0] == key]:
                del self._s3_clients[client_key]
        if runtime is None:
            return
        with runtime.lock:
            runtime.deleted = True
            fleets, runtime.fleets = runtime.fleets, {}
            queue, runtime.queue = runtime.queue, None
            if runtime.watch is not None:
                runtime.watch.stop.set()  # a deployment under way ends now
        if queue is not None:  # queued async invocations of a deleted endpoint are dropped
            queue.shutdown(wait=False, cancel_futures=True)
        self._retire(list(fleets.values()), drain=True)
        shutil.rmtree(self._dir(key), ignore_errors=True)

    @staticmethod
    def _background(name: str, target: Any, *args: Any) -> None:
        threading.Thread(target=target, args=args, name=name, daemon=True).start()

    def _deploy(
        self,
        backend: Any,
        endpoint: Any,
        runtime: Runtime,
        config_name: str,
        policy: rollout.Policy | None = None,
    ) -> None:
        creating = not runtime.fleets
        guarded = policy is not None and not creating
        started = datetime.now(UTC)
        deployment = None
        try:
            if guarded:
                deployment = resolve(backend, config_name)
                self._pending(runtime, config_name, deployment, "Creating", started)
                if policy.mode == "ROLLING" and policy.size is not None:
                    for variant in deployment.variants:  # the first batch only
                        variant.instance_count = policy.size.count(variant.instance_count)
            fleets, deployment = self._start(backend, runtime, config_name, deployment)
        except (StartError, ValidationError) as err:
            reason = clip_reason(str(getattr(err, "message", None) or err))
            log.warning("endpoint %s: %s", endpoint.endpoint_name, reason)
            endpoint.failure_reason = reason
            endpoint.pending_deployment_summary = None
            # A failed update leaves the old model serving, as SageMaker rolls back.
            endpoint.endpoint_status = "Failed" if creating else "InService"
            runtime.settled.set()
            self._persist()
            return
        if guarded and not runtime.deleted:
            assert policy is not None
            try:
                reason = self._shift(backend, runtime, fleets, deployment, policy, started)
            except rollout.Abandoned:
                # Deleted, or the cloud stopped: the new fleets go, the records stay as they are
                # (a restart rolls the update back, `_resolve_interrupted`).
                self._retire(list(fleets.values()), drain=False)
                runtime.settled.set()
                return
            if reason is not None:
                self._roll_back(runtime, reason)
                return
        with runtime.lock:
            deleted = runtime.deleted
            if not deleted:
                old, runtime.fleets, runtime.deployment = runtime.fleets, fleets, deployment
                runtime.capture = CaptureSettings.from_config(deployment.capture)
                runtime.green, runtime.green_share, runtime.watch = {}, 0.0, None
        if deleted:  # deleted while starting: nothing may keep running
            self._retire(list(fleets.values()), drain=False)
            runtime.settled.set()
            return
        self._remember(runtime)
        self._point(backend, endpoint, config_name)
        self.describe(runtime)
        endpoint.failure_reason = None
        endpoint.pending_deployment_summary = None
        endpoint.endpoint_status = "InService"
        runtime.settled.set()
        self._persist()
        self._ensure_watchdog()
        if old:
            self._retire(list(old.values()), drain=True)
            for fleet in old.values():
                shutil.rmtree(fleet.workdir, ignore_errors=True)

    @staticmethod
    def _point(backend: Any, endpoint: Any, config_name: str) -> None:
        """The endpoint record names `config_name` and its variants (it serves it now)."""
        config = backend.endpoint_configs.get(config_name)
        if config_name != endpoint.endpoint_config_name and config is not None:
            endpoint.production_variants = endpoint._process_production_variants(
                config.production_variants
            )
        shadows = getattr(config, "shadow_production_variants", None) or []
        endpoint.shadow_production_variants = (
            endpoint._process_production_variants(shadows) if shadows else None
        )
        endpoint.endpoint_config_name = config_name

    # --- deployment guardrails (`rollout`) ----------------------------------------------------
    def _pending(
        self,
        runtime: Runtime,
        config_name: str,
        deployment: Deployment,
        status: str,
        started: datetime,
        message: str = "",
    ) -> None:
        """DescribeEndpoint's PendingDeploymentSummary: the new config's variants, what of them
        runs and takes traffic, and the step the deployment is in."""
        endpoint = runtime.endpoint
        if endpoint is None:
            return
        step_started = datetime.now(UTC)
        variants = []
        for variant in deployment.variants:
            if variant.shadow:
                continue
            fleet = runtime.green.get(variant.name)
            summary: dict[str, Any] = {
                "VariantName": variant.name,
                "DeployedImages": [
                    {
                        "SpecifiedImage": variant.image,
                        "ResolvedImage": variant.image,
                        "ResolutionTime": started,
                    }
                ],
                "CurrentWeight": variant.weight * runtime.green_share,
                "DesiredWeight": variant.weight,
                "VariantStatus": [
                    {
                        "Status": status,
                        "StatusMessage": message or status,
                        "StartTime": step_started,
                    }
                ],
            }
            if not variant.serverless:
                summary["CurrentInstanceCount"] = len(fleet.live()) if fleet else 0
                summary["DesiredInstanceCount"] = variant.instance_count
            variants.append(summary)
        endpoint.pending_deployment_summary = {
            "EndpointConfigName": config_name,
            "ProductionVariants": variants,
            "StartTime": started,
        }

    def _set_share(self, runtime: Runtime, fleets: dict[str, Fleet], share: float) -> None:
        with runtime.lock:
            runtime.green, runtime.green_share = fleets, share

    def _shift(
        self,
        backend: Any,
        runtime: Runtime,
        fleets: dict[str, Fleet],
        deployment: Deployment,
        policy: rollout.Policy,
        started: datetime,
    ) -> str | None:
        """Move the traffic from the serving fleets (blue) to `fleets` (green) as `policy` says,
        watching its alarms; None when green may take over, else the rollback's reason.
        rollout.Abandoned when the endpoint is deleted or the cloud stops meanwhile."""
        account, region, _name = runtime.key
        watch = rollout.Watch(
            self.clock, self.alarm_state, account, region, policy, self.clock.now()
        )
        with runtime.lock:  # `delete` and `stop_all` stop the watch they find under this lock
            runtime.watch = watch
            if runtime.deleted or self._stopping.is_set():
                watch.stop.set()
        config_name = deployment.config_name
        if policy.mode == "ROLLING":
            return self._roll(backend, runtime, fleets, deployment, policy, watch, started)
        instances = sum(f.variant.instance_count for f in fleets.values())
        for share, hold_s, what in rollout.steps(policy, instances):
            self._set_share(runtime, fleets, share)
            baking = share >= 1.0
            phase = "baking period" if baking else "traffic shift"
            status = "Baking" if baking else "ActivatingTraffic"
            # Not persisted here: a CloudFormation update waiting for this deployment holds the
            # state store (shared) until it ends, and a snapshot needs it exclusively.
            self._pending(runtime, config_name, deployment, status, started, what)
            reason = watch.hold(hold_s, phase)
            if reason is not None:
                return reason
        return None

    def _roll(
        self,
        backend: Any,
        runtime: Runtime,
        fleets: dict[str, Fleet],
        deployment: Deployment,
        policy: rollout.Policy,
        watch: rollout.Watch,
        started: datetime,
    ) -> str | None:
        """RollingUpdatePolicy: a batch of new instances takes its share of the traffic, is
        watched for the wait, then as many old instances stop; again until all are new."""
        assert policy.size is not None
        targets = {
            v.name: v.instance_count for v in resolve(backend, deployment.config_name).variants
        }
        blue = dict(runtime.fleets)
        original = {name: f.variant.instance_count for name, f in blue.items()}
        batch = {name: policy.size.count(count) for name, count in targets.items()}

        def share() -> None:  # by the instances each side has (or is about to have)
            new = sum(f.variant.instance_count for f in fleets.values())
            old = sum(f.variant.instance_count for f in blue.values())
            self._set_share(runtime, fleets, new / max(1, new + old))

        while True:
            share()
            message = f"rolling: {sum(len(f.live()) for f in fleets.values())} new instances"
            self._pending(runtime, deployment.config_name, deployment, "Updating", started, message)
            reason = watch.hold(policy.wait_s, "rolling deployment")
            if reason is not None:
                self._restore(runtime, blue, original, policy)
                return reason
            done = all(f.variant.instance_count >= targets[n] for n, f in fleets.items())
            for name, fleet in blue.items():  # the batch the new instances replace
                step = fleet.variant.instance_count if done else batch.get(name, 0)
                fleet.variant.instance_count = max(0, fleet.variant.instance_count - step)
            share()  # before they stop, so no request goes to a stopping instance
            for fleet in blue.values():
                self._reconcile(runtime, fleet)
            if done:
                break
            for name, fleet in fleets.items():
                fleet.variant.instance_count = min(
                    targets[name], fleet.variant.instance_count + batch[name]
                )
                self._reconcile(runtime, fleet)
        return None

    def _restore(
        self,
        runtime: Runtime,
        blue: dict[str, Fleet],
        original: dict[str, int],
        policy: rollout.Policy,
    ) -> None:
        """A rolling deployment's rollback: the old instances back, RollbackMaximumBatchSize
        at a time (all at once without it), before the new ones lose their traffic."""
        for name, fleet in blue.items():
            want = original[name]
            size = policy.rollback_size.count(want) if policy.rollback_size else want
            while fleet.variant.instance_count < want:
                fleet.variant.instance_count = min(want, fleet.variant.instance_count + size)
                self._reconcile(runtime, fleet)

    def _roll_back(self, runtime: Runtime, reason: str) -> None:
        """Every request back on the old fleets; the new ones drained and stopped; the update
        ends InService on the old config with `reason`."""
        with runtime.lock:
            green, runtime.green, runtime.green_share = runtime.green, {}, 0.0
            runtime.watch = None
        log.warning("endpoint %s: %s", runtime.key[2], reason)
        endpoint = runtime.endpoint
        if endpoint is not None:
            endpoint.pending_deployment_summary = None
            endpoint.failure_reason = clip_reason(reason)
            self.describe(runtime)
            endpoint.endpoint_status = "InService"
        runtime.settled.set()
        self._persist()
        self._retire(list(green.values()), drain=True)
        for fleet in green.values():
            shutil.rmtree(fleet.workdir, ignore_errors=True)

    def _start(
        self, backend: Any, runtime: Runtime, config_name: str, deployment: Deployment | None
    ) -> tuple[dict[str, Fleet], Deployment]:
        """Unpack every variant's model and start all its instances (in parallel)."""
        if deployment is None:
            deployment = resolve(backend, config_name)
        with runtime.lock:
            runtime.generation += 1
            generation = str(runtime.generation)
        fleets: dict[str, Fleet] = {}
        try:
            for variant in deployment.variants:
                workdir = self._dir(runtime.key, generation, variant.name)
                shutil.rmtree(workdir, ignore_errors=True)
                workdir.mkdir(parents=True)
                url = variant.model_data_url
                try:
                    s3 = self.s3_client(runtime.key, variant.role_arn)
                except RoleError as err:
                    raise StartError(f"could not download the model data {url}: {err}") from None
                fetch_model(s3, url, workdir)
                fleets[variant.name] = Fleet(runtime.key, variant, workdir / "model", workdir)
        except (StartError, ValidationError):
            _discard_models(fleets)
            raise
        wanted = [f for f in fleets.values() for _ in range(f.variant.instance_count)]
        with ThreadPoolExecutor(max(1, len(wanted))) as pool:
            outcomes = list(pool.map(self._try_start, wanted))
        errors = [o for o in outcomes if isinstance(o, StartError)]
        for fleet, outcome in zip(wanted, outcomes, strict=True):
            if not isinstance(outcome, StartError):
                fleet.instances[outcome[0]] = outcome[1]
        if errors:
            self._retire(list(fleets.values()), drain=False)
            _discard_models(fleets)
            raise errors[0]
        return fleets, deployment

    def _try_start(self, fleet: Fleet) -> tuple[str, ServingProcess] | StartError:
        """Start one instance of `fleet` (its own serving process); the error, not raised."""
        instance_id = _instance_id()
        workdir = fleet.workdir / instance_id
        workdir.mkdir(parents=True, exist_ok=True)
        account, region, endpoint = fleet.key
        began = time.monotonic()
        try:
            serving = ServingProcess.start(
                fleet.model_dir,
                workdir,
                workers=1,
                serverless=fleet.variant.serverless,
                environment=fleet.variant.environment,
                overlay_cache=self.root.parent / "overlays",  # code/requirements.txt, shared
            )
        except StartError as err:
            return err
        finally:
            # The instance's output goes to its log stream, the failed start's too.
            self.telemetry.follow(
                account,
                region,
                endpoint,
                f"{fleet.variant.name}/{instance_id}",
                workdir / "serve.log",
            )
        if fleet.variant.serverless:  # a cold start of serverless compute
            where = (*fleet.key, fleet.variant.name)
            self.telemetry.add(where, "ModelSetupTime", (time.monotonic() - began) * 1e6)
        return instance_id, serving

    def _reconcile(self, runtime: Runtime, fleet: Fleet, *, wait: bool = True) -> None:
        """Make the live instances of `fleet` its desired count: dead ones are replaced,
        missing ones started, extra ones drained and stopped."""
        if not fleet.scaling.acquire(blocking=wait):
            return  # another reconcile of this fleet is under way
        try:
            if fleet.retired:
                return
            for instance_id, serving in list(fleet.instances.items()):
                if not serving.alive():
                    log.warning("instance %s of %s died; replacing it", instance_id, runtime.key)
                    fleet.instances.pop(instance_id, None)
                    serving.kill()
                    self.telemetry.unfollow(serving.log_path)
            missing = fleet.variant.instance_count - len(fleet.instances)
            if missing > 0:
                with ThreadPoolExecutor(missing) as pool:
                    for outcome in pool.map(self._try_start, [fleet] * missing):
                        if isinstance(outcome, StartError):
                            log.warning("endpoint %s: %s", runtime.key, outcome)
                        else:
                            fleet.instances[outcome[0]] = outcome[1]
            elif missing < 0:
                extra = list(fleet.instances)[missing:]  # the newest go first
                retiring = [fleet.instances.pop(i) for i in extra]
                for serving in retiring:
                    serving.retire()
                    self.telemetry.unfollow(serving.log_path)
                    shutil.rmtree(serving.workdir, ignore_errors=True)
        finally:
            fleet.scaling.release()
        if runtime.fleets.get(fleet.variant.name) is fleet:
            self.describe(runtime)

    def _retire(self, fleets: list[Fleet], *, drain: bool) -> None:
        for fleet in fleets:
            with fleet.scaling:  # waits for a start under way, which then sees `retired`
                fleet.retired = True
                processes, fleet.instances = list(fleet.instances.values()), {}
            for serving in processes:
                if drain:
                    serving.retire()
                else:
                    serving.stop()
                self.telemetry.unfollow(serving.log_path)

    def describe(self, runtime: Runtime) -> None:
        """Make the endpoint record's ProductionVariants say what really runs."""
        endpoint = runtime.endpoint
        if endpoint is None:
            return
        if runtime.capture is not None:
            endpoint.data_capture_config = runtime.capture.summary()
        if runtime.deployment is not None and runtime.deployment.async_config:
            endpoint.async_inference_config = runtime.deployment.async_config
        shadows = getattr(endpoint, "shadow_production_variants", None) or []
        for record in [*endpoint.production_variants, *shadows]:
            fleet = runtime.fleets.get(record["VariantName"])
            if fleet is None:
                continue
            variant = fleet.variant
            record["CurrentWeight"] = record["DesiredWeight"] = variant.weight
            if not variant.serverless:
                record["CurrentInstanceCount"] = len(fleet.live())
                record["DesiredInstanceCount"] = variant.instance_count
            record["DeployedImages"] = [
                {
                    "SpecifiedImage": variant.image,
                    "ResolvedImage": variant.image,
                    "ResolutionTime": fleet.started,
                }
            ]
            record["VariantStatus"] = list(fleet.status)

    def _remember(self, runtime: Runtime) -> None:
        """Record what serves (with the current weights and counts), so a restart serves the
        same models even if their config is gone."""
        assert runtime.deployment is not None
        record = {
            "generation": runtime.generation,
            "config_name": runtime.deployment.config_name,
            "variants": [asdict(f.variant) for f in runtime.fleets.values()],
            "capture": runtime.deployment.capture,
            "async_config": runtime.deployment.async_config,
        }
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
        self._ensure_watchdog()

    def _recover_one(self, backend: Any, endpoint: Any, key: Key) -> None:
        runtime = self._runtime(key)
        runtime.endpoint = endpoint
        deployment = None
        record_path = self._dir(key) / "current.json"
        with contextlib.suppress(OSError, ValueError, TypeError, KeyError):
            record = json.loads(record_path.read_text())
            deployment = Deployment(
                config_name=record["config_name"],
                variants=[Variant(**v) for v in record["variants"]],
                capture=record.get("capture"),
                async_config=record.get("async_config"),
            )
            runtime.generation = int(record["generation"])
        if deployment is not None:
            _fill_roles(backend, deployment, endpoint.endpoint_config_name)
        config_name = deployment.config_name if deployment else endpoint.endpoint_config_name
        try:
            fleets, deployment = self._start(backend, runtime, config_name, deployment)
        except (StartError, ValidationError) as err:
            reason = str(getattr(err, "message", None) or err)
            endpoint.endpoint_status = "Failed"
            endpoint.failure_reason = clip_reason(RESTART_REASON.format(reason))
            endpoint.pending_deployment_summary = None
            runtime.settled.set()
            return
        finally:
            self._discard_generations(runtime)
        runtime.fleets, runtime.deployment = fleets, deployment
        runtime.capture = CaptureSettings.from_config(deployment.capture)
        self._remember(runtime)
        self._resolve_interrupted(backend, endpoint, deployment.config_name)
        self.describe(runtime)
        endpoint.endpoint_status = "InService"
        runtime.settled.set()

    def _discard_generations(self, runtime: Runtime) -> None:
        """Remove the work dirs of the generations before the one a restart started: their
        processes are gone with the old cloud, their unpacked models would stay forever."""
        current, root = str(runtime.generation), self._dir(runtime.key)
        for entry in root.iterdir() if root.is_dir() else []:
            if entry.name.isdigit() and entry.name != current and entry.is_dir():
                shutil.rmtree(entry, ignore_errors=True)

    def _resolve_interrupted(self, backend: Any, endpoint: Any, serving: str) -> None:
        """An update the restart cut short ends as a rollback: what served before it serves
        again (`serving`, from the record of what served), its deployment summary goes and
        FailureReason says why. An update that had already switched to its new config (its
        record says so) but not yet said so on the endpoint is completed instead."""
        pending = getattr(endpoint, "pending_deployment_summary", None) or {}
        endpoint.pending_deployment_summary = None
        if serving != endpoint.endpoint_config_name:
            self._point(backend, endpoint, serving)
            endpoint.failure_reason = None
        elif endpoint.endpoint_status == "Updating":
            target = pending.get("EndpointConfigName")
            endpoint.failure_reason = clip_reason(
                rollout.RESTART_REASON.format(
                    target=f" to endpoint configuration {target}" if target else "",
                    config=serving,
                )
            )
            log.warning("endpoint %s: %s", endpoint.endpoint_name, endpoint.failure_reason)

    def _ensure_watchdog(self) -> None:
        with self._lock:
            if self._watchdog is None and not self._stopping.is_set():
                self._watchdog = threading.Thread(
                    target=self._watch, name="endpoint-watchdog", daemon=True
                )
                self._watchdog.start()

    def _watch(self) -> None:
        """Replace instances whose process died (SageMaker replaces an unhealthy instance)."""
        while not self._stopping.wait(WATCH_INTERVAL_S):
            with self._lock:
                runtimes = [r for r in self._runtimes.values() if not r.deleted]
            for runtime in runtimes:
                for fleet in list(runtime.fleets.values()):
                    short = len(fleet.live()) < fleet.variant.instance_count
                    if short and not fleet.scaling.locked():
                        self._background(
                            "endpoint-heal",
                            functools.partial(self._reconcile, wait=False),
                            runtime,
                            fleet,
                        )

    def stop_all(self) -> None:
        """Stop every serving process (the cloud is shutting down); records stay on disk."""
        self._stopping.set()
        with self._lock:
            runtimes = list(self._runtimes.values())
        for runtime in runtimes:
            with runtime.lock:
                if runtime.watch is not None:
                    runtime.watch.stop.set()  # a deployment's traffic step or bake ends now
                fleets, runtime.fleets = runtime.fleets, {}
                green, runtime.green = runtime.green, {}  # a deployment's new fleets too
                queue, runtime.queue = runtime.queue, None
            if queue is not None:
                queue.shutdown(wait=False, cancel_futures=True)
            self._retire([*fleets.values(), *green.values()], drain=False)
        self._shadow_pool.shutdown(wait=False, cancel_futures=True)
        self.telemetry.close()
        self.capture.close()

    def processes(self) -> list[ServingProcess]:
        with self._lock:
            runtimes = list(self._runtimes.values())
        return [p for r in runtimes for f in r.fleets.values() for p in f.instances.values()]

    # --- requests ------------------------------------------------------------------------------
    def invoke(
        self,
        key: Key,
        endpoint: Any,
        body: bytes,
        headers: dict[str, str],
        target_variant: str | None = None,
        inference_id: str | None = None,
        queued: bool = False,
        timeout_s: float | None = None,
        routed: Fleet | None = None,
    ) -> tuple[bytes, dict[str, str]]:
        """Forward one InvokeEndpoint to an instance of a variant chosen by weight (or the
        target variant); SageMaker's errors otherwise. `queued`: an async invocation's turn,
        `timeout_s` its InvocationTimeoutSeconds, `routed` the fleet it was routed to (unless
        that has been retired since)."""
        began = time.perf_counter()
        account, _region, name = key
        runtime = self.get(key)
        if endpoint is None or runtime is None:
            raise ValidationError(f"Endpoint {name} of account {account} not found.")
        deployment = runtime.deployment
        if not queued and deployment is not None and deployment.async_config:
            raise ValidationError(
                f"Endpoint {name} of account {account} is an asynchronous endpoint; "
                "invoke it with InvokeEndpointAsync."
            )
        with runtime.lock:
            fleets = runtime.fleets
            if not fleets:
                raise ValidationError(
                    f"Endpoint {name} of account {account} is not in service "
                    f"(status {endpoint.endpoint_status})."
                )
            if routed is not None and not routed.retired:
                fleet = routed
            else:
                fleet = self.route(runtime, name, target_variant)
            variant = fleet.variant
            where = (*key, variant.name)
            if variant.serverless and fleet.inflight >= (variant.max_concurrency or 0):
                self.telemetry.invocation(
                    where, instances=1, model_us=None, overhead_us=0.0, status=429
                )
                raise ThrottlingException(
                    f"endpoint {name} is at its MaxConcurrency of {variant.max_concurrency} "
                    "concurrent invocations"
                )
            fleet.inflight += 1
        code, model_s = 500, None
        try:
            limit = SERVERLESS_PAYLOAD_BYTES if variant.serverless else REALTIME_PAYLOAD_BYTES
            if len(body) > limit:
                code = 400
                raise ValidationError(
                    f"Request payload of {len(body)} bytes exceeds the {limit // (1024 * 1024)} MB "
                    f"limit of endpoint {name}."
                )
            status, answer_headers, answer, model_s = self._forward(
                name, fleet, body, headers, timeout_s
            )
            code = status
        except ModelNotReady:
            code = 429
            raise
        finally:
            with runtime.lock:
                fleet.inflight -= 1
            total_s = time.perf_counter() - began
            self.telemetry.invocation(
                where,
                instances=len(fleet.instances),
                model_us=None if model_s is None else model_s * 1e6,
                overhead_us=(total_s - (model_s or 0.0)) * 1e6,
                status=code,
            )
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
        for shadow in [f for f in runtime.fleets.values() if f.variant.shadow]:
            self._shadow_pool.submit(self._shadow_copy, key, shadow, body, headers)
        capture = runtime.capture
        if capture is not None and capture.sampled():
            now = datetime.now(UTC)
            line = capture_line(
                capture,
                request=body,
                request_type=headers.get("Content-Type", "application/octet-stream"),
                response=answer,
                response_type=content_type,
                inference_id=inference_id,
                custom_attributes=headers.get("X-Amzn-SageMaker-Custom-Attributes"),
                when=now,
            )
            self.capture.add(
                account, key[1], capture, name, variant.name, variant.role_arn, line, now
            )
        reply = {"Content-Type": content_type, "x-Amzn-Invoked-Production-Variant": variant.name}
        custom = next((v for k, v in answer_headers.items() if k.lower() == CUSTOM_HEADER), None)
        if custom is not None:  # the model set custom attributes for the caller
            reply["X-Amzn-SageMaker-Custom-Attributes"] = custom
        return answer, reply

    def _shadow_copy(self, key: Key, fleet: Fleet, body: bytes, headers: dict[str, str]) -> None:
        """A shadow variant's copy of a request: metrics are its own, the answer is dropped."""
        began = time.perf_counter()
        code, model_s = 500, None
        try:
            code, _headers, _answer, model_s = self._forward(key[2], fleet, body, headers)
        except Exception as err:  # a shadow's failure never reaches the caller
            log.info("shadow variant %s of %s: %s", fleet.variant.name, key, err)
        total_s = time.perf_counter() - began
        self.telemetry.invocation(
            (*key, fleet.variant.name),
            instances=len(fleet.instances),
            model_us=None if model_s is None else model_s * 1e6,
            overhead_us=(total_s - (model_s or 0.0)) * 1e6,
            status=code,
        )

    def invoke_async(
        self,
        key: Key,
        endpoint: Any,
        input_location: str,
        headers: dict[str, str],
        inference_id: str | None,
        *,
        ttl_s: int | None = None,
        timeout_s: int | None = None,
    ) -> tuple[str, str, str]:
        """InvokeEndpointAsync (`async_invocations.AsyncInvocations.submit`): (inference id,
        output, failure URI)."""
        return self.async_invocations.submit(
            key, endpoint, input_location, headers, inference_id, ttl_s=ttl_s, timeout_s=timeout_s
        )

    @staticmethod
    def route(runtime: Runtime, name: str, target_variant: str | None) -> Fleet:
        """The variant that takes a request: the target, else weighted random by CurrentWeight;
        from the new fleets for their share of the requests while a deployment shifts."""
        pool = runtime.fleets
        # A deployment under way: the new fleets take their share, chosen per request.
        if runtime.green and random.random() < runtime.green_share:
            pool = runtime.green
        if target_variant is not None:
            fleet = pool.get(target_variant) or runtime.fleets.get(target_variant)
            if fleet is None or fleet.variant.shadow:
                raise ValidationError(f"Variant {target_variant} not found for endpoint {name}.")
            return fleet
        fleets = [f for f in pool.values() if not f.variant.shadow]
        weights = [f.variant.weight for f in fleets]
        if sum(weights) <= 0:
            raise ValidationError(
                f"Endpoint {name} has no production variant with a weight above 0; "
                "name one with TargetVariant."
            )
        return random.choices(fleets, weights)[0]

    def _forward(
        self,
        name: str,
        fleet: Fleet,
        body: bytes,
        headers: dict[str, str],
        timeout_s: float | None = None,
    ) -> tuple[int, dict[str, str], bytes, float]:
        """POST to the least busy live instance; one whose process died (the connection is
        refused, or reset before any answer) is skipped and the request goes to the next."""
        tried: set[str] = set()
        while True:
            live = [(i, p) for i, p in fleet.live() if i not in tried]
            if not live:
                raise ModelNotReady(
                    f"no instance of variant {fleet.variant.name} of endpoint {name} is "
                    "running right now; a replacement is starting"
                )
            fleet.turn += 1
            rotated = live[fleet.turn % len(live) :] + live[: fleet.turn % len(live)]
            instance_id, serving = min(rotated, key=lambda item: item[1].inflight)
            tried.add(instance_id)
            serving.enter()
            sent = time.perf_counter()
            try:
                status, answer_headers, answer = (
                    serving.invoke(body, headers)
                    if timeout_s is None
                    else serving.invoke(body, headers, timeout_s)
                )
                return status, answer_headers, answer, time.perf_counter() - sent
            except NotReached:
                continue
            except TimeoutError:
                raise ModelError(
                    f"Your invocation timed out while waiting for a response from container "
                    f"primary. See the logs of endpoint {name}.",
                    original_status=0,
                    original_message="timeout",
                ) from None
            except OSError as err:
                if serving.died(within_s=DEATH_GRACE_S):
                    # Reset before any answer by a process that is gone: the model produced
                    # nothing for this caller, so another instance takes the request.
                    continue
                raise ModelNotReady(
                    f"the serving process of endpoint {name} did not answer: {err}"
                ) from None
            finally:
                serving.leave()
