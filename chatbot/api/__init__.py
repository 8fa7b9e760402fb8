"""The HTTP API: OpenAI-compatible chat completions with citations and a hand-off flag, API keys, the
website widget (widget.js) and a read-only article view, on the same `Service` as the web app.

    create_app(service)  -> a FastAPI app (chatbot/api/app.py)
    serve(settings, host, port)  -> run it with uvicorn (chatbot/api/server.py; `chatbot api`)
"""

from chatbot.api.app import create_app
from chatbot.api.server import serve

__all__ = ["create_app", "serve"]
