"""Issue 28, breaks 8, 9, 10, 12 and 13: the key stays home, and every error is typed and
pickles.

- 8: plain http never goes through a proxy (HTTP_PROXY / ALL_PROXY); https only tunnels.
- 9: no error carries a request, in its causes or contexts, whose repr shows the key.
- 10: a server that echoes the key leaves it in no message, log record or ledger byte.
- 12: every public error class pickles, and crosses a process pool as itself.
- 13: a closed client, a second event loop and a SOCKS proxy without socksio are typed.

Each runs on both faces where it applies (the `face` fixture).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import errno
import inspect
import logging
import pickle
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import flux_canny
import httpx
import pytest
from flux_canny import (
    APIConnectionError,
    APIStatusError,
    APIValidationError,
    AsyncFluxCanny,
    ClientClosedError,
    ConfigurationError,
    EventLoopError,
    FluxCannyError,
    GenerationError,
    Result,
    SubmitUncertainError,
    Task,
    WaitTimeoutError,
    errors,
)
from flux_canny._verdicts import failure_verdict, status_verdict
from flux_canny.fake import FakeBFL, FakeServer, VirtualClock
from flux_canny.ledger import Ledger

from tests.conftest import BASE, KEY, make_image

SUBMIT_PATH = "/v1/flux-pro-1.0-canny-finetuned"
ARGS = {"prompt": "a castle", "finetune_id": "my-finetune"}
PNG = make_image("PNG")


# -- what an error lets anyone see --------------------------------------------------------


def _attribute(link: BaseException, name: str) -> Any:
    try:
        return getattr(link, name, None)
    except RuntimeError:  # httpx: "The .request property has not been set."
        return None


def _shown(error: BaseException) -> Iterator[str]:
    """Every text an error shows: its str and repr, its notes, and along its causes and
    contexts each link's repr and that of the requests, headers and responses it holds."""
    yield str(error)
    yield from getattr(error, "__notes__", ())
    seen: set[int] = set()
    links: list[BaseException | None] = [error]
    while links:
        link = links.pop()
        if link is None or id(link) in seen:
            continue
        seen.add(id(link))
        yield repr(link)
        yield str(link)
        for name in ("request", "response"):
            held = _attribute(link, name)
            if held is not None:
                yield repr(held)
                yield repr(getattr(held, "headers", None))
                yield repr(getattr(held, "request", None))
        links += [link.__cause__, link.__context__]


def assert_keeps_the_key(error: BaseException) -> None:
    for text in _shown(error):
        assert KEY not in text, text
    assert KEY.encode() not in pickle.dumps(error)


def _mock(handler: Callable[[httpx.Request], httpx.Response]) -> httpx.MockTransport:
    return httpx.MockTransport(handler)


# -- 9: no request with the key in an error's causes ------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _raising(kind: type[httpx.TransportError]) -> httpx.MockTransport:
    def handler(request: httpx.Request) -> httpx.Response:
        raise kind("the network failed", request=request)

    return _mock(handler)


def _answering(status: int, body: Any) -> httpx.MockTransport:
    return _mock(lambda request: httpx.Response(status, json=body))


_422 = {"detail": [{"loc": ["body", "steps"], "msg": "too many", "type": "less_than_equal"}]}

#: scenario: (client options, the call, the error it ends in)
FAILURES: dict[str, tuple[Callable[[], dict[str, Any]], str, type[FluxCannyError]]] = {
    "connection refused": (
        lambda: {"base_url": f"http://127.0.0.1:{_closed_port()}"},
        "get_result",
        APIConnectionError,
    ),
    "poll timeout": (
        lambda: {"transport": _raising(httpx.ReadTimeout)},
        "get_result",
        APIConnectionError,
    ),
    "submit timeout": (
        lambda: {"transport": _raising(httpx.ReadTimeout)},
        "submit",
        SubmitUncertainError,
    ),
    "submit connection reset": (
        lambda: {"transport": _raising(httpx.ReadError)},
        "submit",
        SubmitUncertainError,
    ),
    "poll 5xx": (lambda: {"transport": _answering(503, {})}, "get_result", APIStatusError),
    "submit 5xx": (lambda: {"transport": _answering(500, {})}, "submit", SubmitUncertainError),
    "422": (lambda: {"transport": _answering(422, _422)}, "submit", APIValidationError),
}


