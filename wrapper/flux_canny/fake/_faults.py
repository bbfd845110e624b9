"""The fake's knobs for failure: faults on the next requests, final outcomes, drift from
the spec. Methods of FakeBFL, written as functions of it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._holds import DEFAULT_HOLD_TIMEOUT, HeldRequest
from ._records import (
    FAULT_WORDS,
    RESULT_PATH,
    AnswerBody,
    Drift,
    Fault,
    FaultKind,
    Reply,
    json_answer,
    seconds,
    task_body,
    walk,
)

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from .core import FakeBFL


def fail_next(
    fake: FakeBFL,
    count: int = 1,
    kind: FaultKind | int = 500,
    *,
    path: str | None = None,
    delay: float = 0.0,
    retry_after: float | None = None,
) -> None:
    """Fail the next `count` matching requests. `kind` is an HTTP status (500, 502,
    503, 429...) or one of "connect", "drop", "slow", "malformed"."""
    if kind == "not-found-404":  # a regional store that does not know the task yet
        path = path or RESULT_PATH
    fault = (
        Fault("status", status=kind, retry_after=retry_after, path=path)
        if isinstance(kind, int)
        else Fault(kind, delay=delay, path=path)
    )
    with fake._lock:
        fake._faults.extend(attrs.evolve(fault) for _ in range(count))


def answer_next(
    fake: FakeBFL,
    count: int = 1,
    *,
    body: AnswerBody,
    path: str | None = None,
    status: int | None = None,
    process: bool = True,
) -> None:
    """Answer the next `count` matching requests with `body`, any JSON value (NaN, huge
    integers, lists, null...), raw bytes, or a function of the answer the fake would have
    given (its JSON, or None) to the one to send. `process=True`: the request is handled
    first (a submit creates its task); False: it is not. `status`: the answer's status
    (default: the one the fake would have given, 200 when not processed)."""
    fault = Fault("answer", path=path, body=body, process=process, answer_status=status)
    with fake._lock:
        fake._faults.extend(attrs.evolve(fault) for _ in range(count))


def answer(given: httpx.Response | None, fault: Fault) -> Reply:
    """The reply `answer_next` asked for, from the fake's own (None: not processed)."""
    body = fault.body
    if callable(body):
        original: Any = None
        if given is not None:
            try:
                original = json.loads(given.content)
            except ValueError:
                original = None
        body = body(original)
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    status = fault.answer_status or (given.status_code if given is not None else 200)
    headers = {"content-type": "application/json"}
    return Reply(httpx.Response(status, content=content, headers=headers))


def echo(response: httpx.Response, key: str) -> httpx.Response:
    """An error answer that repeats the key it was sent (see FakeBFL's `echo_key`)."""
    said = f"(x-key: {key})"
    try:
        body: Any = json.loads(response.content)
    except ValueError:
        return httpx.Response(
            response.status_code,
            content=response.content + f" {said}".encode(),
            headers={"content-type": response.headers.get("content-type", "text/plain")},
        )
    if isinstance(body, dict) and isinstance(body.get("detail"), str):
        body["detail"] = f"{body['detail']} {said}"
    elif isinstance(body, dict) and isinstance(body.get("detail"), list):
        for item in body["detail"]:
            if isinstance(item, dict):
                item["msg"] = f"{item.get('msg', '')} {said}"
    else:
        body = {"detail": f"{body} {said}"}
    skip = {"content-length", "content-type"}
    headers = {k: v for k, v in response.headers.items() if k.lower() not in skip}
    return httpx.Response(response.status_code, json=body, headers=headers)


