"""One request with its rules: retries, stamping, conformance, the ledger hand-off.

Every phase (`_submits`, `_polling`, `_downloads`, the probe) sends through an `Exchange`
and nothing else of the core: it holds what a request needs (where it goes, which hosts
may see the key, the clock, the retry policy, the conformance checker, the ledger) and
no flow. The phases take it as a value, so none of them imports the core back.
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Callable, Container, Mapping
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import httpx

from ._auth import HostPolicy
from ._effects import Failed, Flow, Record, Sleep
from ._operations import listed, origin
from ._operations import operation as _operation
from ._verdicts import (
    Malformed,
    Verdict,
    failure_verdict,
    log_exchange,
    shown_url,
    status_verdict,
    task_shaped,
)
from ._wire import Send
from .clock import Clock
from .errors import FluxCannyError, LedgerError, UntrustedURLError
from .ledger import Ledger
from .models import Result, Task
from .policy import RetryPolicy

if TYPE_CHECKING:
    from .conformance import ConformanceReport, ResponseChecker

__all__ = ["Exchange"]

log = logging.getLogger("flux_canny")

#: retries of one request stay quiet this long (s); then what is tried is said, once
_TELL_AFTER = 1.0
T = TypeVar("T")


@attrs.define
class Exchange:
    """What sending one request needs, shared by every phase of every flow."""

    base_url: httpx.URL
    hosts: HostPolicy
    clock: Clock
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    #: live conformance: every API response checked against the spec, deviations reported
    responses: ResponseChecker | None = None
    report: ConformanceReport | None = None
    #: every submit written down before it is sent (None: not recorded)
    ledger: Ledger | None = None
    #: no base URL was configured: each operation goes to the server its spec entry names
    routed: bool = False
    _urls: dict[tuple[str, str], httpx.URL] = attrs.field(factory=dict, init=False, repr=False)

    # -- where requests go ----------------------------------------------------------------

    def origin(self, operation: str | None = None) -> httpx.URL:
        """Where `operation` is sent: the configured base URL, or with none configured the
        server its spec entry names (the seed's finetune: BFL's US cluster)."""
        if operation is None or not self.routed:
            return self.base_url
        return httpx.URL(origin(_operation(operation)))

    def url(self, path: str, operation: str | None = None) -> httpx.URL:
        """An API path under base_url (or `operation`'s server), joined as httpx joins it
        (a base path is kept)."""
        key = (path, operation if self.routed and operation is not None else "")
        url = self._urls.get(key)
        if url is None:
            url = self._urls[key] = _joined(self.origin(operation), path)
        return url

    def request(self, generated: Mapping[str, Any], operation: str | None = None) -> Send:
        """A generated endpoint's request keywords (`_get_kwargs`), as an effect."""
        options = dict(generated)
        method, path = str(options.pop("method")).upper(), str(options.pop("url"))
        return Send(method, self.url(path, operation), options=options)

    # -- one request, with the retry rules ------------------------------------------------

    def send(
        self,
        effect: Send,
        *,
        what: str,
        idempotent: bool,
        parse: Callable[[Any], T],
        accept: Container[int] | Callable[[Any], bool] = (),
        conform: bool = True,
        until: float | None = None,
    ) -> Flow[T]:
        """Send `effect`, retrying what may be retried; never sleep past `until` (a wait's
        deadline: `--timeout 2` must not become 8 s of retries)."""
        failures = rate_limited = 0
        first = self.clock.monotonic()
        told = False
        while True:
            sent = self.clock.monotonic()
            outcome = yield effect
            log_exchange(effect, outcome, self.clock.monotonic() - sent)
            verdict: Verdict | None
            if conform and not isinstance(outcome, Failed):
                self._conform(effect, outcome)
            if isinstance(outcome, Failed):
                verdict = failure_verdict(
                    outcome.error, idempotent=idempotent, what=what, where=shown_url(effect.url)
                )
            elif accept(outcome) if callable(accept) else int(outcome.status_code) in accept:
                return parse(outcome)
            else:
                verdict = (
                    None  # the usual answer: no URL to show, so none is built (0.13 ms)
                    if int(outcome.status_code) < 300
                    else status_verdict(
                        outcome, idempotent=idempotent, what=what, where=shown_url(effect.url)
                    )
                )
                if verdict is None:
                    try:
                        return parse(outcome)
                    except (Malformed, ValueError, KeyError, TypeError, RecursionError) as exc:
                        malformed = Malformed(str(exc))
                        malformed.__cause__ = exc
                        verdict = failure_verdict(malformed, idempotent=idempotent, what=what)
            if verdict.rate_limited:
                rate_limited += 1
                attempt, budget = rate_limited, self.retry.max_rate_limit_retries
            else:
                failures += 1
                attempt, budget = failures, self.retry.max_retries
            too_long = (verdict.retry_after or 0) > self.retry.max_retry_after
            if not verdict.retry or attempt > budget or too_long:
                raise verdict.error from verdict.cause
            delay = self.retry.delay(attempt, verdict.retry_after)
            if until is not None and self.clock.monotonic() + delay > until:
                raise verdict.error from verdict.cause
            log.info(
                "%s failed (%s); retry %d/%d in %.2f s", what, verdict.error, attempt, budget, delay
            )
            if not told and self.clock.monotonic() + delay - first >= _TELL_AFTER:
                told = True  # past a second of silence, say what is being tried, once
                log.warning(
                    "%s; trying again (%d more at most)", verdict.error, budget - attempt + 1
                )
            yield Sleep(delay)

    def _conform(self, effect: Send, response: Any) -> None:
        """Record how a response differs from the spec; never fails the call."""
        if self.responses is None or self.report is None:
            return
        try:
            method, path = effect.method, httpx.URL(effect.url).path
            if self.responses.find(method, path) is None:
                return
            found = self.responses.check(method, path, int(response.status_code), response.content)
        except Exception:  # a bug in checking must not cost the user their image
            log.debug("conformance check failed", exc_info=True)
            return
        self.report.record(found)

    def stamped(self, flow: Flow[T], inflight: list[bool] | None = None) -> Flow[tuple[T, float]]:
        """Run `flow`, and say when the server most likely handled its last request: the
        midpoint of that request's send and answer.

        Why not the answer's arrival: it carries the answer's delay, and under load a
        submit's delay differs from a poll's by tens of milliseconds, which skewed every
        learned duration by as much.
        """
        outcome: Any = None
        sent = self.clock.monotonic()
        try:
            while True:
                try:
                    effect = flow.send(outcome)
                except StopIteration as stop:
                    return stop.value, (sent + self.clock.monotonic()) / 2
                if isinstance(effect, Send):
                    sent = self.clock.monotonic()
                if inflight is not None:
                    inflight[0] = isinstance(effect, Send)
                outcome = yield effect
                if inflight is not None:
                    inflight[0] = False
        finally:
            flow.close()

    def record(self, write: Callable[[Ledger], None], task_id: str | None = None) -> Flow[None]:
        """A ledger write after the POST: its failure must not lose the task in hand, so
        it is logged, never raised (the row it could not move stays where it was, which
        is always on the side of not paying twice)."""
        ledger = self.ledger
        if ledger is None:
            return
        outcome = yield Record(lambda: write(ledger))
        if isinstance(outcome, Failed):
            if not isinstance(outcome.error, LedgerError):
                raise outcome.error
            log.warning("task %s: %s", task_id or "?", outcome.error)

    # -- a task's answer ------------------------------------------------------------------

    def located(self, task: Task) -> Task:
        """A task named by its id alone, with where it is polled. With a base URL
        configured, under it (it takes every operation). With none, each operation has
        its own server (FLUX.2 on BFL's global host, the finetunes on the US cluster), so
        the default base URL is only a guess: the polling URL the ledger recorded for the
        task comes first, then the server of its operation (as given, or as recorded); a
        task nothing is known of is polled under the default, as before.

        An operation the ledger recorded that this spec no longer lists (BFL retires
        endpoints) names no server: the task is polled under the origin the row says it
        was sent to. It was refused as "no endpoint named ...", so a task paid for could
        not be fetched by its id."""
        if task.polling_url is not None or not self.routed:
            return task
        entry = None
        if self.ledger is not None:
            with contextlib.suppress(LedgerError):
                entry = self.ledger.find(task.id)
        recorded = entry.operation if entry is not None else None
        operation = task.operation or listed(recorded)
        polling_url = entry.polling_url if entry is not None else None
        if polling_url is None and operation is not None:
            try:
                base = self.url("/v1/get_result", operation)
            except FluxCannyError as error:  # an operation given on the Task, unknown
                error.attach_task(task.id, None)
                raise
            polling_url = str(base.copy_merge_params({"id": task.id}))
        elif polling_url is None and recorded is not None and entry and entry.base_url:
            base = _joined(httpx.URL(entry.base_url), "/v1/get_result")
            polling_url = str(base.copy_merge_params({"id": task.id}))
        if polling_url is None:
            return task
        return attrs.evolve(task, polling_url=polling_url, operation=operation)

    def polling_url(self, task: Task) -> str:
        if task.polling_url is None:
            return str(self.url("/v1/get_result").copy_merge_params({"id": task.id}))
        url = httpx.URL(task.polling_url)
        if not self.hosts.is_trusted(url):
            error = UntrustedURLError(
                f"refusing to poll {url.scheme}://{url.host}: not the API host and not a trusted "
                "host, so it would receive your API key; pass trusted_hosts=[...] to allow it"
            )
            error.attach_task(task.id, task.polling_url)
            raise error
        return task.polling_url

    def get_result(self, task: Task, *, until: float | None = None) -> Flow[Result]:
        url = self.polling_url(task)

        def parse(response: Any) -> Result:
            return Result.from_body(json.loads(response.content), task.id)

        return (
            yield from self.send(
                Send("GET", url),
                what=f"poll task {task.id}",
                idempotent=True,
                parse=parse,
                accept=task_shaped,
                until=until,
            )
        )


def _joined(base_url: httpx.URL, path: str) -> httpx.URL:
    """An API path under `base_url`, joined as httpx joins it (a base path is kept)."""
    base = base_url.raw_path.split(b"?")[0].rstrip(b"/")
    return base_url.copy_with(raw_path=base + b"/" + path.lstrip("/").encode())
