"""Comparing two schemas, as a client of the old one sees them: what changed where, and
whether it can break that client (the walk behind `flux_canny.specdiff`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from ._schema_text import at, describe_type, fmt, quote_change, types_of, value_of
from ._spec import Spec

__all__ = ["Change", "Document", "Place", "Walk"]

_METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")

BOUNDS_LOW = ("minimum", "exclusiveMinimum", "minLength", "minItems", "minProperties")
BOUNDS_HIGH = ("maximum", "exclusiveMaximum", "maxLength", "maxItems", "maxProperties")
NUMERIC_TYPES = {"integer", "number"}


class Document:
    """A document read leniently: refs followed through the one resolver (`_spec`)."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document
        self._spec = Spec(document)

    def resolve(self, node: Any) -> tuple[Mapping[str, Any], str | None]:
        """The node with `$ref`s followed (leniently: documents may be broken), and the
        last component name passed through."""
        return self._spec.resolve_named(node, strict=False)

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


def nullable(doc: Document, schema: Mapping[str, Any]) -> bool:
    if schema.get("nullable") is True or "null" in types_of(schema):
        return True
    if schema.get("enum") is not None and None in schema["enum"]:
        return True
    for key in ("anyOf", "oneOf"):
        for branch in schema.get(key, ()):
            resolved, _ = doc.resolve(branch)
            if nullable(doc, resolved):
                return True
    return False


def branches(
    doc: Document, schema: Mapping[str, Any]
) -> list[tuple[Mapping[str, Any], str | None]]:
    """The non-null alternatives of a schema (itself when it has none)."""
    for key in ("anyOf", "oneOf"):
        if key in schema:
            out = []
            for branch in schema[key]:
                resolved, name = doc.resolve(branch)
                if types_of(resolved) == {"null"}:
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


@attrs.frozen
class Place:
    """Where a comparison stands: the path shown, which side of the exchange it is on,
    the component it sits in, and the dotted field path (for CLIENT_READS)."""

    where: str
    request: bool
    schema: str | None = None
    reads: frozenset[str] = frozenset()
    field: str = ""

    def prop(self, name: str) -> Place:
        field = f"{self.field}.{name}" if self.field else name
        return attrs.evolve(self, where=at(self.where, name), field=field)

    def items(self) -> Place:
        return attrs.evolve(self, where=f"{self.where}[]", field=f"{self.field}[]")

    def named(self, *names: str | None) -> Place:
        name = next((n for n in names if n), None)
        return attrs.evolve(self, schema=name) if name else self


@attrs.define
class Walk:
    """Compares one operation's schemas and collects the changes found."""

    old: Document
    new: Document
    operation: str
    found: list[Change] = attrs.field(factory=list)
    _active: set[tuple[str | None, str | None]] = attrs.field(factory=set)

    def add(self, kind: str, breaking: bool, place: Place | str, detail: str) -> None:
        where, schema = (place, None) if isinstance(place, str) else (place.where, place.schema)
        self.found.append(Change(kind, breaking, where, detail, schema, (self.operation,)))

    def schema(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
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

    def _schema(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
        a, a_name = self.old.resolve(a)
        b, b_name = self.new.resolve(b)
        place = place.named(b_name, a_name)
        self._annotations(a, b, place)
        was_null, is_null = nullable(self.old, a), nullable(self.new, b)
        if was_null and not is_null:
            self.add("null-disallowed", place.request, place, "null is no longer allowed")
        elif is_null and not was_null:
            self.add("null-allowed", not place.request, place, "null is now allowed")
        old_branches, new_branches = branches(self.old, a), branches(self.new, b)
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
        place: Place,
    ) -> None:
        def label(branch: tuple[Mapping[str, Any], str | None]) -> str:
            return branch[1] or describe_type(branch[0])

        old_by, new_by = {label(x): x for x in old}, {label(x): x for x in new}
        for gone in sorted(set(old_by) - set(new_by)):
            self.add("alternative-removed", place.request, place, f"no longer accepts {gone}")
        for added in sorted(set(new_by) - set(old_by)):
            self.add("alternative-added", not place.request, place, f"now also {added}")
        for same in sorted(set(old_by) & set(new_by)):
            (sa, na), (sb, nb) = old_by[same], new_by[same]
            self.schema(sa, sb, place.named(nb, na))

    def _annotations(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
        old_text, new_text = a.get("description"), b.get("description")
        if old_text != new_text and (old_text or new_text):
            self.add("description-changed", False, place, quote_change(old_text, new_text))
        if a.get("default") != b.get("default") or ("default" in a) != ("default" in b):
            said = f"default {value_of(a, 'default')} → {value_of(b, 'default')}"
            self.add("default-changed", False, place, said)

    def _single(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
        request = place.request
        old_types, new_types = types_of(a) - {"null"}, types_of(b) - {"null"}
        if old_types != new_types and old_types and new_types:
            widened = all(
                t in new_types or (t == "integer" and "number" in new_types) for t in old_types
            )
            narrowed = all(
                t in old_types or (t == "integer" and "number" in old_types) for t in new_types
            )
            breaking = not widened if request else not narrowed
            said = f"type {describe_type(a)} → {describe_type(b)}"
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

    def _enum(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
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

    def _bounds(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
        for key in (*BOUNDS_LOW, *BOUNDS_HIGH):
            old, new = a.get(key), b.get(key)
            if old == new or isinstance(old, bool) or isinstance(new, bool):
                continue  # (3.0's boolean exclusive* flags ride along with their bound)
            low = key in BOUNDS_LOW
            if old is None:
                narrowed = True
            elif new is None:
                narrowed = False
            else:
                narrowed = new > old if low else new < old
            kind = "range-narrowed" if narrowed else "range-widened"
            said = f"{key} {fmt(old)} → {fmt(new)}"
            self.add(kind, place.request and narrowed, place, said)

    def _properties(self, a: Mapping[str, Any], b: Mapping[str, Any], place: Place) -> None:
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

    def _removed(self, prop: str, at: Place, *, required: bool) -> None:
        if at.request:
            self.add("property-removed", True, at, f"request property {prop!r} removed")
            return
        read = at.field in at.reads
        said = f"response property {prop!r} removed" + (" (the client reads it)" if read else "")
        self.add("response-property-removed", required or read, at, said)
