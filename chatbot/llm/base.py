"""What the in-process chat backends (llama.cpp, transformers) share: `InProcessChatModel`, a LangChain
`BaseChatModel` with a display name, generation limits, one lock per loaded model, and a non-streaming
call built from the backend's `_stream`."""

from __future__ import annotations

import threading
from typing import Any

from langchain_core.callbacks import CallbackManagerForLLMRun
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from pydantic import ConfigDict, PrivateAttr

# LangChain message types as the chat templates name their roles.
ROLE = {"system": "system", "human": "user", "ai": "assistant", "user": "user", "assistant": "assistant"}


class InProcessChatModel(BaseChatModel):
    """What the in-process backends share: a display name, generation limits, one lock per loaded model,
    and a non-streaming call built from the subclass's `_stream` (which ends with a usage chunk)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    model_name: str
    max_new_tokens: int = 256
    temperature: float = 0.0
    # one lock per loaded model: generation on a shared model is serialised, so concurrent browser sessions
    # queue instead of fighting over the CPU (and the KV cache stays per request)
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
