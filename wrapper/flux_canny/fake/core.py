"""The fake BFL API as a pure function: httpx.Request in, a reply out, over in-memory tasks.

Everything else (the httpx transport, the loopback server, the pytest fixture) wraps this
one object. Time comes from an injectable clock, so tests can run hours of polling in
milliseconds. Request bodies are judged by the same spec-built pydantic model as the
client's local validation, and answered in FastAPI's 422 shape.
"""

from __future__ import annotations

import copy
import hashlib
import heapq
import hmac
import json
import re
import threading
import time
import uuid
from collections import Counter, deque
from collections.abc import Iterable, Mapping
from typing import Any, Literal
from urllib.parse import parse_qs

import attrs
import httpx

from .._spec import CANNY_PATH, Spec, packaged_spec
from ..clock import Clock, SystemClock
from ..validation import RequestValidator

__all__ = ["FakeBFL", "Fault", "Reply", "RequestRecord", "Task", "WebhookDelivery"]

FaultKind = Literal["status", "connect", "drop", "slow", "malformed", "not-found-404"]
#: requests and webhook deliveries remembered (the newest)
_KEPT_RECORDS = 100_000
#: what BFL says with each status a fault can inject
_FAULT_WORDS = {
    402: "Insufficient credits",  # docs.bfl.ai: "402: out of credits"
    429: "Too many requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
}
#: a key the live API calls malformed (422) rather than unknown (403): seen live,
#: {"detail": "Invalid API key format"}
_KEY_SHAPE = re.compile(r"^[A-Za-z0-9_.:-]+$")
_RESULT_PATH = "/v1/get_result"
_FINETUNES_PATH = "/v1/my_finetunes"
_CREDITS_PATH = "/v1/credits"
#: what GET /v1/credits says when the fake's credits are unlimited (credits=None)
_PLENTY = 1_000_000.0
_DETAILS_PATH = "/v1/finetune_details"
_DELIVERY_PREFIX = "/results/"
_ROUTES = {
    CANNY_PATH: "POST",
    _RESULT_PATH: "GET",
    _FINETUNES_PATH: "GET",
    _DETAILS_PATH: "GET",
    _CREDITS_PATH: "GET",
}


@attrs.define
class Fault:
    """One injected failure. `status`, `connect`: the request is not processed; `drop`,
    `slow`, `malformed`: it is processed (a task may be created) and the answer is lost,
    late or garbled: the cases where a client must not submit twice."""

    kind: FaultKind
    status: int = 500
    delay: float = 0.0
    retry_after: float | None = None
    path: str | None = None
    path_task: str | None = None

    def matches(self, path: str) -> bool:
        return self.path is None or path == self.path or path.startswith(self.path)


@attrs.frozen
class _Drift:
    path: str
    drop: tuple[str, ...]
    replace: dict[str, Any]
    status: int | None


def _walk(body: Any, parents: list[str]) -> Any:
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


@attrs.frozen
class WebhookDelivery:
    url: str
    payload: dict[str, Any]
    headers: dict[str, str]


@attrs.define
class Task:
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


