"""The one place where a generation's steps are decided: sans-IO, like h11 and httpcore.

Each operation is a generator that yields *effects* (send a request, sleep) and receives
their outcomes. `FluxCanny` performs effects with blocking I/O, `AsyncFluxCanny` with
async I/O; neither decides anything. Retries, the poll schedule, status handling, host
checks and error mapping live here once, and tests can drive a flow step by step with no
network and no clock.

Requests to the API's operations are built by the generated endpoint modules
(`_get_kwargs`) and their answers parsed by them (`_parse_response`); only the sending
sits in between, in the faces. That keeps the generated code the authority on paths,
parameters and models, while the URL is joined once per path rather than per request
and statuses outside Python's HTTPStatus (Cloudflare's 520-530) stay ordinary 5xx.
"""

from __future__ import annotations

import contextlib
import difflib
import email.utils
import json
import logging
import math
import time
from collections.abc import Callable, Container, Generator, Mapping
from types import ModuleType
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import httpx
from flux_canny_api.api.models import (
    flux_pro_1_0_canny_finetuned_v1_flux_pro_1_0_canny_finetuned_post as canny_post,
)
from flux_canny_api.client import Client
from flux_canny_api.models.async_response import AsyncResponse
from flux_canny_api.models.async_webhook_response import AsyncWebhookResponse
from flux_canny_api.models.http_validation_error import HTTPValidationError

from ._auth import HostPolicy
from ._wire import AnswerTooLarge, AnswerTooSlow, Send, SubmitBody, submit_body
from .clock import Clock
from .errors import (
    APIConnectionError,
    APIStatusError,
    APIValidationError,
    AuthenticationError,
    FluxCannyError,
    GenerationError,
    InsufficientCreditsError,
    LedgerError,
    ModerationError,
    RateLimitError,
    RequestValidationError,
    SampleExpiredError,
    SubmitUncertainError,
    TaskNotFoundError,
    UntrustedURLError,
    WaitTimeoutError,
    clean,
)
from .images import GeneratedImage, base64_control_image, sniff_format
from .ledger import Ledger, State
from .models import FINAL_FAILURES, MODERATED, NOT_FOUND, PENDING, Result, Task
from .policy import DurationModel, PollPolicy, PollSchedule, RetryPolicy
from .validation import RequestValidator

if TYPE_CHECKING:
    from .conformance import ConformanceReport, ResponseChecker

log = logging.getLogger("flux_canny")
T = TypeVar("T")

_EXPIRED = frozenset({403, 404, 410})
#: a task this client just submitted may be unknown to a regional store for a moment
_NOT_FOUND_GRACE = 10.0
_NOT_FOUND_POLLS = 3
#: in-progress statuses the live API sends beyond the spec's enum (seen in live runs)
_LIVE_IN_PROGRESS = ("reasoning", "generating")
_SAFE_CONNECT_ERRORS = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
# The generated parsers read one setting from their client: we want None, not a raise.
_PARSING = Client(base_url="http://unused.invalid", raise_on_unexpected_status=False)


@attrs.frozen
class Sleep:
    seconds: float


@attrs.frozen
class Failed:
    """The outcome of an effect whose I/O raised."""

    error: Exception


Effect = Send | Sleep
Flow = Generator[Effect, Any, T]


@attrs.frozen
class Step:
    """Where a flow stands: the next effect to perform, or its final value."""

    effect: Effect | None
    value: Any = None


def advance(flow: Flow[Any], outcome: Any) -> Step:
    """Send one outcome into a flow (None to start it) and return its next step."""
    try:
        return Step(flow.send(outcome))
    except StopIteration as stop:
        return Step(None, stop.value)


def interrupt(flow: Flow[Any], error: BaseException) -> Step:
    """Throw an interrupt (Ctrl-C, a cancellation) that hit an effect into its flow, so the
    flow's own handlers run: a submit in flight is written down as uncertain, a waiting
    task gets its resume note. The flow re-raises it; httpx's auth-flow driver is the model."""
    try:
        return Step(flow.throw(error))
    except StopIteration as stop:
        return Step(None, stop.value)


