"""calsync's FastAPI app on a real 127.0.0.1 socket, in a thread, for tests that need real HTTP."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI


def free_socket() -> socket.socket:
    """A socket bound to a free port of 127.0.0.1 (to know the app's URL before making it)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock


def serve_in_thread(
    app: FastAPI, sock: socket.socket | None = None
) -> tuple[str, Callable[[], None]]:
    """Run the app on a real 127.0.0.1 socket (``sock``, else a new one) in a thread.

    Returns (base URL, stop).
    """
    sock = sock or free_socket()
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop
