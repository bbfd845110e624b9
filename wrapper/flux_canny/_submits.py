"""Submitting: the body checked and built before any network call, then one POST.

The POST is the one paid request. It is written to the ledger as `sending` before it
leaves, moved to `submitted` with the task id when the answer comes, and to `uncertain`
when anything (an error, Ctrl-C, a cancellation) leaves its outcome unknown: a submit is
never retried once it may have reached the server.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._effects import Failed, Flow, Record
from ._wire import SubmitBody, submit_body
from .errors import (
    FluxCannyError,
    RequestValidationError,
    SubmitUncertainError,
    UnknownParameterError,
)
from .images import base64_control_image
from .models import Task, UnreadableAnswer
from .validation import did_you_mean

if TYPE_CHECKING:
    from ._flow import Core
    from .ledger import Ledger

__all__ = ["build_body", "submit"]

log = logging.getLogger("flux_canny")


def _row(row: int | None) -> int:
    assert row is not None  # set whenever a ledger is
    return row


def _check_encodable(body: Mapping[str, Any]) -> None:
    """Text that cannot become UTF-8 (a lone surrogate from a mis-decoded file name) is
    refused as pydantic would, not found by the encoder after validation said yes."""
    errors = []
    for name, value in body.items():
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errors.append(
                {
                    "type": "string_unicode",
                    "loc": ["body", name],
                    "msg": "Input should be a valid string, unable to parse raw data as a "
                    "unicode string",
                    "input": value.encode("utf-8", "backslashreplace").decode("utf-8"),
                }
            )
    if errors:
        raise RequestValidationError(errors)


def build_body(
    core: Core,
    control_image: Any,
    prompt: Any,
    finetune_id: Any,
    params: Mapping[str, Any],
    validate: bool | None,
    *,
    advised: set[bytes] | None = None,
) -> SubmitBody:
    """Validate the parameters, then encode the image: all before any network call.
    `advised`: the images already warned about in this run (see `base64_control_image`)."""
    names = core.validator.field_names
    unknown = sorted(set(params) - names)
    if unknown:
        valid = ", ".join(sorted(names))
        raise UnknownParameterError(
            [
                {
                    "type": "extra_forbidden",
                    "loc": ["body", name],
                    "msg": f"unknown request parameter{did_you_mean(name, names)}; valid: {valid}",
                    "input": params[name],
                }
                for name in unknown
            ]
        )
    body: dict[str, Any] = {**params, "prompt": prompt, "finetune_id": finetune_id}
    check = core.validate if validate is None else validate
    if check:
        body = core.validator.normalise({**body, "control_image": ""})
    body.pop("control_image", None)
    _check_encodable(body)
    return submit_body(body, base64_control_image(control_image, advised=advised))


# -- one request, with the retry rules ------------------------------------------------


def submit(core: Core, body: SubmitBody, *, row: int | None = None) -> Flow[Task]:
    """POST once (retried only where no task can exist), written ahead in the ledger.

    `row` is a ledger row claimed for this submit (a batch job); without one a row is
    made. A LedgerError here is raised before anything is sent.
    """
    if core.ledger is not None:
        row = yield from _write_ahead(core, core.ledger, row, body)
    inflight = [False]
    try:
        task, handled = yield from core._stamped(
            core._send(
                core.request(body.request),
                what="submit",
                idempotent=False,
                parse=lambda response: _parse_task(core, response),
            ),
            inflight,
        )
    except BaseException as error:
        if row is not None:
            yield from _record_unsent(core, row, error, sending=inflight[0])
        raise
    yield from core._record(
        lambda ledger: ledger.submitted(_row(row), task.id, task.polling_url), task.id
    )
    task = attrs.evolve(task, handled_at=handled)
    log.info("submitted task %s", task.id)
    return task


def _write_ahead(core: Core, ledger: Ledger, row: int | None, body: SubmitBody) -> Flow[int]:
    """The `sending` row, committed before the POST; a failure to write it is raised.

    Interrupted while it is written (the async face waits for the write to end), the row
    exists and nothing was sent: it is marked so, and no run will take it for uncertain.
    """
    written: list[int] = []
    try:
        outcome = yield Record(
            lambda: written.append(ledger.sending(row, base_url=str(core.base_url), **body.summary))
        )
    except BaseException as error:
        if written:
            yield from _record_unsent(core, written[0], error, sending=False)
        raise
    if isinstance(outcome, Failed):
        raise outcome.error
    return written[0]


def _record_unsent(core: Core, row: int, error: BaseException, *, sending: bool) -> Flow[None]:
    """A submit that returned no task: uncertain where one may exist, else rejected."""
    task_id = None
    if isinstance(error, SubmitUncertainError):
        uncertain, said, task_id = True, str(error), error.task_id
    elif isinstance(error, FluxCannyError):
        uncertain, said = False, str(error)
    else:  # Ctrl-C, a cancellation, a bug: what matters is whether the POST was out
        kind = type(error).__name__
        uncertain = sending
        said = f"interrupted ({kind}) " + (
            "while the submit was sent" if sending else "before sending"
        )
    if uncertain:
        yield from core._record(lambda ledger: ledger.uncertain(row, said, task_id=task_id))
    else:
        yield from core._record(lambda ledger: ledger.rejected(row, said))


def _parse_task(core: Core, response: httpx.Response) -> Task:
    """The submit answer, read once against the spec's shape. The POST was sent and
    answered, so a task may exist whatever the answer says: one that cannot be read is
    SubmitUncertainError (naming the task when its id could be read), and the job is
    uncertain, never submitted again on a guess."""
    try:
        body = json.loads(response.content)
        return Task.from_body(body, submitted_at=core.clock.monotonic())
    except (ValueError, RecursionError) as error:
        task_id = error.task_id if isinstance(error, UnreadableAnswer) else None
        detail = error.args[0] if isinstance(error, UnreadableAnswer) else "it is not JSON"
        uncertain = SubmitUncertainError(
            f"submit: unreadable answer after the request was sent ({detail}); the task may "
            "exist and be billed, so it was not retried. Check your recent tasks "
            "(`flux-canny tasks`) before submitting again"
        )
        uncertain.attach_task(task_id, None)
        raise uncertain from None