def _check_encodable(body: Mapping[str, Any]) -> None:
    """Text that cannot become UTF-8 (a lone surrogate from a mis-decoded file name) is
    refused as pydantic would, not found by the encoder after validation said yes."""
    errors = []
    for name, value in body.items():
        if not isinstance(value, str):
            continue
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            errors.append(
                {
                    "type": "string_unicode",
                    "loc": ["body", name],
                    "msg": "Input should be a valid string, unable to parse raw data as a "
                    "unicode string",
                    "input": value.encode("utf-8", "backslashreplace").decode("utf-8"),
                }
            )
    if errors:
        raise RequestValidationError(errors)


def _row(row: int | None) -> int:
    assert row is not None  # set whenever a ledger is
    return row


class _Malformed(Exception):
    """A 2xx answer whose body is not what the spec promises."""


@attrs.frozen
class _Verdict:
    retry: bool
    error: FluxCannyError
    rate_limited: bool = False
    retry_after: float | None = None
    cause: BaseException | None = None


def _retry_after(headers: Mapping[str, str]) -> float | None:
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:  # "-5", "nan", "inf": not a delay; our own backoff decides
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _body_of(response: Any) -> Any:
    try:
        return json.loads(response.content)
    except (ValueError, RecursionError):
        return response.content[:500].decode("utf-8", "replace")


http_log = logging.getLogger("flux_canny.http")


def _log_exchange(effect: Send, outcome: Any, seconds: float) -> None:
    """One line per request for --debug: never the key, never a query string."""
    if not http_log.isEnabledFor(logging.DEBUG):
        return
    said = (
        type(outcome.error).__name__
        if isinstance(outcome, Failed)
        else f"{outcome.status_code} ({len(outcome.content)} bytes)"
    )
    http_log.debug("%s %s -> %s in %.0f ms", effect.method, _where(effect.url), said, seconds * 1e3)


def _where(url: httpx.URL | str) -> str:
    """A URL as it may be shown: no query string (signed URLs carry secrets there)."""
    parsed = httpx.URL(url)
    return str(parsed.copy_with(query=None, fragment=None))


def _status_verdict(
    response: Any, *, idempotent: bool, what: str, where: str = ""
) -> _Verdict | None:
    status = int(response.status_code)
    if status < 300:
        return None
    body = _body_of(response)
    if status < 400:
        where = response.headers.get("location", "elsewhere")
        return _Verdict(
            False,
            APIStatusError(
                f"{what}: the server redirected (HTTP {status}) to {clean(where)[:200]}; not "
                "followed, since the API key would go with it. Check the base URL",
                status_code=status,
                body=body,
            ),
        )
    if status == 402:
        return _Verdict(
            False,
            InsufficientCreditsError(
                f"{what}: out of credits (HTTP 402: {_detail_text(body)}); top up at "
                "https://dashboard.bfl.ai, then submit again (no task was created)",
                status_code=402,
                body=body,
            ),
        )
    if status == 429:
        after = _retry_after(response.headers)
        return _Verdict(
            retry=True,
            rate_limited=True,
            retry_after=after,
            error=RateLimitError(
                f"{what}: rate limited (HTTP 429: too many requests or more than the allowed "
                "active tasks); wait for running tasks to finish, or lower concurrency",
                body=body,
                retry_after=after,
            ),
        )
    if status in (401, 403):
        return _Verdict(
            False,
            AuthenticationError(
                f"{what}: the API key was refused (HTTP {status}); check the key you gave "
                "(api_key= / --api-key / BFL_API_KEY)",
                status_code=status,
                body=body,
            ),
        )
    if status == 422:
        parsed: HTTPValidationError | None
        try:
            parsed = HTTPValidationError.from_dict(body) if isinstance(body, dict) else None
        except (KeyError, ValueError, TypeError, AttributeError):
            parsed = None  # a string detail ("Invalid API key format"), seen live
        detail = body.get("detail") if isinstance(body, dict) else body
        errors = [e for e in detail if isinstance(e, dict)] if isinstance(detail, list) else []
        summary = _detail_text(body)
        return _Verdict(
            False,
            APIValidationError(
                f"{what}: the server rejected the request (HTTP 422): {summary}",
                body=body,
                detail=parsed,
                errors=errors,
            ),
        )
    if status >= 500 and idempotent:
        return _Verdict(
            True,
            APIStatusError(f"{what}: server error (HTTP {status})", status_code=status, body=body),
            retry_after=_retry_after(response.headers),
        )
    if status >= 500:
        # BFL's own SDK never retries a 5xx on a POST: the task may exist and be billed.
        return _Verdict(
            False,
            SubmitUncertainError(
                f"{what}: server error (HTTP {status}) after the request arrived; the task may "
                "exist and be billed, so it was not retried. Check your recent tasks "
                "(`flux-canny tasks`) before submitting again",
                status_code=status,
                body=body,
            ),
        )
    hint = "; is the API root right? (base_url= / BFL_BASE_URL)" if status in (404, 405) else ""
    return _Verdict(
        False,
        APIStatusError(
            f"{what}: HTTP {status} from {where}: {_detail_text(body)}{hint}",
            status_code=status,
            body=body,
        ),
    )


