"""Local receivers for what calsync sends: a webhook receiver and an SMTP server, on 127.0.0.1."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from aiosmtpd.controller import Controller
from standardwebhooks.webhooks import EmptyWebhookSecretError, Webhook, WebhookVerificationError


@dataclass
class Received:
    """One request the receiver got: its headers, body, and whether its signature verified."""

    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class WebhookReceiver:
    """An HTTP server that verifies each POST with ``standardwebhooks`` and answers as told.

    ``answers`` is the status of each request in turn (then ``default``);
    ``hold`` makes requests wait until it is set (a receiver that hangs).
    """

    secret: str = ""
    answers: list[int] = field(default_factory=list)
    default: int = 200
    received: list[Received] = field(default_factory=list)
    hold: threading.Event | None = None

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                headers = {k.lower(): v for k, v in self.headers.items()}
                receiver.take(headers, body, self)

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def take(self, headers: dict[str, str], body: bytes, handler: BaseHTTPRequestHandler) -> None:
        try:
            Webhook(self.secret).verify(body, headers)
            verified = True
        except (WebhookVerificationError, EmptyWebhookSecretError, ValueError, KeyError):
            verified = False
        with self._lock:
            status = self.answers.pop(0) if self.answers else self.default
            hold = self.hold
            self.received.append(Received(headers, body, verified, status))
        if hold is not None:
            hold.wait(30)
        handler.send_response(status)
        handler.send_header("Content-Length", "0")
        handler.end_headers()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.hold is not None:
            self.hold.set()
        self.server.shutdown()
        self.server.server_close()

    def events(self, event_type: str | None = None) -> list[dict[str, Any]]:
        """The bodies received (of one type), in order."""
        with self._lock:
            bodies = [r.json for r in self.received]
        return [b for b in bodies if event_type is None or b["type"] == event_type]


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, _server: object, _session: object, envelope: Any) -> str:  # noqa: N802
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@dataclass
class SmtpServer:
    """An SMTP server on 127.0.0.1 (aiosmtpd) that keeps every message it receives."""

    mailbox: _Mailbox = field(default_factory=_Mailbox)

    def __post_init__(self) -> None:
        with socket.socket() as probe:  # the controller checks its port, so it needs a real one
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    @property
    def messages(self) -> list[Message]:
        return self.mailbox.messages

    def __enter__(self) -> Self:
        self.controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.controller.stop()


def texts(messages: list[Message]) -> Iterator[str]:
    """Each message's subject and its text parts."""
    for message in messages:
        parts = [
            part.get_payload(decode=True)
            for part in message.walk()
            if part.get_content_maintype() == "text"
        ]
        body = "\n".join(p.decode(errors="replace") for p in parts if isinstance(p, bytes))
        yield f"{message['Subject']}\n{body}"
