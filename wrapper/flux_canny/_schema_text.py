"""How a schema change is worded: types, values, paths and descriptions, short and exact."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = ["at", "describe_type", "fmt", "quote_change", "types_of", "value_of"]


def types_of(schema: Mapping[str, Any]) -> set[str]:
    kind = schema.get("type")
    if kind is None:
        return set()
    return set(kind) if isinstance(kind, list) else {kind}


def describe_type(schema: Mapping[str, Any]) -> str:
    types = sorted(types_of(schema) - {"null"})
    return "|".join(types) if types else "any"


# -- the comparison -----------------------------------------------------------------------------


def at(where: str, prop: str) -> str:
    return f"{where}.{prop}" if not where.endswith(":") else f"{where} {prop}"


def fmt(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def value_of(schema: Mapping[str, Any], key: str) -> str:
    return json.dumps(schema[key]) if key in schema else "none"


def quote_change(old: Any, new: Any) -> str:
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