def hold_next(
    fake: FakeBFL,
    nth: int = 1,
    *,
    path: str | None = None,
    method: str | None = None,
    after: bool = False,
    timeout: float = DEFAULT_HOLD_TIMEOUT,
) -> HeldRequest:
    """Hold the `nth` request matching `method` and `path` (a prefix) from now on: before
    it is handled, or `after` (handled, its answer not yet sent). The serving thread waits
    until the hold is released (at most `timeout` seconds); see HeldRequest."""
    hold = HeldRequest(nth, path=path, method=method, after=after, timeout=timeout)
    with fake._lock:
        fake._holds.append(hold)
    return hold


def cancel_holds(fake: FakeBFL) -> None:
    """Disarm the holds whose request has not come, and let go of any held now."""
    with fake._lock:
        holds, fake._holds = fake._holds, []
    for hold in holds:
        hold.release()


def take_hold(fake: FakeBFL, request: httpx.Request) -> HeldRequest | None:
    """The hold this request falls under, if it is some armed hold's Nth."""
    if not fake._holds:  # read without the lock: the common case costs nothing
        return None
    with fake._lock:
        for hold in list(fake._holds):
            if hold.matches(request.method, request.url.path):
                hold.seen += 1
                if hold.seen >= hold.nth:
                    fake._holds.remove(hold)
                    return hold
    return None


def clear_faults(fake: FakeBFL) -> None:
    """Forget the faults not yet used: the outage is over."""
    with fake._lock:
        fake._faults.clear()


def queue_outcomes(fake: FakeBFL, *statuses: str) -> None:
    """Final statuses for the next tasks, in order (default "Ready")."""
    with fake._lock:
        fake._outcomes.extend(statuses)


def drift(
    fake: FakeBFL,
    path: str,
    *,
    drop: Iterable[str] = (),
    replace: Mapping[str, Any] | None = None,
    status: int | None = None,
) -> None:
    """Make successful JSON answers on `path` differ from the spec, as the live API
    sometimes does: `drop` fields and `replace` values (dotted paths such as
    "result.seed"), or answer with another 2xx `status`. Stays until `drift_off()`."""
    with fake._lock:
        fake._drifts.append(Drift(path, tuple(drop), dict(replace or {}), status))


def drift_off(fake: FakeBFL) -> None:
    with fake._lock:
        fake._drifts.clear()


def drifted(fake: FakeBFL, path: str, response: httpx.Response) -> httpx.Response:
    if not fake._drifts or response.status_code != 200:
        return response
    drifts = [d for d in fake._drifts if path.startswith(d.path)]
    if not drifts:
        return response
    body = json.loads(response.content)
    status = response.status_code
    for drift in drifts:
        for dotted in drift.drop:
            *parents, leaf = dotted.split(".")
            node = walk(body, parents)
            if isinstance(node, dict):
                node.pop(leaf, None)
        for dotted, value in drift.replace.items():
            *parents, leaf = dotted.split(".")
            node = walk(body, parents)
            if isinstance(node, dict):
                node[leaf] = value
        status = drift.status or status
    skip = {"content-length", "content-type"}
    headers = {k: v for k, v in response.headers.items() if k.lower() not in skip}
    return httpx.Response(status, json=body, headers=headers)


def fault_reply(fake: FakeBFL, fault: Fault) -> Reply:
    if fault.kind == "connect":
        return Reply(httpx.Response(599), fault="connect")
    headers = {}
    if fault.status == 429:
        headers["retry-after"] = seconds(
            fault.retry_after if fault.retry_after is not None else fake.retry_after
        )
    if fault.kind == "not-found-404":
        return Reply(json_answer(404, task_body(fault.path_task or "unknown", "Task not found")))
    said = FAULT_WORDS.get(fault.status, "Internal Server Error")
    return Reply(httpx.Response(fault.status, json={"detail": said}, headers=headers))


def garble(reply: Reply, fault: Fault) -> Reply:
    if fault.kind == "malformed":
        response = httpx.Response(
            reply.response.status_code,
            content=b'{"id": "trunc',
            headers={"content-type": "application/json"},
        )
        return Reply(response)
    return Reply(reply.response, fault=fault.kind, delay=fault.delay)
