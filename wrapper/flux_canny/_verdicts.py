"""What an answer means: retry it, or raise which typed error with the server's words.

Pure functions of one exchange's outcome (a response, or the exception its I/O raised)
and of whether the request is idempotent: a POST that may have created a task is never
retried (BFL's own SDK never retries a 5xx on a POST), and its failures say "uncertain".
"""

from __future__ import annotations

import email.utils
import json
import logging
import math
import time
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
from flux_canny_api.models.http_validation_error import HTTPValidationError

from ._effects import Failed
from ._wire import AnswerTooLarge, AnswerTooSlow, Send
from .errors import (
    APIConnectionError,
    APIStatusError,
    APIValidationError,
    AuthenticationError,
    FluxCannyError,
    InsufficientCreditsError,
    RateLimitError,
    SubmitUncertainError,
    clean,
)
from .models import FINAL_FAILURES, MODERATED, NOT_FOUND

__all__ = [
    "Malformed",
    "Verdict",
    "body_of",
    "detail_text",
    "failure_verdict",
    "log_exchange",
    "shown_url",
    "status_verdict",
    "task_shaped",
]

#: refused before the request left: safe to retry even a POST
_SAFE_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Malformed(Exception):
    """A 2xx answer whose body is not what the spec promises."""


@attrs.frozen
class Verdict:
    retry: bool
    error: FluxCannyError
    rate_limited: bool = False
    retry_after: float | None = None
    cause: BaseException | None = None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "-5", "nan", "inf": not a delay; our own backoff decides
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def body_of(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return response.content[:500].decode("utf-8", "replace")


http_log = logging.getLogger("flux_canny.http")


def log_exchange(effect: Send, outcome: Any, seconds: float) -> None:
    """One line per request for --debug: never the key, never a query string."""
    if not http_log.isEnabledFor(logging.DEBUG):
        return
    said = (
        type(outcome.error).__name__
        if isinstance(outcome, Failed)
        else f"{outcome.status_code} ({len(outcome.content)} bytes)"
    )
    http_log.debug(
        "%s %s -> %s in %.0f ms", effect.method, shown_url(effect.url), said, seconds * 1e3
    )


def shown_url(url: httpx.URL | str) -> str:
    """A URL as it may be shown: no query string (signed URLs carry secrets there)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None))


def status_verdict(
    response: Any, *, idempotent: bool, what: str, where: str = ""
) -> Verdict | None:
    status = int(response.status_code)
    if status < 300:
        return None
    body = body_of(response)
    if status < 400:
        where = response.headers.get("location", "elsewhere")
        return Verdict(
            False,
            APIStatusError(
                f"{what}: the server redirected (HTTP {status}) to {clean(where)[:200]}; not "
                "followed, since the API key would go with it. Check the base URL",
                status_code=status,
                body=body,
            ),
        )
    if status == 402:
        return Verdict(
            False,
            InsufficientCreditsError(
                f"{what}: out of credits (HTTP 402: {detail_text(body)}); top up at "
                "https://dashboard.bfl.ai, then submit again (no task was created)",
                status_code=402,
                body=body,
            ),
        )
    if status == 429:
        after = _retry_after(response.headers)
        return Verdict(
            retry=True,
            rate_limited=True,
            retry_after=after,
            error=RateLimitError(
                f"{what}: rate limited (HTTP 429: too many requests or more than the allowed "
                "active tasks); wait for running tasks to finish, or lower concurrency",
                body=body,
                retry_after=after,
            ),
        )
    if status in (401, 403):
        return Verdict(
            False,
            AuthenticationError(
                f"{what}: the API key was refused (HTTP {status}); check the key you gave "
                "(api_key= / --api-key / BFL_API_KEY)",
                status_code=status,
                body=body,
            ),
        )
    if status == 422:
        parsed: HTTPValidationError | None
        try:
            parsed = HTTPValidationError.from_dict(body) if isinstance(body, dict) else None
        except (KeyError, ValueError, TypeError, AttributeError):
            parsed = None  # a string detail ("Invalid API key format"), seen live
        detail = body.get("detail") if isinstance(body, dict) else body
        errors = [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else []
        summary = detail_text(body)
        return Verdict(
            False,
            APIValidationError(
                f"{what}: the server rejected the request (HTTP 422): {summary}",
                body=body,
                detail=parsed,
                errors=errors,
            ),
        )
    if status >= 500 and idempotent:
        return Verdict(
            True,
            APIStatusError(f"{what}: server error (HTTP {status})", status_code=status, body=body),
            retry_after=_retry_after(response.headers),
        )
    if status >= 500:
        # BFL's own SDK never retries a 5xx on a POST: the task may exist and be billed.
        return Verdict(
            False,
            SubmitUncertainError(
                f"{what}: server error (HTTP {status}) after the request arrived; the task may "
                "exist and be billed, so it was not retried. Check your recent tasks "
                "(`flux-canny tasks`) before submitting again",
                status_code=status,
                body=body,
            ),
        )
    said = detail_text(body)
    return Verdict(
        False,
        APIStatusError(
            f"{what}: HTTP {status} from {where}: {said}{_hint(status, said)}",
            status_code=status,
            body=body,
        ),
    )


def _hint(status: int, said: str) -> str:
    """What to check: the API root only when no route answered (the server said no more
    than "Not Found"), the user's finetunes when the server spoke of a finetune."""
    if "finetune" in said.casefold():
        return "; list the finetunes of your key with `flux-canny finetunes` (my_finetunes())"
    if status in (404, 405) and said.strip().casefold() in ("not found", "method not allowed", ""):
        return "; is the API root right? (base_url= / BFL_BASE_URL)"
    return ""


#: what a failed exchange can raise; anything else (a TypeError in a transport) is a bug,
#: raised as it is rather than reported as a network failure
_IO_ERRORS = (httpx.TransportError, httpx.DecodingError, Malformed, OSError)


def task_shaped(response: Any) -> bool:
    """A poll's error status that carries a final task body, as the live API sends them:
    404 {"status": "Task not found"}, 422/503 {"status": "Error", "details": {...}}. They are
    answers about the task, not failures of the request."""
    status = int(response.status_code)
    if status not in (404, 422, 503):
        return False
    body = body_of(response)
    if not isinstance(body, Mapping) or not isinstance(body.get("status"), str):
        return False
    kind = body["status"].casefold()
    if status == 404:
        return kind in NOT_FOUND
    return kind in FINAL_FAILURES or kind in MODERATED


def detail_text(body: Any) -> str:
    """The server's own words from an error body, whatever shape FastAPI gave them."""
    detail = body.get("detail", body) if isinstance(body, Mapping) else body
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, Mapping):
                where = ".".join(str(p) for p in entry.get("loc", []) if p != "body")
                parts.append(f"{where or 'body'}: {entry.get('msg', entry)}")
            else:
                parts.append(str(entry))
        detail = "; ".join(parts)
    return clean(str(detail))[:500]


