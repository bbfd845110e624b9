"""`webhook-listen`: a small local receiver for BFL's completion webhooks, to try them out."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click

from ..errors import WebhookVerificationError, clean
from ..webhooks import parse_webhook
from ._options import bind, port_option

__all__ = ["webhook_listen"]


@click.command(
    "webhook-listen",
    epilog="""\b
Examples:
  flux-canny webhook-listen --port 8765 --secret s3cret
  flux-canny webhook-listen --port 8765 --secret s3cret --count 1 > event.jsonl""",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@port_option
@click.option(
    "--secret",
    envvar="FLUX_CANNY_WEBHOOK_SECRET",
    show_envvar=True,
    default=None,
    help="The webhook_secret you submit with; deliveries without it are refused (401).",
)
@click.option(
    "--count", type=click.IntRange(min=1), default=None, help="Exit after this many events."
)
def webhook_listen(host: str, port: int, secret: str | None, count: int | None) -> None:
    """Receive webhook deliveries and print each verified one as a JSON line on stdout.

    Submit with webhook_url=http://HOST:PORT/ and webhook_secret=SECRET (the library's
    submit() takes both). Every delivery's X-Webhook-Secret is checked in constant time;
    refused ones are answered 401 and reported on stderr.
    """
    done = threading.Event()
    seen = 0
    lock = threading.Lock()

    class Receiver(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: events go to stdout, refusals to stderr."""

        def do_POST(self) -> None:
            nonlocal seen
            body = self.rfile.read(int(self.headers.get("content-length") or 0))
            try:
                event = parse_webhook(body, dict(self.headers.items()), secret)
            except WebhookVerificationError as refused:
                click.echo(f"flux-canny: refused a delivery: {clean(str(refused))}", err=True)
                self._answer(401)
                return
            self._answer(200)
            line = {
                "task_id": event.task_id,
                "status": event.status,
                "ok": event.ok,
                "sample": event.sample,
                "seed": event.seed,
                "error": event.error,
            }
            with lock:
                click.echo(json.dumps(line))
                seen += 1
                if count is not None and seen >= count:
                    done.set()

        def _answer(self, status: int) -> None:
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

    server = bind(lambda: ThreadingHTTPServer((host, port), Receiver), port)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    click.echo(f"listening on http://{host}:{server.server_port}/", err=True)
    if secret is None:
        click.echo("warning: no --secret: every delivery is accepted unchecked", err=True)
    try:
        done.wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.shutdown()
        server.server_close()