#: what a failed exchange can raise; anything else (a TypeError in a transport) is a bug,
#: raised as it is rather than reported as a network failure
_IO_ERRORS = (httpx.TransportError, httpx.DecodingError, _Malformed, OSError)


def _task_shaped(response: Any) -> bool:
    """A poll's error status that carries a final task body, as the live API sends them:
    404 {"status": "Task not found"}, 422/503 {"status": "Error", "details": {...}}. They are
    answers about the task, not failures of the request."""
    status = int(response.status_code)
    if status not in (404, 422, 503):
        return False
    body = _body_of(response)
    if not isinstance(body, Mapping) or not isinstance(body.get("status"), str):
        return False
    kind = body["status"].casefold()
    if status == 404:
        return kind in NOT_FOUND
    return kind in FINAL_FAILURES or kind in MODERATED


def _detail_text(body: Any) -> str:
    """The server's own words from an error body, whatever shape FastAPI gave them."""
    detail = body.get("detail", body) if isinstance(body, Mapping) else body
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, Mapping):
                where = ".".join(str(p) for p in entry.get("loc", []) if p != "body")
                parts.append(f"{where or 'body'}: {entry.get('msg', entry)}")
            else:
                parts.append(str(entry))
        detail = "; ".join(parts)
    return clean(str(detail))[:500]


def _failure_verdict(error: Exception, *, idempotent: bool, what: str, where: str = "") -> _Verdict:
    if isinstance(error, AnswerTooLarge | AnswerTooSlow):
        # not retried: the same server would only cost the same memory or time again
        if idempotent:
            return _Verdict(False, APIConnectionError(f"{what}: {error}"), cause=error)
        return _Verdict(
            False,
            SubmitUncertainError(
                f"{what}: {error}, after the request was sent; the task may exist and be "
                "billed. Check your recent tasks (`flux-canny tasks`) before submitting again"
            ),
            cause=error,
        )
    if isinstance(error, _SAFE_CONNECT_ERRORS):
        return _Verdict(
            True,
            APIConnectionError(
                f"{what}: could not connect to {where} ({type(error).__name__}); check the "
                "address (base_url= / BFL_BASE_URL) and the network"
            ),
            cause=error,
        )
    if isinstance(error, _IO_ERRORS):
        kind = (
            "timed out"
            if isinstance(error, httpx.TimeoutException)
            else (
                "connection failed"
                if isinstance(error, httpx.TransportError)
                else "unreadable answer"
            )
        )
        if idempotent:
            return _Verdict(
                True,
                APIConnectionError(f"{what}: {kind} ({type(error).__name__})"),
                cause=error,
            )
        return _Verdict(
            False,
            SubmitUncertainError(
                f"{what}: {kind} after the request was sent ({type(error).__name__}); the task may "
                "exist and be billed, so it was not retried. Check your recent tasks "
                "(`flux-canny tasks`) before submitting again"
            ),
            cause=error,
        )
    raise error


