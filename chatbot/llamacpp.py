"""The llama.cpp chat backend: the same GGUF file transformers would dequantise, run by llama.cpp at
several times the speed on a CPU. llama.cpp keeps the previous prompt's tokens in its KV cache, so the
shared prefix (system prompt and rules) is not read again on the next question."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from pydantic import ConfigDict, PrivateAttr

from chatbot.config import Settings

ROLE = {"system": "system", "human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


class LlamaCppChatModel(BaseChatModel):
    """A GGUF model run by llama-cpp-python behind LangChain's chat interface, with token streaming."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    max_new_tokens: int = 256
    temperature: float = 0.0
    llm: Any = None
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @classmethod
    def load(cls, gguf: Path, name: str, settings: Settings) -> LlamaCppChatModel:
        from llama_cpp import Llama

        threads = settings.torch_threads or os.cpu_count() or 2
        llm = Llama(model_path=str(gguf), n_ctx=4096, n_threads=threads, n_threads_batch=threads, verbose=False)
        return cls(model_name=name.removeprefix("packaged:"), max_new_tokens=settings.max_new_tokens,
                   temperature=settings.temperature, llm=llm)

    @property
    def _llm_type(self) -> str:
        return "llama-cpp"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text, usage = "", None
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += str(chunk.message.content)
            usage = chunk.message.usage_metadata or usage
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage))])

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
                ) -> Iterator[ChatGenerationChunk]:
        chat = [{"role": ROLE.get(m.type, "user"), "content": str(m.content)} for m in messages]
        n_out = 0
        with self._lock:  # one llama.cpp context: requests queue instead of interleaving
            for part in self.llm.create_chat_completion(
                messages=chat, max_tokens=kwargs.get("max_new_tokens") or self.max_new_tokens,
                temperature=self.temperature, stream=True, stop=stop,
            ):
                piece = part["choices"][0]["delta"].get("content") or ""
                if piece:
                    n_out += 1
                    if run_manager:
                        run_manager.on_llm_new_token(piece)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata={"input_tokens": 0, "output_tokens": n_out, "total_tokens": n_out}))
