"""Settings refused where they are given, with a ConfigurationError naming them.

A negative timeout, a NaN poll interval or a retry count of -1 was accepted and surfaced
later as something else (an httpx error mid-request, a poll loop that never slept), or
never: promise three asks for a typed error before any network call.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from .errors import ConfigurationError

__all__ = ["at_least", "check_number", "fraction"]


def check_number(
    where: str,
    value: object,
    *,
    low: float = 0.0,
    above: bool = False,
    high: float | None = None,
    integer: bool = False,
) -> None:
    """`value` a finite number (an int when `integer`) of at least `low` (more than it,
    when `above`) and at most `high`; else a ConfigurationError naming `where`."""
    kind = int if integer else (int, float)
    if isinstance(value, bool) or not isinstance(value, kind):
        raise ConfigurationError(
            f"{where} must be {'an integer' if integer else 'a number'}, got {value!r}"
        )
    if not math.isfinite(value):
        raise ConfigurationError(f"{where} must be a finite number, got {value!r}")
    if value < low or (above and value == low):
        bound = f"more than {low:g}" if above else f"at least {low:g}"
        raise ConfigurationError(f"{where} must be {bound}, got {value!r}")
    if high is not None and value > high:
        raise ConfigurationError(f"{where} must be at most {high:g}, got {value!r}")


def at_least(low: float, *, above: bool = False, integer: bool = False) -> Any:
    """An attrs validator: see `check_number`."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        where = f"{type(instance).__name__}.{attribute.name}"
        check_number(where, value, low=low, above=above, integer=integer)

    return validate


def fraction(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An attrs validator: a number from 0 to 1."""
    check_number(f"{type(instance).__name__}.{attribute.name}", value, high=1.0)