@attrs.define
class Core:
    """Everything both clients share: configuration and the flows built on it."""

    base_url: httpx.URL
    hosts: HostPolicy
    validator: RequestValidator
    clock: Clock
    retry: RetryPolicy = attrs.field(factory=RetryPolicy)
    poll: PollPolicy = attrs.field(factory=PollPolicy)
    durations: DurationModel = attrs.field(factory=DurationModel)
    validate: bool = True
    wait_timeout: float | None = 600.0
    #: live conformance: every API response checked against the spec, deviations reported
    responses: ResponseChecker | None = None
    report: ConformanceReport | None = None
    #: every submit written down before it is sent (None: not recorded)
    ledger: Ledger | None = None
    #: an image larger than this (decompressed) is not downloaded; BFL's are a few MB
    max_download_bytes: int = 128 << 20
    #: the longest one download may take, however steadily its bytes arrive
    download_deadline: float = 300.0
    _urls: dict[str, httpx.URL] = attrs.field(factory=dict, init=False, repr=False)
    _durations_loaded: bool = attrs.field(default=False, init=False, repr=False)

    def url(self, path: str) -> httpx.URL:
        """An API path under base_url, joined as httpx joins it (a base path is kept)."""
        url = self._urls.get(path)
        if url is None:
            base = self.base_url.raw_path.split(b"?")[0].rstrip(b"/")
            url = self.base_url.copy_with(raw_path=base + b"/" + path.lstrip("/").encode())
            self._urls[path] = url
        return url

    def request(self, generated: Mapping[str, Any]) -> Send:
        """A generated endpoint's request keywords (`_get_kwargs`), as an effect."""
        options = dict(generated)
        method, path = str(options.pop("method")).upper(), str(options.pop("url"))
        return Send(method, self.url(path), options=options)

    # -- building the request -------------------------------------------------------------

    def build_body(
        self,
        control_image: Any,
        prompt: Any,
        finetune_id: Any,
        params: Mapping[str, Any],
        validate: bool | None,
    ) -> SubmitBody:
        """Validate the parameters, then encode the image: all before any network call."""
        unknown = sorted(set(params) - self.validator.field_names)
        if unknown:
            hints = [difflib.get_close_matches(u, self.validator.field_names, 1) for u in unknown]
            said = ", ".join(
                f"{u!r}" + (f" (did you mean {h[0]!r}?)" if h else "")
                for u, h in zip(unknown, hints, strict=True)
            )
            raise TypeError(
                f"unknown request parameter {said}; valid: "
                + ", ".join(sorted(self.validator.field_names))
            )
        body: dict[str, Any] = {**params, "prompt": prompt, "finetune_id": finetune_id}
        check = self.validate if validate is None else validate
        if check:
            body = self.validator.normalise({**body, "control_image": ""})
        body.pop("control_image", None)
        _check_encodable(body)
        return submit_body(body, base64_control_image(control_image))

    # -- one request, with the retry rules ------------------------------------------------

    def _send(
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
        while True:
            sent = self.clock.monotonic()
            outcome = yield effect
            _log_exchange(effect, outcome, self.clock.monotonic() - sent)
            verdict: _Verdict | None
            if conform and not isinstance(outcome, Failed):
                self._conform(effect, outcome)
            if isinstance(outcome, Failed):
                verdict = _failure_verdict(
                    outcome.error, idempotent=idempotent, what=what, where=_where(effect.url)
                )
            elif accept(outcome) if callable(accept) else int(outcome.status_code) in accept:
                return parse(outcome)
            else:
                verdict = (
                    None  # the usual answer: no URL to show, so none is built (0.13 ms)
                    if int(outcome.status_code) < 300
                    else _status_verdict(
                        outcome, idempotent=idempotent, what=what, where=_where(effect.url)
                    )
                )
                if verdict is None:
                    try:
                        return parse(outcome)
                    except (_Malformed, ValueError, KeyError, TypeError, RecursionError) as exc:
                        malformed = _Malformed(str(exc))
                        malformed.__cause__ = exc
                        verdict = _failure_verdict(malformed, idempotent=idempotent, what=what)
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

    # -- the operations -------------------------------------------------------------------

    def _stamped(self, flow: Flow[T], inflight: list[bool] | None = None) -> Flow[tuple[T, float]]:
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

    def _record(self, write: Callable[[Ledger], None], task_id: str | None = None) -> None:
        """A ledger write after the POST: its failure must not lose the task in hand, so
        it is logged, never raised (the row it could not move stays where it was, which
        is always on the side of not paying twice)."""
        if self.ledger is None:
            return
        try:
            write(self.ledger)
        except LedgerError as error:
            log.warning("task %s: %s", task_id or "?", error)

    def submit(self, body: SubmitBody, *, row: int | None = None) -> Flow[Task]:
        """POST once (retried only where no task can exist), written ahead in the ledger.

        `row` is a ledger row claimed for this submit (a batch job); without one a row is
        made. A LedgerError here is raised before anything is sent.
        """
        if self.ledger is not None:
            row = self.ledger.sending(row, base_url=str(self.base_url), **body.summary)
        inflight = [False]
        try:
            task, handled = yield from self._stamped(
                self._send(
                    self.request(body.request),
                    what="submit",
                    idempotent=False,
                    parse=self._parse_task,
                ),
                inflight,
            )
        except BaseException as error:
            self._record_unsent(_row(row) if self.ledger else None, error, sending=inflight[0])
            raise
        self._record(lambda ledger: ledger.submitted(_row(row), task.id, task.polling_url), task.id)
        task = attrs.evolve(task, handled_at=handled)
        log.info("submitted task %s", task.id)
        return task

    def _record_unsent(self, row: int | None, error: BaseException, *, sending: bool) -> None:
        """A submit that returned no task: uncertain where one may exist, else rejected."""
        if row is None:
            return
        if isinstance(error, SubmitUncertainError):
            uncertain, said = True, str(error)
        elif isinstance(error, FluxCannyError):
            uncertain, said = False, str(error)
        else:  # Ctrl-C, a cancellation, a bug: what matters is whether the POST was out
            kind = type(error).__name__
            uncertain = sending
            said = f"interrupted ({kind}) " + (
                "while the submit was sent" if sending else "before sending"
            )
        if uncertain:
            self._record(lambda ledger: ledger.uncertain(row, said))
        else:
            self._record(lambda ledger: ledger.rejected(row, said))

    def _parse_task(self, response: httpx.Response) -> Task:
        parsed = canny_post._parse_response(client=_PARSING, response=response)
        if isinstance(parsed, AsyncResponse):
            return Task(
                id=parsed.id,
                polling_url=parsed.polling_url,
                raw=parsed.to_dict(),
                submitted_at=self.clock.monotonic(),
            )
        if isinstance(parsed, AsyncWebhookResponse):
            return Task(
                id=parsed.id,
                webhook_url=parsed.webhook_url,
                status=parsed.status,
                raw=parsed.to_dict(),
                submitted_at=self.clock.monotonic(),
            )
        raise _Malformed("the submit answer has neither polling_url nor webhook_url")

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
            yield from self._send(
                Send("GET", url),
                what=f"poll task {task.id}",
                idempotent=True,
                parse=parse,
                accept=_task_shaped,
                until=until,
            )
        )

    def wait(
        self,
        task: Task,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> Flow[Result]:
        """Poll until a final status: Ready returns, others raise a TaskError."""
        limit = self.wait_timeout if timeout is None else timeout
        now = self.clock.monotonic()
        # A task resumed by id: when it was submitted, if the ledger knows, so progress is
        # read against the task's real age. Without that, progress says nothing about
        # when it will finish (50 % after 0.01 s since resuming reads as "any moment now",
        # and it was polled ten times a second), so it is not extrapolated at all.
        resumed_at = self._submitted_at(task) if task.submitted_at is None else None
        knows_start = task.submitted_at is not None or resumed_at is not None
        started = task.submitted_at if task.submitted_at is not None else resumed_at or now
        # Two clocks. Progress is extrapolated from when the submit returned: late, so the
        # finish is foreseen early, never late. Durations are learned from when the server
        # most likely handled each request (send/answer midpoints), so tasks submitted
        # under different loads still agree on them.
        origin = task.handled_at if task.handled_at is not None else started
        deadline = None if limit is None else now + limit
        plan = self._plan()
        schedule = PollSchedule(self.poll, plan=plan, phase=self.durations.next_phase())
        since = now - (origin if plan is not None else started)
        delay = schedule.first_delay() - since if task.submitted_at is not None else 0.0
        last_pending: float | None = None
        last_handled: float | None = None
        unknown_seen: set[str] = set()
        not_found = 0
        try:
            while True:
                if deadline is not None:
                    delay = min(delay, deadline - self.clock.monotonic())
                if delay > 0:
                    yield Sleep(delay)
                result, handled = yield from self._stamped(self.get_result(task, until=deadline))
                now = self.clock.monotonic()
                if on_update is not None:
                    on_update(result)
                if result.is_ready:
                    self._record(self._ready_writer(task, last_handled, handled - origin), task.id)
                    return result
                kind = result.status.casefold()
                fresh = task.submitted_at is not None and now - started < _NOT_FOUND_GRACE
                if kind in NOT_FOUND and fresh and not_found < _NOT_FOUND_POLLS:
                    # another region's store may not know a brand-new task for a moment
                    not_found += 1
                else:
                    self._raise_if_failed(result, task)
                if (
                    kind not in (PENDING, *NOT_FOUND, *_LIVE_IN_PROGRESS)
                    and kind not in unknown_seen
                ):
                    unknown_seen.add(kind)
                    log.warning(
                        "task %s reports status %r, which the spec does not list; "
                        "treating it as in progress",
                        task.id,
                        result.status,
                    )
                last_pending, last_handled = now - started, handled - origin
                if deadline is not None and now >= deadline:
                    raise WaitTimeoutError(
                        f"task {task.id} not ready after {limit:.0f} s (last status "
                        f"{clean(result.status)!r}); it may still finish",
                        task_id=task.id,
                        polling_url=task.polling_url,
                        status=result.status,
                        result=result,
                    )
                progress = result.progress if knows_start else None
                delay = schedule.next_delay(last_pending, progress, learned=last_handled)
        except FluxCannyError as error:
            error.attach_task(task.id, task.polling_url)
            raise

    def _ready_writer(
        self, task: Task, last_pending: float | None, ready: float
    ) -> Callable[[Ledger], None]:
        """Learn the task's duration bracket, and write it down with the Ready state, so
        the next run's first polls are aimed too."""
        took: dict[str, float] = {}
        if task.submitted_at is not None and self.poll.learn:
            self.durations.observe(last_pending, ready)
            took = {"duration_low": last_pending or 0.0, "duration_high": ready}

        def write(ledger: Ledger) -> None:
            ledger.task_state(task.id, State.READY, **took)

        return write

    def _plan(self) -> tuple[float, ...] | None:
        """Poll times learned from finished tasks: this client's, and on its first wait,
        those the ledger kept from earlier runs against the same API."""
        if not self.poll.learn or self.poll.fixed_interval is not None:
            return None
        if not self._durations_loaded:
            self._durations_loaded = True
            if self.ledger is not None and not self.durations.brackets():
                with contextlib.suppress(LedgerError):
                    for low, high in self.ledger.durations(str(self.base_url)):
                        self.durations.observe(low, high)
        return self.durations.plan(
            request_cost=self.poll.request_cost, min_gap=self.poll.min_interval
        )

    def _submitted_at(self, task: Task) -> float | None:
        """When the ledger says `task` was submitted, on this client's clock."""
        if self.ledger is None:
            return None
        try:
            entry = self.ledger.find(task.id)
        except LedgerError:
            return None
        if entry is None:
            return None
        return self.clock.monotonic() - max(0.0, time.time() - entry.created_at)

    def _raise_if_failed(self, result: Result, task: Task) -> None:
        kind = result.status.casefold()
        gone = (
            State.MODERATED
            if kind in MODERATED
            else State.FAILED
            if kind in FINAL_FAILURES
            else State.NOT_FOUND
            if kind in NOT_FOUND
            else None
        )
        if gone is not None:
            said = f"{result.status}"
            self._record(lambda ledger: ledger.task_state(task.id, gone, error=said), task.id)
        details = clean(str(result.raw.get("details") or result.raw.get("result")))[:500]
        args: dict[str, Any] = {
            "task_id": task.id,
            "polling_url": task.polling_url,
            "status": result.status,
            "result": result,
        }
        if kind in MODERATED:
            raise ModerationError(
                f"task {task.id}: {result.status} (no image); rephrase the prompt, use another "
                f"control image, or raise safety_tolerance. Details: {details}",
                **args,
            )
        if kind in FINAL_FAILURES:
            raise GenerationError(
                f"task {task.id}: generation failed ({result.status}). Details: {details}; "
                "submitting again usually works",
                **args,
            )
        if kind in NOT_FOUND:
            raise TaskNotFoundError(
                f"task {task.id}: the server does not know this task (results expire, and tasks "
                "belong to the key that made them)",
                **args,
            )

    def download(self, result: Result, task: Task | None = None) -> Flow[GeneratedImage]:
        """GET the sample without the API key; refresh the URL once if it expired.

        Any failure names the task, so the image can still be fetched later.
        """
        task = task or Task(id=result.id)
        try:
            image = yield from self._download(result, task)
        except SampleExpiredError as error:
            said = str(error)
            self._record(lambda ledger: ledger.task_state(task.id, State.EXPIRED, error=said))
            error.attach_task(task.id, task.polling_url)
            raise
        except FluxCannyError as error:
            error.attach_task(task.id, task.polling_url)
            raise
        seed = image.seed
        self._record(
            lambda ledger: ledger.task_state(task.id, State.DOWNLOADED, seed=seed), task.id
        )
        return image

    def _download(self, result: Result, task: Task) -> Flow[GeneratedImage]:
        if not result.is_ready or not result.sample:
            raise GenerationError(
                f"task {task.id} has no image to download (status {clean(result.status)!r}, "
                "no result.sample in the answer)",
                task_id=task.id,
                polling_url=task.polling_url,
                status=result.status,
                result=result,
            )
        sample: str = result.sample
        seed = result.seed
        for attempt in range(2):
            if httpx.URL(sample).scheme not in ("http", "https"):
                raise UntrustedURLError(
                    f"refusing to download a non-http(s) sample URL for {task.id}"
                )
            response = yield from self._send(
                Send(
                    "GET",
                    sample,
                    with_key=False,
                    max_bytes=self.max_download_bytes,
                    deadline=self.download_deadline,
                ),
                what=f"download task {task.id}",
                idempotent=True,
                parse=lambda r: r,
                accept=_EXPIRED,
                conform=False,  # delivery hosts are not operations of the spec
            )
            if int(response.status_code) not in _EXPIRED:
                data = response.content
                fmt = sniff_format(data)
                if fmt is None:
                    raise GenerationError(
                        f"task {task.id}: the downloaded sample is not an image "
                        f"({response.headers.get('content-type')})",
                        task_id=task.id,
                        polling_url=task.polling_url,
                        status=result.status,
                        result=result,
                    )
                return GeneratedImage(
                    data=data, format=fmt, task_id=task.id, seed=seed, sample_url=sample
                )
            if attempt == 0:
                log.info(
                    "sample URL of task %s expired (HTTP %s); asking for a fresh one",
                    task.id,
                    response.status_code,
                )
                fresh = yield from self.get_result(task)
                if fresh.is_ready and fresh.sample:
                    sample, seed = fresh.sample, fresh.seed if fresh.seed is not None else seed
                    continue
        raise SampleExpiredError(
            f"task {task.id}: the result URL expired (they last about 10 minutes); "
            "download sooner after the task is ready"
        )

    def generate(
        self,
        body: SubmitBody,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
    ) -> Flow[GeneratedImage]:
        task = yield from self.submit(body)
        if on_submit is not None:
            on_submit(task)
        return (yield from self.finish(task, timeout=timeout, on_update=on_update))

    def finish(
        self,
        task: Task,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> Flow[GeneratedImage]:
        """Wait for a task and download its image; any failure names the task."""
        try:
            result = yield from self.wait(task, timeout=timeout, on_update=on_update)
            return (yield from self.download(result, task))
        except FluxCannyError as error:
            error.attach_task(task.id, task.polling_url)
            said = " ".join(Exception.__str__(error).split())
            self._record(lambda ledger: ledger.task_state(task.id, None, error=said), task.id)
            raise
        except BaseException as error:
            error.add_note(
                f"flux-canny: task {task.id} was submitted (polling URL "
                f"{task.polling_url}); resume it with wait()/get_result()"
            )
            raise

    def call(self, endpoint: ModuleType, what: str, **kwargs: Any) -> Flow[Any]:
        """An idempotent GET through a generated endpoint (my_finetunes, finetune_details)."""

        def parse(response: httpx.Response) -> Any:
            parsed = endpoint._parse_response(client=_PARSING, response=response)
            if parsed is None:
                raise _Malformed(f"{what}: unexpected answer")
            return parsed

        request = self.request(endpoint._get_kwargs(**kwargs))
        return (yield from self._send(request, what=what, idempotent=True, parse=parse))
