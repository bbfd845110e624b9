"""Live conformance: does what the API answers match what its spec promises?

With `check_responses=True` (or FLUX_CANNY_CHECK_RESPONSES=1) every API response the
client receives is checked against the packaged spec: a status code the operation does
not document, a body that is not JSON, a required field missing, a value of the wrong
type, an enum value the spec does not list ("Generating"). Each deviation is logged as a
warning on the `flux_canny.conformance` logger (the first time it is seen; repeats go to
DEBUG) and kept in a report the caller can read. Nothing ever fails because of it: the
point is to notice drift between the live API and its spec, not to enforce the spec.
"""

from __future__ import annotations

import json
import logging
import re
import threading
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._spec import Spec
from .errors import ConfigurationError

if TYPE_CHECKING:
    import jsonschema

__all__ = ["CHECK_RESPONSES_ENV", "ConformanceReport", "Deviation", "ResponseChecker"]

#: the environment variable that turns live conformance on (`check_responses=None`)
CHECK_RESPONSES_ENV = "FLUX_CANNY_CHECK_RESPONSES"

log = logging.getLogger("flux_canny.conformance")
_KEEP = 1000  # deviations kept in full; beyond, only counted


def _jsonschema() -> Any:
    """jsonschema, loaded only when responses are checked (the [conformance] extra)."""
    try:
        import jsonschema
    except ImportError:
        raise ConfigurationError(
            "checking responses (check_responses=True or FLUX_CANNY_CHECK_RESPONSES) needs "
            "jsonschema, which comes with the [conformance] extra: "
            "pip install 'flux-canny[conformance]'"
        ) from None
    return jsonschema


@attrs.frozen
class Deviation:
    """One way a response differed from the spec."""

    operation: str  # "GET /v1/get_result"
    status_code: int
    kind: str  # undocumented-status | not-json | missing-required-field | unexpected-type
    #          # | unknown-enum-value | schema-violation
    where: str  # a path in the body ("status", "result.sample"), or "" for the whole answer
    detail: str

    def __str__(self) -> str:
        at = f" at {self.where}" if self.where else ""
        return f"{self.operation} → {self.status_code}: {self.kind}{at}: {self.detail}"


#: errors every FastAPI app answers whether its spec lists them or not (auth, an unknown
#: id, rate limits), in FastAPI's own {"detail": ...} shape: not drift worth a warning
_FRAMEWORK_ERRORS = frozenset({401, 403, 404, 405, 429})


def _framework_error(status_code: int, content: bytes) -> bool:
    if status_code not in _FRAMEWORK_ERRORS:
        return False
    try:
        body = json.loads(content)
    except ValueError:
        return False
    return isinstance(body, dict) and "detail" in body


class ConformanceReport:
    """What a client has seen so far: responses checked, and every deviation."""

    def __init__(self) -> None:
        self.responses_checked = 0
        self.deviations: list[Deviation] = []
        self.counts: Counter[Deviation] = Counter()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return sum(self.counts.values())

    def __iter__(self) -> Iterator[Deviation]:
        return iter(list(self.deviations))

    def __bool__(self) -> bool:
        return True  # a report exists even while it is empty

    def kinds(self) -> Counter[str]:
        """How many deviations of each kind, repeats included."""
        counted: Counter[str] = Counter()
        for deviation, times in self.counts.items():
            counted[deviation.kind] += times
        return counted

    def summary(self) -> str:
        checked = self.responses_checked
        responses = f"{checked} response{'' if checked == 1 else 's'} checked"
        if not self.counts:
            return f"{responses}, all as the spec says"
        lines = [f"{responses}, {len(self)} deviation{'' if len(self) == 1 else 's'}:"]
        for deviation, times in self.counts.most_common():
            lines.append(f"  {times:>5} × {deviation}")
        return "\n".join(lines)

    def record(self, found: list[Deviation]) -> None:
        """Count one checked response and its deviations."""
        with self._lock:
            self.responses_checked += 1
            for deviation in found:
                first = deviation not in self.counts
                self.counts[deviation] += 1
                if len(self.deviations) < _KEEP:
                    self.deviations.append(deviation)
                level = logging.WARNING if first else logging.DEBUG
                log.log(level, "response differs from the spec: %s", deviation)


