"""Request-body validation that gives the server's own verdict, before any network call.

The BFL server is FastAPI on pydantic v2. Rather than imitate pydantic's lax coercions,
error types and messages by hand, we translate the spec's JSON Schema back into the
pydantic model the server's schema was generated from, and let pydantic judge. The
contract suite proves the translation against an independent FastAPI oracle.

Two places where pydantic is stricter than the JSON Schema it publishes:
- `format: uri` with `maxLength` is pydantic's `HttpUrl`/`AnyUrl` family, which checks
  the scheme (http/https) and host and reports `url_*` error types;
- a `$ref` to a string enum is a Python `Enum` (error type `enum`, not `literal_error`).
"""

from __future__ import annotations

import enum
import functools
import math
from collections.abc import Mapping
from typing import Annotated, Any, Literal, Optional, Union

# `import pydantic` is lazy by itself; its names are reached only when the validator is
# built (a client's first use), so `import flux_canny` does not pay for them
import pydantic

from ._operations import CANNY, did_you_mean, operation
from ._spec import CANNY_PATH, Spec, packaged_spec
from .errors import RequestValidationError

__all__ = [
    "RequestValidator",
    "ValidationErrorDetail",
    "did_you_mean",
    "validate_inputs",
    "validator_for",
]

ValidationErrorDetail = dict[str, Any]

_TYPES: dict[str, Any] = {"string": str, "integer": int, "number": float, "boolean": bool}
_NUMERIC_KEYS = {
    "minimum": "ge",
    "maximum": "le",
    "exclusiveMinimum": "gt",
    "exclusiveMaximum": "lt",
    "multipleOf": "multiple_of",
}
# The JSON Schema pydantic emits for HttpUrl: http(s) only, host required.
_HTTP_URL_MAX_LENGTH = 2083


class _ModelBuilder:
    """Turns the JSON Schema of one request body into a pydantic model class."""

    def __init__(self, spec: Spec) -> None:
        self._spec = spec
        self._enums: dict[str, type[enum.Enum]] = {}

    def model(self, schema: Mapping[str, Any]) -> type[pydantic.BaseModel]:
        required = set(schema.get("required", ()))
        fields: dict[str, Any] = {}
        for name, prop in schema.get("properties", {}).items():
            annotation = self._annotation(prop)
            if name in required:
                fields[name] = (annotation, pydantic.Field(...))
            else:
                fields[name] = (annotation, pydantic.Field(default=prop.get("default")))
        config = pydantic.ConfigDict(extra="ignore", protected_namespaces=())
        title = str(schema.get("title", "Body"))
        model: type[pydantic.BaseModel] = pydantic.create_model(title, __config__=config, **fields)
        return model

    def _annotation(self, prop: Mapping[str, Any]) -> Any:
        if "$ref" in prop:
            return self._ref(prop["$ref"])
        for key in ("allOf",):
            if key in prop and len(prop[key]) == 1:
                merged = {**prop, **prop[key][0]}
                del merged[key]
                return self._annotation(merged)
        if "anyOf" in prop or "oneOf" in prop:
            members = [m for m in prop.get("anyOf", prop.get("oneOf", []))]
            nullable = any(m.get("type") == "null" for m in members)
            inner = [self._annotation(m) for m in members if m.get("type") != "null"]
            if not inner:
                return type(None)
            annotation = inner[0] if len(inner) == 1 else Union[tuple(inner)]  # noqa: UP007
            return Optional[annotation] if nullable else annotation  # noqa: UP045
        if "enum" in prop:
            return Literal[tuple(prop["enum"])]
        kind = prop.get("type")
        if kind is None or prop == {}:
            return Any
        if isinstance(kind, list):
            members = [{**prop, "type": k} for k in kind]
            return self._annotation({"anyOf": members})
        if kind == "null":
            return type(None)
        if kind == "array":
            item = self._annotation(prop.get("items", {}))
            lengths: dict[str, Any] = self._length(prop, "Items")
            return Annotated[list[item], pydantic.Field(**lengths)]  # type: ignore[valid-type]
        if kind == "object":
            return dict[str, Any]
        if kind == "string" and prop.get("format") == "uri":
            return self._url(prop)
        base = _TYPES[kind]
        constraints: dict[str, Any] = {}
        for json_key, py_key in _NUMERIC_KEYS.items():
            if json_key in prop:
                constraints[py_key] = _bound(prop[json_key], integer=kind == "integer")
        if kind == "string":
            constraints.update(self._length(prop, "Length"))
            if "pattern" in prop:
                constraints["pattern"] = prop["pattern"]
        return Annotated[base, pydantic.Field(**constraints)] if constraints else base

    @staticmethod
    def _length(prop: Mapping[str, Any], suffix: str) -> dict[str, int]:
        out: dict[str, int] = {}
        if f"min{suffix}" in prop:
            out["min_length"] = int(prop[f"min{suffix}"])
        if f"max{suffix}" in prop:
            out["max_length"] = int(prop[f"max{suffix}"])
        return out

    @staticmethod
    def _url(prop: Mapping[str, Any]) -> Any:
        max_length = prop.get("maxLength")
        if max_length == _HTTP_URL_MAX_LENGTH:
            return pydantic.HttpUrl
        import pydantic_core

        return Annotated[pydantic_core.Url, pydantic.UrlConstraints(max_length=max_length)]

    def _ref(self, ref: str) -> Any:
        target = self._spec.resolve({"$ref": ref})
        name = str(target.get("title", ref.rsplit("/", 1)[-1]))
        if "enum" in target and target.get("type") == "string":
            if name not in self._enums:
                members = {str(v).upper() or "EMPTY": v for v in target["enum"]}
                make_enum: Any = enum.Enum  # a functional Enum named by the spec
                made: Any = make_enum(name, members, type=str)
                self._enums[name] = made
            return self._enums[name]
        if target.get("type") == "object":
            return self.model(target)
        return self._annotation(target)


