"""Does the live server still enforce what `openapi.json` says? Checked at zero cost.

The server is FastAPI with pydantic: a 422 lists *every* field's error at once, and a body
that fails validation can never create a task. So each probe body carries two guaranteed
errors (a required field missing, another one of the wrong type), checked with the
project's own validator before it is sent, and every other field holds a value at or just
past one of its constraints: a bound, an enum member or one outside the enum, a wrong type,
a URL. The 422's list says which of them the server still refuses. A handful of bodies
covers every constraint of the endpoint; a bound that moved is found by bisection in a few
more. Should a server ever answer 2xx, the probe stops at once and says so: that task
would be paid.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Generator, Mapping
from itertools import permutations
from typing import Any

import attrs

from ._spec import CANNY_PATH, Spec
from ._wire import Send
from .validation import RequestValidator

__all__ = ["Finding", "ProbeError", "ProbeReport", "plan_bodies", "probe_flow"]

#: pause between probe requests: the probe is a courtesy to the API, not a load test
PACE = 0.2
_BISECT_STEPS = 24
_OUTSIDE = "flux-canny-probe-not-a-member"


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


@attrs.frozen
class Finding:
    """One constraint as the spec states it and as the server enforces it."""

    field: str
    constraint: str
    spec: str
    agrees: bool
    server: str

    def __str__(self) -> str:
        if self.constraint == "required":
            return f"{self.field}: spec says {self.spec}, server {self.server}"
        return f"{self.field}: spec {self.constraint} {self.spec}, server {self.server}"


@attrs.define
class ProbeReport:
    findings: list[Finding] = attrs.field(factory=list)
    requests: int = 0
    #: set if a probe body was ever accepted: a task was created, and it will be paid
    task_created: str | None = None

    @property
    def differences(self) -> list[Finding]:
        return [f for f in self.findings if not f.agrees]

    @property
    def agrees(self) -> bool:
        return not self.differences and self.task_created is None

    def summary(self) -> str:
        if self.task_created is not None:
            return (
                f"STOPPED: the server ACCEPTED a probe body and created task "
                f"{self.task_created}, which will be paid; a body with a missing required "
                "field should never be accepted"
            )
        head = (
            f"{len(self.findings)} constraints checked in {self.requests} requests, "
            f"{len(self.differences)} differ"
        )
        return "\n".join([head, *(str(f) for f in self.differences)])

    def to_json(self) -> str:
        return json.dumps(
            {
                "agrees": self.agrees,
                "requests": self.requests,
                "task_created": self.task_created,
                "findings": [attrs.asdict(f) for f in self.findings],
            }
        )


# -- what to send -------------------------------------------------------------------------


def _branch(spec: Spec, prop: Mapping[str, Any]) -> tuple[Mapping[str, Any], bool]:
    """A property's non-null schema (resolved), and whether null is allowed."""
    branches = prop.get("anyOf") or [prop]
    nullable = any(spec.resolve(b).get("type") == "null" for b in branches)
    real = [spec.resolve(b) for b in branches if spec.resolve(b).get("type") != "null"]
    return (real[0] if real else {}), nullable


def _listed_members(entry: Mapping[str, Any]) -> set[str] | None:
    """The members a 422 for an enum says it expects ("'jpeg', 'png' or 'webp'")."""
    context = entry.get("ctx")
    said = context.get("expected") if isinstance(context, Mapping) else None
    return set(re.findall(r"'([^']*)'", said)) if isinstance(said, str) else None


def _added_members(spec: Spec, field: str, listed: set[str] | None) -> str:
    """Members the server lists and the spec does not, as text ("" when none)."""
    if not listed:
        return ""
    schema, _ = _branch(spec, spec.request_schema()["properties"][field])
    new = sorted(listed - {str(m) for m in schema.get("enum", ())})
    return ", ".join(repr(m) for m in new)


def _wrong(kind: str | None) -> Any:
    return {"integer": "not-a-number", "number": "not-a-number", "boolean": [1]}.get(
        kind or "", 12345
    )


