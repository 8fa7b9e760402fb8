"""What every request passes before a route sees it (pure ASGI, outermost): CORS for the origins in
CHATBOT_API_ALLOWED_ORIGINS only, and the request size limit. Refusals are OpenAI-style JSON bodies."""

from __future__ import annotations

import json
from collections.abc import Collection

from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

ALLOWED_METHODS = "GET, POST, DELETE, OPTIONS"
ALLOWED_HEADERS = "authorization, content-type"
# Paths any page may load without CORS: a <script> tag, a link a customer opens, a load balancer's probe.
PUBLIC_PREFIXES = ("/widget.js", "/v1/articles/", "/health", "/ready")


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> bytes:
    """OpenAI's error shape.

    >>> error_body("No key", "authentication_error", "missing_api_key")
    b'{"error": {"message": "No key", "type": "authentication_error", "param": null, "code": "missing_api_key"}}'
    """
    return json.dumps({"error": {"message": message, "type": type_, "param": param, "code": code}}).encode()


class BodyTooLarge(HTTPException):
    """Raised while the body is read; an HTTPException so that FastAPI's body parsing passes it on as it is."""

    def __init__(self, limit: int):
        super().__init__(413, f"Request body larger than {limit} bytes")


class Guard:
    """CORS and body size. A preflight from an allowed origin gets 204 with the CORS headers; from any other
    origin 403 (JSON, without CORS headers, so the browser refuses). A request carrying a foreign Origin to an
    API route is refused too (a chat key copied into another site does not work there). Bodies over the limit
    get 413, whether they announce their length or not."""

    def __init__(self, app: ASGIApp, origins: Collection[str], max_body: int, max_upload: int,
                 upload_path: str = "/v1/documents"):
        self.app = app
        self.origins = set(origins)
        self.max_body = max_body
        self.max_upload = max_upload
        self.upload_path = upload_path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        path: str = scope["path"]
        allowed = origin is not None and (origin in self.origins or origin == _own_origin(scope, headers))
        cors = {"access-control-allow-origin": origin, "vary": "Origin"} if allowed and origin else {}
        if scope["method"] == "OPTIONS" and origin and "access-control-request-method" in headers:
            if not allowed:
                await _respond(send, 403, error_body(f"Origin {origin} is not allowed to call this API (set "
                                                     "CHATBOT_API_ALLOWED_ORIGINS)", "permission_error",
                                                     "origin_not_allowed"))
                return
            await _respond(send, 204, b"", {**cors, "access-control-allow-methods": ALLOWED_METHODS,
                                            "access-control-allow-headers": ALLOWED_HEADERS,
                                            "access-control-max-age": "600"}, content_type=None)
            return
        if origin and not allowed and not path.startswith(PUBLIC_PREFIXES):
            await _respond(send, 403, error_body(f"Origin {origin} is not allowed to call this API (set "
                                                 "CHATBOT_API_ALLOWED_ORIGINS)", "permission_error",
                                                 "origin_not_allowed"))
            return
        limit = self.max_upload if path == self.upload_path and scope["method"] == "POST" else self.max_body
        too_large = error_body(f"Request body larger than {limit} bytes", "invalid_request_error",
                               "request_too_large")
        length = headers.get("content-length")
        if length and length.isdigit() and int(length) > limit:
            await _respond(send, 413, too_large, cors)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(limit)
            return message

        async def cors_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                if cors:
                    message = {**message, "headers": [*message.get("headers", []),
                                                      *((k.encode(), v.encode()) for k, v in cors.items())]}
            await send(message)

        try:
            await self.app(scope, counted_receive, cors_send)
        except BodyTooLarge:
            if not started:
                await _respond(send, 413, too_large, cors)


def _own_origin(scope: Scope, headers: Headers) -> str:
    return f"{scope.get('scheme', 'http')}://{headers.get('host', '')}"


async def _respond(send: Send, status: int, body: bytes, headers: dict[str, str] | None = None,
                   content_type: str | None = "application/json") -> None:
    raw = [(k.encode(), v.encode()) for k, v in (headers or {}).items()]
    if content_type:
        raw.append((b"content-type", content_type.encode()))
    raw.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