def _bound(value: float, *, integer: bool) -> float:
    # pydantic writes integer bounds as floats (`maximum: 50.0`); the server's messages
    # say "50", so integral bounds on integer fields are compared and printed as ints.
    if integer and float(value).is_integer():
        return int(value)
    return value


class RequestValidator:
    """The server's verdict on one operation's request body, from a spec document."""

    def __init__(self, spec: Spec, path: str = CANNY_PATH, method: str = "post") -> None:
        self.spec = spec
        self.schema = spec.request_schema(path, method)
        self.model = _ModelBuilder(spec).model(self.schema)
        self.field_names = frozenset(self.schema.get("properties", {}))

    def errors(self, body: Any) -> list[ValidationErrorDetail]:
        """The `detail` list a FastAPI server would answer with (empty when accepted)."""
        try:
            self.model.model_validate(body)
        except pydantic.ValidationError as exc:
            return [_fastapi_error(e) for e in exc.errors(include_url=False)]
        return []

    def normalise(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """The body as the server would read it (30, not "30"); only the fields given.

        Raises RequestValidationError with the server-shaped errors when it would be
        rejected.
        """
        try:
            model = self.model.model_validate(body)
        except pydantic.ValidationError as exc:
            raise RequestValidationError(
                [_fastapi_error(e) for e in exc.errors(include_url=False)]
            ) from None
        return model.model_dump(mode="json", exclude_unset=True)


def _fastapi_error(error: Any) -> ValidationErrorDetail:
    """pydantic's error dict in the shape FastAPI puts under `detail` (loc under "body")."""
    out: ValidationErrorDetail = {
        "type": error["type"],
        "loc": ["body", *error["loc"]],
        "msg": error["msg"],
        "input": _unsecret(error["loc"], jsonable(error.get("input"))),
    }
    if error.get("ctx"):
        out["ctx"] = {k: jsonable(v) for k, v in error["ctx"].items()}
    return out


def _unsecret(loc: Any, value: Any) -> Any:
    """An error's `input` without a secret (`webhook_secret`, where it is refused or inside
    a body refused as a whole): errors are logged and printed, a secret never is."""
    if any("secret" in str(part) for part in loc):
        return "***"
    if isinstance(value, dict):
        return {k: "***" if "secret" in k else v for k, v in value.items()}
    return value


def jsonable(value: Any) -> Any:
    """`value` as an error's `input` may hold it: JSON's kinds, the rest as text (a
    lambda or a lock given for a field made the error that named it unpicklable)."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return str(value)


def default_validator() -> RequestValidator:
    """The seed's endpoint's validator (the canny finetune)."""
    return validator_for(CANNY)


def validator_for(endpoint: str) -> RequestValidator:
    """The validator of the endpoint named `endpoint`, built once (a pydantic model each);
    an unknown name is an InvalidArgumentError naming the nearest."""
    path = operation(endpoint).path  # refuses what is no endpoint's name, whatever its type
    return _validator(path)


@functools.cache
def _validator(path: str) -> RequestValidator:
    return RequestValidator(packaged_spec(), path)


def validate_inputs(
    body: Mapping[str, Any], endpoint: str = "flux-pro-1.0-canny-finetuned"
) -> list[ValidationErrorDetail]:
    """The errors the server would return for this request body of `endpoint` (by
    default the seed's canny finetune).

    Each error is `{"loc": [...], "msg": ..., "type": ...}` (plus `input`/`ctx`) as
    FastAPI writes it; an empty list means the server would accept the body.
    """
    return validator_for(endpoint).errors(body)