def _step(kind: str | None) -> float:
    return 1 if kind == "integer" else 0.001


def _cases(spec: Spec, name: str, prop: Mapping[str, Any]) -> list[Case]:
    schema, nullable = _branch(spec, prop)
    kind = schema.get("type")
    cases = [Case(name, _wrong(kind), True, "type", str(kind))]
    step = _step(kind)

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
        cases.append(Case(name, _OUTSIDE, True, "enum values", members))
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


def _guard_pairs(spec: Spec) -> list[tuple[str, str]]:
    """Pairs of required string fields: one left out, the other given a number."""
    schema = spec.request_schema()
    props: Mapping[str, Any] = schema.get("properties", {})
    required = sorted(schema.get("required", ()))
    strings = [r for r in required if _branch(spec, props[r])[0].get("type") == "string"]
    if len(strings) < 2:
        raise ProbeError("the request needs two required string fields to make guarded bodies")
    return list(permutations(strings, 2))  # ordered: each is left out in some body


def _guarded_base(spec: Spec, pair: tuple[str, str]) -> list[Case]:
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
    pairs = _guard_pairs(spec)
    per_field = {
        name: _cases(spec, name, prop) for name, prop in props.items() if name not in required
    }
    count = max(len(pairs), *(len(c) for c in per_field.values()))
    bodies = []
    for index in range(count):
        body = _guarded_base(spec, pairs[index % len(pairs)])
        body += [cases[index] for cases in per_field.values() if index < len(cases)]
        bodies.append(body)
    # one body without any optional field: none of them may have become required
    left_out = [Case(n, None, False, "required", "optional", present=False) for n in per_field]
    bodies.append(_guarded_base(spec, pairs[0]) + left_out)
    return bodies


def _body(cases: list[Case]) -> dict[str, Any]:
    return {c.field: c.value for c in cases if c.present}


def _guarded(validator: RequestValidator, cases: list[Case]) -> None:
    """Refuse to send a body our own validator would accept, or one whose guaranteed
    errors are not both there: it could create a task."""
    errors = validator.errors(_body(cases))
    fields = {str(e["loc"][1]) for e in errors if len(e["loc"]) > 1}
    guards = [c for c in cases if c.guard]
    if len(guards) < 2 or any(g.field not in fields for g in guards):
        raise ProbeError(f"refusing to send a probe body that might be accepted: {_body(cases)}")


# -- the flow -------------------------------------------------------------------------------

Ask = Generator[Any, Any, Any]


def probe_flow(core: Any) -> Generator[Any, Any, ProbeReport]:
    """Send the planned bodies (and any bisection), judge the 422s, build the report."""
    validator = RequestValidator(core.validator.spec)
    spec = core.validator.spec
    report = ProbeReport()
    url = core.url(CANNY_PATH)

    def send(cases: list[Case]) -> Ask:
        _guarded(validator, cases)
        if report.requests:
            from ._effects import Sleep

            yield Sleep(PACE)
        report.requests += 1
        response = yield from core._send(
            Send("POST", url, options={"json": _body(cases)}),
            what="probe",
            idempotent=False,
            parse=lambda r: r,
            accept=lambda r: int(r.status_code) in (200, 201, 202, 422),
            conform=False,
        )
        if int(response.status_code) != 422:
            try:
                created = json.loads(response.content).get("id", "?")
            except (ValueError, AttributeError):
                created = "?"
            report.task_created = str(created)
            return None
        detail = json.loads(response.content).get("detail")
        refused: dict[str, Mapping[str, Any]] = {}
        for entry in detail if isinstance(detail, list) else []:
            loc = entry.get("loc", []) if isinstance(entry, Mapping) else []
            if len(loc) >= 2 and loc[0] == "body":
                refused.setdefault(str(loc[1]), entry)
        return refused

    verdicts: dict[tuple[str, str, str], list[tuple[Case, bool]]] = {}
    listed: dict[str, set[str] | None] = {}
    for cases in plan_bodies(spec):
        refused = yield from send(cases)
        if refused is None:
            return report
        for case in cases:
            entry = refused.get(case.field, {})
            if case.constraint == "required" and case.spec == "optional":
                was = entry.get("type") == "missing"
            else:
                was = case.field in refused
            if case.constraint == "enum values" and was:
                listed[case.field] = _listed_members(entry)
            verdicts.setdefault((case.field, case.constraint, case.spec), []).append((case, was))
    retyped = {
        field
        for (field, constraint, _), seen in verdicts.items()
        if constraint == "type" and any(was != c.refuse for c, was in seen)
    }
    for (field, constraint, said), seen in verdicts.items():
        wrong = [(c, was) for c, was in seen if was != c.refuse]
        if constraint == "enum values" and not wrong:
            added = _added_members(spec, field, listed.get(field))
            if added:
                report.findings.append(
                    Finding(field, constraint, said, False, f"also accepts {added}")
                )
                continue
        if not wrong:
            report.findings.append(Finding(field, constraint, said, True, "agrees"))
            continue
        if field in retyped and constraint != "type":
            server = "not comparable: the field's type changed"
        else:
            server = yield from _what_instead(send, field, constraint, said, wrong, spec)
        if report.task_created is not None:
            return report
        report.findings.append(Finding(field, constraint, said, False, server))
    return report


