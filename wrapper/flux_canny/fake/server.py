"""The fake on a real socket (127.0.0.1 only), for other languages, curl and benchmarks."""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any, Self

import httpx

from .._auth import is_loopback
from .core import FakeBFL, WebhookDelivery

__all__ = ["FakeServer"]

_DELIVERY_ATTEMPTS = 4
_HOP_BY_HOP = {"content-length", "transfer-encoding", "connection", "content-encoding"}


def _is_loopback(url: str) -> bool:
    return is_loopback(httpx.URL(url).host)


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"
    _headers_buffer: list[bytes]

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet: the fake's records are the log."""

    def setup(self) -> None:
        super().setup()
        self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        content = self.rfile.read(length) if length else b""
        host = self.headers.get("host", f"127.0.0.1:{self.server.server_port}")
        request = httpx.Request(
            self.command,
            f"http://{host}{self.path}",
            headers=list(self.headers.items()),
            content=content,
        )
        reply = self.server.fake.handle(request)
        if reply.fault in ("connect", "drop"):
            self.close_connection = True
            return  # no response at all: the client sees the connection close
        if reply.fault == "slow":
            time.sleep(reply.delay)
        response = reply.response
        body = response.read()
        self.send_response(response.status_code)
        for name, value in response.headers.items():
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("content-length", str(len(body)))
        # One write for head and body: two small writes meet Nagle and delayed ACK and
        # add ~40 ms to every answer, which would distort every benchmark run on the fake.
        head = b"".join(self._headers_buffer) + b"\r\n"
        self._headers_buffer = []
        self.wfile.write(head + body)

    def __getattr__(self, name: str) -> Any:
        # Every method, even ones stdlib has never heard of (QUERY), goes to the core,
        # which answers 405 with Allow, as Starlette does.
        if name.startswith("do_"):
            return self._serve
        raise AttributeError(name)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog of 5 resets connections under a batch of clients
    request_queue_size = 1024
    fake: FakeBFL

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Quiet when the client went away (a test killed it): that is no server fault."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)


class FakeServer:
    """Runs a FakeBFL on http://127.0.0.1:PORT (port 0: a free one). Samples are served
    from http://localhost:PORT, another host name, as BFL's delivery hosts are."""

    def __init__(self, fake: FakeBFL | None = None, *, port: int = 0, tick: float = 0.05) -> None:
        self.fake = fake or FakeBFL()
        self._httpd = _Server(("127.0.0.1", port), _Handler)
        self._httpd.fake = self.fake
        self.port = self._httpd.server_port
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.fake.delivery_base = f"http://localhost:{self.port}"
        self.fake.webhook_sink = self._post_webhook
        self._tick = tick
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> Self:
        serve = threading.Thread(target=self._httpd.serve_forever, name="fake-bfl", daemon=True)
        ticker = threading.Thread(target=self._ticker, name="fake-bfl-tick", daemon=True)
        self._threads = [serve, ticker]
        for thread in self._threads:
            thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._threads:  # shutdown() waits for a serve loop: one that never ran, forever
            self._httpd.shutdown()
        self._httpd.server_close()
        for thread in self._threads:
            thread.join(timeout=5)

    def _ticker(self) -> None:
        while not self._stop.wait(self._tick):
            self.fake.tick()

    def _post_webhook(self, delivery: WebhookDelivery) -> None:
        # Only ever to this machine: the fake must not send traffic anywhere else.
        if not _is_loopback(delivery.url):
            return

        def send() -> None:
            # a failed delivery is tried again a few times, as the live service does
            for attempt in range(_DELIVERY_ATTEMPTS):
                with contextlib.suppress(httpx.HTTPError):
                    answer = httpx.post(
                        delivery.url, json=delivery.payload, headers=delivery.headers, timeout=5
                    )
                    if answer.status_code < 500:
                        return
                time.sleep(0.2 * 2**attempt)

        threading.Thread(target=send, daemon=True).start()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
