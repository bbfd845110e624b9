"""The fake's knobs for failure: faults on the next requests, final outcomes, drift from
the spec. Methods of FakeBFL, written as functions of it."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from ._records import (
    FAULT_WORDS,
    RESULT_PATH,
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
