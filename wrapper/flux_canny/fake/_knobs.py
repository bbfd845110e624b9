"""How a fake behaves, as one owned value: the knobs FakeBFL's constructor takes and tests
turn (`fake.task_duration = 0.5`), read by the pieces that answer (`_answers`, `_tasks`,
`_faults`, `_webhooks`) without reaching into FakeBFL.

`Knob` keeps FakeBFL's attributes of the same names: reading or setting one reads or sets
the `Knobs` every piece holds, so a knob turned mid-test is seen everywhere at once.
"""

from __future__ import annotations

from typing import Any, Generic, Protocol, TypeVar, cast, overload

import attrs

__all__ = ["Knob", "Knobs"]

T = TypeVar("T")


@attrs.define(eq=False)
class Knobs:
    """The fake's behaviour (see FakeBFL for what each knob does)."""

    task_duration: float
    durations: dict[str, float]
    report_progress: bool
    pending_status: str | None
    spec_only: bool
    credits: float | None
    cost_per_task: float
    polling_host: str | None
    max_active_tasks: int
    retry_after: float
    sample_ttl: float
    delivery_base: str
    finetunes: list[str]
    known_after: float
    echo_key: bool
    #: seconds every submit's answer is held back after its task was created: the
    #: window in which a crash or Ctrl-C leaves a paid task whose id never arrived
    submit_latency: float = 0.0

    def duration_for(self, name: str) -> float:
        """Seconds a task of the operation `name` takes: its own duration, else
        task_duration."""
        return self.durations.get(name, self.task_duration)


class _HasKnobs(Protocol):
    knobs: Knobs


class Knob(Generic[T]):
    """An attribute that reads and writes the owner's `knobs` of the same name."""

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    @overload
    def __get__(self, obj: None, owner: Any = None) -> Knob[T]: ...

    @overload
    def __get__(self, obj: _HasKnobs, owner: Any = None) -> T: ...

    def __get__(self, obj: _HasKnobs | None, owner: Any = None) -> Knob[T] | T:
        if obj is None:
            return self
        return cast(T, getattr(obj.knobs, self._name))

    def __set__(self, obj: _HasKnobs, value: T) -> None:
        setattr(obj.knobs, self._name, value)
