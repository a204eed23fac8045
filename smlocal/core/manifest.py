"""The manifest schema: what `environments/<env>.yaml` may hold, typed and validated with pydantic.

Every bad value fails when the model is built, with a message naming the value and the allowed
form; `smlocal.core.environments` reads the files and puts the file and field in front of it,
`smlocal.core.pins` rewrites the `model:` block. `Platform` is what the environments of one
account+region share.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from smlocal.core.catalog import (
    Processor,
    dlc_repository_arns,
    ecr_repository_arn,
    instance_gpus,
    is_known_instance_type,
    pytorch_image_uri,
)
from smlocal.core.errors import UserError
from smlocal.core.naming import DATA_CAPTURE_PREFIX, default_bucket_name

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_S3_MODEL_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+\.tar\.gz$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_ROLE_NAME_RE = re.compile(r"^[\w+=,.@-]{1,64}$")
_S3_PREFIX_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9](/[^\s]*)?$")
_KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")
# S3's "safe" key characters, one or more segments, no leading or trailing slash.
_KEY_PREFIX_RE = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")


class ManifestError(UserError, ValueError):
    """A manifest that cannot be used; the message names the file, the field and the value."""


def _within(low: int, high: int, *, step: int = 1) -> AfterValidator:
    """`low <= value <= high` (and a multiple of `step`), else "must be low–high, got value"."""
    steps = f" in steps of {step}" if step > 1 else ""

    def check(value: int) -> int:
        if not (low <= value <= high and value % step == 0):
            raise ValueError(f"must be {low}–{high}{steps}, got {value}")
        return value

    return AfterValidator(check)


def _matching(
    pattern: re.Pattern[str], form: str, *, before: bool = False
) -> AfterValidator | BeforeValidator:
    """A string matching `pattern`, else "must be <form>, got <value>"; `before` checks the raw
    value, ahead of pydantic's own type check (an unquoted account id is refused, not coerced)."""

    def check(value: Any) -> Any:
        if not (isinstance(value, str) and pattern.match(value)):
            raise ValueError(f"must be {form}, got {value!r}")
        return value

    return BeforeValidator(check) if before else AfterValidator(check)


_Concurrency = Annotated[int, _within(1, 200)]
_S3ModelUrl = Annotated[str, _matching(_S3_MODEL_RE, "s3://<bucket>/<key>.tar.gz")]
_Sha256 = Annotated[str, _matching(_SHA256_RE, "64 lowercase hex digits")]
_KmsKeyArn = Annotated[
    str, _matching(_KMS_ARN_RE, "a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>)")
]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Autoscaling(_Strict):
    """Target tracking on `SageMakerVariantInvocationsPerInstance`."""

    min: Annotated[int, Field(ge=1)]
    max: Annotated[int, Field(ge=1)]
    target_invocations_per_instance: Annotated[int, Field(ge=1)]

    @model_validator(mode="after")
    def _min_le_max(self) -> Autoscaling:
        if self.min > self.max:
            raise ValueError(f"min must be <= max, got min={self.min} max={self.max}")
        return self


class DataCapture(_Strict):
    """SageMaker data capture: a sample of the requests and answers, written to S3 as JSON lines.
    `destination` defaults to the default bucket's `data-capture/` prefix."""

    sampling_percentage: Annotated[int, _within(0, 100)] = 100
    destination: (
        Annotated[str, _matching(_S3_PREFIX_RE, "an s3://<bucket>[/<prefix>] URI")] | None
    ) = None


