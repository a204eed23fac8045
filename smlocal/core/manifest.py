"""Environment manifests: `environments/<env>.yaml`, the desired state git holds per environment.

Typed and validated with pydantic; every bad value fails here, before any synth or AWS call,
with a `ManifestError` naming the file, the field and the value. The model pin is rewritten
in place (comments and key order kept) and atomically by `write_pin`.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.events import AliasEvent

from smlocal.core.catalog import (
    Processor,
    dlc_repository_arns,
    ecr_repository_arn,
    instance_gpus,
    is_known_instance_type,
    pytorch_image_uri,
)
from smlocal.core.errors import UserError
from smlocal.core.files import atomic_write_text

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # smlocal/core/manifest.py
ENVIRONMENTS_DIR = PROJECT_ROOT / "environments"
PROMOTION_ORDER = ("dev", "staging", "prod")

_REGION_RE = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-\d$")
_ACCOUNT_RE = re.compile(r"^\d{12}$")
_S3_MODEL_RE = re.compile(r"^s3://[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]/.+\.tar\.gz$")
_SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
_NAME_RE = re.compile(r"^[a-z][a-z0-9-]{0,19}$")
_KMS_ARN_RE = re.compile(r"^arn:aws[a-z-]*:kms:[a-z0-9-]+:\d{12}:key/[A-Za-z0-9-]+$")


class ManifestError(UserError, ValueError):
    """A manifest that cannot be used; the message names the file, the field and the value."""


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


class ProvisionedEndpoint(_Strict):
    """Instances that are always on, optionally autoscaled."""

    kind: Literal["provisioned"] = "provisioned"
    instance_type: str
    initial_instance_count: Annotated[int, Field(ge=1)] = 1
    autoscaling: Autoscaling | None = None

    @field_validator("instance_type")
    @classmethod
    def _known_type(cls, value: str) -> str:
        if not is_known_instance_type(value):
            raise ValueError(f"unknown instance type {value!r}")
        return value

    @model_validator(mode="after")
    def _count_in_range(self) -> ProvisionedEndpoint:
        a = self.autoscaling
        if a is not None and not a.min <= self.initial_instance_count <= a.max:
            raise ValueError(
                f"initial_instance_count must be within autoscaling min–max "
                f"({a.min}–{a.max}), got {self.initial_instance_count}"
            )
        return self

    @property
    def processor(self) -> Processor:
        return "gpu" if instance_gpus(self.instance_type) else "cpu"


class ServerlessEndpoint(_Strict):
    """On-demand compute billed per request; CPU only, 4 MB payloads."""

    kind: Literal["serverless"] = "serverless"
    memory_size_mb: int
    max_concurrency: int
    provisioned_concurrency: int | None = None

    @field_validator("memory_size_mb")
    @classmethod
    def _memory(cls, value: int) -> int:
        if not (1024 <= value <= 6144 and value % 1024 == 0):
            raise ValueError(f"must be 1024–6144 in steps of 1024, got {value}")
        return value

    @field_validator("max_concurrency")
    @classmethod
    def _concurrency(cls, value: int) -> int:
        if not 1 <= value <= 200:
            raise ValueError(f"must be 1–200, got {value}")
        return value

    @field_validator("provisioned_concurrency")
    @classmethod
    def _provisioned(cls, value: int | None) -> int | None:
        if value is not None and not 1 <= value <= 200:
            raise ValueError(f"must be 1–200, got {value}")
        return value

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


EndpointSpec = ProvisionedEndpoint | ServerlessEndpoint


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

    model_data_url: str | None = None
    sha256: str | None = None
    training_job: str | None = None
    metrics: dict[str, float] = {}
    image: str | None = None
    pinned_at: datetime | None = None
    promotion: Promotion | None = None

    @field_validator("model_data_url")
    @classmethod
    def _url(cls, value: str | None) -> str | None:
        if value is not None and not _S3_MODEL_RE.match(value):
            raise ValueError(f"must be s3://<bucket>/<key>.tar.gz, got {value!r}")
        return value

    @field_validator("sha256")
    @classmethod
    def _sha(cls, value: str | None) -> str | None:
        if value is not None and not _SHA256_RE.match(value):
            raise ValueError(f"must be 64 lowercase hex digits, got {value!r}")
        return value

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


class Environment(_Strict):
    """One environment's desired state (`environments/<name>.yaml`)."""

    name: str
    account: str
    region: str
    role_name: str = "SageMaker-local"
    bucket_removal_policy: Literal["retain", "destroy"] = "destroy"
    bucket_kms_key_arn: str | None = None
    endpoint_kind: Literal["provisioned", "serverless"]
    provisioned: ProvisionedEndpoint | None = None
    serverless: ServerlessEndpoint | None = None
    inference_image: InferenceImage = InferenceImage()
    model: ModelPin = ModelPin()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME_RE.match(value):
            raise ValueError(f"must be lowercase letters, digits and '-', got {value!r}")
        return value

    @field_validator("account", mode="before")
    @classmethod
    def _account(cls, value: Any) -> Any:
        if not (isinstance(value, str) and _ACCOUNT_RE.match(value)):
            raise ValueError(f"must be a 12-digit AWS account id in quotes, got {value!r}")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION_RE.match(value):
            raise ValueError(f"must be an AWS region such as us-east-1, got {value!r}")
        return value

    @field_validator("role_name")
    @classmethod
    def _role(cls, value: str) -> str:
        if not re.match(r"^[\w+=,.@-]{1,64}$", value):
            raise ValueError(f"must be a valid IAM role name, got {value!r}")
        return value

    @field_validator("bucket_kms_key_arn")
    @classmethod
    def _kms(cls, value: str | None) -> str | None:
        if value is not None and not _KMS_ARN_RE.match(value):
            raise ValueError(
                f"must be a KMS key ARN (arn:aws:kms:<region>:<account>:key/<id>), got {value!r}"
            )
        return value

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
        chosen = getattr(self, self.endpoint_kind)
        other = "serverless" if self.endpoint_kind == "provisioned" else "provisioned"
        if chosen is None:
            raise ValueError(
                f"endpoint_kind is {self.endpoint_kind!r} but the {self.endpoint_kind!r} "
                f"block is missing"
            )
        if getattr(self, other) is not None:
            raise ValueError(
                f"endpoint_kind is {self.endpoint_kind!r} but a {other!r} block is present; "
                f"keep only one"
            )
        wanted = self.inference_image.processor
        if self.endpoint_kind == "serverless" and wanted == "gpu":
            raise ValueError(
                "inference_image.processor: serverless endpoints have no GPU, got 'gpu'"
            )
        return self

    @property
    def endpoint(self) -> EndpointSpec:
        """The endpoint settings, provisioned or serverless."""
        spec = self.provisioned if self.endpoint_kind == "provisioned" else self.serverless
        assert spec is not None  # guaranteed by _one_endpoint_block
        return spec

    @property
    def bucket_name(self) -> str:
        return f"sagemaker-{self.region}-{self.account}"

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


