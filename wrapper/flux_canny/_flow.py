"""The one place where a generation's steps are decided: sans-IO, like h11 and httpcore.

Each operation is a generator that yields *effects* (send a request, sleep) and receives
their outcomes. `FluxCanny` performs effects with blocking I/O, `AsyncFluxCanny` with
async I/O; neither decides anything. Retries, the poll schedule, status handling, host
checks and error mapping live here and in the phases once, and tests can drive a flow
step by step with no network and no clock.

`Core` composes small values and hands each phase only the ones it needs: the
`Exchange` (one request with its rules) to every phase, the `Learning` (durations per
endpoint) to polling, the download limits to downloading. No phase imports the core.

Requests to the API's operations are built by the generated endpoint modules
(`_get_kwargs`) and their answers parsed by them (`_parse_response`); only the sending
sits in between, in the faces. That keeps the generated code the authority on paths,
parameters and models, while the URL is joined once per path rather than per request
and statuses outside Python's HTTPStatus (Cloudflare's 520-530) stay ordinary 5xx.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import httpx
from flux_canny_api.models.http_validation_error import HTTPValidationError

from . import _downloads, _polling, _submits
from ._auth import HostPolicy
from ._checks import check_callback, check_flag, check_wait
from ._effects import Flow
from ._exchange import Exchange
from ._generated import Endpoint
from ._spec import packaged_spec
from ._verdicts import Malformed
from ._wire import SubmitBody
from .clock import Clock
from .errors import FluxCannyError, InvalidArgumentError, RequestValidationError
from .images import GeneratedImage
from .ledger import Claim, Ledger
from .models import Result, Task
from .policy import DurationModel, PollPolicy, RetryPolicy
from .validation import validator_for

if TYPE_CHECKING:
    from .conformance import ConformanceReport, ResponseChecker

T = TypeVar("T")


def _exchange(core: Core) -> Exchange:
    return Exchange(
        base_url=core.base_url,
        hosts=core.hosts,
        clock=core.clock,
        retry=core.retry,
        responses=core.responses,
        report=core.report,
        ledger=core.ledger,
        routed=core.routed,
    )


def _learning(core: Core) -> _polling.Learning:
    return _polling.Learning(core.poll, core.durations)


@attrs.frozen
class Core:
    """Everything both clients share: configuration, and the flows built on it."""

    base_url: httpx.URL
    hosts: HostPolicy
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
    #: no base URL was configured: each operation goes to the server its spec entry names
    routed: bool = False
    #: what every phase sends through (made from the fields above; frozen, so they agree)
    exchange: Exchange = attrs.field(
        init=False, repr=False, default=attrs.Factory(_exchange, takes_self=True)
    )
    #: the learned durations of each endpoint, and which were read from the ledger
    learning: _polling.Learning = attrs.field(
        init=False, repr=False, default=attrs.Factory(_learning, takes_self=True)
    )

    def durations_for(self, operation: str | None) -> DurationModel:
        """The learned durations of `operation`'s tasks (the seed's unless named)."""
        return self.learning.durations_for(operation)

    @staticmethod
    def claimed_row(body: SubmitBody, claim: Claim | None) -> int | None:
        """The ledger row a prepared body is submitted under (a batch's claim), or None.
        A body not made by prepare(), or a claim not the ledger's, is refused before
        anything is sent (each raised a bare AttributeError)."""
        if not isinstance(body, SubmitBody):
            raise InvalidArgumentError(
                f"submit_prepared() takes what prepare() returned, got {body!r:.80}"
            )
        if claim is not None and not isinstance(claim, Claim):
            raise InvalidArgumentError(f"claim is what Ledger.claim() returned, got {claim!r:.80}")
        return claim.entry.row if claim is not None else None

    # -- the phases, each given the values it needs ---------------------------------------

    def build_body(
        self,
        endpoint: str,
        fields: Any,
        validate: bool | None,
        *,
        advised: set[bytes] | None = None,
    ) -> SubmitBody:
        """`endpoint`'s fields checked and encoded, before any network call."""
        check_flag("validate", validate, error=InvalidArgumentError)
        check = self.validate if validate is None else validate
        return _submits.build_body(validator_for, endpoint, fields, check, advised=advised)

    def submit(self, body: SubmitBody, *, row: int | None = None) -> Flow[Task]:
        return _submits.submit(self.exchange, body, row=row)

    def get_result(self, task: Task, *, until: float | None = None) -> Flow[Result]:
        """One poll; a task given by its id alone is polled where it lives."""
        task = self.exchange.located(task)
        return (yield from self.exchange.get_result(task, until=until))

    def wait(
        self,
        task: Task,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> Flow[Result]:
        """Poll until a final status; a task given by its id alone is polled where it
        lives."""
        task = self.exchange.located(task)
        return (
            yield from _polling.wait(
                self.exchange,
                self.learning,
                task,
                timeout=timeout,
                default_timeout=self.wait_timeout,
                on_update=on_update,
            )
        )

    def download(
        self, result: Result, task: Task | None = None, *, until: float | None = None
    ) -> Flow[GeneratedImage]:
        return _downloads.download(
            self.exchange,
            result,
            task,
            until=until,
            max_bytes=self.max_download_bytes,
            deadline=self.download_deadline,
        )

    def generate(
        self,
        body: SubmitBody,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
    ) -> Flow[GeneratedImage]:
        """Submit, wait and download; the wait's arguments are checked before the submit
        (a NaN timeout was refused only once the task was paid for)."""
        check_wait(timeout, on_update)
        check_callback("on_submit", on_submit)
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
        """Wait for a task and download its image; any failure names the task. `timeout`
        bounds the whole call, the download included (a dripping image host must not
        turn `timeout=60` into six minutes)."""
        started = self.clock.monotonic()
        try:
            task = self.exchange.located(task)  # the download's fresh URLs are asked there too
            result = yield from self.wait(task, timeout=timeout, on_update=on_update)
            until = None if timeout is None else started + timeout  # a number, once waited
            return (yield from self.download(result, task, until=until))
        except FluxCannyError as error:
            error.attach_task(task.id, task.polling_url)
            said = " ".join(Exception.__str__(error).split())
            yield from self.exchange.record(
                lambda ledger: ledger.task_state(task.id, None, error=said), task.id
            )
            raise
        except BaseException as error:
            error.add_note(
                f"flux-canny: task {task.id} was submitted (polling URL "
                f"{task.polling_url}); resume it with resume({task.id!r})"
            )
            raise

    def call(self, endpoint: Endpoint[T], **kwargs: Any) -> Flow[T]:
        """An idempotent GET through a generated endpoint (credits, my_finetunes...)."""

        def parse(response: httpx.Response) -> T:
            parsed = endpoint.parse(response)
            if parsed is None or isinstance(parsed, HTTPValidationError):
                raise Malformed(f"{endpoint.name}: unexpected answer")
            return parsed

        built = endpoint.request(**kwargs)
        errors = packaged_spec().query_errors(built["url"], built["method"], kwargs)
        if errors:  # refused here, as the server would, before any request
            raise RequestValidationError(errors)
        request = self.exchange.request(built)
        return (
            yield from self.exchange.send(request, what=endpoint.name, idempotent=True, parse=parse)
        )
