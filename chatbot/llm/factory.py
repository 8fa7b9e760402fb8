"""Model factories: `make_embeddings(settings)` and `make_chat_model(settings)`. The chat backend is one
`match` on a setting; every backend is a LangChain `BaseChatModel`, so chains don't care which runs.
`with_options` binds per-call generation options under the names the chosen backend takes."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable

from chatbot.config import Settings
from chatbot.llm.base import InProcessChatModel
from chatbot.llm.files import resolve_embedding_model, resolve_gguf

log = logging.getLogger(__name__)


def make_embeddings(settings: Settings) -> Embeddings:
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=resolve_embedding_model(settings.embedding_model),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
    )


class LazyEmbeddings(Embeddings):
    """Embeddings made by `load()` on first use: a service that only lists or deletes documents loads no
    model."""

    def __init__(self, load: Callable[[], Embeddings]):
        self._load = load
        self._model: Embeddings | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> Embeddings:
        with self._lock:  # one load, however many threads ask first
            self._model = self._model or self._load()
            return self._model

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self.model.embed_documents(texts)

    def embed_query(self, text: str) -> list[float]:
        return self.model.embed_query(text)


def make_chat_model(settings: Settings, model: str | None = None) -> BaseChatModel:
    """The chat model named by `model` (default: settings.chat_model) on the configured backend."""
    name = model or settings.chat_model
    backend = settings.chat_backend
    gguf: Path | None = None
    if backend == "auto":
        gguf = llamacpp_gguf(name, settings) if llama_cpp_available() else None
        backend = "llamacpp" if gguf else "transformers"
        if not llama_cpp_available() and resolve_gguf(name, settings.models_dir):
            log.warning("llama-cpp-python is not installed: running %s with transformers (slower). "
                        "`make setup` builds it; see README.", name)
    match backend:
        case "llamacpp":
            from chatbot.llm.llamacpp import LlamaCppChatModel

            gguf = gguf or llamacpp_gguf(name, settings)
            if gguf is None:
                raise RuntimeError(f"The llamacpp backend needs a GGUF model or a fine-tuned model whose base is "
                                   f"one; {name!r} is neither (see the log for why).")
            return LlamaCppChatModel.load(gguf, name, settings)
        case "transformers":
            from chatbot.llm.transformers import TransformersChatModel

            return TransformersChatModel.load(name, settings)
        case "openai":
            try:
                from langchain_openai import ChatOpenAI
            except ImportError as exc:
                raise RuntimeError("The openai backend needs `pip install -e '.[openai]'`.") from exc
            if not settings.openai_base_url:
                raise RuntimeError("CHATBOT_OPENAI_BASE_URL must be set for the openai backend.")
            return ChatOpenAI(
                model=name,
                base_url=settings.openai_base_url,
                api_key=settings.openai_api_key,
                temperature=settings.temperature,
                max_completion_tokens=settings.max_new_tokens,
                streaming=True,
                stream_usage=True,
                timeout=120,
            )
        case other:
            raise ValueError(f"Unknown chat backend {other!r}")


def load_finetuned(settings: Settings, path: str, name: str) -> BaseChatModel:
    """A fine-tuned model's weights (its folder) run in-process, named `name`: llama.cpp on its GGUF
    export, else transformers (also when the base model is served over the openai backend)."""
    in_process = "transformers" if settings.chat_backend in ("transformers", "openai") else "auto"
    model = make_chat_model(settings.model_copy(update={"chat_backend": in_process}), model=path)
    model.model_name = name
    return model


def with_options(model: BaseChatModel, max_new_tokens: int | None = None,
                 decline_threshold: float | None = None, repeat_penalty: float | None = None) -> Runnable:
    """`model` bound to per-call generation options, under the names its backend takes: the in-process
    backends read `max_new_tokens`, `decline_threshold` (chatbot/llm/decline_guard.py) and `repeat_penalty`
    (llama.cpp's multiplicative penalty on tokens already in the recent context); an OpenAI-compatible server
    takes `max_tokens` and has no first-token hook nor a standard equivalent of that penalty, so neither of the
    last two is sent there."""
    if isinstance(model, InProcessChatModel):
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "decline_threshold": decline_threshold,
                                   "repeat_penalty": None if repeat_penalty == 1.0 else repeat_penalty}
    else:
        options = {"max_tokens": max_new_tokens}
    options = {k: v for k, v in options.items() if v is not None}
    return model.bind(**options) if options else model


def llamacpp_gguf(name: str, settings: Settings) -> Path | None:
    """The GGUF file llama.cpp runs for a chat-model setting: the packaged or given .gguf file, or for a
    fine-tuned model folder its GGUF export (made once, cached in the folder); None if there is none."""
    gguf = resolve_gguf(name, settings.models_dir)
    if gguf is None and Path(name).expanduser().is_dir():
        from chatbot.llm.gguf_export import finetuned_gguf

        gguf = finetuned_gguf(name, settings.models_dir)
    return gguf


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None
