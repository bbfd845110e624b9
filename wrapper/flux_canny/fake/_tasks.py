"""Creating a task, as BFL's server does: the body judged by its operation's model from the
spec, the finetune (finetuned operations), the key's credits and its cap of active tasks
(across every operation), then a task with an id, a polling URL and a due time: kept in
the TaskStore, by the Knobs, judged by the operation's validator (no FakeBFL here)."""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING

import httpx

from ._records import RESULT_PATH, FakeTask, answer_422, json_answer, seconds

if TYPE_CHECKING:
    from .._operations import Operation
    from ..validation import RequestValidator
    from ._knobs import Knobs
    from ._store import TaskStore

__all__ = ["submit"]


def submit(
    store: TaskStore,
    knobs: Knobs,
    validator: RequestValidator,
    operation: Operation,
    request: httpx.Request,
    key: str,
) -> httpx.Response:
    if not request.content:
        return answer_422(
            [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    try:
        body = json.loads(request.content)
    except ValueError as exc:
        return answer_422(
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", getattr(exc, "pos", 0)],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ]
        )
    errors = validator.errors(body)
    if errors:
        return answer_422(errors)
    finetune = body.get("finetune_id")
    if operation.finetuned and not knobs.spec_only and finetune not in knobs.finetunes:
        # live: an unknown finetune is refused with 400 before anything runs
        return json_answer(400, {"detail": f"Finetune {finetune} not found"})
    if not knobs.spec_only and knobs.credits is not None and knobs.credits < knobs.cost_per_task:
        return json_answer(402, {"detail": "Insufficient credits"})  # docs.bfl.ai: 402
    if store.active(key) >= knobs.max_active_tasks:
        return json_answer(
            429,
            {
                "detail": f"You have reached the limit of {knobs.max_active_tasks} "
                "active tasks. Please wait for some to finish."
            },
            {"retry-after": seconds(knobs.retry_after)},
        )
    normalised = validator.normalise(body)
    task_id = store.next_id()
    outcome = store.next_outcome()
    # live: a request is moderated before any processing, at once and not charged
    flagged_at_once = outcome == "Request Moderated" and not knobs.spec_only
    if knobs.credits is not None and not flagged_at_once:
        knobs.credits -= knobs.cost_per_task
    seed = normalised.get("seed")
    task = FakeTask(
        id=task_id,
        key=key,
        body=normalised,
        created_at=store.clock.monotonic(),
        duration=0.0 if flagged_at_once else knobs.duration_for(operation.name),
        outcome=outcome,
        seed=seed
        if isinstance(seed, int)
        else int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16),
        webhook_url=normalised.get("webhook_url"),
        webhook_secret=normalised.get("webhook_secret"),
        operation=operation.name,
    )
    store.add(task)
    cost = {"cost": knobs.cost_per_task, "input_mp": 1.0, "output_mp": 1.0}
    if task.webhook_url:
        return json_answer(
            200, {"id": task_id, "status": "Pending", "webhook_url": task.webhook_url, **cost}
        )
    home = request.url.copy_with(host=knobs.polling_host) if knobs.polling_host else request.url
    polling_url = str(
        home.copy_with(path=RESULT_PATH, query=None).copy_merge_params({"id": task_id})
    )
    return json_answer(200, {"id": task_id, "polling_url": polling_url, **cost})
