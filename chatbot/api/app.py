"""The FastAPI app: OpenAI-compatible chat completions (blocking and server-sent events) whose message also
carries the numbered `citations` and the `handoff` flag; models, health and readiness; feedback; documents for
admin keys; the widget and a read-only article view. Every error is an OpenAI-style JSON body.

Who may do what: every /v1 route but the article view needs an API key (`Authorization: Bearer cbk_...`);
documents need an `admin` key, or nothing when CHATBOT_ADMIN_OPEN opens admin to everyone. Limits: the key's
requests per minute, the app's questions per minute per client address (429 with Retry-After), the cap on
answers in progress (503 with Retry-After), the body size (413), CORS (chatbot/api/guard.py)."""

# No `from __future__ import annotations` here: FastAPI reads the routes' annotations at run time, and the
# dependency aliases (ChatKey, AdminKey) are local to create_app.
import html
import itertools
import json
import logging
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import Depends, FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from chatbot import conversations, ratelimit
from chatbot.api import schemas
from chatbot.api.guard import Guard, error_body
from chatbot.apikeys import ApiKey, Scope
from chatbot.service import Service
from chatbot.types import ARMS, Answer, ServiceError, Source, StreamEvent, Turn

log = logging.getLogger(__name__)
WIDGET = Path(__file__).parent / "static" / "widget.js"
BUSY_RETRY_S = 5
ARM_DESCRIPTIONS = {"rag": "Answers from the retrieved documents, with citations (the default).",
                    "hybrid": "The fine-tuned model answering from the retrieved documents.",
                    "finetuned": "The fine-tuned model, closed book.",
                    "base": "The base model, closed book (for comparison)."}


class ApiError(Exception):
    """An error the client is told about, as OpenAI's JSON error body."""

    def __init__(self, status: int, message: str, type_: str = "invalid_request_error", code: str | None = None,
                 headers: dict[str, str] | None = None, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.type, self.code, self.headers, self.param = (
            status, message, type_, code, headers or {}, param)

    def response(self) -> JSONResponse:
        return JSONResponse(json.loads(error_body(self.message, self.type, self.code, self.param)),
                            status_code=self.status, headers=self.headers)


_STATUS_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error",
                 404: "not_found_error", 405: "invalid_request_error", 413: "invalid_request_error",
                 429: "rate_limit_error", 503: "server_busy"}


