"""The HTTP API (chatbot/api/) served by uvicorn in a thread on loopback, for tests and the benchmark."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator

from chatbot.api import create_app
from tests.servers import free_port


@contextlib.contextmanager
def api_server(service, port: int | None = None) -> Iterator[str]:
    """Serve `service`'s API until the block ends; yields its base URL (http://127.0.0.1:PORT)."""
    import uvicorn

    app = create_app(service)
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