@attrs.frozen
class _Operation:
    name: str
    pattern: re.Pattern[str]
    responses: Mapping[str, Any]


class ResponseChecker:
    """Checks responses against one spec document's operations."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self._components = spec.document.get("components", {})
        self._operations: dict[str, list[_Operation]] = {}
        for path, item in spec.document.get("paths", {}).items():
            pattern = re.compile("^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(path)) + "$")
            for method, operation in item.items():
                if not isinstance(operation, Mapping) or "responses" not in operation:
                    continue
                entry = _Operation(f"{method.upper()} {path}", pattern, operation["responses"])
                self._operations.setdefault(method.upper(), []).append(entry)
        self._validators: dict[tuple[str, str], jsonschema.protocols.Validator | None] = {}
        _jsonschema()  # asked for, so missing is said now, before any request

    def find(self, method: str, path: str) -> _Operation | None:
        for operation in self._operations.get(method.upper(), ()):
            if operation.pattern.match(path):
                return operation
        return None

    def _validator(
        self, operation: _Operation, status: str
    ) -> jsonschema.protocols.Validator | None:
        key = (operation.name, status)
        if key not in self._validators:
            content = operation.responses[status].get("content", {})
            schema = next((e.get("schema") for m, e in content.items() if "json" in m), None)
            if schema is None:
                self._validators[key] = None
            else:
                # the response schema, with the document's components beside it so that
                # "#/components/schemas/..." refs resolve
                root = {**schema, "components": self._components}
                self._validators[key] = _jsonschema().Draft202012Validator(root)
        return self._validators[key]

    def check(self, method: str, path: str, status_code: int, content: bytes) -> list[Deviation]:
        """The deviations of one response ([] when it conforms or the path is not an API
        operation of the spec)."""
        operation = self.find(method, path)
        if operation is None:
            return []
        status = str(status_code)
        documented = status if status in operation.responses else None
        if documented is None:
            wildcard = f"{status[0]}XX"
            documented = next(
                (s for s in (wildcard, wildcard.lower(), "default") if s in operation.responses),
                None,
            )
        if documented is None and _framework_error(status_code, content):
            return []
        if documented is None:
            listed = ", ".join(sorted(operation.responses))
            return [
                Deviation(
                    operation.name,
                    status_code,
                    "undocumented-status",
                    "",
                    f"status {status_code} is not among the documented {listed}",
                )
            ]
        validator = self._validator(operation, documented)
        if validator is None:
            return []
        try:
            body = json.loads(content)
        except ValueError:
            return [Deviation(operation.name, status_code, "not-json", "", "the body is not JSON")]
        return [
            _deviation(operation.name, status_code, error)
            for error in sorted(validator.iter_errors(body), key=lambda e: list(e.absolute_path))
        ]


def _where(error: jsonschema.ValidationError) -> str:
    return ".".join(str(p) for p in error.absolute_path)


def _short(value: Any) -> str:
    text = json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


def _deviation(operation: str, status: int, error: jsonschema.ValidationError) -> Deviation:
    where = _where(error)
    validator = error.validator
    expected: Any = error.validator_value
    if validator == "required":
        missing = [
            name
            for name in expected
            if isinstance(error.instance, Mapping) and name not in error.instance
        ]
        field = missing[0] if missing else "?"
        path = f"{where}.{field}" if where else field
        return Deviation(operation, status, "missing-required-field", path, f"{field!r} is missing")
    if validator == "enum":
        listed = ", ".join(_short(v) for v in expected)
        return Deviation(
            operation,
            status,
            "unknown-enum-value",
            where,
            f"{_short(error.instance)} is not one of {listed}",
        )
    if validator == "type":
        return Deviation(
            operation,
            status,
            "unexpected-type",
            where,
            f"{_short(error.instance)} is not of type {expected}",
        )
    if validator in ("anyOf", "oneOf") and error.context:
        # the alternative that came closest (fewest errors) says best what is wrong
        branches: dict[Any, list[jsonschema.ValidationError]] = {}
        for inner in error.context:
            branches.setdefault(inner.relative_schema_path[0], []).append(inner)
        closest = min(branches.values(), key=len)
        return _deviation(operation, status, min(closest, key=lambda e: len(e.absolute_path)))
    return Deviation(operation, status, "schema-violation", where, error.message[:200])
