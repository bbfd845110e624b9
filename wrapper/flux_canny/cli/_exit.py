"""Exit codes, and the one line each error becomes on stderr.

Scripts branch on the exit status, so every failure class has its own number and the
numbers are part of the interface (documented in `flux-canny --help` and the README).
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Sequence

import click

from .._base import DEFAULT_BASE_URL
from ..errors import (
    APIStatusError,
    ConfigurationError,
    FluxCannyError,
    ImageInputError,
    InvalidArgumentError,
    MissingAPIKeyError,
    ModerationError,
    RequestValidationError,
    SampleExpiredError,
    TaskError,
    TaskNotFoundError,
    WaitTimeoutError,
    clean,
    redact,
)

__all__ = [
    "EXIT_BAD_INPUT",
    "EXIT_CODES_HELP",
    "EXIT_ERROR",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_REJECTED",
    "EXIT_TASK_FAILED",
    "EXIT_TIMEOUT",
    "BadInput",
    "exit_code_for",
    "one_line",
    "outcome_word",
    "resume_command",
]

EXIT_OK = 0
EXIT_ERROR = 1  # anything else: unreachable API, an uncertain submit, a bug
EXIT_BAD_INPUT = 2  # nothing was sent: usage, parameters, image, key, output path
EXIT_REJECTED = 3  # the API refused the request (401/403, 422, 429 after retries, 5xx)
EXIT_TASK_FAILED = 4  # the task ended without an image: moderated, failed, expired
EXIT_TIMEOUT = 5  # we stopped waiting; the task may still finish (resume it)
EXIT_INTERRUPTED = 130  # Ctrl-C; a submitted task can be resumed

EXIT_CODES_HELP = """\b
Exit status:
  0    success
  1    other errors (API unreachable, a submit that may or may not have arrived)
  2    bad input, nothing was sent (parameters, image, API key, output path)
  3    the API rejected the request (key refused, 422, rate limit, server error)
  4    the task ended without an image (moderated, failed, not found, URL expired)
  5    timed out waiting; the task may still finish: resume it with `result`
  130  interrupted (Ctrl-C); a submitted task can be resumed with `result`"""


class BadInput(click.ClickException):
    """Something the user gave cannot work; found before any network call."""

    exit_code = EXIT_BAD_INPUT


def exit_code_for(error: BaseException) -> int:
    if isinstance(error, KeyboardInterrupt):
        return EXIT_INTERRUPTED
    if isinstance(error, click.ClickException):
        return int(error.exit_code)
    if isinstance(
        error,
        RequestValidationError
        | InvalidArgumentError
        | ImageInputError
        | MissingAPIKeyError
        | ConfigurationError
        | FileExistsError,
    ):
        return EXIT_BAD_INPUT
    if isinstance(error, WaitTimeoutError):
        return EXIT_TIMEOUT
    if isinstance(error, TaskError | SampleExpiredError):
        return EXIT_TASK_FAILED
    if isinstance(error, APIStatusError):
        return EXIT_REJECTED
    return EXIT_ERROR


def outcome_word(error: BaseException) -> str:
    """The journal's word for how a task ended."""
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    if isinstance(error, WaitTimeoutError):
        return "timeout"
    if isinstance(error, ModerationError):
        return "moderated"
    if isinstance(error, TaskNotFoundError):
        return "not found"
    if isinstance(error, SampleExpiredError):
        return "expired"
    if isinstance(error, TaskError):
        return "failed"
    return "error"


#: the library's argument names as the command line says them, where a message names one
_FLAGS = (
    (re.compile(r"\(api_key= / --api-key / "), "(--api-key / "),
    (re.compile(r"(?<![\w-])api_key=(\.\.\.)?"), "--api-key"),
    (re.compile(r"\(base_url= / "), "(--base-url / "),
    (re.compile(r"(?<![\w-])base_url="), "--base-url"),
    (re.compile(r"(?<![\w-])cost_per_task=?"), "--cost-per-task"),
    (re.compile(r"(?<![\w-])max_cost=?"), "--max-cost"),
)


def _in_flags(text: str) -> str:
    """A library message in the command line's words: `--max-cost 7`, never `max_cost=`."""
    for pattern, flag in _FLAGS:
        text = pattern.sub(flag, text)
    return text


def one_line(error: BaseException) -> str:
    """The error as one line: its message, and how to resume when a task exists."""
    if isinstance(error, click.ClickException):
        text = error.format_message()
    elif isinstance(error, FileExistsError):
        text = f"{error.filename} exists; pass --force to overwrite it"
    elif isinstance(error, FluxCannyError):
        # without the Python API's resume hint; OSError-shaped ones keep their errno text
        text = (OSError if isinstance(error, OSError) else Exception).__str__(error)
    else:
        text = str(error) or type(error).__name__
        if not isinstance(error, OSError):
            text = f"{type(error).__name__}: {text}"
    text = _in_flags(" ".join(clean(text).split()))  # server words: no escape sequences
    task_id = getattr(error, "task_id", None)
    resumable = isinstance(error, WaitTimeoutError) or not isinstance(
        error, TaskError | SampleExpiredError
    )
    if task_id and resumable:
        hint = _resume_note(error)
        polling_url = getattr(error, "polling_url", None)
        text += f"; resume with: {hint or resume_command(task_id, polling_url)}"
    elif task_id and task_id not in text:
        text += f" (task {task_id})"
    return text


#: the note (PEP 678) that carries the exact resume command, where the command that failed
#: knows it (its output path and base URL)
_RESUME_NOTE = "flux-canny resume: "


def remember_resume(error: BaseException, command: str) -> None:
    """Say `command` when `error` is reported (see one_line)."""
    error.add_note(redact(_RESUME_NOTE + command))


def _resume_note(error: BaseException) -> str | None:
    for note in reversed(getattr(error, "__notes__", ())):
        if isinstance(note, str) and note.startswith(_RESUME_NOTE):
            return note[len(_RESUME_NOTE) :]
    return None


def resume_command(
    task_id: str,
    polling_url: str | None,
    *,
    output: str | None = None,
    base_url: str | None = None,
    extra: Sequence[str] = (),
) -> str:
    """The exact command that waits for `task_id` and downloads it."""
    words = ["flux-canny", "result", task_id]
    if polling_url:
        words += ["--polling-url", polling_url]
    if base_url and base_url.rstrip("/") != DEFAULT_BASE_URL:
        words += ["--base-url", base_url]
    if output:
        words += ["-o", output]
    words += list(extra)
    return shlex.join(words)