def _call(client: Any, call: str) -> Any:
    if call == "submit":
        return client.submit(control_image=PNG, **ARGS)
    if call == "credits":
        return client.credits()
    return getattr(client, call)("t1")


@pytest.mark.parametrize("scenario", sorted(FAILURES))
def test_no_error_carries_the_key_in_a_cause_or_its_request(face, scenario):
    """httpx masks only Authorization in a request's repr: the x-key header of the request
    an httpx error holds showed the key through `err.__cause__.request.headers`."""
    options, call, expected = FAILURES[scenario]
    client = face(ledger=False, **options())
    with pytest.raises(expected) as caught:
        _call(client, call)
    assert_keeps_the_key(caught.value)


# -- 10: a server that echoes the key -------------------------------------------------------

POLL_OK = {"id": "t1", "polling_url": f"{BASE}/v1/get_result?id=t1"}

#: scenario: (the submit's answer, the polls' answers, the error generate() ends in)
ECHOES: dict[str, tuple[tuple[int, Any], list[Any], type[FluxCannyError]]] = {
    "422 list of errors": (
        (422, {"detail": [{"loc": ["body", "prompt"], "msg": f"bad {KEY}", "type": "x"}]}),
        [],
        APIValidationError,
    ),
    "422 string detail": ((422, {"detail": f"Invalid API key {KEY}"}), [], APIValidationError),
    "submit 5xx body": ((500, {"detail": f"crashed on {KEY}"}), [], SubmitUncertainError),
    "poll 5xx body": ((200, POLL_OK), [(503, {"detail": f"down for {KEY}"})], APIStatusError),
    "poll Error status": (
        (200, POLL_OK),
        [
            (200, {"id": "t1", "status": f"Queued for {KEY}"}),  # unknown: logged
            (200, {"id": "t1", "status": "Error", "details": {"error": f"key {KEY} refused"}}),
        ],
        GenerationError,
    ),
}


def echoing(submit: tuple[int, Any], polls: list[Any]) -> httpx.MockTransport:
    """A server whose answers hold the key it was sent (the last poll answer repeats)."""
    left = list(polls)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["x-key"] == KEY
        if request.url.path == SUBMIT_PATH:
            return httpx.Response(submit[0], json=submit[1])
        status, body = left.pop(0) if len(left) > 1 else left[0]
        return httpx.Response(status, json=body)

    return _mock(handler)


def ledger_bytes(ledger: Ledger) -> bytes:
    """Everything the ledger's folder holds on the disk: the database, its WAL, the rest."""
    return b"".join(p.read_bytes() for p in ledger.path.parent.rglob("*") if p.is_file())


@pytest.mark.parametrize("scenario", sorted(ECHOES))
def test_a_server_echoing_the_key_leaves_it_in_no_error_log_or_ledger(face, scenario, caplog):
    submit, polls, expected = ECHOES[scenario]
    client = face(transport=echoing(submit, polls))
    with caplog.at_level(logging.DEBUG), pytest.raises(expected) as caught:
        client.generate(control_image=PNG, timeout=60, **ARGS)
    error = caught.value
    assert_keeps_the_key(error)
    assert "[redacted]" in str(error) or scenario.endswith("5xx body")
    for record in caplog.records:
        assert KEY not in record.getMessage()
    ledger = client.client.ledger
    assert ledger is not None and ledger.path.exists()
    assert KEY.encode() not in ledger_bytes(ledger)


def test_the_ledger_writes_no_error_text_with_the_key(tmp_path):
    """Whoever writes an error down (the library, a command, a script with a Ledger), the
    ledger's files never hold the key."""
    errors.keep_secret(KEY)
    with Ledger(tmp_path / "ledger.sqlite3") as ledger:
        row = ledger.sending(prompt="a castle", finetune_id="ft-1")
        ledger.rejected(row, f"refused {KEY}")
        ledger.adopt("t9", error=f"adopted {KEY}")
        ledger.task_state("t9", None, error=f"noted {KEY}")
        assert ledger.find("t9").error == "noted [redacted]"
    assert KEY.encode() not in ledger_bytes(ledger)


