"""Submitting: the body checked and built before any network call, then one POST.

The POST is the one paid request. It is written to the ledger as `sending` before it
leaves, moved to `submitted` with the task id when the answer comes, and to `uncertain`
when anything (an error, Ctrl-C, a cancellation) leaves its outcome unknown: a submit is
never retried once it may have reached the server. The flows take the `Exchange` they
send through, and `build_body` the validators, never the core.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._effects import Failed, Flow, Record
from ._image_formats import image_label
from ._operations import Operation, did_you_mean, operation, taken_elsewhere
from ._spec import not_utf8
from ._wire import SubmitBody, submit_body
from .errors import (
    FluxCannyError,
    ImageInputError,
    RequestValidationError,
    SubmitUncertainError,
    UnknownParameterError,
)
from .images import base64_control_image
from .models import Task, UnreadableAnswer
from .validation import jsonable

if TYPE_CHECKING:
    from ._exchange import Exchange
    from .ledger import Ledger
    from .validation import RequestValidator

__all__ = ["build_body", "submit"]

log = logging.getLogger("flux_canny")


def _row(row: int | None) -> int:
    assert row is not None  # set whenever a ledger is
    return row


def _check_encodable(body: Mapping[str, Any]) -> None:
    """Refuse, as pydantic would, what cannot be sent as JSON in UTF-8: text with a lone
    surrogate (from a mis-decoded file name), and with `validate=False` a NaN, bytes or
    any object JSON has no form for. Each was found by the encoder after validation
    said yes, a bare ValueError or TypeError."""
    errors = []
    for name, value in body.items():
        error = _unsendable(value)
        if error is not None:
            errors.append({**error, "loc": ["body", name]})
    if errors:
        raise RequestValidationError(errors)


def _unsendable(value: Any) -> dict[str, Any] | None:
    """Why `value` cannot be a field of the JSON body, or None when it can."""
    if isinstance(value, str):
        return not_utf8(value)
    if isinstance(value, float) and not math.isfinite(value):
        return {
            "type": "finite_number",
            "msg": "Input should be a finite number",
            "input": str(value),
        }
    try:
        json.dumps(value, ensure_ascii=False, allow_nan=False).encode("utf-8")
    except (ValueError, TypeError, RecursionError) as exc:
        return {
            "type": "json_type",
            "msg": f"Input cannot be sent as JSON ({exc})",
            "input": jsonable(value),
        }
    return None


def _unknown(op: Operation, names: frozenset[str], fields: Mapping[str, Any]) -> None:
    """Refuse fields the endpoint has not, naming the nearest of its own and the other
    endpoints that take a field given to the wrong one."""
    unknown = sorted(set(fields) - names)
    if not unknown:
        return
    valid = ", ".join(sorted(names))
    details = []
    for name in unknown:
        elsewhere = taken_elsewhere(name, op.name)
        where = (
            f"; {name!r} is a field of "
            + ", ".join(elsewhere[:4])
            + (", ..." * (len(elsewhere) > 4))
            if elsewhere
            else ""
        )
        details.append(
            {
                "type": "extra_forbidden",
                "loc": ["body", name],
                "msg": f"unknown request parameter of {op.name}{did_you_mean(name, names)}"
                f"{where}; valid: {valid}",
                "input": jsonable(fields[name]),
            }
        )
    raise UnknownParameterError(details)


def _required(op: Operation, fields: Mapping[str, Any]) -> None:
    """The required fields absent, as the server would say (`validate=False` skips every
    other check, never this one: the generated model cannot be built without them)."""
    missing = sorted(op.required - set(fields))
    if missing:
        raise RequestValidationError(
            [
                {"type": "missing", "loc": ["body", name], "msg": "Field required", "input": None}
                for name in missing
            ]
        )


def _is_url(op: Operation, name: str, value: Any) -> bool:
    """An https address given where the spec says the field takes one: sent as it is
    (its scheme in any case, as URLs have it: "HTTPS://" was refused as a web address
    given to a field that takes none). One that names no host is refused here: sent, it
    was the server's to reject, after the request."""
    if not (name in op.url_fields and isinstance(value, str) and value[:8].lower() == "https://"):
        return False
    try:
        host = httpx.URL(value).host
    except httpx.InvalidURL:
        host = ""
    if not host:
        raise ImageInputError(f"the {image_label(name)} address {value!r:.80} names no host")
    return True


