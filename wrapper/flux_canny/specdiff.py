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

from ._operations import operations
from ._schema_diff import (
    Change,
    Document,
    Place,
    Walk,
)
from ._schema_text import quote_change

__all__ = ["CLIENT_READS", "Change", "SpecDiff", "diff_specs", "load_document"]

#: what the client reads of every generation operation's answer (see `_reads`)
SUBMIT_READS = frozenset({"id", "polling_url", "webhook_url"})

#: response properties this package's client reads, by operation: removing one breaks it
#: even where the spec calls it optional
CLIENT_READS: Mapping[str, frozenset[str]] = {
    "GET /v1/get_result": frozenset(
        {"id", "status", "result", "progress", "result.sample", "result.seed"}
    ),
    "GET /v1/my_finetunes": frozenset({"finetunes"}),
    "GET /v1/finetune_details": frozenset({"finetune_details"}),
}


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


# -- operations ---------------------------------------------------------------------------------


def _parameters(
    doc: Document, path_item: Mapping[str, Any], operation: Mapping[str, Any]
) -> dict[tuple[str, str], Mapping[str, Any]]:
    found: dict[tuple[str, str], Mapping[str, Any]] = {}
    for raw in [*path_item.get("parameters", ()), *operation.get("parameters", ())]:
        param, _ = doc.resolve(raw)
        found[(param.get("in", "?"), param.get("name", "?"))] = param
    return found


def _json_schema(doc: Document, body: Mapping[str, Any] | None) -> Mapping[str, Any] | None:
    if not body:
        return None
    resolved, _ = doc.resolve(body)
    content = resolved.get("content", {})
    for media, entry in content.items():
        if "json" in media:
            schema: Mapping[str, Any] = entry.get("schema", {})
            return schema
    return None


def _reads(op_name: str) -> frozenset[str]:
    """What the client reads of `op_name`'s answers: every endpoint it serves is submitted
    the same way, so each submit's answer is read as the seed's is."""
    if op_name in CLIENT_READS:
        return CLIENT_READS[op_name]
    served = {f"POST {op.path}" for op in operations().values()}
    return SUBMIT_READS if op_name in served else frozenset()


def _compare_operation(
    old: Document,
    new: Document,
    op_name: str,
    a: Mapping[str, Any],
    b: Mapping[str, Any],
    items: tuple[Mapping[str, Any], Mapping[str, Any]],
) -> list[Change]:
    walk = Walk(old, new, op_name)
    for key, label in (("summary", "summary"), ("description", "description")):
        if a.get(key) != b.get(key):
            walk.add(
                "description-changed",
                False,
                "operation",
                f"{label}: " + quote_change(a.get(key), b.get(key)).removeprefix("description "),
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
        walk.schema(param.get("schema", {}), other.get("schema", {}), Place(where, request=True))
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
        walk.schema(body_a, body_b, Place("request body:", request=True))
    # responses
    reads = _reads(op_name)
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
            walk.schema(sa, sb, Place(where, request=False, reads=reads))
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
    a, b = Document(old), Document(new)
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