class KeyLimits:
    """Requests per minute per API key, each key at its own rate (chatbot/ratelimit.allow)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stamps: dict[int, list[float]] = defaultdict(list)

    def allow(self, key: ApiKey, now: float) -> tuple[bool, float]:
        with self._lock:
            return ratelimit.allow(self._stamps[key.id], now, key.rate_per_minute)


class RecentAnswers:
    """The last answers by completion id, for their thumbs up/down (bounded: older ones are forgotten)."""

    def __init__(self, size: int = 2000):
        self.size = size
        self._lock = threading.Lock()
        self._answers: OrderedDict[str, Answer] = OrderedDict()

    def add(self, completion_id: str, answer: Answer) -> None:
        with self._lock:
            self._answers[completion_id] = answer
            while len(self._answers) > self.size:
                self._answers.popitem(last=False)

    def get(self, completion_id: str) -> Answer | None:
        with self._lock:
            return self._answers.get(completion_id)


class _Slot:
    """A place among the answers in progress, released once however the response ends."""

    def __init__(self, limits: ratelimit.QuestionLimits):
        self._context = limits.answering()
        self.admitted = self._context.__enter__()
        self._released = False
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self._released:
                return
            self._released = True
        self._context.__exit__(None, None, None)


def create_app(service: Service) -> FastAPI:
    """The API over `service` (its settings give the limits, origins and admin rule)."""
    settings = service.settings
    app = FastAPI(title="Support chatbot API", version="1", summary="OpenAI-compatible chat completions with "
                  "citations and a hand-off flag, for websites, apps and helpdesks.")
    app.state.service = service
    limits = ratelimit.QuestionLimits(settings.questions_per_minute, settings.max_active_answers)
    app.state.limits = limits
    key_limits = KeyLimits()
    recent = RecentAnswers()

    # --- errors: always OpenAI-style JSON --------------------------------------------------------------
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(HTTPException)
    async def _http_error(_: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed", 413: "request_too_large"}.get(exc.status_code)
        return ApiError(exc.status_code, str(exc.detail), _STATUS_TYPES.get(exc.status_code, "invalid_request_error"),
                        code, dict(exc.headers or {})).response()

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        if first.get("type") == "json_invalid":
            return ApiError(400, "The request body is not valid JSON.", code="invalid_json").response()
        where = ".".join(str(p) for p in first.get("loc", ())[1:]) or None
        return ApiError(400, f"{where or 'body'}: {first.get('msg', 'invalid request')}", code="invalid_request",
                        param=where).response()

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("API request failed", exc_info=exc)
        return ApiError(500, "The server failed to handle the request; the details are in its log.", "server_error",
                        "internal_error").response()

    # --- who is asking ------------------------------------------------------------------------------------
    def client_of(request: Request) -> str:
        if settings.trust_forwarded_for:
            forwarded = (request.headers.get("x-forwarded-for") or "").split(",")[0].strip()
            if forwarded:
                return forwarded
        return request.client.host if request.client else "local"

    def key_of(request: Request) -> ApiKey:
        header = request.headers.get("authorization", "")
        scheme, _, presented = header.partition(" ")
        if scheme.lower() != "bearer" or not presented.strip():
            raise ApiError(401, "Missing API key: send `Authorization: Bearer <key>` (an admin creates keys with "
                           "`chatbot keys create`).", "authentication_error", "missing_api_key")
        key = service.verify_api_key(presented.strip())
        if key is None:
            raise ApiError(401, "Incorrect or revoked API key.", "authentication_error", "invalid_api_key")
        allowed, wait = key_limits.allow(key, time.time())
        if not allowed:
            raise ApiError(429, f"This key's limit of {key.rate_per_minute} requests per minute is reached: retry "
                           f"in {wait:.0f} s.", "rate_limit_error", "rate_limit_exceeded",
                           {"Retry-After": str(max(1, round(wait)))})
        return key

    def need(scope: Scope):
        def check(request: Request) -> ApiKey | None:
            if scope == "admin" and settings.admin_password is None and settings.admin_open:
                return None  # CHATBOT_ADMIN_OPEN: admin is open to everyone, as on the pages
            key = key_of(request)
            if not key.allows(scope):
                raise ApiError(403, f"This key's scope is {key.scope!r}; this needs an {scope!r} key.",
                               "permission_error", "insufficient_scope")
            return key

        return check

    ChatKey = Annotated[ApiKey, Depends(need("chat"))]
    AdminKey = Annotated[ApiKey | None, Depends(need("admin"))]

    # --- health ----------------------------------------------------------------------------------------
    @app.get("/health", summary="Liveness: the process answers.")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/ready", summary="Readiness: the database and the store answer (503 otherwise).",
             responses={503: {"model": schemas.ErrorBody}})
    def ready() -> dict[str, Any]:
        try:
            documents = len(service.documents())
        except Exception as exc:  # the store or database is down: not ready, say why in the log
            log.warning("not ready: %s", exc)
            raise ApiError(503, "Not ready: the database or the vector store does not answer.", "server_error",
                           "not_ready", {"Retry-After": str(BUSY_RETRY_S)}) from exc
        return {"status": "ready", "documents": documents}

    # --- models and completions --------------------------------------------------------------------------
    def arms() -> list[str]:
        active = service.active_model() is not None
        return [arm for arm in ARMS if arm in ("rag", "base") or active]

    @app.get("/v1/models", response_model=schemas.ModelList, responses=schemas.ERRORS)
    def models(_: ChatKey) -> schemas.ModelList:
        """The arms that can answer now: `rag` and `base` always, `hybrid` and `finetuned` when a fine-tuned
        model is active."""
        return schemas.ModelList(data=[schemas.Model(id=a, description=ARM_DESCRIPTIONS[a]) for a in arms()])

    @app.post("/v1/chat/completions", response_model=schemas.ChatCompletion, responses=schemas.ERRORS)
    def chat_completions(body: schemas.ChatCompletionRequest, request: Request, _: ChatKey) -> Response:
        """Answer the last user message, reading the earlier ones as the conversation. The message carries
        `citations` (what [n] in the answer refers to) and `handoff` (the bot offers a human instead)."""
        if body.model not in arms():
            raise ApiError(404, f"The model {body.model!r} does not exist or is not active; use one of "
                           f"{', '.join(arms())}.", "invalid_request_error", "model_not_found", param="model")
        if len(body.messages) > settings.api_max_messages:
            raise ApiError(400, f"At most {settings.api_max_messages} messages per request.", param="messages")
        last = body.messages[-1]
        if last.role != "user" or not last.text().strip():
            raise ApiError(400, "The last message must be the user's question.", param="messages")
        history = [Turn(m.role, m.text()) for m in body.messages[:-1]  # type: ignore[arg-type]
                   if m.role in ("user", "assistant") and m.text().strip()]
        try:
            conversation_id = conversations.check_id(body.conversation_id or conversations.new_id())
        except ValueError as exc:
            raise ApiError(400, str(exc), param="conversation_id") from exc
        allowed, wait = limits.allow(client_of(request), time.time())
        if not allowed:
            raise ApiError(429, f"Too many questions from this address: retry in {wait:.0f} s.", "rate_limit_error",
                           "rate_limit_exceeded", {"Retry-After": str(max(1, round(wait)))})
        slot = _Slot(limits)
        if not slot.admitted:
            slot.release()
            raise ApiError(503, "The assistant is busy answering other customers: retry in a few seconds.",
                           "server_busy", "busy", {"Retry-After": str(BUSY_RETRY_S)})
        completion_id = f"chatcmpl-{uuid.uuid4().hex}"
        events = service.stream(last.text(), history, body.model, conversation_id)  # type: ignore[arg-type]
        try:
            first = next(events)  # a question the service refuses is an HTTP error, not half a stream
        except BaseException as exc:
            slot.release()
            events.close()
            if isinstance(exc, ServiceError):
                raise ApiError(400, str(exc)) from exc
            raise
        base = str(request.base_url).rstrip("/")
        if body.stream:
            return StreamingResponse(
                _sse(itertools.chain([first], events), completion_id, body.model, conversation_id, base, recent,
                     slot, settings.support_contact),
                media_type="text/event-stream", background=BackgroundTask(slot.release),
                headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        try:
            answer = _final(itertools.chain([first], events))
        except ServiceError as exc:
            raise ApiError(400, str(exc)) from exc
        finally:
            slot.release()
        recent.add(completion_id, answer)
        return JSONResponse(_completion(answer, completion_id, body.model, conversation_id, base,
                                        settings.support_contact))

    @app.post("/v1/feedback", summary="Thumbs up or down on an answer (by its completion id).",
              responses=schemas.ERRORS)
    def rate(body: schemas.FeedbackRequest, _: ChatKey) -> dict[str, Any]:
        answer = recent.get(body.id)
        if answer is None:
            raise ApiError(404, "No recent answer with this id.", code="not_found", param="id")
        return {"id": body.id, "feedback_id": service.rate(answer, body.rating, body.comment)}

    # --- documents (admin scope) -------------------------------------------------------------------
    @app.get("/v1/documents", response_model=list[schemas.Document], responses=schemas.ERRORS)
    def documents(_: AdminKey) -> list[dict]:
        return [d.to_dict() for d in service.documents()]

    @app.post("/v1/documents", response_model=schemas.IngestOutcome, responses=schemas.ERRORS,
              openapi_extra={"requestBody": {"content": {"application/octet-stream": {}}, "required": True}})
    async def upload(request: Request, _: AdminKey,
                     name: Annotated[str, Query(description="File name (its type and the document id come from "
                                                            "it), e.g. refunds.md")],
                     url: Annotated[str | None, Query(description="The document's public web address: citations "
                                                                  "link there")] = None) -> JSONResponse:
        """Index one file sent as the raw request body (up to CHATBOT_MAX_UPLOAD_MB). A refused file (empty,
        corrupt, unsupported, duplicate) changes nothing and answers 422 with the reason."""
        if url is not None and not url.startswith(("https://", "http://")):
            raise ApiError(400, "url must start with https:// or http://", param="url")
        data = await request.body()
        result = await run_in_threadpool(service.ingest_bytes, Path(name).name, data, url)
        outcome = {"status": result.status, "doc_id": result.doc_id, "title": result.title, "chunks": result.chunks,
                   "reason": result.reason}
        return JSONResponse(outcome, status_code=422 if result.status == "refused" else 200)

    @app.delete("/v1/documents/{doc_id}", responses=schemas.ERRORS)
    def delete_document(doc_id: str, _: AdminKey) -> dict[str, Any]:
        if not service.delete_document(doc_id):
            raise ApiError(404, f"No document with id {doc_id!r}.", code="not_found")
        return {"doc_id": doc_id, "deleted": True}

    # --- what a website loads -------------------------------------------------------------------------
    @app.get("/widget.js", include_in_schema=False)
    def widget() -> Response:
        return Response(WIDGET.read_bytes(), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "public, max-age=300"})

    @app.get("/v1/articles/{doc_id}", response_class=HTMLResponse, responses={404: {"model": schemas.ErrorBody}})
    def article(doc_id: str) -> HTMLResponse:
        """A read-only page of an indexed document, for citations of documents without a public URL. Open to
        anyone (a link a customer follows carries no key): every document is quotable in answers anyway."""
        found = service.article(doc_id)
        if found is None:
            raise ApiError(404, f"No document with id {doc_id!r}.", code="not_found")
        info, chunks = found
        return HTMLResponse(_article_html(info.title, [(c.section, _body(c.text, c.title, c.section)) for c in chunks]),
                            headers={"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'"})

    return _guarded(app, settings)


def _guarded(app: FastAPI, settings) -> FastAPI:
    app.add_middleware(Guard, origins=settings.api_allowed_origins, max_body=settings.api_max_body_kb * 1024,
                       max_upload=int(settings.max_upload_mb * 1024 * 1024))
    return app


def link(source: Source, base: str) -> str:
    """Where a citation points: the document's public URL when it has one, else the API's article view.

    >>> link(Source("refunds", "Refunds", "Timing", "https://help.example/refunds", "", 0.8), "http://bot")
    'https://help.example/refunds'
    >>> link(Source("refunds", "Refunds", "Timing", "kb/refunds.md", "", 0.8), "http://bot")
    'http://bot/v1/articles/refunds#timing'
    """
    if source.source.startswith(("https://", "http://")):
        return source.source
    anchor = _anchor(source.section)
    return f"{base}/v1/articles/{source.doc_id}" + (f"#{anchor}" if anchor else "")


def citations(answer: Answer, base: str) -> list[dict[str, Any]]:
    return [{"number": n, "title": s.title, "section": s.section, "document": s.doc_id, "link": link(s, base),
             "snippet": s.snippet, "relevance": round(s.score, 4)} for n, s in enumerate(answer.sources, start=1)]


def _completion(answer: Answer, completion_id: str, model: str, conversation_id: str, base: str,
                contact: str) -> dict[str, Any]:
    message = {"role": "assistant", "content": answer.text, "citations": citations(answer, base),
               "handoff": answer.refused, **({"contact": contact} if answer.refused else {})}
    return {"id": completion_id, "object": "chat.completion", "created": int(time.time()), "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 0, "completion_tokens": answer.output_tokens,
                      "total_tokens": answer.output_tokens},
            "conversation_id": conversation_id}


def _sse(events: Iterator[StreamEvent], completion_id: str, model: str, conversation_id: str, base: str,
         recent: RecentAnswers, slot: _Slot, contact: str) -> Iterator[str]:
    """The answer as OpenAI's chunks. The streamed contents add up to the final answer: when the service
    rewrites what was streamed (a second look, a hand-off after a decline) the next delta carries the whole new
    text with `"replace": true` (the widget shows it instead; other clients get it appended after a blank
    line). "status" lines go out as SSE comments. The last chunk carries the citations and the hand-off flag."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> str:
        body = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
        return f"data: {json.dumps(body, ensure_ascii=False)}\n\n"

    streamed, replace_next = "", False
    try:
        yield chunk({"role": "assistant", "content": ""}, conversation_id=conversation_id)
        for event in events:
            if event.kind == "token" and event.token:
                if replace_next:
                    yield chunk({"content": "\n\n" + event.token, "replace": True})
                    streamed, replace_next = event.token, False
                else:
                    yield chunk({"content": event.token})
                    streamed += event.token
            elif event.kind == "reset":
                replace_next = bool(streamed)
            elif event.kind == "status":
                yield f": {event.token}\n\n"
            elif event.kind == "done" and event.answer is not None:
                answer = event.answer
                recent.add(completion_id, answer)
                final = answer.text
                if final != streamed:
                    if streamed and final.startswith(streamed):
                        yield chunk({"content": final[len(streamed):]})
                    elif streamed:
                        yield chunk({"content": "\n\n" + final, "replace": True})
                    else:
                        yield chunk({"content": final})
                yield chunk({}, "stop", citations=citations(answer, base), handoff=answer.refused,
                            **({"contact": contact} if answer.refused else {}), conversation_id=conversation_id,
                            usage={"prompt_tokens": 0, "completion_tokens": answer.output_tokens,
                                   "total_tokens": answer.output_tokens})
        yield "data: [DONE]\n\n"
    except Exception as exc:  # headers are sent: the error goes in the stream, the traceback to the log
        log.exception("streamed answer failed", exc_info=exc)
        message = str(exc) if isinstance(exc, ServiceError) else "The assistant failed to answer; please retry."
        yield f"data: {error_body(message, 'server_error', 'answer_failed').decode()}\n\n"
        yield "data: [DONE]\n\n"
    finally:
        slot.release()
        close = getattr(events, "close", None)
        if close:
            close()