def failure_verdict(error: Exception, *, idempotent: bool, what: str, where: str = "") -> Verdict:
    if isinstance(error, AnswerTooLarge | AnswerTooSlow):
        # not retried: the same server would only cost the same memory or time again
        if idempotent:
            return Verdict(False, APIConnectionError(f"{what}: {error}"), cause=error)
        return Verdict(
            False,
            SubmitUncertainError(
                f"{what}: {error}, after the request was sent; the task may exist and be "
                "billed. Check your recent tasks (`flux-canny tasks`) before submitting again"
            ),
            cause=error,
        )
    if isinstance(error, _SAFE_CONNECT_ERRORS):
        return Verdict(
            True,
            APIConnectionError(
                f"{what}: could not connect to {where} ({type(error).__name__}); check the "
                "address (base_url= / BFL_BASE_URL) and the network"
            ),
            cause=error,
        )
    if isinstance(error, _IO_ERRORS):
        kind = (
            "timed out"
            if isinstance(error, httpx.TimeoutException)
            else (
                "connection failed"
                if isinstance(error, httpx.TransportError)
                else "unreadable answer"
            )
        )
        if idempotent:
            return Verdict(
                True,
                APIConnectionError(f"{what}: {kind} ({type(error).__name__})"),
                cause=error,
            )
        return Verdict(
            False,
            SubmitUncertainError(
                f"{what}: {kind} after the request was sent ({type(error).__name__}); the task may "
                "exist and be billed, so it was not retried. Check your recent tasks "
                "(`flux-canny tasks`) before submitting again"
            ),
            cause=error,
        )
    raise error
