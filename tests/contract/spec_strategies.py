"""Hypothesis strategies and boundary cases read from openapi.json, never hard-coded.

Point them at another spec document and the whole contract suite re-aims itself. Each
function takes the spec and, optionally, one of its operations (the seed's canny finetune
when none is given): every operation's bodies come from its own schema, nothing listed by
hand per endpoint.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from flux_canny._operations import Operation
from flux_canny._spec import Spec
from hypothesis import strategies as st


def _value_branch(prop: Mapping[str, Any], spec: Spec) -> tuple[Mapping[str, Any], bool]:
    """The non-null branch of a property, and whether null is allowed."""
    if "anyOf" in prop:
        branches = [spec.resolve(b) for b in prop["anyOf"]]
        nullable = any(b.get("type") == "null" for b in branches)
        return next(b for b in branches if b.get("type") != "null"), nullable
    return spec.resolve(prop), False


def _schema(spec: Spec, op: Operation | None) -> Mapping[str, Any]:
    return spec.request_schema() if op is None else spec.request_schema(op.path, op.method)


def constrained_fields(spec: Spec, op: Operation | None = None) -> dict[str, dict[str, Any]]:
    """Every request property of `op` (the seed's by default) with what the spec says of it."""
    schema = _schema(spec, op)
    out = {}
    for name, prop in schema["properties"].items():
        branch, nullable = _value_branch(prop, spec)
        out[name] = {
            "type": branch.get("type"),
            "nullable": nullable,
            "minimum": branch.get("minimum"),
            "maximum": branch.get("maximum"),
            "maxLength": branch.get("maxLength"),
            "multipleOf": branch.get("multipleOf"),
            "enum": branch.get("enum"),
            "format": branch.get("format"),
            "required": name in schema.get("required", []),
        }
    return out


def minimal_body(spec: Spec, op: Operation | None = None) -> dict[str, Any]:
    """The required fields, with valid values of their types."""
    samples = {"string": "x", "integer": 1, "number": 1.0, "boolean": True}
    fields = constrained_fields(spec, op)
    return {n: samples[f["type"]] for n, f in fields.items() if f["required"]}


def boundary_cases(spec: Spec, op: Operation | None = None) -> list[tuple[str, Any, str | None]]:
    """(field, value, expected error type or None) at and just past every bound."""
    cases: list[tuple[str, Any, str | None]] = []
    for name, f in constrained_fields(spec, op).items():
        integer = f["type"] == "integer"
        for bound, key, error, step in (
            ("minimum", "minimum", "greater_than_equal", -1),
            ("maximum", "maximum", "less_than_equal", 1),
        ):
            if f[key] is None:
                continue
            at = int(f[key]) if integer else float(f[key])
            # a multiple of the step past the bound, so that only the bound is broken
            unit = int(f["multipleOf"] or 1)
            past = at + step * unit if integer else math.nextafter(at, math.inf * step)
            far = at + step * unit * 10**6
            cases += [(name, at, None), (name, past, error), (name, far, error)]
            if f["multipleOf"] and bound == "minimum":
                cases.append((name, at + 1, "multiple_of"))
        if f["maxLength"] is not None and f["format"] == "uri":
            head = "https://example.com/"
            cases += [
                (name, head + "a" * (f["maxLength"] - len(head)), None),
                (name, head + "a" * (f["maxLength"] - len(head) + 1), "url_too_long"),
                (name, "ftp://example.com/x", "url_scheme"),
                (name, "not a url", "url_parsing"),
            ]
        if f["enum"]:
            cases += [(name, v, None) for v in f["enum"]]
            cases.append((name, "no-such-" + str(f["enum"][0]), "enum"))
        wrong = {"integer": "many", "number": "lots", "boolean": "perhaps", "string": 12345}
        wrong_type = {
            "integer": "int_parsing",
            "number": "float_parsing",
            "boolean": "bool_parsing",
            "string": "string_type",
        }
        if f["type"] in wrong and f["format"] != "uri" and not f["enum"]:
            cases.append((name, wrong[f["type"]], wrong_type[f["type"]]))
        if not f["nullable"] and f["type"] in wrong_type:
            null_type = {
                "integer": "int_type",
                "number": "float_type",
                "boolean": "bool_type",
                "string": "string_type",
            }[f["type"]]
            cases.append((name, None, null_type))
        if f["nullable"]:
            cases.append((name, None, None))
    return cases


def _field_values(f: Mapping[str, Any]) -> st.SearchStrategy[Any]:
    """Valid values for one field, from its spec constraints alone."""
    kind = f["type"]
    if f["enum"]:
        values: st.SearchStrategy[Any] = st.sampled_from(f["enum"])
    elif kind == "integer":
        low = None if f["minimum"] is None else math.ceil(f["minimum"])
        high = None if f["maximum"] is None else math.floor(f["maximum"])
        step = int(f["multipleOf"] or 1)
        low = None if low is None else -(-low // step)
        high = None if high is None else high // step
        values = st.integers(low, high).map(lambda n: n * step)
    elif kind == "number":
        values = st.floats(f["minimum"], f["maximum"], allow_nan=False, allow_infinity=False)
    elif kind == "boolean":
        values = st.booleans()
    elif f["format"] == "uri":
        # a host as the regex [a-z][a-z0-9]{0,10}(\.[a-z]{2,6}){1,2} reads, built without
        # from_regex, which was a sixth of the contract suite's drawing time
        label = st.text("abcdefghijklmnopqrstuvwxyz", min_size=2, max_size=6)
        host = st.builds(
            lambda a, b, tlds: a + b + "".join("." + t for t in tlds),
            st.sampled_from("abcdefghijklmnopqrstuvwxyz"),
            st.text("abcxyz019", max_size=10),
            st.lists(label, min_size=1, max_size=2),
        )
        path = st.text("abcxyz019/-_", max_size=40)
        limit = f["maxLength"] or 2083
        values = st.builds(
            lambda s, h, p: f"{s}://{h}/{p}", st.sampled_from(["http", "https"]), host, path
        ).filter(lambda u: len(u) <= limit)
    else:
        values = st.text(max_size=30)
    return st.one_of(st.none(), values) if f["nullable"] else values


def valid_bodies(spec: Spec, op: Operation | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Bodies the spec allows: every required field, any subset of the optional ones."""
    fields = constrained_fields(spec, op)
    required = {n: _field_values(f) for n, f in fields.items() if f["required"]}
    optional = {n: _field_values(f) for n, f in fields.items() if not f["required"]}
    return st.fixed_dictionaries(required, optional=optional)


_ODD_VALUES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**4), 10**4),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(
        [
            "30",
            "30.0",
            "30.5",
            "yes",
            "off",
            "1e2",
            "",
            "png",
            "http://x.io",
            "https://example.com/a b",
            "JPEG",
        ]
    ),
    st.lists(st.integers(), max_size=2),
    st.dictionaries(st.text(max_size=3), st.integers(), max_size=2),
)


def mutated_bodies(spec: Spec, op: Operation | None = None) -> st.SearchStrategy[dict[str, Any]]:
    """Valid bodies with one to three fields replaced by odd values, or dropped."""
    names = sorted(_schema(spec, op)["properties"])
    # built once: strategies rebuilt (and validated) per draw were most of the time
    valid = valid_bodies(spec, op)

    chosen = st.lists(st.sampled_from(names), min_size=1, max_size=3, unique=True)
    dropped = st.integers(0, 5)

    @st.composite
    def mutate(draw: st.DrawFn) -> dict[str, Any]:
        body = dict(draw(valid))
        for name in draw(chosen):
            if draw(dropped) == 0:
                body.pop(name, None)
            else:
                body[name] = draw(_ODD_VALUES)
        return body

    return mutate()


_JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def answer_bodies(spec: Spec, schema: Any) -> st.SearchStrategy[Any]:
    """Bodies of a response schema, read from the spec (objects, anyOf, enums, $ref)."""
    schema = spec.resolve(schema)
    if "anyOf" in schema:
        return st.one_of(*(answer_bodies(spec, s) for s in schema["anyOf"]))
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if kind == "object" and "properties" in schema:
        props = {n: answer_bodies(spec, p) for n, p in schema["properties"].items()}
        required = set(schema.get("required", ()))
        return st.fixed_dictionaries(
            {n: s for n, s in props.items() if n in required},
            optional={n: s for n, s in props.items() if n not in required},
        )
    simple = {
        "string": st.text(max_size=12),
        "integer": st.integers(),
        "number": st.floats(allow_nan=False, allow_infinity=False),
        "boolean": st.booleans(),
        "null": st.none(),
    }
    if kind in simple:
        return simple[kind]
    if kind == "array":
        return st.lists(answer_bodies(spec, schema.get("items", {})), max_size=3)
    if kind == "object":
        return st.dictionaries(st.text(max_size=5), _JSON, max_size=3)
    return _JSON  # {}: anything


def declared_answers(spec: Spec, op: Operation) -> dict[int, list[str]]:
    """Each status `op` declares in the spec, with the component names its JSON body may
    take (one per branch of an anyOf), in the spec's order."""
    entry = spec.document["paths"][op.path][op.method]
    out: dict[int, list[str]] = {}
    for status, answer in entry.get("responses", {}).items():
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        branches = schema.get("anyOf", [schema])
        out[int(status)] = [str(b.get("$ref", "")).rsplit("/", 1)[-1] for b in branches]
    return out