# --- loading ---------------------------------------------------------------------------------


# A manifest is a page of settings; the cap keeps a huge file from hanging the parser.
MAX_MANIFEST_BYTES = 1024 * 1024
# Nesting a manifest needs is 4 levels; the cap keeps `[[[[…` from exhausting the stack.
MAX_MANIFEST_DEPTH = 32


class _NoAliasComposer(Composer):
    """Refuses YAML aliases (`*name`): a manifest has no use for them, and a chain of them
    expands to billions of nodes from a few lines ("billion laughs")."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.parser.check_event(AliasEvent):
            event = self.parser.get_event()
            raise ComposerError(
                None,
                None,
                f"yaml aliases are not allowed in a manifest, got *{event.anchor}",
                event.start_mark,
            )
        return super().compose_node(parent, index)


def _yaml() -> YAML:
    y = YAML()  # round-trip: keeps comments and key order
    y.Composer = _NoAliasComposer
    y.max_depth = MAX_MANIFEST_DEPTH
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 4096  # never fold a long S3 URL onto a second line
    return y


def _format_errors(path: Path, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        field = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] in ("missing", "extra_forbidden", "literal_error"):
            msg = f"{msg}, got {_short(e.get('input'))}" if e["type"] != "missing" else msg
        lines.append(f"{path}: {field}: {msg}")
    return "\n".join(lines)


def parse_environment(path: Path, data: Any) -> Environment:
    """Validate parsed YAML of one manifest; raises ManifestError naming file and field."""
    if not isinstance(data, dict):
        # The type, not the value: a huge list or string would flood the terminal.
        raise ManifestError(f"{path}: expected a mapping at the top level, got {_describe(data)}")
    try:
        env = Environment.model_validate(dict(data))
    except ValidationError as err:
        raise ManifestError(_format_errors(path, err)) from None
    if env.name != path.stem:
        raise ManifestError(
            f"{path}: name: must match the file name {path.stem!r}, got {env.name!r}"
        )
    return env


def _short(value: Any, limit: int = 80) -> str:
    """`repr` cut to `limit` characters: an error names the value, it does not echo a page."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} characters)"


