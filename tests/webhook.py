"""A real helpdesk stand-in on loopback: receives hand-off POSTs, checks their signature, and can be stopped
and started again on the same port (the helpdesk being down, then back)."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from chatbot.handoffs import SIGNATURE_HEADER, verify


class WebhookReceiver:
    def __init__(self, secret: str):
        self.secret = secret
        self.received: list[dict] = []
        self._server: ThreadingHTTPServer | None = None

    def start(self, port: int = 0) -> int:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.received.append({"json": json.loads(body), "path": self.path,
                                          "valid_signature": verify(receiver.secret, body,
                                                                    self.headers.get(SIGNATURE_HEADER, ""))})
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args) -> None:
                pass

        ThreadingHTTPServer.allow_reuse_address = True
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self._server.server_address[1]

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
