"""The demo's local webhook receiver: a tenant app's endpoint on 127.0.0.1 that checks each
delivery's Standard Webhooks signature with the reference verifier and remembers what came."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from standardwebhooks import Webhook, WebhookVerificationError


@dataclass
class Received:
    event_type: str
    verified: bool
    summary: str


@dataclass
class Receiver:
    url: str = ""
    secret: str = ""
    received: list[Received] = field(default_factory=list)


@contextlib.contextmanager
def run_receiver() -> Iterator[Receiver]:
    receiver = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            try:
                payload = Webhook(receiver.secret).verify(body, dict(self.headers))
                verified = True
            except (WebhookVerificationError, ValueError):
                payload, verified = {}, False
            data = payload.get("data", {})
            summary = " ".join(
                f"{key}={data[key]}"
                for key in ("number", "slug", "from_state", "to_state", "days_from_due")
                if key in data
            )
            receiver.received.append(Received(payload.get("type", "?"), verified, summary))
            self.send_response(204 if verified else 400)
            self.end_headers()

        def log_message(self, *_args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_port}/arcadia-webhooks"
    thread = threading.Thread(target=server.serve_forever)
    thread.daemon = True
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