def _describe(data: Any) -> str:
    if data is None:
        return "an empty document"
    for kind, name in ((str, "string"), (list, "list")):
        if isinstance(data, kind):
            return f"a {name} of length {len(data)}"
    return f"a {type(data).__name__}"


def _yaml_error(err: Exception) -> str:
    """One line from a ruamel error: its problem and where, without the echoed source."""
    problem = getattr(err, "problem", None) or getattr(err, "context", None) or str(err)
    # ruamel's advice to raise YAML().max_depth is for programmers, not manifest authors.
    problem = " ".join(str(problem).split()).split(", if necessary")[0][:200]
    mark = getattr(err, "problem_mark", None) or getattr(err, "context_mark", None)
    where = f" (line {mark.line + 1}, column {mark.column + 1})" if mark is not None else ""
    return f"{problem}{where}"


def read_manifest_text(path: Path) -> str:
    """A manifest's text, read with a size cap; one-line ManifestError for what cannot be."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_MANIFEST_BYTES + 1)
    except FileNotFoundError:
        raise ManifestError(f"{path}: no such manifest") from None
    except IsADirectoryError:
        raise ManifestError(f"{path}: is a directory, not a manifest file") from None
    except OSError as err:
        raise ManifestError(f"{path}: cannot be read: {err.strerror or err}") from None
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError(
            f"{path}: larger than the {MAX_MANIFEST_BYTES} bytes a manifest may have"
        )
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ManifestError(
            f"{path}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at offset {err.start})"
        ) from None


def load_environment(path: Path | str) -> Environment:
    """Read and validate one manifest file."""
    path = Path(path)
    text = read_manifest_text(path)
    try:
        data = _yaml().load(text)
    except Exception as err:  # ruamel raises several unrelated error types
        raise ManifestError(f"{path}: not valid YAML: {_yaml_error(err)}") from None
    return parse_environment(path, data)


def check_consistency(envs: Iterable[tuple[Path, Environment]]) -> None:
    """Cross-manifest rules: one role name per account+region (they share a platform stack)."""
    seen: dict[tuple[str, str], tuple[Path, Environment]] = {}
    for path, env in envs:
        key = (env.account, env.region)
        if key in seen:
            other_path, other = seen[key]
            if other.role_name != env.role_name:
                raise ManifestError(
                    f"{path}: role_name: environments in account {env.account} region "
                    f"{env.region} share one platform stack and must use one role name; "
                    f"{other_path} has {other.role_name!r}, got {env.role_name!r}"
                )
            if other.bucket_kms_key_arn != env.bucket_kms_key_arn:
                raise ManifestError(
                    f"{path}: bucket_kms_key_arn: environments in account {env.account} region "
                    f"{env.region} share one bucket; {other_path} has "
                    f"{other.bucket_kms_key_arn!r}, got {env.bucket_kms_key_arn!r}"
                )
        else:
            seen[key] = (path, env)


def manifest_path(name: str, directory: Path | None = None) -> Path:
    return (directory or ENVIRONMENTS_DIR) / f"{name}.yaml"


def load_all(directory: Path | None = None) -> dict[str, Environment]:
    """Every manifest in the directory, validated one by one and together, in promotion order."""
    directory = directory or ENVIRONMENTS_DIR
    paths = sorted(directory.glob("*.yaml"))
    if not paths:
        raise ManifestError(f"{directory}: no environment manifests (*.yaml)")
    loaded = [(p, load_environment(p)) for p in paths]
    check_consistency(loaded)
    order = {n: i for i, n in enumerate(PROMOTION_ORDER)}
    loaded.sort(key=lambda pe: (order.get(pe[1].name, len(order)), pe[1].name))
    return {env.name: env for _, env in loaded}


def load(name: str, directory: Path | None = None) -> Environment:
    """One environment by name, checked against the others for cross-manifest rules."""
    envs = load_all(directory)
    if name not in envs:
        raise ManifestError(
            f"unknown environment {name!r}; known: {', '.join(envs) or 'none'} "
            f"(in {directory or ENVIRONMENTS_DIR})"
        )
    return envs[name]


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

    @property
    def bucket_name(self) -> str:
        return f"sagemaker-{self.region}-{self.account}"

    @property
    def image_repository_arns(self) -> tuple[str, ...]:
        """ECR repositories the role may pull from: the region's PyTorch DLCs and the images
        the environments serve (an overridden `inference_image.uri` included)."""
        arns = dlc_repository_arns(self.region)
        arns += [a for uri in self.image_uris if (a := ecr_repository_arn(uri)) is not None]
        return tuple(sorted(set(arns)))


def platforms(envs: Mapping[str, Environment]) -> list[Platform]:
    """Group environments by account+region; the bucket is retained if any of them retains it.

    Always computed from every manifest, even when one environment is deployed alone, so that
    deploying dev never flips the bucket that prod shares to `destroy`.
    """
    groups: dict[tuple[str, str], list[Environment]] = {}
    for env in envs.values():
        groups.setdefault((env.account, env.region), []).append(env)
    result = []
    for (account, region), members in groups.items():
        # load_all already checked this with the real paths; this guards other callers.
        check_consistency((Path(f"{e.name}.yaml"), e) for e in members)
        first = members[0]
        result.append(
            Platform(
                account=account,
                region=region,
                role_name=first.role_name,
                bucket_kms_key_arn=first.bucket_kms_key_arn,
                retain_bucket=any(e.bucket_removal_policy == "retain" for e in members),
                environments=tuple(e.name for e in members),
                image_uris=tuple(sorted({e.image_uri for e in members})),
            )
        )
    return result


# --- writing the pin -------------------------------------------------------------------------


def render_with_pin(path: Path, pin: ModelPin) -> str:
    """The manifest's text with its `model:` block replaced by `pin`, the rest untouched."""
    path = Path(path)
    y = _yaml()
    data = y.load(read_manifest_text(path))
    new_model = pin.model_dump(mode="json", exclude_none=True, exclude_defaults=False)
    if not new_model.get("metrics"):
        new_model.pop("metrics", None)
    if new_model.get("promotion") and not new_model["promotion"].get("skipped_checks"):
        new_model["promotion"].pop("skipped_checks", None)
    data["model"] = new_model
    buf = io.StringIO()
    y.dump(data, buf)
    text = buf.getvalue()
    parse_environment(path, _yaml().load(text))  # never write a manifest that would not load
    return text


def write_pin(path: Path | str, pin: ModelPin) -> Environment:
    """Replace the manifest's model pin atomically, keeping comments and order of the rest."""
    path = Path(path)
    text = render_with_pin(path, pin)
    atomic_write_text(path, text)
    return load_environment(path)
