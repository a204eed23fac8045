"""IAM's evaluation of identity-based policy documents, shared by the gateway's authorizer and
IAM's SimulatePrincipalPolicy.

What is matched, as IAM's policy reference describes it:
- `Action` / `NotAction`: `service:Operation` with `*` and `?`, case-insensitive.
- `Resource` / `NotResource`: ARNs, case-sensitive, with `*` (any run of characters) and `?`
  (one character) inside an ARN segment; a `*` that ends a segment (before a `:` or at the end)
  may run past the segment's colons (`arn:aws:ssm:*` covers every parameter), a `*` inside a
  segment does not. An action without resource-level permissions is requested on `*`, which
  only a `*` pattern covers.
- Policy variables (`${aws:username}`, `${aws:PrincipalAccount}`, `${aws:userid}`, any
  single-valued key of the request context, `${key, 'default'}`, and `${*}`, `${?}`, `${$}` for
  the characters themselves) in `Resource` and in condition values, only in a document whose
  `Version` is `2012-10-17` (elsewhere `${...}` is text). A variable whose key the request
  context lacks, with no default, matches nothing.
- `Condition`: the operators of `_OPERATORS` and `Null`, with `...IfExists`, `ForAllValues:`
  and `ForAnyValue:`; a key the context lacks fails (unless `IfExists`); an operator not
  evaluated here is not met (an `Allow` does not apply; a `Deny` does: it fails closed).
An explicit `Deny` wins, else an `Allow`, else the implicit deny.

The request context is a dict of lowercased keys (keys are case-insensitive) to lists of
values.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

Context = dict[str, list[str]]
_VARIABLES_VERSION = "2012-10-17"
_VARIABLE = re.compile(r"\$\{([^}]*)\}")
_LITERALS = {"*": "*", "?": "?", "$": "$"}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """The document's statements (a single statement may be written as an object)."""
    found = document.get("Statement", [])
    return found if isinstance(found, list) else [found]


def values(element: Any) -> list[str]:
    """A policy element as a list of strings (a single value may be written bare)."""
    return [str(v) for v in (element if isinstance(element, list) else [element])]


Pieces = list[tuple[str, bool]]  # (text, literal): a literal piece came from a variable


# --- policy variables ------------------------------------------------------------------------
def substitute(text: str, context: Context) -> Pieces | None:
    """`text` with its policy variables replaced, as (piece, literal) pairs: in a literal piece
    `*` and `?` are characters, not wildcards. None when a variable names a key the context
    lacks (or holds several values for) and gives no default."""
    pieces: Pieces = []
    end = 0
    for found in _VARIABLE.finditer(text):
        pieces.append((text[end : found.start()], False))
        end = found.end()
        inner = found.group(1).strip()
        if inner in _LITERALS:
            pieces.append((_LITERALS[inner], True))
            continue
        key, _, default = inner.partition(",")
        given = context.get(key.strip().lower())
        if given is not None and len(given) == 1:
            pieces.append((given[0], True))
            continue
        default = default.strip()
        if len(default) >= 2 and default[0] == default[-1] == "'":
            pieces.append((default[1:-1].replace("''", "'"), True))
            continue
        return None
    pieces.append((text[end:], False))
    return pieces


def _pieces(text: str, context: Context, version: str) -> Pieces | None:
    if version != _VARIABLES_VERSION or "${" not in text:
        return [(text, False)]
    return substitute(text, context)


# --- matching --------------------------------------------------------------------------------
@lru_cache(maxsize=4096)
def _regex(pieces: tuple[tuple[str, bool], ...], arn: bool, ignore_case: bool) -> re.Pattern[str]:
    """The pattern as a regex. In an ARN, a `*` or `?` stays inside its colon-delimited
    segment, except a `*` that ends one (before a `:` or at the end), which may run on."""
    chars = [(char, literal) for text, literal in pieces for char in text]
    out = []
    for i, (char, literal) in enumerate(chars):
        if literal or char not in "*?":
            out.append(re.escape(char))
        elif char == "?":
            out.append("[^:]" if arn else ".")
        else:
            ends_segment = i + 1 == len(chars) or chars[i + 1][0] == ":"
            out.append("[^:]*" if arn and not ends_segment else ".*")
    return re.compile("".join(out), re.DOTALL | (re.IGNORECASE if ignore_case else 0))


def _matches(pieces: Pieces, value: str, *, arn: bool, ignore_case: bool = False) -> bool:
    return _regex(tuple(pieces), arn, ignore_case).fullmatch(value) is not None


def action_matches(pattern: str, action: str) -> bool:
    """Whether an `Action` entry covers `action` (case-insensitive, `*` and `?`)."""
    return _matches([(pattern, False)], action, arn=False, ignore_case=True)


def resource_matches(
    pattern: str, resource: str, context: Context, version: str = _VARIABLES_VERSION
) -> bool:
    """Whether a `Resource` entry covers the ARN `resource`, its variables from `context`."""
    pieces = _pieces(pattern, context, version)
    return pieces is not None and _matches(pieces, resource, arn=True)


