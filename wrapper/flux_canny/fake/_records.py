"""The fake's records and answers: tasks, faults, requests seen, webhook deliveries, and
the small helpers that shape its responses as BFL's FastAPI server does."""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping
from typing import Any, Literal

import attrs
import httpx

from .._operations import CANNY
from .._spec import Spec

#: where the fake answers polls
RESULT_PATH = "/v1/get_result"
#: where its delivery host serves samples
DELIVERY_PREFIX = "/results/"

FaultKind = Literal["status", "connect", "drop", "slow", "malformed", "not-found-404", "answer"]

#: what `answer_next` sends: a JSON value (any shape), raw bytes, or a function of the
#: answer the fake would have given (its JSON, None when it has none or did not process)
AnswerBody = Callable[[Any], Any] | bytes | Any

#: what BFL says with each status a fault can inject
FAULT_WORDS = {
    402: "Insufficient credits",  # docs.bfl.ai: "402: out of credits"
    403: "Forbidden",
    404: "Not Found",
    429: "Too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}


@attrs.define
class Fault:
    """One injected failure. `status`, `connect`: the request is not processed; `drop`,
    `slow`, `malformed`: it is processed (a task may be created) and the answer is lost,
    late or garbled: the cases where a client must not submit twice. `answer`: the answer
    is replaced by `body` (see `FakeBFL.answer_next`), after processing if `process`."""

    kind: FaultKind
    status: int = 500
    delay: float = 0.0
    retry_after: float | None = None
    path: str | None = None
    path_task: str | None = None
    body: AnswerBody = None
    process: bool = True
    #: answer_next's status (None: the one the fake would have answered)
    answer_status: int | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path == self.path or path.startswith(self.path)


@attrs.frozen
class Drift:
    path: str
    drop: tuple[str, ...]
    replace: dict[str, Any]
    status: int | None


def walk(body: Any, parents: list[str]) -> Any:
    for part in parents:
        body = body.get(part) if isinstance(body, dict) else None
    return body


@attrs.frozen
class Reply:
    """The core's answer: a response, and what the I/O face must do to it."""

    response: httpx.Response
    fault: FaultKind | None = None
    delay: float = 0.0


@attrs.frozen
class RequestRecord:
    method: str
    host: str
    path: str
    key: str | None
    status: int
    #: the task the request created (a submit) or asked about (a poll, a download)
    task_id: str | None = None
    #: the fault that met it, if any ("drop", "answer", "held"...)
    fault: str | None = None


@attrs.frozen
class WebhookDelivery:
    url: str
    payload: dict[str, Any]
    headers: dict[str, str]


@attrs.define
class FakeTask:
    """A task as the fake holds it (the client's own is `flux_canny.Task`)."""

    id: str
    key: str
    body: dict[str, Any]
    created_at: float
    duration: float
    outcome: str
    seed: int
    webhook_url: str | None
    webhook_secret: str | None
    webhook_sent: bool = False
    #: the operation's name ("flux-2-pro"): what the task draws, and how
    operation: str = CANNY


def renderer() -> Any:
    """The image renderer (numpy and Pillow: the [fake] extra), or what to install."""
    try:
        from . import _render
    except ImportError as missing:
        from ..errors import ConfigurationError

        raise ConfigurationError(
            f"the fake BFL API draws its images with {missing.name}, which comes with the "
            "[fake] extra: pip install 'flux-canny[fake]'"
        ) from None
    return _render


#: queue_outcomes() names for polls that end in a status code other than 200
TERMINAL_CODES = {"terminal-422": 422, "terminal-503": 503}
TERMINAL_STATUSES = {"terminal-422": "Error", "terminal-503": "Error"}


def task_body(task_id: str, status: str) -> dict[str, Any]:
    return {
        "id": task_id,
        "status": status,
        "result": None,
        "progress": None,
        "details": None,
        "preview": None,
    }


def constrained(spec: Spec, constraints: Mapping[str, Mapping[str, Any]]) -> Spec:
    """The spec with some request fields' rules changed: keys of a field's schema to set
    ("maximum": 60, "type": "string", "enum": [...]), None to drop one, and "required"
    True/False to make the field required or not."""
    if not constraints:
        return spec
    document = copy.deepcopy(dict(spec.document))
    name = spec.request_schema_name()
    schema = document["components"]["schemas"][name]
    required = list(schema.get("required", []))
    for field, changes in constraints.items():
        prop = schema["properties"][field]
        branches = prop.get("anyOf")
        if branches:  # the non-null branch, inlined so an enum $ref can change here alone
            index = next(i for i, b in enumerate(branches) if b.get("type") != "null")
            target = dict(spec.resolve(branches[index]))
            branches[index] = target
        else:
            target = prop
        for key, value in changes.items():
            if key == "required":
                required = [r for r in required if r != field] + ([field] if value else [])
            elif value is None:
                target.pop(key, None)
            else:
                target[key] = value
    schema["required"] = required
    return Spec(document)


def seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def json_answer(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def answer_422(errors: list[dict[str, Any]]) -> httpx.Response:
    return json_answer(422, {"detail": errors})


def missing_query(name: str) -> httpx.Response:
    """FastAPI's answer to a missing required query parameter."""
    return answer_422(
        [{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}]
    )
