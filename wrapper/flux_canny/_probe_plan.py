"""What the probe sends: bodies whose every value sits at or just past one constraint of
the request schema, each body made safe by two guaranteed errors (see `flux_canny.probe`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import permutations
from typing import Any

import attrs

from ._spec import CANNY_PATH, Spec
from .validation import RequestValidator

__all__ = [
    "OUTSIDE",
    "Case",
    "ProbeError",
    "added_members",
    "body_of",
    "branch",
    "check_guarded",
    "guard_pairs",
    "guarded_base",
    "listed_members",
    "plan_bodies",
    "step_for",
]

OUTSIDE = "flux-canny-probe-not-a-member"


class ProbeError(Exception):
    """The probe could not be made safe (a body our validator would accept)."""


@attrs.frozen
class Case:
    """One value of one field in one body, and what the spec says the server does."""

    field: str
    value: Any
    refuse: bool  # the spec says: this value is refused
    constraint: str  # "maximum", "enum", "type", "required"...
    spec: str  # the spec's own words: "50", "'png'", "integer"...
    present: bool = True  # False: the field is left out of the body
    guard: bool = False  # one of the body's guaranteed errors


def branch(spec: Spec, prop: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """A property's non-null schema (resolved), and whether null is allowed."""
    branches = prop.get("anyOf") or [prop]
    nullable = any(spec.resolve(b).get("type") == "null" for b in branches)
    real = [spec.resolve(b) for b in branches if spec.resolve(b).get("type") != "null"]
    return (real[0] if real else {}), nullable


def listed_members(entry: Mapping[str, Any]) -> set[str] | None:
    """The members a 422 for an enum says it expects ("'jpeg', 'png' or 'webp'")."""
    context = entry.get("ctx")
    said = context.get("expected") if isinstance(context, Mapping) else None
    return set(re.findall(r"'([^']*)'", said)) if isinstance(said, str) else None


def added_members(spec: Spec, field: str, listed: set[str] | None, path: str = CANNY_PATH) -> str:
    """Members the server lists and the spec does not, as text ("" when none)."""
    if not listed:
        return ""
    schema, _ = branch(spec, spec.request_schema(path)["properties"][field])
    new = sorted(listed - {str(m) for m in schema.get("enum", ())})
    return ", ".join(repr(m) for m in new)


def _wrong(kind: str | None) -> Any:
    return {"integer": "not-a-number", "number": "not-a-number", "boolean": [1]}.get(
        kind or "", 12345
    )


def step_for(kind: str | None) -> float:
    return 1 if kind == "integer" else 0.001


def _cases(spec: Spec, name: str, prop: Mapping[str, Any]) -> list[Case]:
    schema, nullable = branch(spec, prop)
    kind = schema.get("type")
    cases = [Case(name, _wrong(kind), True, "type", str(kind))]
    step = step_for(kind)

    def number(value: float) -> float | int:
        return int(value) if kind == "integer" else round(value, 6)

    if "maximum" in schema:
        high = schema["maximum"]
        cases += [
            Case(name, number(high), False, "maximum", f"{high:g}"),
            Case(name, number(high + step), True, "maximum", f"{high:g}"),
        ]
    if "minimum" in schema:
        low = schema["minimum"]
        cases += [
            Case(name, number(low), False, "minimum", f"{low:g}"),
            Case(name, number(low - step), True, "minimum", f"{low:g}"),
        ]
    if "exclusiveMaximum" in schema:
        high = schema["exclusiveMaximum"]
        cases += [
            Case(name, number(high), True, "exclusiveMaximum", f"{high:g}"),
            Case(name, number(high - step), False, "exclusiveMaximum", f"{high:g}"),
        ]
    if "exclusiveMinimum" in schema:
        low = schema["exclusiveMinimum"]
        cases += [
            Case(name, number(low), True, "exclusiveMinimum", f"{low:g}"),
            Case(name, number(low + step), False, "exclusiveMinimum", f"{low:g}"),
        ]
    for member in schema.get("enum", ()):
        cases.append(Case(name, member, False, "enum", repr(member)))
    if "enum" in schema:
        members = ", ".join(repr(m) for m in schema["enum"])
        cases.append(Case(name, OUTSIDE, True, "enum values", members))
    if schema.get("format") == "uri":
        cases += [
            Case(name, "https://example.com/flux-canny-probe", False, "format", "uri"),
            Case(name, "ftp://example.com/x", True, "format", "uri (http or https)"),
        ]
    if "maxLength" in schema:
        top = int(schema["maxLength"])
        url = "https://example.com/" if schema.get("format") == "uri" else ""
        cases += [
            Case(name, url + "a" * (top - len(url)), False, "maxLength", str(top)),
            Case(name, url + "a" * (top + 1 - len(url)), True, "maxLength", str(top)),
        ]
    if nullable:
        cases.append(Case(name, None, False, "nullable", "null allowed"))
    return cases