class FakeBFL:
    """A stateful, spec-faithful stand-in for api.us1.bfl.ai and its delivery hosts.

    Knobs: task_duration, report_progress, pending_status (e.g. "Generating"),
    max_active_tasks (per key, 429 beyond), sample_ttl, queue_outcomes() for final
    statuses ("Content Moderated", "Error", "Failed"...), fail_next() for faults.
    Counters: tasks_created (per key), requests (per method and path), records (one per
    request: host, whether it carried the key), webhooks (deliveries).
    """

    def __init__(
        self,
        *,
        api_keys: Iterable[str] = ("test-key",),
        clock: Clock | None = None,
        task_duration: float = 2.0,
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
    ) -> None:
        """`spec_only=True` answers strictly as the spec describes (unknown tasks 200,
        one in-flight status, HMAC-signed get_result webhooks, any finetune id); by default
        the fake answers as BFL's live service does (see `_live` notes below).
        `credits`: what the key has left (None: unlimited); each task costs
        `cost_per_task`, and a submit beyond them is 402. `polling_host`: the regional
        cluster tasks live on (live: api.us2, api.eu2...); polling URLs point there, and
        polls that reach another host are answered 404, as a wrong region is."""
        self._render = _renderer()
        self.api_keys = set(api_keys)
        self.clock: Clock = clock or SystemClock()
        self._epoch_offset = time.time() - self.clock.monotonic()
        self.task_duration = task_duration
        self.report_progress = report_progress
        self.spec_only = spec_only
        self.pending_status = pending_status
        self.credits = credits
        self.cost_per_task = cost_per_task
        self.polling_host = polling_host
        self.max_active_tasks = max_active_tasks
        self.retry_after = retry_after
        #: seconds every submit's answer is held back after its task was created: the
        #: window in which a crash or Ctrl-C leaves a paid task whose id never arrived
        self.submit_latency = 0.0
        self.sample_ttl = sample_ttl
        self.delivery_base = delivery_base.rstrip("/")
        self.finetunes = list(finetunes)
        # constraints={"steps": {"maximum": 60}}: a server whose rules moved, for the probe
        self.validator = RequestValidator(_constrained(spec or packaged_spec(), constraints or {}))
        self.tasks: dict[str, Task] = {}
        self.tasks_created: Counter[str] = Counter()
        self.requests: Counter[tuple[str, str]] = Counter()
        # lists (tests compare them), trimmed to the newest _KEPT_RECORDS now and then: a
        # fake left running for a day of tests must not grow without bound
        self.records: list[RequestRecord] = []
        self.webhooks: list[WebhookDelivery] = []
        # O(log n) per request in the tasks held: the active ones per key by end time,
        # webhooks by when they fall due, and every task by when it is forgotten
        self.retention = retention
        self._active: dict[str, list[tuple[float, str]]] = {}
        self._webhooks_due: list[tuple[float, str]] = []
        self._forget_at: deque[tuple[float, str]] = deque()
        self.webhook_sink: Any = None  # callable(delivery) set by the loopback face
        self._faults: deque[Fault] = deque()
        self._drifts: list[_Drift] = []
        self._outcomes: deque[str] = deque()
        # task ids are unique across fakes (journals outlive them) unless a seed asks for
        # a repeatable run
        salt = str(rng_seed) if rng_seed is not None else uuid.uuid4().hex
        self._secret = hashlib.sha256(f"fake-bfl-{salt}".encode()).digest()
        self._ids = uuid.UUID(int=rng_seed).int if rng_seed is not None else uuid.uuid4().int
        self._renders: dict[str, tuple[bytes, str]] = {}
        self._lock = threading.RLock()

    # -- knobs ------------------------------------------------------------------------------

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
            path = path or _RESULT_PATH
        fault = (
            Fault("status", status=kind, retry_after=retry_after, path=path)
            if isinstance(kind, int)
            else Fault(kind, delay=delay, path=path)
        )
        with self._lock:
            self._faults.extend(attrs.evolve(fault) for _ in range(count))

    def clear_faults(self) -> None:
        """Forget the faults not yet used: the outage is over."""
        with self._lock:
            self._faults.clear()

    def queue_outcomes(self, *statuses: str) -> None:
        """Final statuses for the next tasks, in order (default "Ready")."""
        with self._lock:
            self._outcomes.extend(statuses)

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
        with self._lock:
            self._drifts.append(_Drift(path, tuple(drop), dict(replace or {}), status))

    def drift_off(self) -> None:
        with self._lock:
            self._drifts.clear()

    def _drifted(self, path: str, response: httpx.Response) -> httpx.Response:
        if not self._drifts or response.status_code != 200:
            return response
        drifts = [d for d in self._drifts if path.startswith(d.path)]
        if not drifts:
            return response
        body = json.loads(response.content)
        status = response.status_code
        for drift in drifts:
            for dotted in drift.drop:
                *parents, leaf = dotted.split(".")
                node = _walk(body, parents)
                if isinstance(node, dict):
                    node.pop(leaf, None)
            for dotted, value in drift.replace.items():
                *parents, leaf = dotted.split(".")
                node = _walk(body, parents)
                if isinstance(node, dict):
                    node[leaf] = value
            status = drift.status or status
        skip = {"content-length", "content-type"}
        headers = {k: v for k, v in response.headers.items() if k.lower() not in skip}
        return httpx.Response(status, json=body, headers=headers)

    def active_tasks(self, key: str) -> int:
        now = self.clock.monotonic()
        running = self._active.setdefault(key, [])
        while running and running[0][0] <= now:
            heapq.heappop(running)
        return len(running)

    def _forget_old(self) -> None:
        """Results are kept about an hour on the live API; so here, in fake time."""
        for kept in (self.records, self.webhooks):
            if len(kept) > 2 * _KEPT_RECORDS:  # amortised: one trim per _KEPT_RECORDS
                del kept[:-_KEPT_RECORDS]
        now = self.clock.monotonic()
        while self._forget_at and self._forget_at[0][0] <= now:
            _, task_id = self._forget_at.popleft()
            self.tasks.pop(task_id, None)
            self._renders.pop(task_id, None)

    def key_seen_by_hosts(self) -> set[str]:
        """Hosts that received a request carrying an x-key header."""
        return {r.host for r in self.records if r.key is not None}

    # -- the core ---------------------------------------------------------------------------

    def handle(self, request: httpx.Request) -> Reply:
        with self._lock:
            self._forget_old()
            path = request.url.path
            fault = next((f for f in self._faults if f.matches(path)), None)
            if fault is not None:
                self._faults.remove(fault)
            key = request.headers.get("x-key")
            if fault is not None and fault.kind == "not-found-404":
                fault = attrs.evolve(fault, path_task=request.url.params.get("id"))
            if fault is not None and fault.kind in ("status", "connect", "not-found-404"):
                reply = self._fault_reply(fault)
            else:
                reply = Reply(self._drifted(path, self._route(request, key)))
                if fault is not None:
                    reply = self._garble(reply, fault)
                elif path == CANNY_PATH and self.submit_latency > 0:
                    reply = Reply(reply.response, fault="slow", delay=self.submit_latency)
            self.requests[(request.method, path)] += 1
            self.records.append(
                RequestRecord(
                    request.method, request.url.host, path, key, reply.response.status_code
                )
            )
            self._deliver_webhooks()
            return reply

    def __call__(self, request: httpx.Request) -> httpx.Response:
        """MockTransport-compatible: the response only (faults other than status ignored)."""
        return self.handle(request).response

    def tick(self) -> None:
        """Deliver webhooks of tasks that finished (the loopback face calls it regularly)."""
        with self._lock:
            self._forget_old()
            self._deliver_webhooks()

    def _fault_reply(self, fault: Fault) -> Reply:
        if fault.kind == "connect":
            return Reply(httpx.Response(599), fault="connect")
        headers = {}
        if fault.status == 429:
            headers["retry-after"] = _seconds(
                fault.retry_after if fault.retry_after is not None else self.retry_after
            )
        if fault.kind == "not-found-404":
            return Reply(_json(404, _task_body(fault.path_task or "unknown", "Task not found")))
        said = _FAULT_WORDS.get(fault.status, "Internal Server Error")
        return Reply(httpx.Response(fault.status, json={"detail": said}, headers=headers))

    @staticmethod
    def _garble(reply: Reply, fault: Fault) -> Reply:
        if fault.kind == "malformed":
            response = httpx.Response(
                reply.response.status_code,
                content=b'{"id": "trunc',
                headers={"content-type": "application/json"},
            )
            return Reply(response)
        return Reply(reply.response, fault=fault.kind, delay=fault.delay)

    def _route(self, request: httpx.Request, key: str | None) -> httpx.Response:
        path = request.url.path
        if path.startswith(_DELIVERY_PREFIX) and request.method == "GET":
            return self._download(request)
        if path not in _ROUTES:
            return _json(404, {"detail": "Not Found"})
        if request.method != _ROUTES[path]:
            return _json(405, {"detail": "Method Not Allowed"}, {"allow": _ROUTES[path]})
        if path == _RESULT_PATH:
            return self._get_result(request)
        if key is None:
            return _json(401, {"detail": "Not authenticated"}, {"www-authenticate": "APIKey"})
        if key not in self.api_keys:
            if not self.spec_only and not _KEY_SHAPE.match(key):
                return _json(422, {"detail": "Invalid API key format"})
            return _json(403, {"detail": "Invalid API key"})
        if path == CANNY_PATH:
            return self._submit(request, key)
        if path == _FINETUNES_PATH:
            return _json(200, {"finetunes": list(self.finetunes)})
        if path == _CREDITS_PATH:  # in BFL's spec history: {"credits": n}
            return _json(200, {"credits": _PLENTY if self.credits is None else self.credits})
        return self._finetune_details(request)

    def _submit(self, request: httpx.Request, key: str) -> httpx.Response:
        if not request.content:
            return _422(
                [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
            )
        try:
            body = json.loads(request.content)
        except ValueError as exc:
            return _422(
                [
                    {
                        "type": "json_invalid",
                        "loc": ["body", getattr(exc, "pos", 0)],
                        "msg": "JSON decode error",
                        "input": {},
                        "ctx": {"error": str(exc)},
                    }
                ]
            )
        errors = self.validator.errors(body)
        if errors:
            return _422(errors)
        finetune = body.get("finetune_id")
        if not self.spec_only and finetune not in self.finetunes:
            # live: an unknown finetune is refused with 400 before anything runs
            return _json(400, {"detail": f"Finetune {finetune} not found"})
        if not self.spec_only and self.credits is not None and self.credits < self.cost_per_task:
            return _json(402, {"detail": "Insufficient credits"})  # docs.bfl.ai: 402
        if self.active_tasks(key) >= self.max_active_tasks:
            return _json(
                429,
                {
                    "detail": f"You have reached the limit of {self.max_active_tasks} "
                    "active tasks. Please wait for some to finish."
                },
                {"retry-after": _seconds(self.retry_after)},
            )
        normalised = self.validator.normalise(body)
        self._ids += 1
        task_id = str(uuid.UUID(int=self._ids & (2**128 - 1)))
        outcome = self._outcomes.popleft() if self._outcomes else "Ready"
        # live: a request is moderated before any processing, at once and not charged
        flagged_at_once = outcome == "Request Moderated" and not self.spec_only
        if self.credits is not None and not flagged_at_once:
            self.credits -= self.cost_per_task
        seed = normalised.get("seed")
        task = Task(
            id=task_id,
            key=key,
            body=normalised,
            created_at=self.clock.monotonic(),
            duration=0.0 if flagged_at_once else self.task_duration,
            outcome=outcome,
            seed=seed
            if isinstance(seed, int)
            else int(hashlib.sha256(task_id.encode()).hexdigest()[:8], 16),
            webhook_url=normalised.get("webhook_url"),
            webhook_secret=normalised.get("webhook_secret"),
        )
        self.tasks[task_id] = task
        ends = task.created_at + task.duration
        heapq.heappush(self._active.setdefault(key, []), (ends, task_id))
        if task.webhook_url:
            heapq.heappush(self._webhooks_due, (ends, task_id))
        self._forget_at.append((task.created_at + self.retention, task_id))
        self.tasks_created[key] += 1
        cost = {"cost": self.cost_per_task, "input_mp": 1.0, "output_mp": 1.0}
        if task.webhook_url:
            return _json(
                200, {"id": task_id, "status": "Pending", "webhook_url": task.webhook_url, **cost}
            )
        home = request.url.copy_with(host=self.polling_host) if self.polling_host else request.url
        polling_url = str(
            home.copy_with(path=_RESULT_PATH, query=None).copy_merge_params({"id": task_id})
        )
        return _json(200, {"id": task_id, "polling_url": polling_url, **cost})

    def _in_flight_status(self, fraction: float) -> str:
        if self.pending_status is not None:
            return self.pending_status
        if self.spec_only:
            return "Pending"
        # live runs report Pending, then Reasoning, then Generating (the spec lists only
        # Pending): DEVELOPERS.md's facts, issue #15's sources
        return "Pending" if fraction < 0.2 else "Reasoning" if fraction < 0.4 else "Generating"

    def _result_answer(self, task: Task) -> tuple[int, dict[str, Any]]:
        """(status code, body) of a poll: 200 unless the live API ends it otherwise."""
        now = self.clock.monotonic()
        elapsed = now - task.created_at
        if elapsed < task.duration:
            fraction = elapsed / task.duration
            body = _task_body(task.id, self._in_flight_status(fraction))
            body["progress"] = round(fraction, 4) if self.report_progress else None
            return 200, body
        terminal = _TERMINAL_CODES.get(task.outcome)
        if terminal is not None and not self.spec_only:
            # live: a poll may end in 422 or 503 with a terminal Error body
            body = _task_body(task.id, "Error")
            body["details"] = {"error": f"fake failure ({task.outcome})"}
            return terminal, body
        if task.outcome != "Ready":
            body = _task_body(task.id, _TERMINAL_STATUSES.get(task.outcome, task.outcome))
            if self.spec_only:
                body["details"] = {"reason": f"fake outcome {task.outcome}"}
            elif "Moderated" in task.outcome:  # live: the reasons in a list under this key
                body["details"] = {"Moderation Reasons": [f"fake {task.outcome.lower()}"]}
            else:
                body["details"] = {"error": f"fake outcome {task.outcome}"}
            return 200, body
        ext = "png" if task.body.get("output_format") == "png" else "jpg"
        expires = now + self.sample_ttl
        sig = self._sign(f"{task.id}:{expires!r}")
        sample = (
            f"{self.delivery_base}{_DELIVERY_PREFIX}{task.id}/sample.{ext}?se={expires!r}&sig={sig}"
        )
        # live: start and end are epoch seconds
        offset = 0.0 if self.spec_only else self._epoch_offset
        body = _task_body(task.id, "Ready")
        body["result"] = {
            "sample": sample,
            "prompt": task.body.get("prompt"),
            "seed": task.seed,
            "start_time": task.created_at + offset,
            "end_time": task.created_at + task.duration + offset,
            "duration": task.duration,
        }
        return 200, body

    def _result_body(self, task: Task) -> dict[str, Any]:
        return self._result_answer(task)[1]

    def _get_result(self, request: httpx.Request) -> httpx.Response:
        task_id = request.url.params.get("id")
        if task_id is None:
            return _missing_query("id")
        task = self.tasks.get(task_id)
        wrong_region = self.polling_host is not None and request.url.host != self.polling_host
        if task is None or (wrong_region and not self.spec_only):
            # live: 404 with a task-shaped body (the spec documents only 200 and 422), also
            # for a task another region holds
            return _json(200 if self.spec_only else 404, _task_body(task_id, "Task not found"))
        status, body = self._result_answer(task)
        return _json(status, body)

    def _finetune_details(self, request: httpx.Request) -> httpx.Response:
        finetune_id = request.url.params.get("finetune_id")
        if finetune_id is None:
            return _missing_query("finetune_id")
        if finetune_id not in self.finetunes:
            return _json(404, {"detail": f"Finetune {finetune_id} not found"})
        return _json(
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

    def _download(self, request: httpx.Request) -> httpx.Response:
        parts = request.url.path[len(_DELIVERY_PREFIX) :].split("/")
        params = parse_qs(request.url.query.decode())
        task = self.tasks.get(parts[0]) if parts else None
        try:
            expires = float(params["se"][0])
            valid = hmac.compare_digest(params["sig"][0], self._sign(f"{parts[0]}:{expires!r}"))
        except (KeyError, ValueError, IndexError):
            valid, expires = False, 0.0
        if task is None or not valid:
            return httpx.Response(404, text="BlobNotFound: The specified blob does not exist.")
        if self.clock.monotonic() > expires:
            return httpx.Response(403, text="AuthenticationFailed: Signed expiry time has passed.")
        if task.id not in self._renders:
            self._renders[task.id] = self._render.render(
                task.body["control_image"],
                task.body.get("canny_low_threshold", 50),
                task.body.get("canny_high_threshold", 200),
                task.seed,
                task.body.get("output_format"),
            )
            # the sample is drawn: the control image is no longer needed (megabytes a task)
            task.body.pop("control_image", None)
        data, fmt = self._renders[task.id]
        return httpx.Response(200, content=data, headers={"content-type": f"image/{fmt}"})

    def _deliver_webhooks(self) -> None:
        now = self.clock.monotonic()
        while self._webhooks_due and self._webhooks_due[0][0] <= now:
            _, task_id = heapq.heappop(self._webhooks_due)
            task = self.tasks.get(task_id)
            if task is not None and not task.webhook_sent:
                task.webhook_sent = True
                delivery = self._webhook_for(task)
                self.webhooks.append(delivery)
                if self.webhook_sink is not None:
                    self.webhook_sink(delivery)

    def _webhook_for(self, task: Task) -> WebhookDelivery:
        assert task.webhook_url is not None
        body = self._result_body(task)
        headers = {"content-type": "application/json"}
        if self.spec_only:  # the fake's own former scheme: an HMAC of a get_result body
            payload = body
            if task.webhook_secret:
                raw = json.dumps(payload, sort_keys=True).encode()
                digest = hmac.new(task.webhook_secret.encode(), raw, hashlib.sha256).hexdigest()
                headers["x-webhook-signature"] = f"sha256={digest}"
            return WebhookDelivery(task.webhook_url, payload, headers)
        # live: the secret comes back verbatim in X-Webhook-Secret (black-forest-labs/
        # blackforest src/bfl/_webhooks.py), and receivers see SUCCESS / FAILED deliveries
        ok = body["status"] == "Ready"
        payload = {
            "task_id": task.id,
            "status": "SUCCESS" if ok else "FAILED",
            "result": body["result"] if ok else None,
            "error": None if ok else body["status"],
            "progress": 1.0,
        }
        if task.webhook_secret:
            headers["X-Webhook-Secret"] = task.webhook_secret
        return WebhookDelivery(task.webhook_url, payload, headers)

    def _sign(self, text: str) -> str:
        return hmac.new(self._secret, text.encode(), hashlib.sha256).hexdigest()[:32]


def _renderer() -> Any:
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
_TERMINAL_CODES = {"terminal-422": 422, "terminal-503": 503}
_TERMINAL_STATUSES = {"terminal-422": "Error", "terminal-503": "Error"}


def _task_body(task_id: str, status: str) -> dict[str, Any]:
    return {
        "id": task_id,
        "status": status,
        "result": None,
        "progress": None,
        "details": None,
        "preview": None,
    }


def _constrained(spec: Spec, constraints: Mapping[str, Mapping[str, Any]]) -> Spec:
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


def _seconds(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.3f}"


def _json(status: int, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def _422(errors: list[dict[str, Any]]) -> httpx.Response:
    return _json(422, {"detail": errors})


def _missing_query(name: str) -> httpx.Response:
    """FastAPI's answer to a missing required query parameter."""
    return _422(
        [{"type": "missing", "loc": ["query", name], "msg": "Field required", "input": None}]
    )
