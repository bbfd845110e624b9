"""What the fake says about a task: its status and progress as time passes, its final
answer (in the live shape, or the spec's), and its image from the delivery host: the
canny finetune's edge map of its control image, any other operation's rendering of its
first image input (or of its prompt), in the format and size the request asked for."""

from __future__ import annotations

import hashlib
import hmac
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import httpx

from ._records import (
    DELIVERY_PREFIX,
    TERMINAL_CODES,
    TERMINAL_STATUSES,
    FakeTask,
    json_answer,
    missing_query,
    task_body,
)

if TYPE_CHECKING:
    from .core import FakeBFL


def in_flight_status(fake: FakeBFL, fraction: float) -> str:
    if fake.pending_status is not None:
        return fake.pending_status
    if fake.spec_only:
        return "Pending"
    # live runs report Pending, then Reasoning, then Generating (the spec lists only
    # Pending): DEVELOPERS.md's facts, issue #15's sources
    return "Pending" if fraction < 0.2 else "Reasoning" if fraction < 0.4 else "Generating"


def result_answer(fake: FakeBFL, task: FakeTask) -> tuple[int, dict[str, Any]]:
    """(status code, body) of a poll: 200 unless the live API ends it otherwise."""
    now = fake.clock.monotonic()
    elapsed = now - task.created_at
    if elapsed < task.duration:
        fraction = elapsed / task.duration
        body = task_body(task.id, in_flight_status(fake, fraction))
        body["progress"] = round(fraction, 4) if fake.report_progress else None
        return 200, body
    terminal = TERMINAL_CODES.get(task.outcome)
    if terminal is not None and not fake.spec_only:
        # live: a poll may end in 422 or 503 with a terminal Error body
        body = task_body(task.id, "Error")
        body["details"] = {"error": f"fake failure ({task.outcome})"}
        return terminal, body
    if task.outcome != "Ready":
        body = task_body(task.id, TERMINAL_STATUSES.get(task.outcome, task.outcome))
        if fake.spec_only:
            body["details"] = {"reason": f"fake outcome {task.outcome}"}
        elif "Moderated" in task.outcome:  # live: the reasons in a list under this key
            body["details"] = {"Moderation Reasons": [f"fake {task.outcome.lower()}"]}
        else:
            body["details"] = {"error": f"fake outcome {task.outcome}"}
        return 200, body
    fmt = _setting(fake, task, "output_format")
    ext = fmt if fmt in ("png", "webp") else "jpg"
    expires = now + fake.sample_ttl
    sig = sign(fake, f"{task.id}:{expires!r}")
    sample = f"{fake.delivery_base}{DELIVERY_PREFIX}{task.id}/sample.{ext}?se={expires!r}&sig={sig}"
    # live: start and end are epoch seconds
    offset = 0.0 if fake.spec_only else fake._epoch_offset
    body = task_body(task.id, "Ready")
    body["result"] = {
        "sample": sample,
        "prompt": task.body.get("prompt"),
        "seed": task.seed,
        "start_time": task.created_at + offset,
        "end_time": task.created_at + task.duration + offset,
        "duration": task.duration,
    }
    return 200, body


def result_body(fake: FakeBFL, task: FakeTask) -> dict[str, Any]:
    return result_answer(fake, task)[1]


def get_result(fake: FakeBFL, request: httpx.Request) -> httpx.Response:
    task_id = request.url.params.get("id")
    if task_id is None:
        return missing_query("id")
    task = fake.tasks.get(task_id)
    wrong_region = fake.polling_host is not None and request.url.host != fake.polling_host
    # a store that learns of new tasks late: "not found" for a while after the submit
    not_yet = task is not None and fake.clock.monotonic() < task.created_at + fake.known_after
    if task is None or not_yet or (wrong_region and not fake.spec_only):
        # live: 404 with a task-shaped body (the spec documents only 200 and 422), also
        # for a task another region holds
        return json_answer(200 if fake.spec_only else 404, task_body(task_id, "Task not found"))
    status, body = result_answer(fake, task)
    return json_answer(status, body)


def download(fake: FakeBFL, request: httpx.Request) -> httpx.Response:
    parts = request.url.path[len(DELIVERY_PREFIX) :].split("/")
    params = parse_qs(request.url.query.decode())
    task = fake.tasks.get(parts[0]) if parts else None
    try:
        expires = float(params["se"][0])
        valid = hmac.compare_digest(params["sig"][0], sign(fake, f"{parts[0]}:{expires!r}"))
    except (KeyError, ValueError, IndexError):
        valid, expires = False, 0.0
    if task is None or not valid:
        return httpx.Response(404, text="BlobNotFound: The specified blob does not exist.")
    if fake.clock.monotonic() > expires:
        return httpx.Response(403, text="AuthenticationFailed: Signed expiry time has passed.")
    if task.id not in fake._renders:
        fake._renders[task.id] = _draw(fake, task)
        # the sample is drawn: the image inputs are no longer needed (megabytes a task)
        for field in fake.operations[task.operation].image_fields:
            task.body.pop(field, None)
    data, fmt = fake._renders[task.id]
    return httpx.Response(200, content=data, headers={"content-type": f"image/{fmt}"})


def _setting(fake: FakeBFL, task: FakeTask, field: str) -> Any:
    """A request field as the server reads it: as sent, else the operation's default."""
    if task.body.get(field) is not None:
        return task.body[field]
    operation = fake.operations[task.operation]
    schema = fake.validator_for(operation).schema.get("properties", {}).get(field, {})
    return schema.get("default")


def _draw(fake: FakeBFL, task: FakeTask) -> tuple[bytes, str]:
    body = task.body
    fmt = str(_setting(fake, task, "output_format") or "jpeg")
    if "control_image" in body:
        return fake._render.render(  # type: ignore[no-any-return]
            body["control_image"],
            body.get("canny_low_threshold", 50),
            body.get("canny_high_threshold", 200),
            task.seed,
            fmt,
        )
    operation = fake.operations[task.operation]
    first = next((body[f] for f in operation.image_fields if isinstance(body.get(f), str)), None)
    return fake._render.render_inputs(  # type: ignore[no-any-return]
        first,
        body.get("prompt"),
        task.seed,
        fmt,
        width=_setting(fake, task, "width"),
        height=_setting(fake, task, "height"),
        aspect_ratio=_setting(fake, task, "aspect_ratio"),
    )


def sign(fake: FakeBFL, text: str) -> str:
    return hmac.new(fake._secret, text.encode(), hashlib.sha256).hexdigest()[:32]
