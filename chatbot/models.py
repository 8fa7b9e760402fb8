"""Model factories: `make_embeddings(settings)` and `make_chat_model(settings)`. The chat backend is one
`match` on a setting; both backends are LangChain `BaseChatModel`s, so chains don't care which runs."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable
from pydantic import ConfigDict, PrivateAttr

from chatbot.config import Settings
from chatbot.decline_guard import DeclineGuard
from chatbot.model_files import resolve_chat_model, resolve_embedding_model, resolve_gguf
from chatbot.prompts import NOT_FOUND
from chatbot.repeat_guard import RepeatGuard

log = logging.getLogger(__name__)

# One lock per loaded model object: torch generation on a shared model is serialised, so concurrent
# browser sessions queue instead of fighting over the CPU (and the KV cache stays per request).
ROLE = {"system": "system", "human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


def make_embeddings(settings: Settings) -> Embeddings:
    from langchain_huggingface import HuggingFaceEmbeddings

    return HuggingFaceEmbeddings(
        model_name=resolve_embedding_model(settings.embedding_model),
        model_kwargs={"device": "cpu"},
        encode_kwargs={"normalize_embeddings": True, "batch_size": 32},
    )


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
            from chatbot.llamacpp import LlamaCppChatModel

            gguf = gguf or llamacpp_gguf(name, settings)
            if gguf is None:
                raise RuntimeError(f"The llamacpp backend needs a GGUF model or a fine-tuned model whose base is "
                                   f"one; {name!r} is neither (see the log for why).")
            return LlamaCppChatModel.load(gguf, name, settings)
        case "transformers":
            return LocalChatModel.load(name, settings)
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


def with_options(model: BaseChatModel, max_new_tokens: int | None = None,
                 decline_threshold: float | None = None) -> Runnable:
    """`model` bound to per-call generation options, under the names its backend takes: the in-process
    backends read `max_new_tokens` and `decline_threshold` (chatbot/decline_guard.py); an OpenAI-compatible
    server takes `max_tokens` and has no first-token hook, so the threshold is not sent there."""
    if isinstance(model, InProcessChatModel):
        options: dict[str, Any] = {"max_new_tokens": max_new_tokens, "decline_threshold": decline_threshold}
    else:
        options = {"max_tokens": max_new_tokens}
    options = {k: v for k, v in options.items() if v is not None}
    return model.bind(**options) if options else model


def llamacpp_gguf(name: str, settings: Settings) -> Path | None:
    """The GGUF file llama.cpp runs for a chat-model setting: the packaged or given .gguf file, or for a
    fine-tuned model folder its GGUF export (made once, cached in the folder); None if there is none."""
    gguf = resolve_gguf(name, settings.models_dir)
    if gguf is None and Path(name).expanduser().is_dir():
        from chatbot.gguf_export import finetuned_gguf

        gguf = finetuned_gguf(name, settings.models_dir)
    return gguf


def llama_cpp_available() -> bool:
    import importlib.util

    return importlib.util.find_spec("llama_cpp") is not None


def cpu_has_native_bf16() -> bool:
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def pick_dtype(setting: str):
    """The torch dtype for a chat model. Without native bf16 a CPU emulates it, and prompt reading
    (the bulk of a RAG answer's wait) runs ~4x slower than in float32; generation speed is similar."""
    import torch

    if setting != "auto":
        return getattr(torch, setting)
    if torch.cuda.is_available():
        return torch.float16
    return torch.bfloat16 if cpu_has_native_bf16() else torch.float32


class InProcessChatModel(BaseChatModel):
    """What the in-process backends share: a display name, generation limits, one lock per loaded model,
    and a non-streaming call built from the subclass's `_stream` (which ends with a usage chunk)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    max_new_tokens: int = 256
    temperature: float = 0.0
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    @property
    def _identifying_params(self) -> dict[str, Any]:
        return {"model_name": self.model_name}

    @staticmethod
    def chat_messages(messages: list[BaseMessage]) -> list[dict[str, str]]:
        return [{"role": ROLE.get(m.type, "user"), "content": str(m.content)} for m in messages]

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None,
                  run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any) -> ChatResult:
        text, usage, metadata = "", None, {}
        for chunk in self._stream(messages, stop, run_manager, **kwargs):
            text += str(chunk.message.content)
            usage = chunk.message.usage_metadata or usage
            metadata.update(chunk.message.response_metadata)
        return ChatResult(generations=[ChatGeneration(message=AIMessage(content=text, usage_metadata=usage,
                                                                          response_metadata=metadata))])


class LocalChatModel(InProcessChatModel):
    """A transformers causal LM behind LangChain's chat interface, with token streaming."""

    hf_model: Any = None
    tokenizer: Any = None

    @classmethod
    def load(cls, name: str, settings: Settings) -> LocalChatModel:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if settings.torch_threads:
            torch.set_num_threads(settings.torch_threads)
        path = resolve_chat_model(name, settings.models_dir)
        tokenizer = AutoTokenizer.from_pretrained(str(path))
        dtype = pick_dtype(settings.chat_dtype)
        hf_model = AutoModelForCausalLM.from_pretrained(str(path), dtype=dtype)
        if torch.cuda.is_available():
            hf_model = hf_model.to("cuda")
        hf_model.eval()
        display = name.removeprefix("packaged:") if name.startswith("packaged:") else str(path).rstrip("/")
        return cls(model_name=display, max_new_tokens=settings.max_new_tokens,
                   temperature=settings.temperature, hf_model=hf_model, tokenizer=tokenizer)

    @property
    def _llm_type(self) -> str:
        return "local-transformers"

    def _inputs(self, messages: list[BaseMessage]):
        encoded = self.tokenizer.apply_chat_template(self.chat_messages(messages), add_generation_prompt=True,
                                                     return_tensors="pt", return_dict=True)
        return {k: v.to(self.hf_model.device) for k, v in encoded.items()}

    def _gen_kwargs(self, max_new_tokens: int | None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens or self.max_new_tokens,
                                  "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if self.temperature > 0:
            kwargs.update(do_sample=True, temperature=self.temperature)
        else:
            kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
        return kwargs

    def _stream(self, messages: list[BaseMessage], stop: list[str] | None = None,
                run_manager: CallbackManagerForLLMRun | None = None, **kwargs: Any
                ) -> Iterator[ChatGenerationChunk]:
        import torch
        from transformers import (
            LogitsProcessor,
            LogitsProcessorList,
            StoppingCriteria,
            StoppingCriteriaList,
            TextIteratorStreamer,
        )

        cancel = threading.Event()
        threshold = kwargs.get("decline_threshold")
        guard = None if threshold is None else DeclineGuard(self._decline_token(), threshold)

        class _Cancel(StoppingCriteria):
            def __call__(self, input_ids, scores, **kw) -> bool:  # noqa: ARG002
                return cancel.is_set()

        repeats = RepeatGuard(key=lambda token: self.tokenizer.decode([token]).strip().lower())

        class _Guard(LogitsProcessor):
            def __call__(self, input_ids, scores):
                first = guard is not None and guard.probability is None
                logits = repeats(input_ids[0].tolist(), scores[0].float().cpu().numpy())
                scores[0] = torch.from_numpy(guard(logits) if first else logits).to(scores)
                return scores

        inputs = self._inputs(messages)
        n_prompt = int(inputs["input_ids"].shape[-1])
        streamer = TextIteratorStreamer(self.tokenizer, skip_prompt=True, skip_special_tokens=True, timeout=600)
        result: dict[str, Any] = {}

        def run() -> None:
            try:
                with torch.inference_mode():
                    out = self.hf_model.generate(**inputs, streamer=streamer,
                                                 stopping_criteria=StoppingCriteriaList([_Cancel()]),
                                                 logits_processor=LogitsProcessorList([_Guard()]),
                                                 **self._gen_kwargs(kwargs.get("max_new_tokens")))
                result["n_out"] = int(out.shape[-1]) - n_prompt
            except Exception as exc:  # surfaced to the caller below
                result["error"] = exc
                streamer.end()

        with self._lock:
            worker = threading.Thread(target=run, daemon=True)
            worker.start()
            try:
                for piece in streamer:
                    if piece:
                        if run_manager:
                            run_manager.on_llm_new_token(piece)
                        yield ChatGenerationChunk(message=AIMessageChunk(content=piece))
            finally:
                cancel.set()
                worker.join()
        if "error" in result:
            raise result["error"]
        n_out = result.get("n_out", 0)
        yield ChatGenerationChunk(message=AIMessageChunk(
            content="", usage_metadata={"input_tokens": n_prompt, "output_tokens": n_out,
                                        "total_tokens": n_prompt + n_out},
            response_metadata={**repeats.metadata(), **(guard.metadata() if guard else {})}))

    def _decline_token(self) -> int:
        return self.tokenizer.encode(NOT_FOUND, add_special_tokens=False)[0]
