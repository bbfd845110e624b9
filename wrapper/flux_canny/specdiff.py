"""What changed between two OpenAPI documents, judged for a client of the old one.

Each operation of either document is compared as a whole: parameters, request body,
responses and security, with `$ref`s resolved, so a change inside a shared schema (an
enum, say) is reported once, with every operation it reaches. A change is *breaking*
when a client written against the old document can fail against the new one:

- requests (what the client sends): an operation, property or enum value removed; a
  property newly required; a range narrowed; a type changed; null no longer allowed;
- responses (what the client reads): a property removed that was required or that the
  client reads, a required property made optional, a type changed, null newly possible,
  an enum value added (generated enums raise on unknown values);
- security changed.

Everything else (operations, optional properties and enum values added, ranges widened,
descriptions and defaults changed) is reported as non-breaking: defaults are listed
because they change results.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

import attrs

__all__ = ["CLIENT_READS", "Change", "SpecDiff", "diff_specs", "load_document"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")
_BOUNDS_LOW = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
_BOUNDS_HIGH = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
_NUMERIC_TYPES = {"integer", "number"}

#: response properties this package's client reads, by operation: removing one breaks it
#: even where the spec calls it optional
CLIENT_READS: Mapping[str, frozenset[str]] = {
    "POST /v1/flux-pro-1.0-canny-finetuned": frozenset({"id", "polling_url", "webhook_url"}),
    "GET /v1/get_result": frozenset(
        {"id", "status", "result", "progress", "result.sample", "result.seed"}
    ),
    "GET /v1/my_finetunes": frozenset({"finetunes"}),
    "GET /v1/finetune_details": frozenset({"finetune_details"}),
}


@attrs.frozen
class Change:
    """One difference. `where` is the path inside the operation ("request body:
    output_format", "response 200: result.sample"); `schema` names the component the
    change sits in, when it sits in one."""

    kind: str
    breaking: bool
    where: str
    detail: str
    schema: str | None = None
    operations: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False) | {"operations": list(self.operations)}


@attrs.frozen
class SpecDiff:
    changes: tuple[Change, ...]

    @property
    def breaking(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.breaking)

    @property
    def has_breaking(self) -> bool:
        return any(c.breaking for c in self.changes)

    def kinds(self) -> set[tuple[str, str]]:
        """(kind, where) pairs, handy in tests."""
        return {(c.kind, c.where) for c in self.changes}

    def to_json(self) -> str:
        return json.dumps(
            {
                "breaking": self.has_breaking,
                "counts": {
                    "breaking": len(self.breaking),
                    "non_breaking": len(self.changes) - len(self.breaking),
                },
                "changes": [c.to_dict() for c in self.changes],
            },
            indent=2,
        )


#: how long fetching a published document may take
FETCH_TIMEOUT = 30.0


def read_text(source: str | Path) -> str:
    """A document's text from a file, or from an http(s) URL (BFL publishes its spec)."""
    if isinstance(source, str) and source.startswith(("https://", "http://")):
        import httpx

        try:
            answer = httpx.get(source, timeout=FETCH_TIMEOUT, follow_redirects=True)
            answer.raise_for_status()
        except httpx.HTTPError as error:
            raise ValueError(
                f"cannot fetch {source}: {error} (offline, or the address moved?)"
            ) from error
        return answer.text
    return Path(source).read_text(encoding="utf-8")


def load_document(path: str | Path) -> Mapping[str, Any]:
    document = json.loads(read_text(path))
    if not isinstance(document, Mapping) or "paths" not in document:
        raise ValueError(f"{path} is not an OpenAPI document (no 'paths')")
    return document


# -- schema access ------------------------------------------------------------------------------


class _Doc:
    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    def resolve(self, node: Any) -> tuple[Mapping[str, Any], str | None]:
        """The node with `$ref`s followed, and the last component name passed through."""
        name = None
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not isinstance(ref, str) or not ref.startswith("#/"):
                break
            seen.add(ref)
            name = ref.rsplit("/", 1)[-1]
            target: Any = self.document
            for part in ref[2:].split("/"):
                target = target.get(part.replace("~1", "/").replace("~0", "~"), {})
            # siblings of $ref (3.1) such as description override the target's
            node = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
        return (node if isinstance(node, Mapping) else {}), name

    def operations(self) -> dict[str, Mapping[str, Any]]:
        found = {}
        for path, item in self.document.get("paths", {}).items():
            item, _ = self.resolve(item)
            for method in _METHODS:
                if method in item:
                    found[f"{method.upper()} {path}"] = item[method]
        return found

    def security(self, operation: Mapping[str, Any]) -> Any:
        """The effective requirement, with each scheme spelled out (its definition)."""
        requirement = operation.get("security", self.document.get("security", []))
        schemes = self.document.get("components", {}).get("securitySchemes", {})
        return [
            {
                name: {"scopes": sorted(scopes), "scheme": schemes.get(name)}
                for name, scopes in r.items()
            }
            for r in requirement
        ]


def _types(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def _nullable(doc: _Doc, schema: Mapping[str, Any]) -> bool:
    if schema.get("nullable") is True or "null" in _types(schema):
        return True
    if schema.get("enum") is not None and None in schema["enum"]:
        return True
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, ()):
            resolved, _ = doc.resolve(branch)
            if _nullable(doc, resolved):
                return True
    return False


def _branches(doc: _Doc, schema: Mapping[str, Any]) -> list[tuple[Mapping[str, Any], str | None]]:
    """The non-null alternatives of a schema (itself when it has none)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            out = []
            for branch in schema[key]:
                resolved, name = doc.resolve(branch)
                if _types(resolved) == {"null"}:
                    continue
                out.append((resolved, name))
            return out
    if "allOf" in schema:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        name = None
        for part in schema["allOf"]:
            resolved, part_name = doc.resolve(part)
            name = name or part_name
            for key, value in resolved.items():
                if key == "properties":
                    merged["properties"] = {**merged.get("properties", {}), **value}
                elif key == "required":
                    merged["required"] = [*merged.get("required", []), *value]
                else:
                    merged.setdefault(key, value)
        return [(merged, name)]
    return [(schema, None)]


def _describe_type(schema: Mapping[str, Any]) -> str:
    types = sorted(_types(schema) - {"null"})
    return "|".join(types) if types else "any"


# -- the comparison -----------------------------------------------------------------------------


@attrs.frozen
class _Place:
    """Where a comparison stands: the path shown, which side of the exchange it is on,
    the component it sits in, and the dotted field path (for CLIENT_READS)."""

    where: str
    request: bool
    schema: str | None = None
    reads: frozenset[str] = frozenset()
    field: str = ""

    def prop(self, name: str) -> _Place:
        field = f"{self.field}.{name}" if self.field else name
        return attrs.evolve(self, where=_at(self.where, name), field=field)

    def items(self) -> _Place:
        return attrs.evolve(self, where=f"{self.where}[]", field=f"{self.field}[]")

    def named(self, *names: str | None) -> _Place:
        name = next((n for n in names if n), None)
        return attrs.evolve(self, schema=name) if name else self


@attrs.define
class _Walk:
    """Compares one operation's schemas and collects the changes found."""

    old: _Doc
    new: _Doc
    operation: str
    found: list[Change] = attrs.field(factory=list)
    _active: set[tuple[str | None, str | None]] = attrs.field(factory=set)

    def add(self, kind: str, breaking: bool, place: _Place | str, detail: str) -> None:
        where, schema = (place, None) if isinstance(place, str) else (place.where, place.schema)
        self.found.append(Change(kind, breaking, where, detail, schema, (self.operation,)))

    def schema(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        _, a_ref = self.old.resolve(a)
        _, b_ref = self.new.resolve(b)
        key = (a_ref, b_ref)
        if a_ref is not None and key in self._active:
            return  # a recursive schema: this pair is being compared further up already
        if a_ref is not None:
            self._active.add(key)
        try:
            self._schema(a, b, place)
        finally:
            if a_ref is not None:
                self._active.discard(key)

    def _schema(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        a, a_name = self.old.resolve(a)
        b, b_name = self.new.resolve(b)
        place = place.named(b_name, a_name)
        self._annotations(a, b, place)
        was_null, is_null = _nullable(self.old, a), _nullable(self.new, b)
        if was_null and not is_null:
            self.add("null-disallowed", place.request, place, "null is no longer allowed")
        elif is_null and not was_null:
            self.add("null-allowed", not place.request, place, "null is now allowed")
        old_branches, new_branches = _branches(self.old, a), _branches(self.new, b)
        if len(old_branches) == 1 and len(new_branches) == 1:
            (sa, na), (sb, nb) = old_branches[0], new_branches[0]
            if sa is not a or sb is not b:
                self.schema(sa, sb, place.named(nb, na))
            else:
                self._single(a, b, place)
            return
        self._alternatives(old_branches, new_branches, place)

    def _alternatives(
        self,
        old: list[tuple[Mapping[str, Any], str | None]],
        new: list[tuple[Mapping[str, Any], str | None]],
        place: _Place,
    ) -> None:
        def label(branch: tuple[Mapping[str, Any], str | None]) -> str:
            return branch[1] or _describe_type(branch[0])

        old_by, new_by = {label(x): x for x in old}, {label(x): x for x in new}
        for gone in sorted(set(old_by) - set(new_by)):
            self.add("alternative-removed", place.request, place, f"no longer accepts {gone}")
        for added in sorted(set(new_by) - set(old_by)):
            self.add("alternative-added", not place.request, place, f"now also {added}")
        for same in sorted(set(old_by) & set(new_by)):
            (sa, na), (sb, nb) = old_by[same], new_by[same]
            self.schema(sa, sb, place.named(nb, na))

    def _annotations(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        old_text, new_text = a.get("description"), b.get("description")
        if old_text != new_text and (old_text or new_text):
            self.add("description-changed", False, place, _quote_change(old_text, new_text))
        if a.get("default") != b.get("default") or ("default" in a) != ("default" in b):
            said = f"default {_value(a, 'default')} → {_value(b, 'default')}"
            self.add("default-changed", False, place, said)

    def _single(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        request = place.request
        old_types, new_types = _types(a) - {"null"}, _types(b) - {"null"}
        if old_types != new_types and old_types and new_types:
            widened = all(
                t in new_types or (t == "integer" and "number" in new_types) for t in old_types
            )
            narrowed = all(
                t in old_types or (t == "integer" and "number" in old_types) for t in new_types
            )
            breaking = not widened if request else not narrowed
            said = f"type {_describe_type(a)} → {_describe_type(b)}"
            self.add("type-changed", breaking, place, said)
            return
        if a.get("format") != b.get("format"):
            stricter = b.get("format") is not None
            said = f"format {a.get('format')} → {b.get('format')}"
            self.add("format-changed", request and stricter, place, said)
        self._enum(a, b, place)
        self._bounds(a, b, place)
        if a.get("pattern") != b.get("pattern"):
            said = f"pattern {a.get('pattern')!r} → {b.get('pattern')!r}"
            self.add("pattern-changed", request and "pattern" in b, place, said)
        if "items" in a or "items" in b:
            self.schema(a.get("items", {}), b.get("items", {}), place.items())
        if any(key in schema for key in ("properties", "required") for schema in (a, b)):
            self._properties(a, b, place)

    def _enum(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        if "enum" not in a and "enum" not in b:
            return
        request = place.request
        old = [v for v in a.get("enum", []) if v is not None]
        new = [v for v in b.get("enum", []) if v is not None]
        if "enum" not in b:
            self.add("enum-removed", not request, place, "any value is now allowed")
            return
        if "enum" not in a:
            self.add("enum-added", request, place, f"only {new} now")
            return
        for value in [v for v in old if v not in new]:
            self.add("enum-value-removed", request, place, f"enum loses {value!r}")
        for value in [v for v in new if v not in old]:
            self.add("enum-value-added", not request, place, f"enum adds {value!r}")

    def _bounds(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        for key in (*_BOUNDS_LOW, *_BOUNDS_HIGH):
            old, new = a.get(key), b.get(key)
            if old == new or isinstance(old, bool) or isinstance(new, bool):
                continue  # (3.0's boolean exclusive* flags ride along with their bound)
            low = key in _BOUNDS_LOW
            if old is None:
                narrowed = True
            elif new is None:
                narrowed = False
            else:
                narrowed = new > old if low else new < old
            kind = "range-narrowed" if narrowed else "range-widened"
            said = f"{key} {_fmt(old)} → {_fmt(new)}"
            self.add(kind, place.request and narrowed, place, said)

    def _properties(self, a: Mapping[str, Any], b: Mapping[str, Any], place: _Place) -> None:
        request = place.request
        old_props, new_props = a.get("properties", {}), b.get("properties", {})
        old_req, new_req = set(a.get("required", ())), set(b.get("required", ()))
        for prop in old_props:
            at = place.prop(prop)
            if prop not in new_props:
                self._removed(prop, at, required=prop in old_req)
                continue
            if request and prop in new_req and prop not in old_req:
                self.add("property-required", True, at, f"{prop!r} is now required")
            elif request and prop in old_req and prop not in new_req:
                self.add("property-optional", False, at, f"{prop!r} is now optional")
            elif not request and prop in old_req and prop not in new_req:
                self.add("response-property-optional", True, at, f"{prop!r} may now be absent")
            elif not request and prop in new_req and prop not in old_req:
                said = f"{prop!r} is now always present"
                self.add("response-property-required", False, at, said)
            self.schema(old_props[prop], new_props[prop], at)
        for prop in new_props:
            if prop in old_props:
                continue
            if request and prop in new_req:
                self.add(
                    "property-required", True, place.prop(prop), f"new required property {prop!r}"
                )
            else:
                side = "request" if request else "response"
                self.add(
                    "property-added", False, place.prop(prop), f"{side} property {prop!r} added"
                )
        closed = b.get("additionalProperties") is False
        if request and closed and a.get("additionalProperties", True) is not False:
            self.add(
                "additional-properties-closed", True, place, "unknown properties are now rejected"
            )

    def _removed(self, prop: str, at: _Place, *, required: bool) -> None:
        if at.request:
            self.add("property-removed", True, at, f"request property {prop!r} removed")
            return
        read = at.field in at.reads
        said = f"response property {prop!r} removed" + (" (the client reads it)" if read else "")
        self.add("response-property-removed", required or read, at, said)


def _at(where: str, prop: str) -> str:
    return f"{where}.{prop}" if not where.endswith(":") else f"{where} {prop}"


def _fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def _value(schema: Mapping[str, Any], key: str) -> str:
    return json.dumps(schema[key]) if key in schema else "none"


def _quote_change(old: Any, new: Any) -> str:
    """Both texts, shortened around where they start to differ."""
    texts = [" ".join(str(t).split()) if t is not None else None for t in (old, new)]
    start = 0
    if texts[0] is not None and texts[1] is not None:
        start = next(
            (i for i, (x, y) in enumerate(zip(texts[0], texts[1], strict=False)) if x != y),
            min(len(texts[0]), len(texts[1])),
        )
        start = max(0, texts[0].rfind(" ", 0, max(0, start - 15)) + 1)

    def short(text: str | None) -> str:
        if text is None:
            return "none"
        cut = text[start:]
        cut = cut if len(cut) <= 70 else cut[:67] + "..."
        return json.dumps(("..." if start else "") + cut)

    return f"description {short(texts[0])} → {short(texts[1])}"


# -- operations ---------------------------------------------------------------------------------


def _parameters(
    doc: _Doc, path_item: Mapping[str, Any], operation: Mapping[str, Any]
) -> dict[tuple[str, str], Mapping[str, Any]]:
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*path_item.get("parameters", ()), *operation.get("parameters", ())]:
        param, _ = doc.resolve(raw)
        found[(param.get("in", "?"), param.get("name", "?"))] = param
    return found


def _json_schema(doc: _Doc, body: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not body:
        return None
    resolved, _ = doc.resolve(body)
    content = resolved.get("content", {})
    for media, entry in content.items():
        if "json" in media:
            schema: Mapping[str, Any] = entry.get("schema", {})
            return schema
    return None


def _compare_operation(
    old: _Doc,
    new: _Doc,
    op_name: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    items: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> list[Change]:
    walk = _Walk(old, new, op_name)
    for key, label in (("summary", "summary"), ("description", "description")):
        if a.get(key) != b.get(key):
            walk.add(
                "description-changed",
                False,
                "operation",
                f"{label}: " + _quote_change(a.get(key), b.get(key)).removeprefix("description "),
            )
    old_security, new_security = old.security(a), new.security(b)
    if old_security != new_security:
        # dropping every requirement cannot break a client that still sends its key
        breaking = bool(new_security)
        kind = "security-changed" if breaking else "security-removed"
        said = f"security {_security_text(old_security)} → {_security_text(new_security)}"
        walk.add(kind, breaking, "operation", said)
    old_servers = [s.get("url") for s in a.get("servers", old.document.get("servers", []))]
    new_servers = [s.get("url") for s in b.get("servers", new.document.get("servers", []))]
    if old_servers != new_servers:
        walk.add("servers-changed", True, "operation", f"servers {old_servers} → {new_servers}")
    # parameters
    old_params, new_params = _parameters(old, items[0], a), _parameters(new, items[1], b)
    for pkey, param in old_params.items():
        where = f"{pkey[0]} parameter {pkey[1]}"
        if pkey not in new_params:
            walk.add("property-removed", True, where, f"parameter {pkey[1]!r} removed")
            continue
        other = new_params[pkey]
        if other.get("required") and not param.get("required"):
            walk.add("property-required", True, where, f"parameter {pkey[1]!r} is now required")
        walk.schema(param.get("schema", {}), other.get("schema", {}), _Place(where, request=True))
    for pkey, param in new_params.items():
        if pkey not in old_params:
            required = bool(param.get("required"))
            walk.add(
                "property-required" if required else "property-added",
                required,
                f"{pkey[0]} parameter {pkey[1]}",
                f"new {'required ' if required else ''}parameter {pkey[1]!r}",
            )
    # request body
    body_a, body_b = (
        _json_schema(old, a.get("requestBody")),
        _json_schema(new, b.get("requestBody")),
    )
    if body_a is not None and body_b is None:
        walk.add("property-removed", True, "request body:", "the JSON request body is gone")
    elif body_a is None and body_b is not None:
        required = bool(new.resolve(b.get("requestBody", {}))[0].get("required"))
        walk.add(
            "property-required" if required else "property-added",
            required,
            "request body:",
            "a JSON request body was added",
        )
    elif body_a is not None and body_b is not None:
        walk.schema(body_a, body_b, _Place("request body:", request=True))
    # responses
    reads = CLIENT_READS.get(op_name, frozenset())
    old_resp, new_resp = a.get("responses", {}), b.get("responses", {})
    for status in old_resp:
        where = f"response {status}:"
        if status not in new_resp:
            walk.add(
                "response-removed", str(status).startswith("2"), where, f"response {status} removed"
            )
            continue
        sa, sb = _json_schema(old, old_resp[status]), _json_schema(new, new_resp[status])
        if sa is not None and sb is not None:
            walk.schema(sa, sb, _Place(where, request=False, reads=reads))
        elif sa is not None:
            walk.add("response-property-removed", True, where, "the JSON body is gone")
    for status in new_resp:
        if status not in old_resp:
            walk.add("response-added", False, f"response {status}:", f"response {status} added")
    return walk.found


def _security_text(requirement: Any) -> str:
    parts = []
    for alternative in requirement:
        for name, info in alternative.items():
            scheme = info.get("scheme") or {}
            detail = scheme.get("type", "?")
            if scheme.get("in"):
                detail += f" {scheme['in']} {scheme.get('name')}"
            if scheme.get("scheme"):
                detail += f" {scheme['scheme']}"
            parts.append(f"{name}({detail})")
    return " or ".join(parts) or "none"


def _group(changes: Iterable[Change]) -> Iterator[Change]:
    """One Change per (kind, where, detail, schema), listing every operation it reaches."""
    grouped: dict[tuple[Any, ...], list[Change]] = {}
    for change in changes:
        key = (change.kind, change.breaking, change.where, change.detail, change.schema)
        grouped.setdefault(key, []).append(change)
    for items in grouped.values():
        operations = tuple(sorted({op for c in items for op in c.operations}))
        yield attrs.evolve(items[0], operations=operations)


def diff_specs(old: Mapping[str, Any], new: Mapping[str, Any]) -> SpecDiff:
    """Every change from `old` to `new`, breaking ones first."""
    a, b = _Doc(old), _Doc(new)
    old_ops, new_ops = a.operations(), b.operations()
    changes: list[Change] = []
    for name in old_ops:
        if name not in new_ops:
            changes.append(
                Change("operation-removed", True, "operation", f"{name} removed", None, (name,))
            )
    for name in new_ops:
        if name not in old_ops:
            changes.append(
                Change("operation-added", False, "operation", f"{name} added", None, (name,))
            )
    for name in old_ops:
        if name in new_ops:
            path = name.split(" ", 1)[1]
            items = (a.resolve(old["paths"][path])[0], b.resolve(new["paths"][path])[0])
            changes += _compare_operation(a, b, name, old_ops[name], new_ops[name], items)
    ordered = sorted(_group(changes), key=lambda c: (not c.breaking, c.kind, c.where, c.operations))
    return SpecDiff(tuple(ordered))
