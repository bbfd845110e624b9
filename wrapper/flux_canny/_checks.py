"""Settings refused where they are given, with a ConfigurationError naming them.

A negative timeout, a NaN poll interval or a retry count of -1 was accepted and surfaced
later as something else (an httpx error mid-request, a poll loop that never slept), or
never: promise three asks for a typed error before any network call.
"""

from __future__ import annotations

import math
from typing import Any

import attrs

from .errors import ConfigurationError, FluxCannyError, InvalidArgumentError

__all__ = ["at_least", "check_callback", "check_flag", "check_number", "check_wait", "fraction"]


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


def check_flag(
    where: str, value: object, *, error: type[FluxCannyError] = ConfigurationError
) -> None:
    """`value` None or a bool; else `error` naming `where`. `validate="no"` was read as
    true, and the request checked though the user said not to."""
    if value is not None and not isinstance(value, bool):
        raise error(f"{where} must be True or False, got {value!r:.80}")


def check_callback(where: str, value: object) -> None:
    """`value` None or callable; else an InvalidArgumentError naming `where`. Called as a
    task goes, a wrong one was a bare TypeError after the task was paid for."""
    if value is not None and not callable(value):
        raise InvalidArgumentError(f"{where} must be a function (or None), got {value!r:.80}")


def check_wait(timeout: object, on_update: object) -> None:
    """A wait's own arguments: a NaN deadline never passes (the wait never ended), and a
    callback that is no function failed at the first poll. `generate` checks them before
    its submit, so a wrong one costs no task."""
    if timeout is not None:
        check_number("timeout", timeout)
    check_callback("on_update", on_update)


def at_least(low: float, *, above: bool = False, integer: bool = False) -> Any:
    """An attrs validator: see `check_number`."""

    def validate(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
        where = f"{type(instance).__name__}.{attribute.name}"
        check_number(where, value, low=low, above=above, integer=integer)

    return validate


def fraction(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """An attrs validator: a number from 0 to 1."""
    check_number(f"{type(instance).__name__}.{attribute.name}", value, high=1.0)
