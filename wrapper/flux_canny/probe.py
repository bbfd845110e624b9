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
from collections.abc import Generator, Mapping
from typing import Any

import attrs

from ._exchange import Exchange
from ._operations import CANNY, operation
from ._probe_plan import (
    Case,
    ProbeError,
    added_members,
    body_of,
    branch,
    check_guarded,
    guard_pairs,
    guarded_base,
    listed_members,
    plan_bodies,
    step_for,
)
from ._spec import Spec
from ._wire import Send
from .validation import RequestValidator

__all__ = ["Finding", "ProbeError", "ProbeReport", "plan_bodies", "probe_flow"]

#: pause between probe requests: the probe is a courtesy to the API, not a load test
PACE = 0.2
_BISECT_STEPS = 24


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


# -- the flow -------------------------------------------------------------------------------

Ask = Generator[Any, Any, Any]


def probe_flow(
    exchange: Exchange, spec: Spec, endpoint: str = CANNY
) -> Generator[Any, Any, ProbeReport]:
    """Send the planned bodies (and any bisection) to `endpoint` through `exchange`, judge
    the 422s against `spec`, build the report."""
    path = operation(endpoint).path
    validator = RequestValidator(spec, path)
    report = ProbeReport()
    url = exchange.url(path, endpoint)

    def send(cases: list[Case]) -> Ask:
        check_guarded(validator, cases)
        if report.requests:
            from ._effects import Sleep

            yield Sleep(PACE)
        report.requests += 1
        response = yield from exchange.send(
            Send("POST", url, options={"json": body_of(cases)}),
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
    for cases in plan_bodies(spec, path):
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
                listed[case.field] = listed_members(entry)
            verdicts.setdefault((case.field, case.constraint, case.spec), []).append((case, was))
    retyped = {
        field
        for (field, constraint, _), seen in verdicts.items()
        if constraint == "type" and any(was != c.refuse for c, was in seen)
    }
    for (field, constraint, said), seen in verdicts.items():
        wrong = [(c, was) for c, was in seen if was != c.refuse]
        if constraint == "enum values" and not wrong:
            added = added_members(spec, field, listed.get(field), path)
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
            server = yield from _what_instead(send, field, constraint, said, wrong, spec, path)
        if report.task_created is not None:
            return report
        report.findings.append(Finding(field, constraint, said, False, server))
    return report


def _what_instead(
    send: Any,
    field: str,
    constraint: str,
    said: str,
    wrong: list[tuple[Case, bool]],
    spec: Spec,
    path: str,
) -> Ask:
    """Describe how the server differs; for a bound, find where it now lies."""
    case, refused = wrong[0]
    if constraint in ("maximum", "minimum") and isinstance(case.value, int | float):
        prop = spec.request_schema(path)["properties"][field]
        kind = branch(spec, prop)[0].get("type")
        return (yield from _bisect(send, spec, field, constraint, float(said), kind, path))
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
    send: Any,
    spec: Spec,
    field: str,
    constraint: str,
    bound: float,
    kind: str | None,
    path: str,
) -> Ask:
    """Where the bound lies now: grow outward until refused, then halve the gap."""
    step = step_for(kind)
    sign = 1 if constraint == "maximum" else -1

    pair = next(p for p in guard_pairs(spec, path) if field not in p)
    base = guarded_base(spec, pair, path)

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
