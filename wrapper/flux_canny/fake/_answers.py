"""What the fake says about a task: its status and progress as time passes, its final
answer (in the live shape, or the spec's), and its image from the delivery host: the
canny finetune's edge map of its control image, any other operation's rendering of its
first image input (or of its prompt), in the format and size the request asked for.

`Answers` reads the tasks it answers for from the TaskStore and its behaviour from the
Knobs; the operations and their validators are handed to it, never FakeBFL."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import attrs
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
    from .._operations import Operation
    from ..clock import Clock
    from ..validation import RequestValidator
    from ._knobs import Knobs
    from ._store import TaskStore

__all__ = ["Answers"]


@attrs.define(eq=False)
class Answers:
    """The answers to polls and downloads, over the store's tasks."""

    knobs: Knobs
    store: TaskStore
    clock: Clock
    #: the operations served, by name
    operations: Mapping[str, Operation]
    #: each operation's request validator (its schema gives a field's default)
    validator_for: Callable[[Operation], RequestValidator]
    #: the image renderer (`_render`, the [fake] extra)
    render: Any
    #: what signs the delivery host's URLs
    secret: bytes
    #: epoch seconds at monotonic 0 (live answers say start and end as epoch seconds)
    epoch_offset: float

    def in_flight_status(self, fraction: float) -> str:
        if self.knobs.pending_status is not None:
            return self.knobs.pending_status
        if self.knobs.spec_only:
            return "Pending"
        # live runs report Pending, then Reasoning, then Generating (the spec lists only
        # Pending): DEVELOPERS.md's facts, issue #15's sources
        return "Pending" if fraction < 0.2 else "Reasoning" if fraction < 0.4 else "Generating"

    def result_answer(self, task: FakeTask) -> tuple[int, dict[str, Any]]:
        """(status code, body) of a poll: 200 unless the live API ends it otherwise."""
        now = self.clock.monotonic()
        elapsed = now - task.created_at
        if elapsed < task.duration:
            fraction = elapsed / task.duration
            body = task_body(task.id, self.in_flight_status(fraction))
            body["progress"] = round(fraction, 4) if self.knobs.report_progress else None
            return 200, body
        terminal = TERMINAL_CODES.get(task.outcome)
        if terminal is not None and not self.knobs.spec_only:
            # live: a poll may end in 422 or 503 with a terminal Error body
            body = task_body(task.id, "Error")
            body["details"] = {"error": f"fake failure ({task.outcome})"}
            return terminal, body
        if task.outcome != "Ready":
            body = task_body(task.id, TERMINAL_STATUSES.get(task.outcome, task.outcome))
            if self.knobs.spec_only:
                body["details"] = {"reason": f"fake outcome {task.outcome}"}
            elif "Moderated" in task.outcome:  # live: the reasons in a list under this key
                body["details"] = {"Moderation Reasons": [f"fake {task.outcome.lower()}"]}
            else:
                body["details"] = {"error": f"fake outcome {task.outcome}"}
            return 200, body
        fmt = self._setting(task, "output_format")
        ext = fmt if fmt in ("png", "webp") else "jpg"
        expires = now + self.knobs.sample_ttl
        sig = self.sign(f"{task.id}:{expires!r}")
        where = f"{self.knobs.delivery_base}{DELIVERY_PREFIX}{task.id}/sample.{ext}"
        sample = f"{where}?se={expires!r}&sig={sig}"
        # live: start and end are epoch seconds
        offset = 0.0 if self.knobs.spec_only else self.epoch_offset
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

    def result_body(self, task: FakeTask) -> dict[str, Any]:
        return self.result_answer(task)[1]

    def get_result(self, request: httpx.Request) -> httpx.Response:
        task_id = request.url.params.get("id")
        if task_id is None:
            return missing_query("id")
        task = self.store.tasks.get(task_id)
        wrong_region = (
            self.knobs.polling_host is not None and request.url.host != self.knobs.polling_host
        )
        # a store that learns of new tasks late: "not found" for a while after the submit
        not_yet = (
            task is not None and self.clock.monotonic() < task.created_at + self.knobs.known_after
        )
        if task is None or not_yet or (wrong_region and not self.knobs.spec_only):
            # live: 404 with a task-shaped body (the spec documents only 200 and 422), also
            # for a task another region holds
            return json_answer(
                200 if self.knobs.spec_only else 404, task_body(task_id, "Task not found")
            )
        status, body = self.result_answer(task)
        return json_answer(status, body)

    def download(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path[len(DELIVERY_PREFIX) :].split("/")
        params = parse_qs(request.url.query.decode())
        task = self.store.tasks.get(parts[0]) if parts else None
        try:
            expires = float(params["se"][0])
            valid = hmac.compare_digest(params["sig"][0], self.sign(f"{parts[0]}:{expires!r}"))
        except (KeyError, ValueError, IndexError):
            valid, expires = False, 0.0
        if task is None or not valid:
            return httpx.Response(404, text="BlobNotFound: The specified blob does not exist.")
        if self.clock.monotonic() > expires:
            return httpx.Response(403, text="AuthenticationFailed: Signed expiry time has passed.")
        if task.id not in self.store.renders:
            self.store.renders[task.id] = self._draw(task)
            # the sample is drawn: the image inputs are no longer needed (megabytes a task)
            for field in self.operations[task.operation].image_fields:
                task.body.pop(field, None)
        data, fmt = self.store.renders[task.id]
        return httpx.Response(200, content=data, headers={"content-type": f"image/{fmt}"})

    def _setting(self, task: FakeTask, field: str) -> Any:
        """A request field as the server reads it: as sent, else the operation's default."""
        if task.body.get(field) is not None:
            return task.body[field]
        operation = self.operations[task.operation]
        schema = self.validator_for(operation).schema.get("properties", {}).get(field, {})
        return schema.get("default")

    def _draw(self, task: FakeTask) -> tuple[bytes, str]:
        body = task.body
        fmt = str(self._setting(task, "output_format") or "jpeg")
        if "control_image" in body:
            return self.render.render(  # type: ignore[no-any-return]
                body["control_image"],
                body.get("canny_low_threshold", 50),
                body.get("canny_high_threshold", 200),
                task.seed,
                fmt,
            )
        operation = self.operations[task.operation]
        first = next(
            (body[f] for f in operation.image_fields if isinstance(body.get(f), str)), None
        )
        return self.render.render_inputs(  # type: ignore[no-any-return]
            first,
            body.get("prompt"),
            task.seed,
            fmt,
            width=self._setting(task, "width"),
            height=self._setting(task, "height"),
            aspect_ratio=self._setting(task, "aspect_ratio"),
        )

    def sign(self, text: str) -> str:
        return hmac.new(self.secret, text.encode(), hashlib.sha256).hexdigest()[:32]
