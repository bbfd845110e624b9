"""The fake's knobs for failure: faults on the next requests, holds, drift from the spec.

A FaultPlan owns what is armed (faults, holds, drifts) under the fake's lock; FakeBFL's
`fail_next`, `answer_next`, `hold_next`... arm it. The replies a fault makes are plain
functions of the fault."""

from __future__ import annotations

import functools
import json
import threading
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

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

__all__ = ["Arm", "FaultPlan", "answer", "echo", "fault_reply", "garble"]

P = ParamSpec("P")
R = TypeVar("R")


@attrs.define(eq=False)
class FaultPlan:
    """The failures armed for the next requests, taken as requests come."""

    #: the fake's lock: arming and taking happen under it
    lock: threading.RLock
    faults: deque[Fault] = attrs.field(factory=deque)
    holds: list[HeldRequest] = attrs.field(factory=list)
    drifts: list[Drift] = attrs.field(factory=list)

    def take(self, path: str) -> Fault | None:
        """The first armed fault matching `path`, disarmed (call under the lock)."""
        fault = next((f for f in self.faults if f.matches(path)), None)
        if fault is not None:
            self.faults.remove(fault)
        return fault

    def fail_next(
        self,
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
        with self.lock:
            self.faults.extend(attrs.evolve(fault) for _ in range(count))

    def answer_next(
        self,
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
        with self.lock:
            self.faults.extend(attrs.evolve(fault) for _ in range(count))

    def hold_next(
        self,
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
        with self.lock:
            self.holds.append(hold)
        return hold

    def cancel_holds(self) -> None:
        """Disarm the holds whose request has not come, and let go of any held now."""
        with self.lock:
            holds, self.holds = self.holds, []
        for hold in holds:
            hold.release()

    def take_hold(self, request: httpx.Request) -> HeldRequest | None:
        """The hold this request falls under, if it is some armed hold's Nth."""
        if not self.holds:  # read without the lock: the common case costs nothing
            return None
        with self.lock:
            for hold in list(self.holds):
                if hold.matches(request.method, request.url.path):
                    hold.seen += 1
                    if hold.seen >= hold.nth:
                        self.holds.remove(hold)
                        return hold
        return None

    def clear(self) -> None:
        """Forget the faults not yet used: the outage is over."""
        with self.lock:
            self.faults.clear()

    def drift(
        self,
        path: str,
        *,
        drop: Iterable[str] = (),
        replace: Mapping[str, Any] | None = None,
        status: int | None = None,
    ) -> None:
        """Make successful JSON answers on `path` differ from the spec, as the live API
        sometimes does: `drop` fields and `replace` values (dotted paths such as
        "result.seed"), or answer with another 2xx `status`. Stays until `drift_off()`."""
        with self.lock:
            self.drifts.append(Drift(path, tuple(drop), dict(replace or {}), status))

    def drift_off(self) -> None:
        with self.lock:
            self.drifts.clear()

    def drifted(self, path: str, response: httpx.Response) -> httpx.Response:
        if not self.drifts or response.status_code != 200:
            return response
        drifts = [d for d in self.drifts if path.startswith(d.path)]
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


def fault_reply(fault: Fault, retry_after: float) -> Reply:
    """The reply a status, connect or not-found fault makes (`retry_after`: the
    fake's, for a 429 that names none)."""
    if fault.kind == "connect":
        return Reply(httpx.Response(599), fault="connect")
    headers = {}
    if fault.status == 429:
        headers["retry-after"] = seconds(
            fault.retry_after if fault.retry_after is not None else retry_after
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


class _HasPlan(Protocol):
    faults: FaultPlan


class Arm(Generic[P, R]):
    """A FakeBFL method that is its FaultPlan's (`fake.fail_next(...)` arms `fake.faults`),
    typed and documented as the plan's own."""

    def __init__(self, method: Callable[Concatenate[FaultPlan, P], R]) -> None:
        self._method = method
        self.__doc__ = method.__doc__

    @overload
    def __get__(self, obj: None, owner: Any = None) -> Arm[P, R]: ...

    @overload
    def __get__(self, obj: _HasPlan, owner: Any = None) -> Callable[P, R]: ...

    def __get__(self, obj: _HasPlan | None, owner: Any = None) -> Arm[P, R] | Callable[P, R]:
        if obj is None:
            return self
        return functools.partial(self._method, obj.faults)
