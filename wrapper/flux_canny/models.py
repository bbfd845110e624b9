"""What the client hands back: a submitted Task and a polled Result."""

from __future__ import annotations

import copyreg
import math
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
from flux_canny_api.models.result_response import ResultResponse
from flux_canny_api.types import Unset

from .errors import FluxCannyError, InvalidArgumentError, clean

# The generated models mark an absent field with the singleton UNSET (`x is UNSET`); an
# error carrying a parsed model (APIValidationError.detail, a Result's model) must pickle
# to an equal one, so UNSET travels by name, not as a fresh Unset() that equals nothing.
copyreg.pickle(Unset, lambda _: "UNSET")

__all__ = [
    "FINAL_FAILURES",
    "MODERATED",
    "NOT_FOUND",
    "PENDING",
    "READY",
    "Result",
    "Task",
    "UnreadableAnswer",
]

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


def _is_task_id(value: Any) -> bool:
    """An id a user gives for a task: printable text without spaces, at most 256 chars."""
    return (
        isinstance(value, str)
        and value.isprintable()
        and 0 < len(value) <= 256
        and value.split() == [value]
    )


def _is_answered_id(value: Any) -> bool:
    """An id an answer may hold, as the spec has it: a string (shown cleaned), that can
    be written down (UTF-8). An id of 2**100 or null broke the ledger, the polls or a
    rerun after the task was paid for."""
    if not isinstance(value, str):
        return False
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, from an escape in the JSON
        return False
    return True


def _url(value: Any) -> httpx.URL | None:
    """`value` parsed as a URL (the spec says only "string"), or None. Every URL an
    answer hands over is parsed here, where it arrives: one that does not parse (a port
    of "443:1") raised httpx.InvalidURL at the poll or the download after the task was
    paid for. Where a parsed URL may be sent is decided where it is used (the host
    check before a poll, the scheme check before a download)."""
    if not isinstance(value, str):
        return None
    try:
        value.encode("utf-8")
        return httpx.URL(value)
    except (httpx.InvalidURL, ValueError, TypeError):
        return None


def _shown(value: Any) -> str:
    """An answer's value as a message may show it: short, no control characters."""
    try:
        text = repr(value)
    except ValueError:  # an int past Python's digit limit
        text = f"a {type(value).__name__} too long to show"
    return clean(text[:120])


class UnreadableAnswer(FluxCannyError, ValueError):
    """An answer that is not what the spec says it is; `task_id` when it names one.
    The faces never raise it as it is: a submit's becomes SubmitUncertainError."""

    def __init__(self, detail: str, task_id: str | None = None) -> None:
        super().__init__(detail)
        self.attach_task(task_id, None)


def _check_id(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if not _is_answered_id(value):
        raise InvalidArgumentError(f"a task id is a string, got {_shown(value)}")


def _check_url(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None and _url(value) is None:
        said = _shown(value)
        raise InvalidArgumentError(f"a task's {attribute.name} is a URL or None, got {said}")


@attrs.frozen
class Task:
    """A submitted generation. Keep `id` (and `polling_url`): they are how you resume."""

    id: str = attrs.field(validator=_check_id)
    polling_url: str | None = attrs.field(default=None, validator=_check_url)
    #: set when the request carried webhook_url: the server's acknowledgement
    webhook_url: str | None = None
    status: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, eq=False, repr=False)
    #: the client's clock when the submit returned (None for a task resumed by id)
    submitted_at: float | None = attrs.field(default=None, eq=False, repr=False)
    #: when the server most likely created it: midway between the submit's send and answer
    handled_at: float | None = attrs.field(default=None, eq=False, repr=False)
    #: the endpoint it was submitted to (None for a task resumed by id: the ledger may say)
    operation: str | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def cost(self) -> float | None:
        """Credits the submit answer says this task costs (where BFL's SDK reads it), or
        None when it says none that can be counted: missing, not a number, NaN, or
        negative. None is unknown, never free (see `flux_canny._budget`)."""
        cost = _number(self.raw.get("cost"))
        return cost if cost is not None and cost >= 0 else None

    @classmethod
    def from_body(cls, body: Any, *, submitted_at: float | None = None) -> Task:
        """Read a submit answer against the spec's shape (AsyncResponse, or
        AsyncWebhookResponse when the request carried webhook_url). Anything else raises
        UnreadableAnswer, with the task id when the answer has a readable one."""
        if not isinstance(body, Mapping):
            raise UnreadableAnswer(f"it is {_shown(body)}, not a JSON object")
        if "id" not in body:
            raise UnreadableAnswer("it has no id")
        task_id = body["id"]
        if not _is_answered_id(task_id):
            raise UnreadableAnswer(f"its id {_shown(task_id)} is not a task id")
        if "polling_url" in body:
            if _url(body["polling_url"]) is None:
                raise UnreadableAnswer(
                    f"its polling_url {_shown(body['polling_url'])} is not a URL", task_id
                )
            return cls(
                id=task_id,
                polling_url=body["polling_url"],
                raw=dict(body),
                submitted_at=submitted_at,
            )
        if "webhook_url" in body:
            for name in ("webhook_url", "status"):
                if not isinstance(body.get(name), str):
                    raise UnreadableAnswer(
                        f"its {name} {_shown(body.get(name))} is not a string", task_id
                    )
            return cls(
                id=task_id,
                webhook_url=body["webhook_url"],
                status=body["status"],
                raw=dict(body),
                submitted_at=submitted_at,
            )
        raise UnreadableAnswer("it has neither polling_url nor webhook_url", task_id)


def task_of(task: Task | str) -> Task:
    """A Task, or one made from its id, for every call that takes either. Anything else
    is refused before a request: None or 123 went out as ?id=None and came back as an
    unknown task."""
    if isinstance(task, Task):
        return task
    if _is_task_id(task):
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
            # a sample URL that does not parse is no sample: the download then says so,
            # naming the task, instead of raising httpx.InvalidURL (another scheme is
            # kept, for the download to refuse by name)
            sample = result["sample"] if _url(result.get("sample")) is not None else None
            raw_seed = result.get("seed")
            seed = (
                raw_seed if isinstance(raw_seed, int) and not isinstance(raw_seed, bool) else None
            )
        progress = body.get("progress")
        fraction = _number(progress)  # NaN, Infinity, a huge int: no information
        return cls(
            id=body["id"] if _is_answered_id(body.get("id")) else task_id,
            status=body["status"],
            progress=fraction,
            sample=sample,
            seed=seed,
            raw=dict(body),
            model=model,
        )
