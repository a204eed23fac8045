"""Loading environment manifests: `environments/<env>.yaml` read, parsed and validated.

Each file is read with a size cap and a YAML reader without aliases, validated against the
schema of `smlocal.core.manifest`, then checked together with the others (environments of one
account+region share a role and a bucket) and grouped into `Platform`s. Every failure is a
one-line `ManifestError` naming the file, the field and the value.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from ruamel.yaml import YAML
from ruamel.yaml.composer import Composer, ComposerError
from ruamel.yaml.events import AliasEvent

from smlocal.core.manifest import Environment, ManifestError, Platform

PROJECT_ROOT = Path(__file__).resolve().parents[2]  # smlocal/core/environments.py
ENVIRONMENTS_DIR = PROJECT_ROOT / "environments"
PROMOTION_ORDER = ("dev", "staging", "prod")

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


def round_trip_yaml() -> YAML:
    """The manifest YAML reader and writer: round-trip, no aliases, depth-capped."""
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
        data = round_trip_yaml().load(text)
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
                endpoint_write_prefixes=tuple(
                    sorted({p for e in members for p in e.endpoint_write_prefixes})
                ),
            )
        )
    return result