def test_the_servers_words_stay_but_for_the_key(face):
    client = face(transport=echoing((422, {"detail": f"Invalid API key {KEY} here"}), []))
    with pytest.raises(APIValidationError) as caught:
        client.submit(control_image=PNG, **ARGS)
    assert "Invalid API key [redacted] here" in str(caught.value)
    assert caught.value.body == {"detail": "Invalid API key [redacted] here"}


# -- 8: no proxy for plain http ---------------------------------------------------------------


class ProxyStandIn:
    """A proxy on 127.0.0.1 that records every byte it is sent and answers 502."""

    def __init__(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self._listener.getsockname()[1]}"
        self.received = b""
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            conn, _ = self._listener.accept()
            if self._stopping.is_set():
                conn.close()
                return
            with conn:
                conn.settimeout(5)
                data = b""
                with contextlib.suppress(OSError):
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(65536)
                        if not chunk:
                            break
                        data += chunk
                with self._lock:  # recorded before the answer the client waits for
                    self.received += data
                with contextlib.suppress(OSError):
                    conn.sendall(b"HTTP/1.1 502 Bad Gateway\r\ncontent-length: 0\r\n\r\n")

    def close(self) -> None:
        self._stopping.set()
        socket.create_connection(self._listener.getsockname()).close()  # wakes accept()
        self._thread.join(timeout=5)
        self._listener.close()


