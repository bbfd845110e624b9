"""Receiving BFL's completion webhooks: the zero-poll path.

Submit with `webhook_url=` (and `webhook_secret=`), and BFL POSTs to that URL when the task
ends instead of being polled. It sends your secret back **verbatim** in the
`X-Webhook-Secret` header (BFL's own SDK, black-forest-labs/blackforest
`src/bfl/_webhooks.py`): a shared secret, not a signature of the body, so checking it is
a constant-time comparison and nothing more. Deliveries seen by receivers look like
`{"task_id", "status": "SUCCESS" | "FAILED", "result": {...}, "error", "progress"}`;
`parse_webhook` also reads a get_result-shaped body, which some deliveries carry.
"""

from __future__ import annotations

import hmac
import json
from collections.abc import Iterable, Mapping
from typing import Any

import attrs

from .errors import InvalidArgumentError, WebhookVerificationError

__all__ = ["WEBHOOK_SECRET_HEADER", "WebhookEvent", "parse_webhook"]

WEBHOOK_SECRET_HEADER = "X-Webhook-Secret"  # noqa: S105 - a header's name, not a secret
_OK = frozenset({"success", "ready"})


@attrs.frozen
class WebhookEvent:
    """One delivery: which task ended, and how."""

    task_id: str
    status: str
    ok: bool
    sample: str | None = None
    seed: int | None = None
    error: str | None = None
    raw: Mapping[str, Any] = attrs.field(factory=dict, repr=False)


def _header(headers: Mapping[str, str] | Iterable[tuple[Any, Any]], name: str) -> str | None:
    """A header of a mapping (any framework's headers object) or of (name, value) pairs,
    str or bytes (ASGI's scope["headers"]); the first of that name, any case."""
    # duck-typed: http.server's and Werkzeug's headers have items() but are no Mapping
    pairs = headers.items() if hasattr(headers, "items") else headers
    try:
        for key, value in pairs:
            key = key.decode("latin-1") if isinstance(key, bytes) else key
            if isinstance(key, str) and key.lower() == name.lower():
                return value.decode("latin-1") if isinstance(value, bytes) else str(value)
    except (TypeError, ValueError) as error:
        raise InvalidArgumentError(
            f"headers must be a mapping or (name, value) pairs, got {headers!r:.80}"
        ) from error
    return None


def parse_webhook(
    body: bytes | str,
    headers: Mapping[str, str] | Iterable[tuple[Any, Any]],
    secret: str | None,
) -> WebhookEvent:
    """Check a delivery's secret (when you set one), then read it.

    Raises WebhookVerificationError when the secret is missing or wrong, or the body is
    not a delivery: answer such a request with 401 and do not trust its contents.
    """
    if secret is not None:
        if not isinstance(secret, str):
            raise InvalidArgumentError(f"secret must be a str or None, got {type(secret).__name__}")
        received = _header(headers, WEBHOOK_SECRET_HEADER)
        if not received or not hmac.compare_digest(
            secret.encode("utf-8"), received.encode("utf-8")
        ):
            raise WebhookVerificationError(
                f"the delivery's {WEBHOOK_SECRET_HEADER} header is missing or does not match "
                "your webhook_secret"
            )
    try:
        payload = json.loads(body)
    except (ValueError, RecursionError) as unreadable:
        raise WebhookVerificationError(f"the delivery is not JSON: {unreadable}") from unreadable
    if not isinstance(payload, Mapping):
        raise WebhookVerificationError("the delivery is not a JSON object")
    task_id = payload.get("task_id", payload.get("id"))
    status = payload.get("status")
    if not isinstance(task_id, str) or not isinstance(status, str):
        raise WebhookVerificationError("the delivery names no task id and status")
    result = payload.get("result")
    result = result if isinstance(result, Mapping) else {}
    sample = result.get("sample")
    seed = result.get("seed")
    failure = payload.get("error") or (
        payload.get("details") if status.lower() not in _OK else None
    )
    return WebhookEvent(
        task_id=task_id,
        status=status,
        ok=status.lower() in _OK,
        sample=sample if isinstance(sample, str) else None,
        seed=seed if isinstance(seed, int) and not isinstance(seed, bool) else None,
        error=str(failure) if failure else None,
        raw=dict(payload),
    )
