"""One family of exceptions, so callers can catch broadly or precisely.

Every error raised after a task was created carries `task_id` and `polling_url`: a paid
task is never lost to an exception. No message ever contains the API key: `redact` is the
one place that knows the keys in use, and every message, note, log line and ledger text
passes through it. Every error pickles, so it crosses a process pool as itself.
"""

from __future__ import annotations

import re
import threading
from typing import Any, Self

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APIValidationError",
    "AuthenticationError",
    "BudgetExhaustedError",
    "ClientClosedError",
    "ConfigurationError",
    "EventLoopError",
    "FluxCannyError",
    "GenerationError",
    "ImageDecodeError",
    "ImageExistsError",
    "ImageInputError",
    "ImageSaveError",
    "InsufficientCreditsError",
    "InvalidArgumentError",
    "LedgerError",
    "MissingAPIKeyError",
    "ModerationError",
    "RateLimitError",
    "RequestValidationError",
    "SampleExpiredError",
    "SubmitUncertainError",
    "TaskError",
    "TaskNotFoundError",
    "UnknownParameterError",
    "UntrustedURLError",
    "WaitTimeoutError",
    "WebhookVerificationError",
]


_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


#: what a key is replaced with wherever it would be shown or stored
REDACTED = "[redacted]"
#: keys shorter than this are not redacted: no real key is (BFL's are 36 characters), and
#: replacing a test key such as "k" would blank every word with that letter in it
_SHORTEST_SECRET = 8
_secrets: tuple[str, ...] = ()
_secrets_lock = threading.Lock()


def keep_secret(secret: str) -> None:
    """Name a secret (an API key in use) that `redact` removes from then on, process-wide:
    a key once used stays hidden in every message, whichever client shows it."""
    global _secrets
    with _secrets_lock:
        if len(secret) >= _SHORTEST_SECRET and secret not in _secrets:
            # longest first, so a key that contains another is replaced whole
            _secrets = tuple(sorted((*_secrets, secret), key=len, reverse=True))


def redact(text: str) -> str:
    """`text` without any key in use: the one redactor every sink's text goes through
    (messages, notes, log lines, the ledger); the rest of the words stay as they were."""
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def redact_bytes(content: bytes) -> bytes:
    """`redact` for an answer's bytes, before anything reads them: a server that echoes
    the key hands back no task id, URL, body or message that shows it."""
    for secret in _secrets:
        raw = secret.encode()
        if raw in content:
            content = content.replace(raw, REDACTED.encode())
    return content


def clean(text: str) -> str:
    """Server words made safe for a terminal: no escape sequences, no control characters,
    no API key."""
    return _CONTROL.sub("?", redact(text))


