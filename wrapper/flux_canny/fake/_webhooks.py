"""The fake's completion webhooks: due deliveries, in the live shape (the secret echoed
in X-Webhook-Secret) or the spec-only one (an HMAC of a get_result body)."""

from __future__ import annotations

import hashlib
import heapq
import hmac
import json
from typing import TYPE_CHECKING

from ._answers import result_body
from ._records import (
    FakeTask,
    WebhookDelivery,
)

if TYPE_CHECKING:
    from .core import FakeBFL


def deliver_due(fake: FakeBFL) -> None:
    now = fake.clock.monotonic()
    while fake._webhooks_due and fake._webhooks_due[0][0] <= now:
        _, task_id = heapq.heappop(fake._webhooks_due)
        task = fake.tasks.get(task_id)
        if task is not None and not task.webhook_sent:
            task.webhook_sent = True
            delivery = webhook_for(fake, task)
            fake.webhooks.append(delivery)
            if fake.webhook_sink is not None:
                fake.webhook_sink(delivery)


def webhook_for(fake: FakeBFL, task: FakeTask) -> WebhookDelivery:
    assert task.webhook_url is not None
    body = result_body(fake, task)
    headers = {"content-type": "application/json"}
    if fake.spec_only:  # the fake's own former scheme: an HMAC of a get_result body
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
