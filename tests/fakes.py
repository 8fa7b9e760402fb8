"""Deterministic stand-ins for the models, for the fast test tier: real implementations of LangChain's
`BaseChatModel` and `Embeddings` that load nothing (like simonw/llm's MockModel). Tests of wiring,
routing, recording and page shape use them; tests of what a model does use the real ones (marked slow).

- `EchoChatModel` streams, word by word, a reply made from its prompt: by default "Echo: " and the last
  line of the last message; `replies` (a list of strings, used in turn) overrides it.
- `HashedEmbeddings` is a hashed bag of words: texts that share words get similar unit vectors."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Iterator
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import Field


class EchoChatModel(BaseChatModel):
    model_name: str = "echo"
    replies: list[str] = Field(default_factory=list)  # scripted replies, used in turn (then echoing)
    calls: list[list[BaseMessage]] = Field(default_factory=list)  # every prompt it was given

    @property
    def _llm_type(self) -> str:
        return "echo"

    def reply(self, messages: list[BaseMessage]) -> str:
        self.calls.append(list(messages))
        if self.replies:
            return self.replies.pop(0)
        last = str(messages[-1].content).strip().splitlines() if messages else []
        return "Echo: " + (last[-1] if last else "")

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
        words = re.findall(r"\S+\s*", self.reply(messages))
        limit = kwargs.get("max_new_tokens") or kwargs.get("max_tokens")
        for word in words[:limit] if limit else words:
            if run_manager:
                run_manager.on_llm_new_token(word)
            yield ChatGenerationChunk(message=AIMessageChunk(content=word))
        n = min(len(words), limit or len(words))
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata={"input_tokens": 0, "output_tokens": n, "total_tokens": n}))

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text = "".join(str(c.message.content) for c in self._stream(messages, stop, run_manager, **kwargs))
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text))])


class HashedEmbeddings(Embeddings):
    """Each lower-cased word hashed into one of `dims` buckets; vectors are normalised (cosine-ready)."""

    def __init__(self, dims: int = 256):
        self.dims = dims

    def _vector(self, text: str) -> list[float]:
        vector = [0.0] * self.dims
        for word in re.findall(r"[a-z0-9]+", text.lower()):
            vector[int(hashlib.md5(word.encode()).hexdigest(), 16) % self.dims] += 1.0
        norm = math.sqrt(sum(v * v for v in vector)) or 1.0
        return [v / norm for v in vector]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return [self._vector(t) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        return self._vector(text)
