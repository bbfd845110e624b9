"""What the client hands back: a submitted Task and a polled Result."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
from flux_canny_api.models.result_response import ResultResponse

__all__ = ["FINAL_FAILURES", "MODERATED", "NOT_FOUND", "PENDING", "READY", "Result", "Task"]

READY = "ready"
PENDING = "pending"
MODERATED = frozenset({"request moderated", "content moderated"})
FINAL_FAILURES = frozenset({"error", "failed"})
NOT_FOUND = frozenset({"task not found"})


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
        fraction = None
        if isinstance(progress, int | float) and not isinstance(progress, bool):
            try:
                fraction = float(progress)
            except OverflowError:  # an integer beyond any float
                fraction = None
            if fraction is not None and not math.isfinite(fraction):
                fraction = None  # NaN, Infinity: no information
        return cls(
            id=body["id"] if isinstance(body.get("id"), str) else task_id,
            status=body["status"],
            progress=fraction,
            sample=sample,
            seed=seed,
            raw=dict(body),
            model=model,
        )