def _restore(cls: type[FluxCannyError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Unpickle an error without calling its __init__, whose keyword-only arguments
    (status_code=, task_id=...) pickle's default of `cls(*args)` cannot give."""
    error = cls.__new__(cls, *args)
    if isinstance(error, OSError):  # errno, strerror and filename live outside __dict__
        OSError.__init__(error, *args)
    else:
        error.args = args
    error.__dict__.update(state)
    return error


class FluxCannyError(Exception):
    """Base of every error this package raises on purpose."""

    task_id: str | None = None
    polling_url: str | None = None

    def __init__(self, *args: Any) -> None:
        super().__init__(*(redact(a) if isinstance(a, str) else a for a in args))

    def __reduce__(self) -> tuple[Any, ...]:
        # an OSError's args leave out its filename; its own reduce keeps it
        args = OSError.__reduce__(self)[1] if isinstance(self, OSError) else self.args
        return _restore, (type(self), args, dict(self.__dict__))

    def attach_task(self, task_id: str | None, polling_url: str | None) -> None:
        """Record which task the failure concerns, so the caller can resume it."""
        if task_id is not None and self.task_id is None:
            self.task_id = task_id
            self.polling_url = polling_url

    def __str__(self) -> str:
        text = super().__str__()
        if self.task_id is not None and self.task_id not in text:
            text += f" (task id {self.task_id}; resume with get_result/wait)"
        return redact(text)

    def add_note(self, note: str, /) -> None:
        super().add_note(redact(note))


class RequestValidationError(FluxCannyError, ValueError):
    """The request body would be rejected by the server; nothing was sent."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        self.errors = errors
        parts = [f"{'.'.join(str(p) for p in e['loc'][1:]) or 'body'}: {e['msg']}" for e in errors]
        super().__init__("invalid request, nothing was sent: " + "; ".join(parts))


class InvalidArgumentError(FluxCannyError, TypeError):
    """An argument of the wrong kind for a public call (None for a task id, a task id where
    a Result is due); nothing was sent. A TypeError too, as Python would raise."""


class UnknownParameterError(RequestValidationError, InvalidArgumentError):
    """A request parameter the spec does not have, a misspelling mostly; nothing was sent.

    A TypeError too, as Python raises for any unknown keyword (and mypy reports from the
    typed signature), so code written either way catches it; and a FluxCannyError, since
    the parameters often come from data (a config file, a jobs line) rather than code.
    `.errors` reads as FastAPI's would for a model that forbids extras."""


class ClientClosedError(FluxCannyError, RuntimeError):
    """The client (or the http_client it was given) was closed; nothing was sent. Make a
    new one. A RuntimeError too, as httpx raised before."""


class EventLoopError(FluxCannyError, RuntimeError):
    """An AsyncFluxCanny used from an event loop other than its own while that one is
    still open (another thread's, say); nothing was sent. Make one client per loop."""


class MissingAPIKeyError(FluxCannyError, ValueError):
    """No API key was given and BFL_API_KEY is not set."""


class ConfigurationError(FluxCannyError, ValueError):
    """A setting cannot work (a base URL that is not one, or that would expose the key)."""


class ImageInputError(FluxCannyError, ValueError):
    """The control image is missing, unreadable, empty, truncated or not an image."""


class ImageDecodeError(FluxCannyError, ValueError):
    """A downloaded image cannot be decoded (corrupt, or a decompression bomb)."""

    def __init__(self, message: str, *, task_id: str | None = None) -> None:
        super().__init__(message)
        self.attach_task(task_id, None)


class ImageSaveError(FluxCannyError, OSError):
    """An image could not be written (disk full, folder gone, permissions). Also an
    OSError, with its errno, so code catching OSError keeps working."""


class ImageExistsError(ImageSaveError, FileExistsError):
    """save(..., overwrite=False) found the file there already; it was not touched."""


class BudgetExhaustedError(FluxCannyError):
    """Not submitted: the batch's max_cost would be exceeded. Nothing was paid for it."""


class WebhookVerificationError(FluxCannyError):
    """A webhook delivery's X-Webhook-Secret is missing or wrong, or it is not a delivery:
    do not trust it (answer 401)."""


class UntrustedURLError(FluxCannyError):
    """The API pointed us at a host we will not send the API key to."""


class APIConnectionError(FluxCannyError):
    """The server could not be reached, or the connection failed mid-request."""


class SubmitUncertainError(APIConnectionError):
    """The submit may have reached the server: a task may exist and may be billed.

    We do not retry, because a retry could pay twice. Check your recent tasks before
    submitting again. `status_code` is set when the server answered with a 5xx (BFL's own
    SDK never retries those on a POST either): the task may exist all the same.
    """

    def __init__(self, message: str, *, status_code: int | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class LedgerError(FluxCannyError):
    """The task ledger could not be read or written. Raised *before* any submit it would
    have had to record, so nothing is paid for that could not be written down."""


class APIStatusError(FluxCannyError):
    """The server answered with an error status."""

    def __init__(self, message: str, *, status_code: int, body: Any = None) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.body = body


class APIValidationError(APIStatusError):
    """The server rejected the request body (HTTP 422); `.detail` is the parsed model."""

    def __init__(
        self, message: str, *, body: Any, detail: Any, errors: list[dict[str, Any]]
    ) -> None:
        super().__init__(message, status_code=422, body=body)
        self.detail = detail
        self.errors = errors


class AuthenticationError(APIStatusError):
    """The API key was missing or refused (HTTP 401/403)."""


class InsufficientCreditsError(APIStatusError):
    """HTTP 402: the account is out of credits. Never retried: top up, then submit again
    (no task was created)."""


class RateLimitError(APIStatusError):
    """Too many requests or too many active tasks (HTTP 429), after our retries."""

    def __init__(self, message: str, *, body: Any = None, retry_after: float | None = None) -> None:
        super().__init__(message, status_code=429, body=body)
        self.retry_after = retry_after


class TaskError(FluxCannyError):
    """The task reached a final status that is not Ready."""

    def __init__(
        self,
        message: str,
        *,
        task_id: str,
        polling_url: str | None,
        status: str,
        result: Any = None,
    ) -> None:
        super().__init__(message)
        self.attach_task(task_id, polling_url)
        self.status = status
        self.result = result

    @classmethod
    def about(cls, message: str, task: Any, result: Any) -> Self:
        """This error about `task` (its id and polling URL), with its last answer."""
        return cls(
            message,
            task_id=task.id,
            polling_url=task.polling_url,
            status=result.status,
            result=result,
        )


class ModerationError(TaskError):
    """The request or the generated content was moderated (no image)."""


class GenerationError(TaskError):
    """The server reported that the generation failed (Error / Failed)."""


class TaskNotFoundError(TaskError):
    """The server does not know this task id (expired, or from another key)."""


class WaitTimeoutError(TaskError, TimeoutError):
    """We stopped waiting; the task may still finish. Resume with its id or polling URL."""


class SampleExpiredError(FluxCannyError):
    """The result image URL expired before it could be downloaded (URLs last ~10 minutes)."""
