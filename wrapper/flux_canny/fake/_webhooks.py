"""The fake's completion webhooks: due deliveries, in the live shape (the secret echoed
in X-Webhook-Secret) or the spec-only one (an HMAC of a get_result body). The tasks come
from the TaskStore, their answers from `Answers`; each delivery goes to `deliver`."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import TYPE_CHECKING

from ._records import (
    FakeTask,
    WebhookDelivery,
)

if TYPE_CHECKING:
    from ._answers import Answers
    from ._store import TaskStore


def deliver_due(
    store: TaskStore, answers: Answers, deliver: Callable[[WebhookDelivery], None]
) -> None:
    """Each webhook fallen due, once, to `deliver`."""
    for task in store.due_webhooks():
        deliver(webhook_for(answers, task))


def webhook_for(answers: Answers, task: FakeTask) -> WebhookDelivery:
    assert task.webhook_url is not None
    body = answers.result_body(task)
    headers = {"content-type": "application/json"}
    if answers.knobs.spec_only:  # the fake's own former scheme: an HMAC of a get_result body
        payload = body
        if task.webhook_secret:
            raw = json.dumps(payload, sort_keys=True).encode()
            digest = hmac.new(task.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
            headers["x-webhook-signature"] = f"sha256={digest}"
        return WebhookDelivery(task.webhook_url, payload, headers)
    # live: the secret comes back verbatim in X-Webhook-Secret (black-forest-labs/
    # blackforest src/bfl/_webhooks.py), and receivers see SUCCESS / FAILED deliveries
    ok = body["status"] == "Ready"
    payload = {
        "task_id": task.id,
        "status": "SUCCESS" if ok else "FAILED",
        "result": body["result"] if ok else None,
        "error": None if ok else body["status"],
        "progress": 1.0,
    }
    if task.webhook_secret:
        headers["X-Webhook-Secret"] = task.webhook_secret
    return WebhookDelivery(task.webhook_url, payload, headers)