def _applies(
    statement: dict[str, Any], action: str, resource: str, context: Context, v: str
) -> bool:
    """Whether the statement's Action/NotAction and Resource/NotResource cover the request."""
    if "NotAction" in statement:
        if any(action_matches(p, action) for p in values(statement["NotAction"])):
            return False
    elif not any(action_matches(p, action) for p in values(statement.get("Action", []))):
        return False
    if "NotResource" in statement:
        patterns = values(statement["NotResource"])
        return not any(resource_matches(p, resource, context, v) for p in patterns)
    if "Resource" not in statement:
        return False  # not a valid identity-policy statement: it grants nothing
    return any(resource_matches(p, resource, context, v) for p in values(statement["Resource"]))


# --- conditions ------------------------------------------------------------------------------
def _text(pieces: Pieces) -> str:
    return "".join(text for text, _ in pieces)


def _arn_like(pieces: Pieces, value: str) -> bool:
    """ArnLike/ArnEquals: case-sensitive, `*` and `?` within the ARN's colon-delimited parts,
    as in a Resource."""
    return _matches(pieces, value, arn=True)


_OPERATORS: dict[str, tuple[Callable[[Pieces, str], bool], bool]] = {  # (test, negated)
    "StringEquals": (lambda e, a: _text(e) == a, False),
    "StringNotEquals": (lambda e, a: _text(e) == a, True),
    "StringEqualsIgnoreCase": (lambda e, a: _text(e).lower() == a.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda e, a: _text(e).lower() == a.lower(), True),
    "StringLike": (lambda e, a: _matches(e, a, arn=False), False),
    "StringNotLike": (lambda e, a: _matches(e, a, arn=False), True),
    "ArnEquals": (_arn_like, False),
    "ArnLike": (_arn_like, False),
    "ArnNotEquals": (_arn_like, True),
    "ArnNotLike": (_arn_like, True),
    "Bool": (lambda e, a: _text(e).lower() == a.lower(), False),
}


def _expected(name: str, given: list[str], context: Context, version: str) -> list[Pieces]:
    """The condition's values with their variables replaced (String and Arn operators only);
    a value whose variable has no value is dropped: it matches nothing."""
    if not name.startswith(("String", "Arn")):
        return [[(v, False)] for v in given]
    found = (_pieces(v, context, version) for v in given)
    return [pieces for pieces in found if pieces is not None]


def conditions_hold(
    conditions: dict[str, Any], context: Context, version: str = _VARIABLES_VERSION
) -> bool:
    """IAM's condition rules over `context` (lowercased keys): every operator and key must
    hold; a missing key fails unless `...IfExists` (or `ForAllValues:`), `Null` tests
    presence; an operator not in `_OPERATORS` fails."""
    for operator, pairs in conditions.items():
        qualifier, _, name = operator.rpartition(":")
        if_exists = name.endswith("IfExists")
        name = name.removesuffix("IfExists")
        for key, expected in pairs.items():
            actual = context.get(key.lower())
            if name == "Null":
                if (actual is None) != (values(expected)[0].lower() == "true"):
                    return False
                continue
            if name not in _OPERATORS:
                return False
            if actual is None:
                if if_exists or qualifier == "ForAllValues":
                    continue
                return False
            test, negated = _OPERATORS[name]
            wanted = _expected(name, values(expected), context, version)

            def matches(value: str, test: Any = test, wanted: list[Pieces] = wanted) -> bool:
                return any(test(e, value) for e in wanted)

            if qualifier == "ForAllValues":
                ok = all(matches(v) != negated for v in actual)
            elif qualifier == "ForAnyValue":
                ok = any(matches(v) != negated for v in actual)
            elif negated:
                ok = not any(matches(v) for v in actual)
            else:
                ok = any(matches(v) for v in actual)
            if not ok:
                return False
    return True


def known(conditions: dict[str, Any]) -> bool:
    """Whether every operator of `conditions` is one this module evaluates."""
    for operator in conditions:
        name = operator.rpartition(":")[2].removesuffix("IfExists")
        if name != "Null" and name not in _OPERATORS:
            return False
    return True


# --- the decision ----------------------------------------------------------------------------
def decide(policies: Iterable[dict[str, Any]], action: str, resource: str, context: Context) -> str:
    """`allowed`, `explicitDeny` or `implicitDeny` of `action` on `resource`."""
    allowed = False
    for document in policies:
        version = str(document.get("Version", ""))
        for statement in statements(document):
            if not _applies(statement, action, resource, context, version):
                continue
            conditions = statement.get("Condition", {})
            met = conditions_hold(conditions, context, version)
            if statement.get("Effect") == "Deny":
                # a Deny whose condition this cloud cannot evaluate applies (fails closed)
                if met or not known(conditions):
                    return "explicitDeny"
            elif met:
                allowed = True
    return "allowed" if allowed else "implicitDeny"
