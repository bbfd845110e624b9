"""What the client hands back: a submitted Task and a polled Result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
from flux_canny_api.models.result_response import ResultResponse

from .errors import InvalidArgumentError

__all__ = ["FINAL_FAILURES", "MODERATED", "NOT_FOUND", "PENDING", "READY", "Result", "Task"]

READY = "ready"
PENDING = "pending"
MODERATED = frozenset({"request moderated", "content moderated"})
FINAL_FAILURES = frozenset({"error", "failed"})
NOT_FOUND = frozenset({"task not found"})


def _number(value: Any) -> float | None:
    """A finite number from a JSON answer, or None (no bool, no NaN, no huge int)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    try:
        number = float(value)
    except OverflowError:
        return None
    return number if math.isfinite(number) else None


@attrs.frozen
class Task:
    """A submitted generation. Keep `id` (and `polling_url`): they are how you resume."""

    id: str
    polling_url: str | None = None
    #: set when the request carried webhook_url: the server's acknowledgement
    webhook_url: str | None = None
    status: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    #: the client's clock when the submit returned (None for a task resumed by id)
    submitted_at: float | None = attrs.field(default=None, eq=False, repr=False)
    #: when the server most likely created it: midway between the submit's send and answer
    handled_at: float | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def cost(self) -> float | None:
        """Credits the submit answer says this task costs (where BFL's SDK reads it)."""
        return _number(self.raw.get("cost"))


def task_of(task: Task | str) -> Task:
    """A Task, or one made from its id, for every call that takes either. Anything else
    is refused before a request: None or 123 went out as ?id=None and came back as an
    unknown task."""
    if isinstance(task, Task):
        return task
    printable = isinstance(task, str) and task.isprintable()
    if printable and 0 < len(task) <= 256 and task.split() == [task]:
        return Task(id=task)
    raise InvalidArgumentError(
        f"a task is a Task or the id submit() returned (a string without spaces), got {task!r:.80}"
    )


@attrs.frozen
class Result:
    """One answer of get_result. `status` is a plain string: the live API has statuses
    its spec does not list ("Generating", "Failed"), and they must not crash anyone."""

    id: str
    status: str
    progress: float | None = None
    sample: str | None = None
    seed: int | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    #: the generated model, when the body fits the spec (None for off-spec statuses)
    model: ResultResponse | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def is_ready(self) -> bool:
        return self.status.casefold() == READY

    @property
    def start_time(self) -> float | None:
        """When the work started, epoch seconds (Ready answers)."""
        return _number(self._result().get("start_time"))

    @property
    def end_time(self) -> float | None:
        """When the work ended, epoch seconds (Ready answers)."""
        return _number(self._result().get("end_time"))

    @property
    def duration(self) -> float | None:
        """Seconds the work took, as the server measured it (Ready answers)."""
        return _number(self._result().get("duration"))

    @property
    def cost(self) -> float | None:
        """Credits, when the answer states them (some report them on Ready)."""
        return _number(self.raw.get("cost", self._result().get("cost")))

    def _result(self) -> Mapping[str, Any]:
        result = self.raw.get("result")
        return result if isinstance(result, Mapping) else {}

    @property
    def is_final(self) -> bool:
        kind = self.status.casefold()
        return kind == READY or kind in MODERATED or kind in FINAL_FAILURES or kind in NOT_FOUND

    @classmethod
    def from_body(cls, body: Any, task_id: str) -> Result:
        """Read a get_result body leniently; raises ValueError if it is not one at all."""
        if not isinstance(body, Mapping) or not isinstance(body.get("status"), str):
            raise ValueError("not a get_result body (no status)")
        try:
            model: ResultResponse | None = ResultResponse.from_dict(body)
        except (KeyError, ValueError, TypeError):
            model = None
        result = body.get("result")
        sample = seed = None
        if isinstance(result, Mapping):
            sample = result.get("sample") if isinstance(result.get("sample"), str) else None
            raw_seed = result.get("seed")
            seed = (
                raw_seed if isinstance(raw_seed, int) and not isinstance(raw_seed, bool) else None
            )
        progress = body.get("progress")
        fraction = _number(progress)  # NaN, Infinity, a huge int: no information
        return cls(
            id=body["id"] if isinstance(body.get("id"), str) else task_id,
            status=body["status"],
            progress=fraction,
            sample=sample,
            seed=seed,
            raw=dict(body),
            model=model,
        )
