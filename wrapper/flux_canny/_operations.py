"""The spec's image-making operations, one `Operation` value each, read from the spec once.

An operation is data, not code: every POST whose answer is an `AsyncResponse` (submit →
poll `get_result` → download) differs from the others only in its request schema, its
image inputs and its server. Everything downstream (validation, images, routing, the
ledger, the fake, the command line) takes the `Operation` it needs instead of a path.
Its public name is the path's last segment, as BFL names its models ("flux-2-pro").
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from ._spec import Spec, packaged_spec
from .errors import InvalidArgumentError

__all__ = [
    "CANNY",
    "Operation",
    "listed",
    "operation",
    "operations",
    "origin",
    "read_operations",
    "taken_elsewhere",
]

#: the seed's operation: the default wherever an endpoint is not named
CANNY = "flux-pro-1.0-canny-finetuned"

#: request properties that carry an image (base64, or a URL where the spec says so)
_IMAGE_FIELD = re.compile(r"^(control_image|image|mask|image_prompt|input_image(_\d+)?)$")
#: what a description says when the field also takes an address (FLUX.2's "Path to")
_TAKES_URL = re.compile(r"\burl\b|\bpath to\b", re.IGNORECASE)
#: the overlay's mark on the operation BFL no longer publishes
SEED_MARK = "x-flux-canny-seed"


@attrs.frozen
class Operation:
    """One image-making operation of the spec."""

    name: str
    path: str
    method: str
    #: the request body's schema, by its component name (e.g. "Flux2Inputs")
    schema_name: str
    #: the request properties that take an image, in the spec's order
    image_fields: tuple[str, ...]
    #: those of them that also take an https URL
    url_fields: frozenset[str]
    #: the properties the server requires
    required: frozenset[str]
    #: every request property
    field_names: frozenset[str]
    #: the server the spec names for this operation, or None for the document's
    server: str | None
    summary: str
    #: the spec's operationId, which names the generated endpoint module
    operation_id: str = ""
    #: its tag, which names the generated package it lives in ("models", "utility")
    tag: str = "default"
    #: the seed's operation, which BFL no longer publishes (added by the overlay)
    seed: bool = False

    @property
    def finetuned(self) -> bool:
        """Whether it runs on a user's finetune (`finetune_id`)."""
        return "finetune_id" in self.field_names

    @property
    def module_name(self) -> str:
        """The generated endpoint module, `flux_canny_api.api.<tag>.<operationId>`."""
        package = re.sub(r"[^0-9a-zA-Z]+", "_", self.tag).strip("_").lower()
        return f"flux_canny_api.api.{package}.{self.operation_id}"


def _is_generation(spec: Spec, operation: Mapping[str, Any]) -> bool:
    answer = (
        operation.get("responses", {})
        .get("200", {})
        .get("content", {})
        .get("application/json", {})
        .get("schema", {})
    )
    refs = [answer, *answer.get("anyOf", [])]
    return any(str(r.get("$ref", "")).endswith("/AsyncResponse") for r in refs)


def read_operations(spec: Spec) -> dict[str, Operation]:
    """Every image-making operation of `spec`, by name, in the document's order."""
    found: dict[str, Operation] = {}
    for path, methods in spec.document.get("paths", {}).items():
        for method, entry in methods.items():
            if method != "post" or not isinstance(entry, Mapping):
                continue
            if not _is_generation(spec, entry):
                continue
            schema = spec.request_schema(path, method)
            properties: Mapping[str, Any] = schema.get("properties", {})
            images = tuple(name for name in properties if _IMAGE_FIELD.match(name))
            urls = frozenset(
                name
                for name in images
                if _TAKES_URL.search(str(properties[name].get("description", "")))
            )
            servers = entry.get("servers") or methods.get("servers") or []
            name = path.rstrip("/").rsplit("/", 1)[-1]
            found[name] = Operation(
                name=name,
                path=path,
                method=method,
                schema_name=spec.request_schema_name(path, method),
                image_fields=images,
                url_fields=urls,
                required=frozenset(schema.get("required", [])),
                field_names=frozenset(properties),
                server=str(servers[0]["url"]).rstrip("/") if servers else None,
                summary=str(entry.get("summary") or "").strip(),
                operation_id=str(entry.get("operationId") or ""),
                tag=str((entry.get("tags") or ["default"])[0]),
                seed=bool(entry.get(SEED_MARK)),
            )
    return found


@functools.cache
def operations() -> Mapping[str, Operation]:
    """The packaged spec's operations, read once."""
    return read_operations(packaged_spec())


def operation(name: str) -> Operation:
    """The operation named `name`, or an InvalidArgumentError suggesting the nearest."""
    known = operations()
    if isinstance(name, str) and name in known:
        return known[name]
    hint = did_you_mean(str(name), known) if isinstance(name, str) else ""
    raise InvalidArgumentError(
        f"no endpoint named {name!r:.80}{hint}; the endpoints are " + ", ".join(sorted(known))
    )


def listed(name: str | None) -> str | None:
    """`name` if this spec lists an operation by it, else None: a ledger row may name
    one that BFL has since retired, and a task of it is still to be fetched."""
    return name if name is not None and name in operations() else None


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """ " (did you mean 'steps'?)" for a near miss of a name, else "". Here, below
    validation, so that naming an endpoint needs nothing above the spec."""
    close = difflib.get_close_matches(name, sorted(choices), 1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def origin(op: Operation) -> str:
    """Where `op` goes when no base URL is configured: its own server, else the document's
    (BFL's global host); the seed's finetune keeps its regional one."""
    if op.server is not None:
        return op.server
    servers = packaged_spec().document.get("servers") or [{"url": "https://api.bfl.ai"}]
    return str(servers[0]["url"]).rstrip("/")


def taken_elsewhere(field: str, but: str) -> list[str]:
    """The other endpoints whose request has `field` (a field given to the wrong one)."""
    return [name for name, op in operations().items() if name != but and field in op.field_names]