#: the types whose wrong value (see `_wrong`) any validator refuses
_GUARDABLE = frozenset({"string", "integer", "number"})


def guard_pairs(spec: Spec, path: str = CANNY_PATH) -> list[tuple[str, str]]:
    """Pairs of fields, each pair a body's two guaranteed errors: the first left out (a
    required field) or given a value of the wrong type, the second given one.

    Two required string fields make every pair (the canny finetune's, as always). An
    endpoint with fewer uses its other typed fields too, in two pairs with no field in
    common, so each field is probed in the bodies the other pair guards."""
    schema = spec.request_schema(path)
    props: Mapping[str, Any] = schema.get("properties", {})
    required = sorted(schema.get("required", ()))
    strings = [r for r in required if branch(spec, props[r])[0].get("type") == "string"]
    if len(strings) >= 2:
        return list(permutations(strings, 2))  # ordered: each is left out in some body
    typed = [
        name
        for name, prop in props.items()
        if name not in required and branch(spec, prop)[0].get("type") in _GUARDABLE
    ]
    # a required field first: left out, the strongest guaranteed error
    candidates = [*required, *typed]
    if len(candidates) < 4:
        raise ProbeError("the request has too few typed fields to make guarded bodies")
    return [(candidates[0], candidates[1]), (candidates[2], candidates[3])]


def _guard(spec: Spec, schema: Mapping[str, Any], name: str, *, leave_out: bool) -> Case:
    if leave_out and name in schema.get("required", ()):
        return Case(name, None, True, "required", "required", present=False, guard=True)
    kind = branch(spec, schema["properties"][name])[0].get("type")
    return Case(name, _wrong(kind), True, "type", str(kind), guard=True)


def guarded_base(spec: Spec, pair: tuple[str, str], path: str = CANNY_PATH) -> list[Case]:
    """The two guaranteed errors, and every other required field with a valid value."""
    schema = spec.request_schema(path)
    first, second = pair
    cases = [
        _guard(spec, schema, first, leave_out=True),
        _guard(spec, schema, second, leave_out=False),
    ]
    for other in sorted(schema.get("required", ())):
        if other not in pair:
            # base64 of "hi": a valid string for any field, an image for none
            cases.append(Case(other, "aGk=", False, "type", "string"))
    return cases


def plan_bodies(spec: Spec, path: str = CANNY_PATH) -> list[list[Case]]:
    """The probe bodies: each a list of cases, two of them guaranteed errors. A field
    one pair guards is probed in the bodies of another."""
    schema = spec.request_schema(path)
    props: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    pairs = guard_pairs(spec, path)
    pending = {
        name: _cases(spec, name, prop) for name, prop in props.items() if name not in required
    }
    optional = list(pending)
    bodies = []
    index = 0
    most = len(pairs) * (max((len(c) for c in pending.values()), default=0) + 1)
    while index < len(pairs) or any(pending.values()):
        if index > most:  # no pair leaves some field unguarded: never so in a schema
            raise ProbeError("a field is guarded by every pair: it cannot be probed")
        pair = pairs[index % len(pairs)]
        placed = [cases.pop(0) for name, cases in pending.items() if cases and name not in pair]
        bodies.append(guarded_base(spec, pair, path) + placed)
        index += 1
    # bodies without any optional field: none of them may have become required
    for pair in pairs[: 1 if required >= set(pairs[0]) else 2]:
        left_out = [
            Case(n, None, False, "required", "optional", present=False)
            for n in optional
            if n not in pair and (pair == pairs[0] or n in pairs[0])
        ]
        bodies.append(guarded_base(spec, pair, path) + left_out)
    return bodies


def body_of(cases: list[Case]) -> dict[str, Any]:
    return {c.field: c.value for c in cases if c.present}


def check_guarded(validator: RequestValidator, cases: list[Case]) -> None:
    """Refuse to send a body our own validator would accept, or one whose guaranteed
    errors are not both there: it could create a task."""
    errors = validator.errors(body_of(cases))
    fields = {str(e["loc"][1]) for e in errors if len(e["loc"]) > 1}
    guards = [c for c in cases if c.guard]
    if len(guards) < 2 or any(g.field not in fields for g in guards):
        raise ProbeError(f"refusing to send a probe body that might be accepted: {body_of(cases)}")
