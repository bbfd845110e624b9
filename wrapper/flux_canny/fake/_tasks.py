"""Creating a task, as BFL's server does: the body judged by its operation's model from the
spec, the finetune (finetuned operations), the key's credits and its cap of active tasks
(across every operation), then a task with an id, a polling URL and a due time."""

from __future__ import annotations

import hashlib
import heapq
import json
import uuid
from typing import TYPE_CHECKING

import httpx

from ._records import RESULT_PATH, FakeTask, answer_422, json_answer, seconds

if TYPE_CHECKING:
    from .._operations import Operation
    from .core import FakeBFL

__all__ = ["submit"]


def submit(fake: FakeBFL, request: httpx.Request, key: str, operation: Operation) -> httpx.Response:
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
    validator = fake.validator_for(operation)
    errors = validator.errors(body)
    if errors:
        return answer_422(errors)
    finetune = body.get("finetune_id")
    if operation.finetuned and not fake.spec_only and finetune not in fake.finetunes:
        # live: an unknown finetune is refused with 400 before anything runs
        return json_answer(400, {"detail": f"Finetune {finetune} not found"})
    if not fake.spec_only and fake.credits is not None and fake.credits < fake.cost_per_task:
        return json_answer(402, {"detail": "Insufficient credits"})  # docs.bfl.ai: 402
    if fake.active_tasks(key) >= fake.max_active_tasks:
        return json_answer(
            429,
            {
                "detail": f"You have reached the limit of {fake.max_active_tasks} "
                "active tasks. Please wait for some to finish."
            },
            {"retry-after": seconds(fake.retry_after)},
        )
    normalised = validator.normalise(body)
    fake._ids += 1
    task_id = str(uuid.UUID(int=fake._ids & (2**128 - 1)))
    outcome = fake._outcomes.popleft() if fake._outcomes else "Ready"
    # live: a request is moderated before any processing, at once and not charged
    flagged_at_once = outcome == "Request Moderated" and not fake.spec_only
    if fake.credits is not None and not flagged_at_once:
        fake.credits -= fake.cost_per_task
    seed = normalised.get("seed")
    task = FakeTask(
        id=task_id,
        key=key,
        body=normalised,
        created_at=fake.clock.monotonic(),
        duration=0.0 if flagged_at_once else fake.duration_for(operation),
        outcome=outcome,
        seed=seed
        if isinstance(seed, int)
        else int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16),
        webhook_url=normalised.get("webhook_url"),
        webhook_secret=normalised.get("webhook_secret"),
        operation=operation.name,
    )
    fake.tasks[task_id] = task
    ends = task.created_at + task.duration
    heapq.heappush(fake._active.setdefault(key, []), (ends, task_id))
    if task.webhook_url:
        heapq.heappush(fake._webhooks_due, (ends, task_id))
    fake._forget_at.append((task.created_at + fake.retention, task_id))
    fake.tasks_created[key] += 1
    fake._last_created = task_id
    cost = {"cost": fake.cost_per_task, "input_mp": 1.0, "output_mp": 1.0}
    if task.webhook_url:
        return json_answer(
            200, {"id": task_id, "status": "Pending", "webhook_url": task.webhook_url, **cost}
        )
    home = request.url.copy_with(host=fake.polling_host) if fake.polling_host else request.url
    polling_url = str(
        home.copy_with(path=RESULT_PATH, query=None).copy_merge_params({"id": task_id})
    )
    return json_answer(200, {"id": task_id, "polling_url": polling_url, **cost})
