"""The packaged OpenAPI document, read once, and the few lookups the wrapper needs.

Everything the wrapper knows about the API's shapes (bounds, enums, required fields,
statuses) comes through here, so that a regenerated spec re-aims the whole client.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

__all__ = ["CANNY_PATH", "Spec", "not_utf8", "packaged_spec"]

CANNY_PATH = "/v1/flux-pro-1.0-canny-finetuned"
_REQUEST_CONTENT = "application/json"


class Spec:
    """An OpenAPI document with `$ref` resolution and the canny operation's shapes."""

    def __init__(self, document: Mapping[str, Any]) -> None:
        self.document = document

    @classmethod
    def from_path(cls, path: str | Path) -> Spec:
        return cls(json.loads(Path(path).read_text(encoding="utf-8")))

    def resolve(self, schema: Mapping[str, Any]) -> Mapping[str, Any]:
        """Follow `$ref` chains (local refs only, as FastAPI writes them); a ref that
        cannot be followed raises ValueError."""
        return self.resolve_named(schema)[0]

    def resolve_named(
        self, node: Any, *, strict: bool = True
    ) -> tuple[Mapping[str, Any], str | None]:
        """The node with `$ref`s followed, and the last component name passed through.

        Siblings of a `$ref` (OpenAPI 3.1: a description, say) override the target's.
        With `strict=False` (comparing documents that may be broken) a ref that cannot be
        followed ends the chain, and a missing target reads as an empty schema.
        """
        name = None
        seen: set[str] = set()
        while isinstance(node, Mapping) and "$ref" in node:
            ref = node["$ref"]
            if ref in seen or not isinstance(ref, str) or not ref.startswith("#/"):
                if strict:
                    raise ValueError(f"unresolvable $ref {ref!r}")
                break
            seen.add(ref)
            name = ref.rsplit("/", 1)[-1]
            target: Any = self.document
            for part in ref[2:].split("/"):
                key = part.replace("~1", "/").replace("~0", "~")
                if strict:
                    target = target[key]
                else:
                    target = target.get(key, {}) if isinstance(target, Mapping) else {}
            siblings = {k: v for k, v in node.items() if k != "$ref"}
            node = {**target, **siblings} if siblings else target
        return (node if isinstance(node, Mapping) else {}), name

    def schema(self, name: str) -> Mapping[str, Any]:
        schema: Mapping[str, Any] = self.document["components"]["schemas"][name]
        return schema

    def operation(self, path: str, method: str) -> Mapping[str, Any]:
        op: Mapping[str, Any] = self.document["paths"][path][method]
        return op

    def request_schema(self, path: str = CANNY_PATH, method: str = "post") -> Mapping[str, Any]:
        body = self.operation(path, method)["requestBody"]["content"][_REQUEST_CONTENT]
        return self.resolve(body["schema"])

    def request_schema_name(self, path: str = CANNY_PATH, method: str = "post") -> str:
        return str(self.request_schema(path, method).get("title", "Body"))

    def enum_values(self, name: str) -> tuple[str, ...]:
        return tuple(self.schema(name).get("enum", ()))

    def query_errors(
        self, path: str, method: str, params: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """What the server's 422 would list for these query parameters, FastAPI-shaped: a
        required one missing, or a string one that is no string (the generated code sent
        None as nothing and 5 as "5", and the answer came back from the network)."""
        errors: list[dict[str, Any]] = []
        for parameter in self.operation(path, method).get("parameters", ()):
            if parameter.get("in") != "query":
                continue
            name, value = parameter["name"], params.get(parameter["name"])
            loc = ["query", name]
            wants = self.resolve(parameter.get("schema", {})).get("type")
            if value is None and parameter.get("required"):
                errors.append({"type": "missing", "loc": loc, "msg": "Field required"})
            elif value is not None and wants == "string" and not isinstance(value, str):
                said = "Input should be a valid string"
                errors.append({"type": "string_type", "loc": loc, "msg": said, "input": value})
            elif isinstance(value, str) and (unsent := not_utf8(value)) is not None:
                errors.append({**unsent, "loc": loc})  # httpx's URL encoder failed on it, raw
        return errors

    def security_header(self) -> str:
        """The header name of the first apiKey scheme (BFL: `x-key`)."""
        for scheme in self.document.get("components", {}).get("securitySchemes", {}).values():
            if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
                return str(scheme["name"])
        raise LookupError("the spec declares no apiKey header scheme")


def not_utf8(text: str) -> dict[str, str] | None:
    """pydantic's error for text that cannot become UTF-8 (a lone surrogate from a
    mis-decoded file name), with the text shown escaped; None for any other text."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return {
            "type": "string_unicode",
            "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
            "input": text.encode("utf-8", "backslashreplace").decode("utf-8"),
        }
    return None


@functools.cache
def packaged_spec() -> Spec:
    """The copy of openapi.json shipped inside the wheel (kept equal to the root file)."""
    text = resources.files("flux_canny").joinpath("openapi.json").read_text(encoding="utf-8")
    return Spec(json.loads(text))