@pytest.fixture
def proxy(monkeypatch) -> Iterator[ProxyStandIn]:
    for name in ("NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    stand_in = ProxyStandIn()
    yield stand_in
    stand_in.close()


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer(FakeBFL(api_keys=[KEY])) as running:
        yield running


@pytest.mark.parametrize("variable", ["HTTP_PROXY", "http_proxy", "ALL_PROXY", "all_proxy"])
def test_plain_http_never_goes_through_a_proxy(face, proxy, server, monkeypatch, variable):
    """A proxy for http reads the request whole, x-key included: loopback is reached
    directly, whatever the environment says."""
    monkeypatch.setenv(variable, proxy.url)
    client = face(base_url=server.base_url, ledger=False, clock=VirtualClock())
    assert client.credits() > 0
    task = client.submit(control_image=PNG, **ARGS)
    assert client.get_result(task).id == task.id
    assert proxy.received == b""
    assert server.fake.requests[("GET", "/v1/credits")] == 1


def test_https_goes_through_a_proxy_only_as_a_tunnel(face, proxy, monkeypatch):
    monkeypatch.setenv("HTTPS_PROXY", proxy.url)
    client = face(ledger=False)
    with pytest.raises(APIConnectionError) as caught:
        client.credits()
    assert proxy.received.startswith(b"CONNECT api.us1.bfl.ai:443 ")
    assert KEY.encode() not in proxy.received
    assert_keeps_the_key(caught.value)


def test_an_http_client_that_would_proxy_plain_http_is_refused(face, server):
    probe = face(ledger=False)
    proxied = (httpx.AsyncClient if probe.is_async else httpx.Client)(proxy="http://127.0.0.1:9")
    with pytest.raises(ConfigurationError, match="through a proxy"):
        face(base_url=server.base_url, http_client=proxied)


# -- 12: every error pickles ------------------------------------------------------------------


def _task() -> Task:
    return Task(id="t1", polling_url=f"{BASE}/v1/get_result?id=t1")


def _result(status: str) -> Result:
    return Result.from_body({"id": "t1", "status": status, "details": {"a": 1}}, "t1")


def _answer(status: int, body: Any, **headers: str) -> FluxCannyError:
    response = httpx.Response(status, json=body, headers=headers)
    verdict = status_verdict(response, idempotent=status != 500, what="submit", where=BASE)
    assert verdict is not None
    return verdict.error


def _uncertain() -> FluxCannyError:
    request = httpx.Request("POST", BASE)
    failed = httpx.ReadTimeout("timed out", request=request)
    return failure_verdict(failed, idempotent=False, what="submit").error


def _task_error(cls: type[errors.TaskError], status: str) -> FluxCannyError:
    return cls.about(f"task t1: {status}", _task(), _result(status))


def _ledger_error(tmp_path: Path) -> FluxCannyError:
    folder = tmp_path / "a-file"
    folder.write_text("")
    with pytest.raises(errors.LedgerError) as caught, Ledger(folder / "ledger.sqlite") as ledger:
        ledger.find("t1")
    return caught.value


#: each public error as the library makes it
MAKERS: dict[type[FluxCannyError], Callable[[Path], FluxCannyError]] = {
    errors.FluxCannyError: lambda _: errors.FluxCannyError("something"),
    errors.RequestValidationError: lambda _: errors.RequestValidationError(
        [{"type": "less_than_equal", "loc": ["body", "steps"], "msg": "too many", "input": 99}]
    ),
    errors.UnknownParameterError: lambda _: errors.UnknownParameterError(
        [{"type": "extra_forbidden", "loc": ["body", "stepz"], "msg": "unknown", "input": 1}]
    ),
    errors.InvalidArgumentError: lambda _: errors.InvalidArgumentError("task id is None"),
    errors.MissingAPIKeyError: lambda _: errors.MissingAPIKeyError("no API key"),
    errors.ConfigurationError: lambda _: errors.ConfigurationError("not a URL"),
    errors.ClientClosedError: lambda _: errors.ClientClosedError("closed"),
    errors.EventLoopError: lambda _: errors.EventLoopError("another loop"),
    errors.ImageInputError: lambda _: errors.ImageInputError("empty"),
    errors.ImageDecodeError: lambda _: errors.ImageDecodeError("corrupt", task_id="t1"),
    errors.ImageSaveError: lambda _: errors.ImageSaveError(errno.ENOSPC, "No space", "/x.jpg"),
    errors.ImageExistsError: lambda _: errors.ImageExistsError(errno.EEXIST, "File exists", "x"),
    errors.BudgetExhaustedError: lambda _: errors.BudgetExhaustedError("max_cost 10"),
    errors.WebhookVerificationError: lambda _: errors.WebhookVerificationError("bad secret"),
    errors.UntrustedURLError: lambda _: errors.UntrustedURLError("foreign host"),
    errors.APIConnectionError: lambda _: (
        failure_verdict(
            httpx.ConnectError("refused"), idempotent=True, what="poll", where=BASE
        ).error
    ),
    errors.SubmitUncertainError: lambda _: _uncertain(),
    errors.LedgerError: _ledger_error,
    errors.APIStatusError: lambda _: _answer(404, {"detail": "Not Found"}),
    errors.APIValidationError: lambda _: _answer(422, _422),
    errors.AuthenticationError: lambda _: _answer(403, {"detail": "Invalid API key"}),
    errors.InsufficientCreditsError: lambda _: _answer(402, {"detail": "no credits"}),
    errors.RateLimitError: lambda _: _answer(429, {"detail": "slow down"}, **{"retry-after": "3"}),
    errors.TaskError: lambda _: _task_error(errors.TaskError, "Odd"),
    errors.ModerationError: lambda _: _task_error(errors.ModerationError, "Content Moderated"),
    errors.GenerationError: lambda _: _task_error(errors.GenerationError, "Error"),
    errors.TaskNotFoundError: lambda _: _task_error(errors.TaskNotFoundError, "Task not found"),
    errors.WaitTimeoutError: lambda _: _task_error(errors.WaitTimeoutError, "Pending"),
    errors.SampleExpiredError: lambda _: errors.SampleExpiredError("expired"),
}


def _public_error_classes() -> set[type[BaseException]]:
    exported = [getattr(flux_canny, n) for n in flux_canny.__all__]
    exported += [getattr(errors, n) for n in errors.__all__]
    return {c for c in exported if inspect.isclass(c) and issubclass(c, BaseException)}


def test_every_public_error_class_has_a_maker_here():
    assert _public_error_classes() == set(MAKERS)


def _public(error: BaseException) -> dict[str, Any]:
    said = {k: v for k, v in vars(error).items() if not k.startswith("_")}
    if isinstance(error, OSError):
        said.update(errno=error.errno, strerror=error.strerror, filename=error.filename)
    return said


@pytest.mark.parametrize("cls", sorted(MAKERS, key=lambda c: c.__name__), ids=lambda c: c.__name__)
def test_every_public_error_pickles_with_its_message_and_attributes(cls, tmp_path):
    error = MAKERS[cls](tmp_path)
    assert type(error) is cls
    error.attach_task("t1", f"{BASE}/v1/get_result?id=t1")
    back = pickle.loads(pickle.dumps(error))
    assert type(back) is cls
    assert str(back) == str(error) and back.args == error.args
    assert (back.task_id, back.polling_url) == (error.task_id, error.polling_url)
    assert _public(back) == _public(error)


def _raise_wait_timeout() -> None:
    raise WaitTimeoutError.about("task t1 not ready after 600 s", _task(), _result("Pending"))


def test_a_wait_timeout_crosses_a_process_pool_as_itself():
    """Before, the parent could not unpickle it: BrokenProcessPool, the task id lost.
    The platform's own way of starting workers, as a user's pool would."""
    with concurrent.futures.ProcessPoolExecutor(1) as pool:
        future = pool.submit(_raise_wait_timeout)
        with pytest.raises(WaitTimeoutError) as caught:
            future.result(timeout=60)
    assert caught.value.task_id == "t1" and caught.value.status == "Pending"
    assert caught.value.polling_url == f"{BASE}/v1/get_result?id=t1"


# -- 13: closed clients, other event loops, SOCKS without socksio ---------------------------


def _close(face_client: Any) -> None:
    closing = getattr(face_client.client, "aclose", None) or face_client.client.close
    face_client.loop.run_until_complete(closing()) if face_client.is_async else closing()


@pytest.mark.parametrize("call", ["get_result", "submit", "credits"])
def test_a_call_after_close_is_a_typed_error_and_sends_nothing(face, call):
    sent: list[httpx.Request] = []
    client = face(transport=_mock(lambda request: sent.append(request) or httpx.Response(500)))
    _close(client)
    with pytest.raises(ClientClosedError, match="closed; nothing was sent") as caught:
        _call(client, call)
    assert isinstance(caught.value, RuntimeError) and sent == []


def test_a_closed_http_client_given_is_a_typed_error(face):
    probe = face(ledger=False)
    given = (httpx.AsyncClient if probe.is_async else httpx.Client)()
    client = face(http_client=given, ledger=False)
    if probe.is_async:
        probe.loop.run_until_complete(given.aclose())
    else:
        given.close()
    with pytest.raises(ClientClosedError, match="http_client"):
        client.get_result("t1")


def test_an_async_client_works_in_a_second_asyncio_run(server):
    """Its pooled connections died with the first loop; the second run starts a new pool."""
    client = AsyncFluxCanny(api_key=KEY, base_url=server.base_url, ledger=False)
    assert asyncio.run(client.credits()) > 0
    assert asyncio.run(client.credits()) > 0
    asyncio.run(client.aclose())
    assert server.fake.requests[("GET", "/v1/credits")] == 2


def test_an_async_client_still_bound_to_an_open_loop_is_a_typed_error(server):
    client = AsyncFluxCanny(api_key=KEY, base_url=server.base_url, ledger=False)
    first = asyncio.new_event_loop()
    try:
        assert first.run_until_complete(client.credits()) > 0
        with pytest.raises(EventLoopError, match="one client per event loop"):
            asyncio.run(client.credits())
        first.run_until_complete(client.aclose())
    finally:
        first.close()


def test_a_socks_proxy_without_socksio_is_a_configuration_error(face, monkeypatch):
    try:
        import socksio  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("socksio is installed: the SOCKS proxy works")
    monkeypatch.setenv("ALL_PROXY", "socks5://user:hunter22@127.0.0.1:1080")
    with pytest.raises(ConfigurationError, match="ALL_PROXY names a SOCKS proxy") as caught:
        face(ledger=False)
    assert "hunter22" not in str(caught.value)
    assert "httpx[socks]" in str(caught.value)


def test_the_redactor_keeps_short_test_keys_and_every_other_word():
    errors.keep_secret(KEY)
    errors.keep_secret("k")
    assert errors.redact("keep the kettle") == "keep the kettle"
    assert errors.redact(f"a {KEY} b") == "a [redacted] b"
