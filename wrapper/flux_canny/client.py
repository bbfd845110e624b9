"""FluxCanny: the blocking face. It performs the effects `_flow` yields, nothing more."""

from __future__ import annotations

import time
from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import httpx

from ._base import ClientBase
from ._effects import Failed, Flow, Record, Sleep, T, advance, interrupt
from ._generated import CREDITS, FINETUNE_DETAILS, MY_FINETUNES
from ._operations import CANNY
from ._params import SyncCalls
from ._spec import packaged_spec
from ._wire import SubmitBody
from .images import GeneratedImage
from .ledger import Claim
from .models import Result, Task, task_of

if TYPE_CHECKING:
    from .probe import ProbeReport

__all__ = ["FluxCanny"]


class FluxCanny(ClientBase[httpx.Client], SyncCalls):
    """Submit, poll and download generations of BFL's endpoints (the FLUX.1 Canny [pro]
    finetune unless `endpoint=` names another).

    >>> with FluxCanny() as flux:  # key from BFL_API_KEY
    ...     image = flux.generate(control_image="edges.png", prompt="a castle",
    ...                           finetune_id="my-finetune")
    ...     image.save("castle.jpg")
    """

    _http_class = httpx.Client

    def _perform(self, effect: Any) -> Any:
        if isinstance(effect, Sleep):
            return self._core.clock.sleep(effect.seconds)
        if isinstance(effect, Record):
            try:
                return effect.write()
            except Exception as error:  # handed to the flow, which decides
                return Failed(error)
        try:
            reader = effect.reader(time.monotonic())
            kwargs = effect.httpx_kwargs(asynchronous=False, auth=self._auth)
            with self._http.stream(**kwargs) as response:
                for chunk in response.iter_bytes():
                    reader.feed(chunk, time.monotonic())
                return self._auth.scrubbed(reader.response(response))
        except Exception as error:  # handed to the flow, which decides
            return Failed(self._auth.disarmed(error))

    def _run(self, flow: Flow[T]) -> T:
        self._check_open()
        try:
            step = advance(flow, None)
            while step.effect is not None:
                try:
                    outcome = self._perform(step.effect)
                except BaseException as error:  # Ctrl-C: the flow records it, then re-raises
                    step = interrupt(flow, error)
                else:
                    step = advance(flow, outcome)
        finally:
            flow.close()
        result: T = step.value
        return result

    def _submit(self, endpoint: str, validate: bool | None, fields: dict[str, Any]) -> Task:
        return self._run(self._core.submit(self._prepare(endpoint, validate, fields)))

    if not TYPE_CHECKING:  # typed per endpoint by SyncCalls' overloads

        def submit(
            self, *, endpoint: str = CANNY, validate: bool | None = None, **fields: Any
        ) -> Task:
            """Submit one generation of `endpoint` (the canny finetune unless named);
            returns at once with the task id and polling URL."""
            return self._submit(endpoint, validate, fields)

    def submit_prepared(self, body: SubmitBody, *, claim: Claim | None = None) -> Task:
        """Submit a prepared body; `claim` is the ledger's claim on a named job (batches)."""
        return self._run(self._core.submit(body, row=self._core.claimed_row(body, claim)))

    def get_result(self, task: Task | str) -> Result:
        """One poll of a task (by Task or id); never raises on an unknown status."""
        return self._run(self._core.get_result(task_of(task)))

    def wait(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> Result:
        """Poll until Ready; raise ModerationError, GenerationError, TaskNotFoundError or
        WaitTimeoutError (which carries the task id and polling URL to resume later)."""
        task = task_of(task)
        return self._run(self._core.wait(task, timeout=timeout, on_update=on_update))

    def download(self, result: Result) -> GeneratedImage:
        """Fetch the result image (without the API key: delivery hosts never see it)."""
        return self._run(self._core.download(result))

    def _generate(
        self,
        endpoint: str,
        validate: bool | None,
        fields: dict[str, Any],
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
        on_submit: Callable[[Task], None] | None = None,
    ) -> GeneratedImage:
        body = self._prepare(endpoint, validate, fields)
        return self._run(
            self._core.generate(body, timeout=timeout, on_update=on_update, on_submit=on_submit)
        )

    if not TYPE_CHECKING:  # typed per endpoint by SyncCalls' overloads

        def generate(
            self,
            *,
            endpoint: str = CANNY,
            timeout: float | None = None,
            on_update: Callable[[Result], None] | None = None,
            on_submit: Callable[[Task], None] | None = None,
            validate: bool | None = None,
            **fields: Any,
        ) -> GeneratedImage:
            """Submit, wait and download in one call (`endpoint`: the canny finetune unless
            named)."""
            return self._generate(endpoint, validate, fields, timeout, on_update, on_submit)

    def resume(
        self,
        task: Task | str,
        *,
        timeout: float | None = None,
        on_update: Callable[[Result], None] | None = None,
    ) -> GeneratedImage:
        """Wait for an already-submitted task and download its image."""
        task = task_of(task)
        return self._run(self._core.finish(task, timeout=timeout, on_update=on_update))

    def probe(self, endpoint: str = CANNY) -> ProbeReport:
        """Check, at no cost, that the server still enforces every constraint of
        `endpoint`'s request schema in openapi.json (see flux_canny.probe)."""
        from .probe import probe_flow

        report: ProbeReport = self._run(probe_flow(self._core.exchange, packaged_spec(), endpoint))
        return report

    def credits(self) -> float:
        """The credits your key has left (BFL answers 402 on a submit beyond them)."""
        return float(self._run(self._core.call(CREDITS)).credits_)

    def my_finetunes(self) -> list[Any]:
        """The finetune ids your key has created."""
        return list(self._run(self._core.call(MY_FINETUNES)).finetunes)

    def finetune_details(self, finetune_id: str) -> dict[str, Any]:
        """Training parameters and metadata of one finetune."""
        parsed = self._run(self._core.call(FINETUNE_DETAILS, finetune_id=finetune_id))
        return dict(parsed.finetune_details.to_dict())

    def close(self) -> None:
        self._closed = True
        if self._owns_http:
            self._http.close()
        self._close_ledger()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
