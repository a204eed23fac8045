"""SageMaker requests checked against botocore's service model as AWS checks them, before the
cloud records anything or builds a path from a name: every member's length (strings, lists,
maps), value range (numbers), regular expression pattern and enum, and the required members.
A violation gets the ValidationException AWS sends, worded as AWS words it ("1 validation error
detected: Value '…' at 'productionVariants.1.member.variantName' failed to satisfy constraint:
Member must satisfy regular expression pattern: ^…").

botocore's patterns are Java regular expressions: `\\p{L}` classes, UTF-16 surrogate pairs,
a quantified `$`. They are translated once and compiled with the `regex` module (which knows
Unicode property classes); compiled patterns are cached, so a request costs one walk over the
members it sends.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import Any

import regex
from botocore.model import ListShape, MapShape, Shape, StructureShape

from localcloud.shared.errors import SageMakerValidation

# A UTF-16 surrogate pair as Java writes a supplementary code point: `\uD800\uDC00`.
_SURROGATES = re.compile(r"\\u(d[89ab][0-9a-f]{2})\\u(d[c-f][0-9a-f]{2})", re.IGNORECASE)
# Java accepts a quantifier on the end anchor (`${1,128}`); it means `$`.
_QUANTIFIED_END = re.compile(r"(?<!\\)\$\{\d+(?:,\d*)?\}")


def _code_point(match: re.Match[str]) -> str:
    high, low = int(match[1], 16), int(match[2], 16)
    return f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08x}"


@functools.cache
def compiled(pattern: str) -> regex.Pattern[str]:
    """botocore's (Java) `pattern` as a compiled regular expression."""
    python = _SURROGATES.sub(_code_point, pattern)
    python = _QUANTIFIED_END.sub("$", python)
    # Java's POSIX class is ASCII-only (the `regex` module's \p{Alnum} is Unicode).
    python = python.replace(r"\p{Alnum}", "a-zA-Z0-9")
    return regex.compile(python)


@functools.cache
def _model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _shown(value: Any) -> str:
    """A value as AWS's message shows it (Java's rendering of lists and maps)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"'{str(value).lower()}'"
    if isinstance(value, dict):
        return "'{" + ", ".join(f"{k}={v}" for k, v in value.items()) + "}'"
    if isinstance(value, list):
        return "'[" + ", ".join(str(v) for v in value) + "]'"
    return f"'{value}'"


def _constraints(value: Any, shape: Shape) -> Iterator[str]:
    """The constraints of `shape` itself (not of its members) that `value` breaks."""
    meta, kind = shape.metadata, shape.type_name
    if kind in ("string", "blob", "list", "map") and isinstance(value, (str, bytes, list, dict)):
        if "max" in meta and len(value) > meta["max"]:
            yield f"Member must have length less than or equal to {meta['max']}"
        if "min" in meta and len(value) < meta["min"]:
            yield f"Member must have length greater than or equal to {meta['min']}"
    if kind in ("integer", "long", "float", "double") and isinstance(value, (int, float)):
        if "max" in meta and value > meta["max"]:
            yield f"Member must have value less than or equal to {meta['max']}"
        if "min" in meta and value < meta["min"]:
            yield f"Member must have value greater than or equal to {meta['min']}"
    if kind == "string" and isinstance(value, str):
        pattern = meta.get("pattern")
        if pattern and not compiled(pattern).fullmatch(value):
            yield f"Member must satisfy regular expression pattern: ^{pattern}"
        enum = getattr(shape, "enum", None)
        if enum and value not in enum:
            yield f"Member must satisfy enum value set: [{', '.join(enum)}]"


def _lower_first(name: str) -> str:
    return name[0].lower() + name[1:]


def violations(value: Any, shape: Shape, path: str) -> Iterator[str]:
    """Every constraint of `shape` and its members that `value` (at `path`, as AWS spells it:
    `resourceConfig.instanceType`, `productionVariants.1.member.variantName`) breaks."""
    at = f"Value {_shown(value)} at '{path}' failed to satisfy constraint:"
    for broken in _constraints(value, shape):
        yield f"{at} {broken}"
    if isinstance(shape, StructureShape) and isinstance(value, dict):
        for name in shape.required_members:
            if value.get(name) is None:
                yield f"Value null at '{_join(path, name)}' failed to satisfy constraint: " + (
                    "Member must not be null"
                )
        for name, member in value.items():
            member_shape = shape.members.get(name)
            if member_shape is not None and member is not None:
                yield from violations(member, member_shape, _join(path, name))
    elif isinstance(shape, ListShape) and isinstance(value, list):
        for i, item in enumerate(value, start=1):
            yield from violations(item, shape.member, f"{path}.{i}.member")
    elif isinstance(shape, MapShape) and isinstance(value, dict):
        for part, member in (("keys", shape.key), ("value", shape.value)):
            items = value.keys() if part == "keys" else value.values()
            broken = sorted({c for item in items for c in _constraints(item, member)})
            if broken:
                label = "Map keys" if part == "keys" else "Map value"
                yield f"{at} {label} must satisfy constraint: [{', '.join(broken)}]"


def _join(path: str, name: str) -> str:
    return f"{path}.{_lower_first(name)}" if path else _lower_first(name)


def _raise(errors: list[str]) -> None:
    if errors:
        count = f"{len(errors)} validation error{'s' if len(errors) > 1 else ''} detected: "
        raise SageMakerValidation(count + "; ".join(errors))


def check_request(action: str, params: dict[str, Any]) -> None:
    """Raise SageMaker's ValidationException for every constraint of botocore's input shape
    of `action` that the request `params` break."""
    input_shape = _model().operation_model(action).input_shape
    if input_shape is not None:
        _raise(list(violations(params, input_shape, "")))