def _final(events: Iterator[StreamEvent]) -> Answer:
    for event in events:
        if event.kind == "done" and event.answer is not None:
            return event.answer
    raise ServiceError("no answer was produced")


def _anchor(section: str) -> str:
    """A section's id in the article view.

    >>> _anchor("Billing > Refunds & returns")
    'billing-refunds-returns'
    """
    return "-".join("".join(c if c.isalnum() else " " for c in section.lower()).split())


def _body(text: str, title: str, section: str) -> str:
    """A chunk's text without its header line (chatbot/ingest/split.chunk_header).

    >>> _body("Returns > Damaged items\\nSend a photo.", "Returns", "Damaged items")
    'Send a photo.'
    """
    first, _, rest = text.partition("\n")
    header = f"{title} > {section}" if section and section != title else title
    return rest.strip() if first.strip() == header else text


def _article_html(title: str, parts: list[tuple[str, str]]) -> str:
    """The article page: escaped text only (no links, images or scripts from documents)."""
    out, last = [], None
    for section, text in parts:
        if section != last:
            out.append(f'<h2 id="{_anchor(section)}">{html.escape(section)}</h2>' if section else "")
            last = section
        out.append("".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip()))
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            "<meta name=viewport content='width=device-width,initial-scale=1'>"
            f"<title>{html.escape(title)}</title><style>body{{font:16px/1.5 system-ui,sans-serif;max-width:44rem;"
            "margin:2rem auto;padding:0 1rem;color:#1f2933}p{white-space:pre-wrap}</style></head><body>"
            f"<h1>{html.escape(title)}</h1>{''.join(out)}</body></html>")
