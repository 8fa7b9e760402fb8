"""The transformers chat backend: a causal LM run in-process by transformers, with token streaming (used
where llama.cpp is not installed or for a fine-tuned model without a GGUF export)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.messages import AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk

from chatbot.config import Settings
from chatbot.llm.base import InProcessChatModel
from chatbot.llm.decline_guard import DeclineGuard
from chatbot.llm.files import resolve_chat_model
from chatbot.llm.repeat_guard import RepeatGuard
from chatbot.types import NOT_FOUND


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


class TransformersChatModel(InProcessChatModel):
    """A transformers causal LM behind LangChain's chat interface, with token streaming."""

    hf_model: Any = None
    tokenizer: Any = None

    @classmethod
    def load(cls, name: str, settings: Settings) -> TransformersChatModel:
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

    def _gen_kwargs(self, max_new_tokens: int | None, repeat_penalty: float | None = None) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"max_new_tokens": max_new_tokens or self.max_new_tokens,
                                  "pad_token_id": self.tokenizer.pad_token_id or self.tokenizer.eos_token_id}
        if repeat_penalty:
            kwargs["repetition_penalty"] = repeat_penalty
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
                                                 **self._gen_kwargs(kwargs.get("max_new_tokens"),
                                                                    kwargs.get("repeat_penalty")))
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