def build_body(
    validators: Callable[[str], RequestValidator],
    endpoint: str,
    fields: Mapping[str, Any],
    check: bool,
    *,
    advised: set[bytes] | None = None,
) -> SubmitBody:
    """Validate the fields of `endpoint`'s request (by `validators(name)`'s verdict, when
    `check`), then encode its images: all before any network call. `advised`: the images
    already warned about in this run (see `base64_control_image`)."""
    op = operation(endpoint)
    validator = validators(op.name)
    _unknown(op, validator.field_names, fields)
    body: dict[str, Any] = {}
    images: dict[str, Any] = {}
    for name, value in fields.items():
        required = name in op.required
        if (
            name in op.image_fields
            and (value is not None or required)
            and not _is_url(op, name, value)
        ):
            images[name] = value
        else:
            body[name] = value
    if check:  # an image is checked as an image, below, not as the string it will become
        body = validator.normalise({**body, **dict.fromkeys(images, "")})
    else:  # unchecked, a required field must still be there for the body to be built
        _required(op, {**body, **images})
    for name in images:
        body.pop(name, None)
    _check_encodable(body)
    encoded = {
        name: base64_control_image(image, advised=advised, field=name)  # errors name the field
        for name, image in images.items()
    }
    return submit_body(body, encoded, op)


# -- one request, with the retry rules ------------------------------------------------


def submit(exchange: Exchange, body: SubmitBody, *, row: int | None = None) -> Flow[Task]:
    """POST once (retried only where no task can exist), written ahead in the ledger.

    `row` is a ledger row claimed for this submit (a batch job); without one a row is
    made. A LedgerError here is raised before anything is sent.
    """
    if exchange.ledger is not None:
        row = yield from _write_ahead(exchange, exchange.ledger, row, body)
    inflight = [False]
    try:
        task, handled = yield from exchange.stamped(
            exchange.send(
                exchange.request(body.request, operation=body.operation),
                what="submit",
                idempotent=False,
                parse=lambda response: _parse_task(exchange, response),
            ),
            inflight,
        )
    except BaseException as error:
        if row is not None:
            yield from _record_unsent(exchange, row, error, sending=inflight[0])
        raise
    yield from exchange.record(
        lambda ledger: ledger.submitted(_row(row), task.id, task.polling_url), task.id
    )
    task = attrs.evolve(task, handled_at=handled, operation=body.operation)
    log.info("submitted task %s", task.id)
    return task


def _write_ahead(
    exchange: Exchange, ledger: Ledger, row: int | None, body: SubmitBody
) -> Flow[int]:
    """The `sending` row, committed before the POST; a failure to write it is raised.

    Interrupted while it is written (the async face waits for the write to end), the row
    exists and nothing was sent: it is marked so, and no run will take it for uncertain.
    """
    written: list[int] = []
    try:
        outcome = yield Record(
            lambda: written.append(
                ledger.sending(row, base_url=str(exchange.origin(body.operation)), **body.summary)
            )
        )
    except BaseException as error:
        if written:
            yield from _record_unsent(exchange, written[0], error, sending=False)
        raise
    if isinstance(outcome, Failed):
        raise outcome.error
    return written[0]


def _record_unsent(
    exchange: Exchange, row: int, error: BaseException, *, sending: bool
) -> Flow[None]:
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
        yield from exchange.record(lambda ledger: ledger.uncertain(row, said, task_id=task_id))
    else:
        yield from exchange.record(lambda ledger: ledger.rejected(row, said))


def _parse_task(exchange: Exchange, response: httpx.Response) -> Task:
    """The submit answer, read once against the spec's shape. The POST was sent and
    answered, so a task may exist whatever the answer says: one that cannot be read is
    SubmitUncertainError (naming the task when its id could be read), and the job is
    uncertain, never submitted again on a guess."""
    try:
        body = json.loads(response.content)
        return Task.from_body(body, submitted_at=exchange.clock.monotonic())
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
