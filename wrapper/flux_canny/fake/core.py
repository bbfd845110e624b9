"""The fake BFL API as a pure function: httpx.Request in, a reply out, over in-memory tasks.

Everything else (the httpx transport, the loopback server, the pytest fixture) wraps this
one object. Time comes from an injectable clock, so tests can run hours of polling in
milliseconds. It serves every image-making operation of its spec (one `Operation` each,
read from the document, never listed by hand); each request body is judged by that
operation's spec-built pydantic model, the client's own, and answered in FastAPI's 422 shape.

FakeBFL composes owned state and hands each piece only what it needs: the `Knobs` (how
it behaves), a `TaskStore` (the tasks), a `FaultPlan` (what is armed) and `Answers`
(polls and downloads); none of them imports FakeBFL.
"""

from __future__ import annotations

import hashlib
import re
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs
import httpx

from .._operations import CANNY, Operation, read_operations
from .._spec import Spec, packaged_spec
from ..clock import Clock, SystemClock
from ..errors import InvalidArgumentError
from ..validation import RequestValidator
from . import _faults, _tasks, _webhooks
from ._answers import Answers
from ._faults import Arm, FaultPlan
from ._holds import HeldRequest
from ._knobs import Knob, Knobs
from ._records import (
    DELIVERY_PREFIX,
    RESULT_PATH,
    FakeTask,
    Fault,
    Reply,
    RequestRecord,
    WebhookDelivery,
    constrained,
    json_answer,
    missing_query,
    renderer,
)
from ._store import TaskStore
from .transport import FakeTransport

if TYPE_CHECKING:
    from ..aclient import AsyncFluxCanny
    from ..client import FluxCanny

__all__ = [
    "FakeBFL",
    "FakeTask",
    "Fault",
    "HeldRequest",
    "Reply",
    "RequestRecord",
    "WebhookDelivery",
]

#: requests and webhook deliveries remembered (the newest)
_KEPT_RECORDS = 100_000
#: a key the live API calls malformed (422) rather than unknown (403): seen live,
#: {"detail": "Invalid API key format"}
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_FINETUNES_PATH = "/v1/my_finetunes"
_CREDITS_PATH = "/v1/credits"
#: what GET /v1/credits says when the fake's credits are unlimited (credits=None)
_PLENTY = 1_000_000.0
_DETAILS_PATH = "/v1/finetune_details"
#: the routes besides the operations: polls, and the key's finetunes and credits
_QUERIES = {
    RESULT_PATH: "GET",
    _FINETUNES_PATH: "GET",
    _DETAILS_PATH: "GET",
    _CREDITS_PATH: "GET",
}