class Deployment(_Strict):
    """How an update moves traffic to the new fleet (SageMaker's blue/green policy) while the
    rollback alarms are watched. Limits as SageMaker's: waits and bake 0–3600 s, the whole
    deployment 600–14400 s. The default shifts all at once, then bakes 5 minutes."""

    traffic: Literal["all_at_once", "canary", "linear"] = "all_at_once"
    canary_percent: Annotated[int, Field(ge=1, le=50)] | None = None
    """canary: the share of the new fleet's capacity that takes traffic first (SageMaker
    refuses a canary of more than half the fleet)."""
    linear_step_percent: Annotated[int, Field(ge=1, le=99)] | None = None
    """linear: the share of capacity each step moves."""
    wait_seconds: Annotated[int, Field(ge=0, le=3600)] = 0
    """canary, linear: how long each step is watched before the next."""
    bake_seconds: Annotated[int, Field(ge=0, le=3600)] = 300
    """after all traffic moved: how long the old fleet is kept while the alarms are watched."""
    timeout_seconds: Annotated[int, Field(ge=600, le=14400)] = 1800

    @model_validator(mode="after")
    def _fits_its_mode(self) -> Deployment:
        sizes = {"canary": self.canary_percent, "linear": self.linear_step_percent}
        for mode, size in sizes.items():
            field = "canary_percent" if mode == "canary" else "linear_step_percent"
            if self.traffic == mode and size is None:
                raise ValueError(f"traffic {mode} needs {field}")
            if self.traffic != mode and size is not None:
                raise ValueError(f"{field} applies to traffic {mode} only, got {size}")
        if self.traffic == "all_at_once" and self.wait_seconds:
            raise ValueError(
                f"wait_seconds applies to traffic canary and linear only, got {self.wait_seconds}"
            )
        if self.traffic != "all_at_once" and not self.wait_seconds:
            raise ValueError(
                f"traffic {self.traffic} needs wait_seconds > 0 (the alarms are watched then)"
            )
        total = self.waits * self.wait_seconds + self.bake_seconds
        if self.timeout_seconds <= total:
            raise ValueError(
                f"timeout_seconds must exceed the waits and the bake ({total} s), "
                f"got {self.timeout_seconds}"
            )
        return self

    @property
    def waits(self) -> int:
        """How many times traffic shifting waits: once for a canary, between linear steps."""
        if self.traffic == "canary":
            return 1
        if self.traffic == "linear":
            return -(-100 // (self.linear_step_percent or 100)) - 1
        return 0


def _known_instance_type(value: str) -> str:
    if not is_known_instance_type(value):
        raise ValueError(f"unknown instance type {value!r}")
    return value


_InstanceType = Annotated[str, AfterValidator(_known_instance_type)]


def _count_within(count: int, autoscaling: Autoscaling | None) -> None:
    a = autoscaling
    if a is not None and not a.min <= count <= a.max:
        raise ValueError(
            f"initial_instance_count must be within autoscaling min–max ({a.min}–{a.max}), "
            f"got {count}"
        )


class ProvisionedEndpoint(_Strict):
    """Instances that are always on, optionally autoscaled and with data capture; updates go
    blue/green."""

    kind: Literal["provisioned"] = "provisioned"
    instance_type: _InstanceType
    initial_instance_count: Annotated[int, Field(ge=1)] = 1
    autoscaling: Autoscaling | None = None
    deployment: Deployment = Field(default_factory=Deployment)
    data_capture: DataCapture | None = None

    @model_validator(mode="after")
    def _count_in_range(self) -> ProvisionedEndpoint:
        _count_within(self.initial_instance_count, self.autoscaling)
        return self

    @property
    def processor(self) -> Processor:
        return "gpu" if instance_gpus(self.instance_type) else "cpu"


class ServerlessEndpoint(_Strict):
    """On-demand compute billed per request; CPU only, 4 MB payloads."""

    kind: Literal["serverless"] = "serverless"
    memory_size_mb: Annotated[int, _within(1024, 6144, step=1024)]
    max_concurrency: _Concurrency
    provisioned_concurrency: _Concurrency | None = None

    @model_validator(mode="after")
    def _provisioned_le_max(self) -> ServerlessEndpoint:
        p = self.provisioned_concurrency
        if p is not None and p > self.max_concurrency:
            raise ValueError(
                f"provisioned_concurrency must be <= max_concurrency ({self.max_concurrency}), "
                f"got {p}"
            )
        return self

    @property
    def processor(self) -> Processor:
        return "cpu"


_KeyPrefix = Annotated[
    str, _matching(_KEY_PREFIX_RE, "an S3 key prefix such as async-inference/output (no s3://)")
]


class AsyncEndpoint(ProvisionedEndpoint):
    """Provisioned instances that take requests from S3 and answer into S3 (SageMaker
    asynchronous inference): the input is uploaded, InvokeEndpointAsync queues it, and the
    answer is written under `output_prefix` (a failure under `failure_prefix`) of the default
    bucket. Instances, autoscaling, deployment and data capture are as provisioned's."""

    kind: Literal["async"] = "async"
    output_prefix: _KeyPrefix = "async-inference/output"
    failure_prefix: _KeyPrefix = "async-inference/failures"
    max_concurrent_invocations_per_instance: Annotated[int, _within(1, 1000)] | None = None
    """None: SageMaker chooses."""
    invocation_timeout_seconds: Annotated[int, _within(1, 3600)] | None = None
    """Sent with each `smlocal predict` request (a request setting, not the config's);
    None: SageMaker's default of 15 minutes."""

    @model_validator(mode="after")
    def _distinct_prefixes(self) -> AsyncEndpoint:
        if self.output_prefix == self.failure_prefix:
            raise ValueError(
                f"failure_prefix must differ from output_prefix, got {self.failure_prefix!r}"
            )
        return self


EndpointSpec = ProvisionedEndpoint | ServerlessEndpoint | AsyncEndpoint


class InferenceImage(_Strict):
    """The PyTorch inference DLC; `uri` overrides the one resolved from the versions."""

    framework_version: str = "2.6.0"
    py_version: str = "py312"
    processor: Processor | None = None
    uri: str | None = None


class Promotion(_Strict):
    """Provenance of a pin that `smlocal promote` copied from another environment."""

    promoted_from: str
    source_model_data_url: str
    source_commit: str | None = None
    promoted_at: datetime
    skipped_checks: list[str] = []


class ModelPin(_Strict):
    """The trained model an environment serves: the only bridge from training to the stacks."""

    model_data_url: _S3ModelUrl | None = None
    sha256: _Sha256 | None = None
    training_job: str | None = None
    metrics: dict[str, float] = {}
    image: str | None = None
    pinned_at: datetime | None = None
    promotion: Promotion | None = None

    @model_validator(mode="after")
    def _sha_with_url(self) -> ModelPin:
        if self.model_data_url is not None and self.sha256 is None:
            raise ValueError(
                f"sha256 is required when model_data_url is set (got model_data_url="
                f"{self.model_data_url!r} and no sha256)"
            )
        return self

    @property
    def is_set(self) -> bool:
        return self.model_data_url is not None


# --- CI access (issue 17): the GitHub repository allowed to plan and deploy ----------------
_GITHUB_REPO_RE = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$")


class GitHubAccess(_Strict):
    """The GitHub repository whose workflows may plan and deploy this environment (OIDC).

    The deploy role trusts `repo:<repository>:environment:<name>` only, the GitHub
    Environment named like this manifest; the plan role trusts the repository's pull requests
    and its main branch (the scheduled drift check).
    """

    repository: Annotated[
        str, _matching(_GITHUB_REPO_RE, "<org>/<repo> as GitHub spells it, e.g. acme/smlocal")
    ]
    main_branch: Annotated[str, Field(pattern=r"^[A-Za-z0-9._/-]{1,100}$")] = "main"


# --- cost (issue 17): what the estimates of `smlocal diff` and the idle check need ----------
class ExpectedTraffic(_Strict):
    """The traffic a serverless estimate is computed for (per month)."""

    invocations_per_month: Annotated[int, Field(ge=0)]
    mean_duration_ms: Annotated[int, _within(1, 60_000)]  # serverless requests end by 60 s
    mean_payload_kb: Annotated[float, Field(ge=0)] = 0.0  # request + response


class CostSettings(_Strict):
    """Currency of the estimates, expected traffic, and how long an endpoint may sit idle."""

    currency: Literal["USD"] = "USD"
    expected_traffic: ExpectedTraffic | None = None
    idle_limit_hours: Annotated[int, _within(1, 8760)] | None = None


class Environment(_Strict):
    """One environment's desired state (`environments/<name>.yaml`)."""

    name: Annotated[str, _matching(_NAME_RE, "lowercase letters, digits and '-'")]
    account: Annotated[
        str, _matching(_ACCOUNT_RE, "a 12-digit AWS account id in quotes", before=True)
    ]
    region: Annotated[str, _matching(_REGION_RE, "an AWS region such as us-east-1")]
    role_name: Annotated[str, _matching(_ROLE_NAME_RE, "a valid IAM role name")] = "SageMaker-local"
    bucket_removal_policy: Literal["retain", "destroy"] = "destroy"
    bucket_kms_key_arn: _KmsKeyArn | None = None
    endpoint_kind: Literal["provisioned", "serverless", "async"]
    provisioned: ProvisionedEndpoint | None = None
    serverless: ServerlessEndpoint | None = None
    # `async` is a Python keyword: the attribute is `async_`, the manifest's key `async`.
    async_: AsyncEndpoint | None = Field(default=None, alias="async")
    inference_image: InferenceImage = InferenceImage()
    model: ModelPin = ModelPin()
    github: GitHubAccess | None = None  # CI access (issue 17): see GitHubAccess
    cost: CostSettings = CostSettings()  # cost estimates and the idle limit (issue 17)
    # The endpoint is parked: its stack was destroyed as idle (idle-dev.yml commits this) and
    # stays absent until the line goes; the platform stack stays. See docs/promotion.md.
    parked: bool = False

    @model_validator(mode="after")
    def _kms_in_region(self) -> Environment:
        # S3 encrypts only with a key of the bucket's own region.
        key = self.bucket_kms_key_arn
        if key is not None and key.split(":")[3] != self.region:
            raise ValueError(
                f"bucket_kms_key_arn must be a key in region {self.region}, got {key!r}"
            )
        return self

    @model_validator(mode="after")
    def _one_endpoint_block(self) -> Environment:
        blocks = self._blocks()
        if blocks[self.endpoint_kind] is None:
            raise ValueError(
                f"endpoint_kind is {self.endpoint_kind!r} but the {self.endpoint_kind!r} "
                f"block is missing"
            )
        for other, block in blocks.items():
            if other != self.endpoint_kind and block is not None:
                raise ValueError(
                    f"endpoint_kind is {self.endpoint_kind!r} but the {other!r} block is "
                    f"present too; keep only one"
                )
        wanted = self.inference_image.processor
        if self.endpoint_kind == "serverless" and wanted == "gpu":
            raise ValueError(
                "inference_image.processor: serverless endpoints have no GPU, got 'gpu'"
            )
        return self

    def _blocks(self) -> dict[str, EndpointSpec | None]:
        return {
            "provisioned": self.provisioned,
            "serverless": self.serverless,
            "async": self.async_,
        }

    @property
    def endpoint(self) -> EndpointSpec:
        """The endpoint settings, provisioned, serverless or async."""
        spec = self._blocks()[self.endpoint_kind]
        assert spec is not None  # guaranteed by _one_endpoint_block
        return spec

    @property
    def bucket_name(self) -> str:
        return default_bucket_name(self.account, self.region)

    @property
    def endpoint_write_prefixes(self) -> tuple[str, ...]:
        """Key prefixes of the default bucket that this environment's endpoint writes under:
        its data capture (when it lands in the default bucket) and its async output and
        failures. The execution role may write there and nowhere else."""
        spec = self.endpoint
        prefixes: list[str] = []
        capture = spec.data_capture if isinstance(spec, ProvisionedEndpoint) else None
        if capture is not None:
            own = f"s3://{self.bucket_name}"
            if capture.destination is None:
                prefixes.append(DATA_CAPTURE_PREFIX)
            elif capture.destination.startswith(f"{own}/"):
                prefixes.append(capture.destination[len(own) + 1 :].strip("/"))
        if isinstance(spec, AsyncEndpoint):
            prefixes += [spec.output_prefix, spec.failure_prefix]
        return tuple(p for p in prefixes if p)

    @property
    def role_arn(self) -> str:
        return f"arn:aws:iam::{self.account}:role/{self.role_name}"

    @property
    def image_uri(self) -> str:
        """The inference image: the manifest's override, else the PyTorch DLC for this env."""
        img = self.inference_image
        if img.uri:
            return img.uri
        return pytorch_image_uri(
            scope="inference",
            region=self.region,
            framework_version=img.framework_version,
            py_version=img.py_version,
            processor=img.processor or self.endpoint.processor,
        )


@dataclass(frozen=True)
class Platform:
    """What the environments of one account+region share: one role, one bucket."""

    account: str
    region: str
    role_name: str
    bucket_kms_key_arn: str | None
    retain_bucket: bool
    environments: tuple[str, ...]
    image_uris: tuple[str, ...]
    endpoint_write_prefixes: tuple[str, ...] = ()
    """Key prefixes of the bucket that the environments' endpoints write under (data capture,
    async output and failures)."""

    @property
    def bucket_name(self) -> str:
        return default_bucket_name(self.account, self.region)

    @property
    def image_repository_arns(self) -> tuple[str, ...]:
        """ECR repositories the role may pull from: the region's PyTorch DLCs and the images
        the environments serve (an overridden `inference_image.uri` included)."""
        arns = dlc_repository_arns(self.region)
        arns += [a for uri in self.image_uris if (a := ecr_repository_arn(uri)) is not None]
        return tuple(sorted(set(arns)))


# --- CI access (issue 17): one CiAccessStack per account -------------------------------------
@dataclass(frozen=True)
class CiAccount:
    """What the CI roles of one account cover: its environments named with a `github` block."""

    account: str
    region: str  # where the CiAccessStack lives (IAM is global): the first environment's
    repository: str
    main_branch: str
    role_name: str
    environments: tuple[tuple[str, str], ...]  # (environment, region), promotion order
    destroyable: tuple[str, ...] = ()  # environments with cost.idle_limit_hours

    @property
    def regions(self) -> tuple[str, ...]:
        return tuple(sorted({r for _, r in self.environments}))


def ci_accounts(envs: Mapping[str, Environment]) -> list[CiAccount]:
    """Group the environments that name a GitHub repository by account; one repository (and
    one main branch) per account, since one OIDC provider and one pair of roles serve it."""
    groups: dict[str, list[Environment]] = {}
    for env in envs.values():
        if env.github is not None:
            groups.setdefault(env.account, []).append(env)
    result = []
    for account, members in groups.items():
        first = members[0]
        assert first.github is not None
        for env in members[1:]:
            assert env.github is not None
            if env.github != first.github:
                raise ManifestError(
                    f"{env.name}.yaml: github: environments of account {account} share one pair "
                    f"of CI roles and must name one repository and branch; {first.name}.yaml has "
                    f"{first.github.repository}@{first.github.main_branch}, got "
                    f"{env.github.repository}@{env.github.main_branch}"
                )
        result.append(
            CiAccount(
                account=account,
                region=first.region,
                repository=first.github.repository,
                main_branch=first.github.main_branch,
                role_name=first.role_name,
                environments=tuple((e.name, e.region) for e in members),
                destroyable=tuple(e.name for e in members if e.cost.idle_limit_hours),
            )
        )
    return result
