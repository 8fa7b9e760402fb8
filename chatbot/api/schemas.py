"""The API's request and response bodies (they make the OpenAPI schema at /openapi.json). Requests follow
OpenAI's chat completions; responses add `citations` and `handoff` to the assistant's message."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field


class ContentPart(BaseModel):
    model_config = ConfigDict(extra="allow")
    type: str = "text"
    text: str = ""


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="allow")
    role: Literal["system", "developer", "user", "assistant", "tool", "function"]
    content: str | list[ContentPart] | None = None

    def text(self) -> str:
        """The message's text: a string, or its text parts joined."""
        if isinstance(self.content, list):
            return "".join(p.text for p in self.content if p.type == "text")
        return self.content or ""


class ChatCompletionRequest(BaseModel):
    """OpenAI's request body; options the bot does not use (temperature, max_tokens, tools, ...) are accepted
    and ignored: the answer's settings are the server's."""

    model_config = ConfigDict(extra="allow")
    model: str = Field(default="rag", description="The arm that answers: rag (default), hybrid, finetuned, base.")
    messages: list[ChatMessage] = Field(
        min_length=1, description="The conversation: earlier user/assistant turns, then the question (a user "
        "message, last). System messages are ignored.")
    stream: bool = Field(default=False, description="Stream server-sent events ending with `data: [DONE]`.")
    conversation_id: str | None = Field(
        default=None, description="Record this turn in this conversation (returned by every response); a new one "
        "when absent.")


class Citation(BaseModel):
    number: int = Field(description="The [n] the answer cites.")
    title: str
    section: str
    document: str = Field(description="The document's id.")
    link: str = Field(description="The document's public URL, or the API's read-only article view.")
    snippet: str = Field(description="What the answer quotes of the document.")
    relevance: float = Field(description="Cosine similarity of the passage to the question.")


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    citations: list[Citation]
    handoff: bool = Field(description="The bot could not answer from the documents and offers a human.")
    contact: str | None = Field(default=None, description="With a hand-off: how to reach the support team.")


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: Literal["stop"] = "stop"


class Usage(BaseModel):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    conversation_id: str


class Model(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = "chatbot"
    description: str = ""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[Model]


class FeedbackRequest(BaseModel):
    id: str = Field(description="The chat completion's id.")
    rating: Literal[1, -1] = Field(description="1: thumbs up; -1: thumbs down.")
    comment: str = Field(default="", max_length=2000)


class Document(BaseModel):
    doc_id: str
    title: str
    source: str
    chunks: int
    indexed_at: str


class IngestOutcome(BaseModel):
    status: str
    doc_id: str = ""
    title: str = ""
    chunks: int = 0
    reason: str = ""


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorBody(BaseModel):
    error: ErrorDetail


ERRORS: dict[int | str, dict[str, Any]] = {status: {"model": ErrorBody} for status in (400, 401, 403, 404, 413, 429,
                                                                                         503)}
