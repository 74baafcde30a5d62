"""calsync's FastAPI app on a real 127.0.0.1 socket, in a thread, for tests that need real HTTP."""

from __future__ import annotations

import socket
import threading
from typing import TYPE_CHECKING

import uvicorn

if TYPE_CHECKING:
    from collections.abc import Callable

    from fastapi import FastAPI


def serve_in_thread(app: FastAPI) -> tuple[str, Callable[[], None]]:
    """Run the app on a real 127.0.0.1 socket in a thread; return (base URL, stop)."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_config=None, lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()

    def stop() -> None:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()

    return f"http://127.0.0.1:{sock.getsockname()[1]}", stop
