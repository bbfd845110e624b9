"""Hostile downloads cost bounded memory and time: a gzip bomb, a huge body, a drip-feed.

The client runs in a subprocess, so its peak memory (ru_maxrss) and wall time are its
own; the hostile server runs here on loopback.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

_BOMB: list[bytes] = []


def _bomb() -> bytes:
    """About 0.5 MB of gzip that inflates to 512 MiB of zeros (made once)."""
    if not _BOMB:
        pack = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip wrapper
        block = b"\0" * (1 << 20)
        _BOMB.append(b"".join(pack.compress(block) for _ in range(512)) + pack.flush())
    return _BOMB[0]


class _Hostile(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        try:
            if self.path.startswith("/bomb"):
                body = _bomb()
                self.send_response(200)
                self.send_header("content-type", "image/png")
                self.send_header("content-encoding", "gzip")
                self.send_header("content-length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            elif self.path.startswith("/huge"):
                self.send_response(200)
                self.send_header("content-type", "image/png")
                self.send_header("content-length", str(1_500_000_000))
                self.end_headers()
                block = b"\x89PNG" + b"\0" * ((1 << 20) - 4)
                for _ in range(1430):
                    self.wfile.write(block)
            elif self.path.startswith("/drip") or self.path.startswith("/results/"):
                self.send_response(200)
                self.send_header("content-type", "image/png")
                self.send_header("content-length", "1000")
                self.end_headers()
                for _ in range(1000):
                    self.wfile.write(b"\0")
                    self.wfile.flush()
                    time.sleep(0.25)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the client stopped reading, as it should


@pytest.fixture(scope="module")
def hostile():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


_CLIENT = """
import asyncio, json, resource, sys, time
from flux_canny import AsyncFluxCanny, FluxCanny, FluxCannyError, Result
face, url, deadline = sys.argv[1], sys.argv[2], float(sys.argv[3])
result = Result(id="t1", status="Ready", sample=url)
options = dict(api_key="k", ledger=False, download_deadline=deadline)
started = time.monotonic()
outcome = {}
try:
    if face == "sync":
        with FluxCanny(**options) as flux:
            flux.download(result)
    else:
        async def main():
            async with AsyncFluxCanny(**options) as flux:
                await flux.download(result)
        asyncio.run(main())
    outcome["error"] = None
except FluxCannyError as error:
    outcome.update(error=type(error).__name__, task_id=error.task_id, message=str(error),
                   cause=type(error.__cause__).__name__)
outcome["seconds"] = time.monotonic() - started
outcome["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(outcome))
"""


def _download(face, url, deadline=300.0):
    done = subprocess.run(
        [sys.executable, "-c", _CLIENT, face, url, str(deadline)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_gzip_bomb_is_cut_off_at_the_download_cap(hostile, face):
    got = _download(face, f"{hostile}/bomb")
    assert got["error"] == "APIConnectionError" and got["task_id"] == "t1"
    assert "larger than 134,217,728 bytes (decompressed)" in got["message"]
    assert got["cause"] == "AnswerTooLarge"
    assert got["peak_mb"] < 450  # the 512 MiB it inflates to never sits in memory


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_huge_body_is_not_read_past_the_cap(hostile, face):
    got = _download(face, f"{hostile}/huge")
    assert got["error"] == "APIConnectionError" and "larger than" in got["message"]
    assert got["peak_mb"] < 450  # not the 1.5 GB the server offers


@pytest.mark.parametrize("face", ["sync", "async"])
def test_a_drip_feed_ends_at_the_download_deadline(hostile, face):
    got = _download(face, f"{hostile}/drip", deadline=1.0)
    assert got["error"] == "APIConnectionError" and got["task_id"] == "t1"
    # every byte came well within the read timeout: only the deadline ended it (the
    # seconds it took are the scheduler's, and not asserted)
    assert "longer than 1 s" in got["message"] and got["cause"] == "AnswerTooSlow"


_GENERATE = """
import json, sys, time
from flux_canny import FluxCanny, FluxCannyError
from tests.conftest import make_image
base, timeout = sys.argv[1], float(sys.argv[2])
started = time.monotonic()
outcome = {}
try:
    with FluxCanny(api_key="test-key", base_url=base, ledger=False) as flux:
        flux.generate(control_image=make_image("PNG", (64, 64)), prompt="p",
                      finetune_id="my-finetune", timeout=timeout)
    outcome["error"] = None
except FluxCannyError as error:
    outcome.update(error=type(error).__name__, task_id=error.task_id, message=str(error))
outcome["seconds"] = time.monotonic() - started
print(json.dumps(outcome))
"""


def test_a_calls_timeout_bounds_its_download_too(hostile):
    """generate(timeout=3) with an image host that drips a byte every 0.25 s: the call
    ends near its 3 s, not at the 300 s download deadline (1000 bytes would take 250 s)."""
    from flux_canny.fake import FakeBFL, FakeServer

    fake = FakeBFL(task_duration=0.2, api_keys=["test-key"])
    with FakeServer(fake) as server:
        fake.delivery_base = hostile  # the images come from the dripping host
        done = subprocess.run(
            [sys.executable, "-c", _GENERATE, server.base_url, "3"],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    assert got["error"] == "APIConnectionError" and got["task_id"], got
    # the download's deadline was what was left of the call's 3 s, not the 300 s default
    # (that is the message's figure, not a time measured under whatever load)
    left = float(re.search(r"longer than ([\d.]+) s", got["message"])[1])
    assert 0 < left <= 3, got