class FakeBFL:
    """A stateful, spec-faithful stand-in for api.us1.bfl.ai and its delivery hosts.

    It serves every image-making operation of its spec (`operations`, by name), each with
    its own validation, finetune check (the finetuned ones) and duration (`durations`).
    Knobs: task_duration, durations (per operation name), report_progress, pending_status
    (e.g. "Generating"), max_active_tasks (per key, 429 beyond), sample_ttl,
    queue_outcomes() for final statuses ("Content Moderated", "Error", "Failed"...),
    fail_next() for faults.
    Counters: tasks_created (per key), requests (per method and path), records (one per
    request: host, whether it carried the key), webhooks (deliveries).
    """

    #: the key fakes accept by default (and that clients wired by client() use)
    api_key = "test-key"

    # the knobs: FakeBFL's attributes, kept in `knobs`, where every piece reads them
    task_duration: Knob[float] = Knob()
    durations: Knob[dict[str, float]] = Knob()
    report_progress: Knob[bool] = Knob()
    pending_status: Knob[str | None] = Knob()
    spec_only: Knob[bool] = Knob()
    credits: Knob[float | None] = Knob()
    cost_per_task: Knob[float] = Knob()
    polling_host: Knob[str | None] = Knob()
    max_active_tasks: Knob[int] = Knob()
    retry_after: Knob[float] = Knob()
    sample_ttl: Knob[float] = Knob()
    delivery_base: Knob[str] = Knob()
    finetunes: Knob[list[str]] = Knob()
    known_after: Knob[float] = Knob()
    echo_key: Knob[bool] = Knob()
    #: seconds every submit's answer is held back after its task was created: the
    #: window in which a crash or Ctrl-C leaves a paid task whose id never arrived
    submit_latency: Knob[float] = Knob()

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("test-key",),
        clock: Clock | None = None,
        task_duration: float = 2.0,
        durations: Mapping[str, float] | None = None,
        report_progress: bool = True,
        pending_status: str | None = None,
        max_active_tasks: int = 24,
        retry_after: float = 1.0,
        sample_ttl: float = 600.0,
        delivery_base: str = "https://delivery-us1.bfl.ai",
        finetunes: Iterable[str] = ("my-finetune",),
        spec: Spec | None = None,
        rng_seed: int | None = None,
        spec_only: bool = False,
        credits: float | None = None,
        cost_per_task: float = 5.0,
        polling_host: str | None = None,
        constraints: Mapping[str, Mapping[str, Any]] | None = None,
        retention: float = 3600.0,
        known_after: float = 0.0,
        echo_key: bool = False,
    ) -> None:
        """`spec_only=True` answers strictly as the spec describes (unknown tasks 200,
        one in-flight status, HMAC-signed get_result webhooks, any finetune id); by default
        the fake answers as BFL's live service does (see `_live` notes below).
        `credits`: what the key has left (None: unlimited); each task costs
        `cost_per_task`, and a submit beyond them is 402. `polling_host`: the regional
        cluster tasks live on (live: api.us2, api.eu2...); polling URLs point there, and
        polls that reach another host are answered 404, as a wrong region is.
        `known_after`: seconds after its creation during which polls of a task answer 404
        "Task not found", as a regional store that learns of new tasks late does.
        `echo_key`: error answers to requests that carried a key repeat it in their text,
        as a careless server or proxy might (the client must keep it out of every sink).
        `durations`: seconds a task takes per operation name ("flux-2-pro": 5.0), for
        those that differ from `task_duration`; `finetunes` apply to every finetuned one."""
        render = renderer()
        self.api_keys = set(api_keys)
        self.clock: Clock = clock or SystemClock()
        self.knobs = Knobs(
            task_duration=task_duration,
            durations=dict(durations or {}),
            report_progress=report_progress,
            pending_status=pending_status,
            spec_only=spec_only,
            credits=credits,
            cost_per_task=cost_per_task,
            polling_host=polling_host,
            max_active_tasks=max_active_tasks,
            retry_after=retry_after,
            sample_ttl=sample_ttl,
            delivery_base=delivery_base.rstrip("/"),
            finetunes=list(finetunes),
            known_after=known_after,
            echo_key=echo_key,
        )
        # constraints={"steps": {"maximum": 60}}: a server whose rules moved, for the probe
        self.spec = constrained(spec or packaged_spec(), constraints or {})
        #: the operations served, by name, and by path (how requests name them)
        self.operations: dict[str, Operation] = read_operations(self.spec)
        self._by_path = {op.path: op for op in self.operations.values()}
        unknown = sorted(set(self.durations) - set(self.operations))
        if unknown:
            raise InvalidArgumentError(
                f"durations name no operation of the spec: {', '.join(unknown)}"
            )
        self._routes = {**{op.path: op.method.upper() for op in self._by_path.values()}, **_QUERIES}
        # built on first use: seventeen pydantic models cost a fifth of a second, and most
        # fakes only ever see one operation
        self._validators: dict[str, RequestValidator] = {}
        self.requests: Counter[tuple[str, str]] = Counter()
        # lists (tests compare them), trimmed to the newest _KEPT_RECORDS now and then: a
        # fake left running for a day of tests must not grow without bound
        self.records: list[RequestRecord] = []
        self.webhooks: list[WebhookDelivery] = []
        #: called with each request's record and the answer it got (under the fake's
        #: lock, in arrival order): what a test needs to know of answers beyond the record
        self.on_answer: Callable[[RequestRecord, httpx.Response], None] | None = None
        self.webhook_sink: Any = None  # callable(delivery) set by the loopback face
        self._lock = threading.RLock()
        #: what is armed: faults on the next requests, holds, drift (see `_faults`)
        self.faults = FaultPlan(self._lock)
        # task ids are unique across fakes (journals outlive them) unless a seed asks for
        # a repeatable run
        salt = str(rng_seed) if rng_seed is not None else uuid.uuid4().hex
        ids = uuid.UUID(int=rng_seed).int if rng_seed is not None else uuid.uuid4().int
        #: the tasks held, and every index over them (see `_store`)
        self.store = TaskStore(self.clock, retention, ids)
        self._answers = Answers(
            knobs=self.knobs,
            store=self.store,
            clock=self.clock,
            operations=self.operations,
            validator_for=self.validator_for,
            render=render,
            secret=hashlib.sha256(f"fake-bfl-{salt}".encode()).digest(),
            epoch_offset=time.time() - self.clock.monotonic(),
        )

    # -- the operations ----------------------------------------------------------------------

    def validator_for(self, operation: Operation) -> RequestValidator:
        """The server's verdict on this operation's bodies, built once."""
        with self._lock:
            found = self._validators.get(operation.path)
            if found is None:
                found = RequestValidator(self.spec, operation.path, operation.method)
                self._validators[operation.path] = found
            return found

    @property
    def validator(self) -> RequestValidator:
        """The seed's operation's validator (a test may replace it with a laxer one)."""
        return self.validator_for(self.operations[CANNY])

    @validator.setter
    def validator(self, value: RequestValidator) -> None:
        self._validators[self.operations[CANNY].path] = value

    def duration_for(self, operation: Operation) -> float:
        """Seconds a task of this operation takes: its own duration, else task_duration."""
        return self.knobs.duration_for(operation.name)

    @property
    def tasks(self) -> dict[str, FakeTask]:
        """The tasks held, by id."""
        return self.store.tasks

    @property
    def tasks_created(self) -> Counter[str]:
        """Tasks created, per key."""
        return self.store.created

    @property
    def retention(self) -> float:
        """Seconds a task is kept after its creation."""
        return self.store.retention

    @property
    def _holds(self) -> list[HeldRequest]:
        """The holds armed and not yet met (a test checks that none is left)."""
        return self.faults.holds

    # -- knobs: faults, outcomes and drift (see _faults) --------------------------------------

    fail_next = Arm(FaultPlan.fail_next)
    answer_next = Arm(FaultPlan.answer_next)
    hold_next = Arm(FaultPlan.hold_next)
    cancel_holds = Arm(FaultPlan.cancel_holds)
    clear_faults = Arm(FaultPlan.clear)
    drift = Arm(FaultPlan.drift)
    drift_off = Arm(FaultPlan.drift_off)

    def queue_outcomes(self, *statuses: str) -> None:
        """Final statuses for the next tasks, in order (default "Ready")."""
        with self._lock:
            self.store.outcomes.extend(statuses)

    def active_tasks(self, key: str) -> int:
        return self.store.active(key)

    def _forget_old(self) -> None:
        """Results are kept about an hour on the live API; so here, in fake time; and the
        records only so many."""
        for kept in (self.records, self.webhooks):
            if len(kept) > 2 * _KEPT_RECORDS:  # amortised: one trim per _KEPT_RECORDS
                del kept[:-_KEPT_RECORDS]
        self.store.forget_old()

    def _deliver(self, delivery: WebhookDelivery) -> None:
        self.webhooks.append(delivery)
        if self.webhook_sink is not None:
            self.webhook_sink(delivery)

    def key_seen_by_hosts(self) -> set[str]:
        """Hosts that received a request carrying an x-key header."""
        return {r.host for r in self.records if r.key is not None}

    # -- the core ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> Reply:
        hold = self.faults.take_hold(request)
        if hold is None:
            return self._handle(request)
        try:
            if not hold.after and not hold.block():
                return self._record(request, Reply(httpx.Response(599), fault="connect"), "held")
            reply = self._handle(request, held=True)
            if hold.after and not hold.block():
                reply = Reply(reply.response, fault="drop")
            return reply
        finally:
            hold.done.set()

    def _handle(self, request: httpx.Request, *, held: bool = False) -> Reply:
        with self._lock:
            self._forget_old()
            self.store.last_created = None
            path = request.url.path
            fault = self.faults.take(path)
            key = request.headers.get("x-key")
            if fault is not None and fault.kind == "not-found-404":
                fault = attrs.evolve(fault, path_task=request.url.params.get("id"))
            if fault is not None and fault.kind in ("status", "connect", "not-found-404"):
                reply = _faults.fault_reply(fault, self.retry_after)
            elif fault is not None and fault.kind == "answer":
                given = self._answer(request, key) if fault.process else None
                reply = _faults.answer(given, fault)
            else:
                reply = Reply(self._answer(request, key))
                if fault is not None:
                    reply = _faults.garble(reply, fault)
                elif path in self._by_path and self.submit_latency > 0:
                    reply = Reply(reply.response, fault="slow", delay=self.submit_latency)
            if self.echo_key and key is not None and reply.response.status_code >= 400:
                reply = attrs.evolve(reply, response=_faults.echo(reply.response, key))
            said: str | None = fault.kind if fault is not None else reply.fault
            said = "held" if held and said is None else said
            return self._record(request, reply, said, created=self.store.last_created)

    def _answer(self, request: httpx.Request, key: str | None) -> httpx.Response:
        return self.faults.drifted(request.url.path, self._route(request, key))

    def _record(
        self, request: httpx.Request, reply: Reply, fault: str | None, *, created: str | None = None
    ) -> Reply:
        with self._lock:
            path = request.url.path
            key = request.headers.get("x-key")
            self.requests[(request.method, path)] += 1
            record = RequestRecord(
                request.method,
                request.url.host,
                path,
                key,
                reply.response.status_code,
                task_id=created or self._task_of(request),
                fault=fault,
            )
            self.records.append(record)
            if self.on_answer is not None:
                self.on_answer(record, reply.response)
            _webhooks.deliver_due(self.store, self._answers, self._deliver)
            return reply

    @staticmethod
    def _task_of(request: httpx.Request) -> str | None:
        """The task a poll or a download names."""
        path = request.url.path
        if path == RESULT_PATH:
            named: str | None = request.url.params.get("id")
            return named
        if path.startswith(DELIVERY_PREFIX):
            return path[len(DELIVERY_PREFIX) :].split("/")[0] or None
        return None

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """MockTransport-compatible: the response only (faults other than status ignored)."""
        return self.handle(request).response

    def tick(self) -> None:
        """Deliver webhooks of tasks that finished (the loopback face calls it regularly)."""
        with self._lock:
            self._forget_old()
            _webhooks.deliver_due(self.store, self._answers, self._deliver)

    def _route(self, request: httpx.Request, key: str | None) -> httpx.Response:
        path = request.url.path
        if path.startswith(DELIVERY_PREFIX) and request.method == "GET":
            return self._answers.download(request)
        if path not in self._routes:
            return json_answer(404, {"detail": "Not Found"})
        if request.method != self._routes[path]:
            return json_answer(405, {"detail": "Method Not Allowed"}, {"allow": self._routes[path]})
        if path == RESULT_PATH:
            return self._answers.get_result(request)
        if key is None:
            return json_answer(401, {"detail": "Not authenticated"}, {"www-authenticate": "APIKey"})
        if key not in self.api_keys:
            if not self.spec_only and not _KEY_SHAPE.match(key):
                return json_answer(422, {"detail": "Invalid API key format"})
            return json_answer(403, {"detail": "Invalid API key"})
        operation = self._by_path.get(path)
        if operation is not None:
            return _tasks.submit(
                self.store, self.knobs, self.validator_for(operation), operation, request, key
            )
        if path == _FINETUNES_PATH:
            return json_answer(200, {"finetunes": list(self.finetunes)})
        if path == _CREDITS_PATH:  # in BFL's spec history: {"credits": n}
            return json_answer(200, {"credits": _PLENTY if self.credits is None else self.credits})
        return self._finetune_details(request)

    def _finetune_details(self, request: httpx.Request) -> httpx.Response:
        finetune_id = request.url.params.get("finetune_id")
        if finetune_id is None:
            return missing_query("finetune_id")
        if finetune_id not in self.finetunes:
            return json_answer(404, {"detail": f"Finetune {finetune_id} not found"})
        return json_answer(
            200,
            {
                "finetune_details": {
                    "finetune_id": finetune_id,
                    "mode": "general",
                    "trigger_word": "TOK",
                    "iterations": 300,
                    "learning_rate": 1e-5,
                    "priority": "quality",
                }
            },
        )

    # -- wiring clients to it --------------------------------------------------------------

    def transport(self) -> FakeTransport:
        """An httpx transport (sync and async) serving requests from this fake."""
        return FakeTransport(self)

    def _client_options(self, options: dict[str, Any]) -> dict[str, Any]:
        options.setdefault("api_key", next(iter(sorted(self.api_keys)), self.api_key))
        options.setdefault("transport", self.transport())
        options.setdefault("clock", self.clock)
        # a fake's tasks cost nothing: they stay out of the user's ledger unless asked for
        options.setdefault("ledger", False)
        return options

    def client(self, **options: Any) -> FluxCanny:
        """A FluxCanny wired to this fake (on its clock; no ledger unless asked)."""
        from ..client import FluxCanny

        return FluxCanny(**self._client_options(options))

    def async_client(self, **options: Any) -> AsyncFluxCanny:
        """An AsyncFluxCanny wired to this fake."""
        from ..aclient import AsyncFluxCanny

        return AsyncFluxCanny(**self._client_options(options))
