"""What the probe sends: bodies whose every value sits at or just past one constraint of
the request schema, each body made safe by two guaranteed errors (see `flux_canny.probe`)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from itertools import permutations
from typing import Any

import attrs

from ._spec import Spec
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


def added_members(spec: Spec, field: str, listed: set[str] | None) -> str:
    """Members the server lists and the spec does not, as text ("" when none)."""
    if not listed:
        return ""
    schema, _ = branch(spec, spec.request_schema()["properties"][field])
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


def guard_pairs(spec: Spec) -> list[tuple[str, str]]:
    """Pairs of required string fields: one left out, the other given a number."""
    schema = spec.request_schema()
    props: Mapping[str, Any] = schema.get("properties", {})
    required = sorted(schema.get("required", ()))
    strings = [r for r in required if branch(spec, props[r])[0].get("type") == "string"]
    if len(strings) < 2:
        raise ProbeError("the request needs two required string fields to make guarded bodies")
    return list(permutations(strings, 2))  # ordered: each is left out in some body


def guarded_base(spec: Spec, pair: tuple[str, str]) -> list[Case]:
    """The two guaranteed errors, and every other required field with a valid value."""
    missing, wrong = pair
    cases = [
        Case(missing, None, True, "required", "required", present=False, guard=True),
        Case(wrong, 12345, True, "type", "string", guard=True),
    ]
    for other in sorted(spec.request_schema().get("required", ())):
        if other not in pair:
            # base64 of "hi": a valid string for any field, an image for none
            cases.append(Case(other, "aGk=", False, "type", "string"))
    return cases


def plan_bodies(spec: Spec) -> list[list[Case]]:
    """The probe bodies: each a list of cases, two of them guaranteed errors."""
    schema = spec.request_schema()
    props: Mapping[str, Any] = schema.get("properties", {})
    required = set(schema.get("required", ()))
    pairs = guard_pairs(spec)
    per_field = {
        name: _cases(spec, name, prop) for name, prop in props.items() if name not in required
    }
    count = max(len(pairs), *(len(c) for c in per_field.values()))
    bodies = []
    for index in range(count):
        body = guarded_base(spec, pairs[index % len(pairs)])
        body += [cases[index] for cases in per_field.values() if index < len(cases)]
        bodies.append(body)
    # one body without any optional field: none of them may have become required
    left_out = [Case(n, None, False, "required", "optional", present=False) for n in per_field]
    bodies.append(guarded_base(spec, pairs[0]) + left_out)
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
