"""The llama.cpp chat backend: the same GGUF file transformers would dequantise, run by llama.cpp at
several times the speed on a CPU. llama.cpp keeps the previous prompt's tokens in its KV cache, so the
shared prefix (system prompt and rules) is not read again on the next question."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk
from pydantic import PrivateAttr

from chatbot.config import Settings
from chatbot.llm.base import InProcessChatModel
from chatbot.llm.decline_guard import DeclineGuard
from chatbot.llm.repeat_guard import RepeatGuard
from chatbot.types import NOT_FOUND


class LlamaCppChatModel(InProcessChatModel):
    """A GGUF model run by llama-cpp-python behind LangChain's chat interface, with token streaming."""

    llm: Any = None
    _pieces: dict[int, str] = PrivateAttr(default_factory=dict)

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

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
                ) -> Iterator[ChatGenerationChunk]:
        n_out = 0
        guard = self._guard(kwargs.get("decline_threshold"))
        repeats = RepeatGuard(key=self._piece)
        processors = [repeats] + ([lambda _ids, logits: guard(logits)] if guard else [])
        with self._lock:  # one llama.cpp context: requests queue instead of interleaving
            for part in self.llm.create_chat_completion(
                messages=self.chat_messages(messages), max_tokens=kwargs.get("max_new_tokens") or self.max_new_tokens,
                temperature=self.temperature, stream=True, stop=stop, logits_processor=processors,
                repeat_penalty=kwargs.get("repeat_penalty") or 1.0,
            ):
                piece = part["choices"][0]["delta"].get("content") or ""
                if piece:
                    n_out += 1
                    if run_manager:
                        run_manager.on_llm_new_token(piece)
                    yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata={"input_tokens": 0, "output_tokens": n_out, "total_tokens": n_out},
            response_metadata={**repeats.metadata(), **(guard.metadata() if guard else {})}))

    def _piece(self, token: int) -> str:
        """A token's text as the repeat guard compares it: stripped, lower-cased (cached per token)."""
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = self.llm.detokenize([token]).decode("utf-8", "ignore").strip().lower()
        return piece

    def _guard(self, threshold: float | None) -> DeclineGuard | None:
        if threshold is None:
            return None
        return DeclineGuard(self.llm.tokenize(NOT_FOUND.encode(), add_bos=False)[0], threshold)