def _what_instead(
    send: Any, field: str, constraint: str, said: str, wrong: list[tuple[Case, bool]], spec: Spec
) -> Ask:
    """Describe how the server differs; for a bound, find where it now lies."""
    case, refused = wrong[0]
    if constraint in ("maximum", "minimum") and isinstance(case.value, int | float):
        prop = spec.request_schema()["properties"][field]
        kind = _branch(spec, prop)[0].get("type")
        return (yield from _bisect(send, spec, field, constraint, float(said), kind))
    if constraint == "enum values":
        return "accepts a value outside the list"
    if constraint == "enum":
        return f"refuses {case.value!r}"
    if constraint == "type":
        return f"accepts {case.value!r} where the spec says {said}"
    if constraint == "required":
        return "no longer requires it" if said == "required" else "now requires it"
    verb = "refuses" if refused else "accepts"
    return f"{verb} {str(case.value)[:40]!r}"


def _bisect(
    send: Any, spec: Spec, field: str, constraint: str, bound: float, kind: str | None
) -> Ask:
    """Where the bound lies now: grow outward until refused, then halve the gap."""
    step = _step(kind)
    sign = 1 if constraint == "maximum" else -1

    base = _guarded_base(spec, _guard_pairs(spec)[0])

    def refuses(value: float) -> Ask:
        number: float | int = int(value) if kind == "integer" else round(value, 6)
        refused = yield from send([*base, Case(field, number, False, "bisect", "")])
        return refused is None or field in refused

    # which side moved: the spec's own bound refused means the range narrowed
    narrowed = yield from refuses(bound)
    accepted, rejected = (bound, None) if not narrowed else (None, bound)
    distance = step
    for _ in range(_BISECT_STEPS):
        probe = bound + sign * distance if not narrowed else bound - sign * distance
        if (yield from refuses(probe)):
            rejected = probe
            if not narrowed:
                break
        else:
            accepted = probe
            if narrowed:
                break
        distance *= 2
    if accepted is None or rejected is None:
        return "refuses every value tried" if accepted is None else "accepts every value tried"
    while abs(rejected - accepted) > step * 1.0001:
        middle = (accepted + rejected) / 2
        if kind == "integer":
            middle = math.floor(middle) if sign > 0 else math.ceil(middle)
        if (yield from refuses(middle)):
            rejected = middle
        else:
            accepted = middle
    shown = f"{accepted:g}"
    if narrowed and abs(accepted - bound) <= step * 1.0001:
        return f"refuses {bound:g} itself: the {constraint} is now exclusive"
    if narrowed:
        return f"refuses {bound:g}; the {constraint} is now {shown}"
    first = bound + sign * step
    low, high = sorted((first, accepted))
    return f"accepts {low:g}..{high:g}, refuses {rejected:g}"
