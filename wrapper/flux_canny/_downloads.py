"""Downloading a ready task's image: without the key, bounded, refreshed if refused.

A refused download (403/404/410) is absence of evidence, not proof that the image is
gone: a delivery host may refuse a URL for a moment right after Ready. So before the
image is reported expired, a fresh URL is asked for and tried again, with back-off.

A sans-IO flow (see `_effects`) driven by both faces through `Core.download`, given the
`Exchange` it fetches through and its limits, never the core.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from ._effects import Flow, Sleep
from ._wire import Send
from .errors import (
    FluxCannyError,
    GenerationError,
    InvalidArgumentError,
    SampleExpiredError,
    UntrustedURLError,
    clean,
)
from .images import GeneratedImage, sniff_format
from .ledger import State
from .models import Result, Task

if TYPE_CHECKING:
    from ._exchange import Exchange

__all__ = ["download"]

log = logging.getLogger("flux_canny")

#: a delivery host's answers to an expired signed URL
_EXPIRED = frozenset({403, 404, 410})
#: the pauses before each fresh URL is tried: refused this often, it is reported expired
_REFRESH_BACKOFF = (0.0, 1.0, 2.0, 4.0)


def download(
    exchange: Exchange,
    result: Result,
    task: Task | None = None,
    *,
    until: float | None = None,
    max_bytes: int,
    deadline: float,
) -> Flow[GeneratedImage]:
    """GET the sample without the API key; refresh the URL if it is refused. `until`: a
    call's deadline on the exchange's clock, which the download does not outlast;
    `max_bytes` and `deadline`: one download's limits, in bytes and seconds.

    Any failure names the task, so the image can still be fetched later.
    """
    if not isinstance(result, Result):
        raise InvalidArgumentError(
            f"download() takes the Result that wait() or get_result() returned, got "
            f"{result!r:.80}; for a task or its id, use resume()"
        )
    task = task or Task(id=result.id)
    try:
        image = yield from _download(exchange, result, task, until, max_bytes, deadline)
    except SampleExpiredError as error:
        said = str(error)
        yield from exchange.record(
            lambda ledger: ledger.task_state(task.id, State.EXPIRED, error=said), task.id
        )
        error.attach_task(task.id, task.polling_url)
        raise
    except FluxCannyError as error:
        error.attach_task(task.id, task.polling_url)
        raise
    seed = image.seed
    yield from exchange.record(
        lambda ledger: ledger.task_state(task.id, State.DOWNLOADED, seed=seed), task.id
    )
    return image


def _download(
    exchange: Exchange,
    result: Result,
    task: Task,
    until: float | None,
    max_bytes: int,
    deadline: float,
) -> Flow[GeneratedImage]:
    if not result.is_ready or not result.sample:
        raise GenerationError.about(
            f"task {task.id} has no image to download (status {clean(result.status)!r}, "
            "no result.sample in the answer)",
            task,
            result,
        )
    sample: str = result.sample
    seed = result.seed
    refused: list[int] = []
    for pause in (*_REFRESH_BACKOFF, None):
        if httpx.URL(sample).scheme not in ("http", "https"):
            raise UntrustedURLError(f"refusing to download a non-http(s) sample URL for {task.id}")
        response = yield from exchange.send(
            Send(
                "GET",
                sample,
                with_key=False,
                max_bytes=max_bytes,
                deadline=_left(exchange, deadline, until),
            ),
            what=f"download task {task.id}",
            idempotent=True,
            until=until,
            parse=lambda r: r,
            accept=_EXPIRED,
            conform=False,  # delivery hosts are not operations of the spec
        )
        if int(response.status_code) not in _EXPIRED:
            data = response.content
            fmt = sniff_format(data)
            if fmt is None:
                raise GenerationError.about(
                    f"task {task.id}: the downloaded sample is not an image "
                    f"({response.headers.get('content-type')})",
                    task,
                    result,
                )
            return GeneratedImage(
                data=data, format=fmt, task_id=task.id, seed=seed, sample_url=sample
            )
        refused.append(int(response.status_code))
        if pause is None:
            break
        log.info(
            "the image host refused task %s's sample URL (HTTP %s); asking for a fresh one",
            task.id,
            response.status_code,
        )
        if pause and until is not None and exchange.clock.monotonic() + pause > until:
            break  # the call's time is up: reported, the task is still recorded
        if pause:
            yield Sleep(pause)
        fresh = yield from exchange.get_result(task, until=until)
        if not (fresh.is_ready and fresh.sample):
            break
        sample, seed = fresh.sample, fresh.seed if fresh.seed is not None else seed
    statuses = ", ".join(map(str, refused))
    raise SampleExpiredError(
        f"task {task.id}: the image host refused its result URL {len(refused)} time(s) "
        f"(HTTP {statuses}), fresh URLs included; results last about 10 minutes after "
        "Ready, so the image may have expired; the task is recorded and can be looked "
        "for again"
    )


def _left(exchange: Exchange, deadline: float, until: float | None) -> float:
    """The download's own deadline, within the call's."""
    if until is None:
        return deadline
    return max(0.001, min(deadline, until - exchange.clock.monotonic()))
