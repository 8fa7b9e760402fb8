"""Run the API with uvicorn: `chatbot api [--port 8000]`, or beside the web app with `chatbot serve --api`."""

from __future__ import annotations

import logging

from chatbot import admin
from chatbot.config import Settings

log = logging.getLogger(__name__)


def serve(settings: Settings | None = None, host: str = "127.0.0.1", port: int = 8000, index: bool = True,
          announce: bool = True) -> None:
    """Build the service (models loaded and warmed before the port opens), then serve until stopped. Prints
    the admin rule at start (a generated admin password the first time: chatbot/admin.py)."""
    import uvicorn

    from chatbot.api.app import create_app
    from chatbot.service import make_service

    settings = settings or Settings()
    service = make_service(settings)
    if index:
        service.ensure_sample_kb()
    service.warm()
    if announce:
        print(admin.start_message(settings), flush=True)
    print(f"API on http://{host}:{port}/v1 (OpenAPI schema: /openapi.json, docs: /docs; widget: /widget.js)",
          flush=True)
    uvicorn.run(create_app(service), host=host, port=port, log_level="warning", access_log=False,
                # a reverse proxy on this machine sets the scheme and host the citations' links use
                proxy_headers=True, forwarded_allow_ips="*" if settings.trust_forwarded_for else None,
                timeout_graceful_shutdown=5)
