"""The llama.cpp backend on the packaged small model's GGUF (skipped where llama-cpp-python did not build)."""

from __future__ import annotations

import pytest

from chatbot.llm.factory import llama_cpp_available, make_chat_model
from tests.documents import LANTERN_BATTERY

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(not llama_cpp_available(), reason="llama-cpp-python is not installed "
                                 "(`make setup` builds it; a failed build falls back to transformers)")]



def test_auto_backend_picks_llamacpp_and_streams(settings, embeddings):
    from chatbot.llm.llamacpp import LlamaCppChatModel
    from chatbot.service import make_service

    model = make_chat_model(settings)
    assert isinstance(model, LlamaCppChatModel)
    chunks = list(model.stream([("system", "Be brief."), ("user", "Say hello.")], max_new_tokens=8))
    assert "".join(c.content for c in chunks).strip()
    usage = [c.usage_metadata for c in chunks if c.usage_metadata]
    assert usage and usage[-1]["output_tokens"] >= 1
    service = make_service(settings, chat_model=model, embeddings=embeddings)
    service.ingest_bytes("lantern.md", LANTERN_BATTERY)
    answer = service.ask("How big is the SL-300 battery?")
    assert answer.sources[0].doc_id == "lantern" and answer.text and answer.output_tokens > 0


def test_transformers_backend_still_available(settings):
    from chatbot.llm.transformers import TransformersChatModel

    forced = settings.model_copy(update={"chat_backend": "transformers"})
    assert isinstance(make_chat_model(forced), TransformersChatModel)


def test_repeat_penalty_reaches_llamacpp_and_breaks_a_repetition(settings):
    """The closed-book arms' repetition penalty is llama.cpp's own: asked to describe something from memory,
    the small model goes round in circles without it ("allows users to control and control ... allows users
    to control") and less with it (chatbot/rag/chain.py sends it for answers without documents)."""
    from chatbot.evaluation.metrics import compression_ratio
    from chatbot.llm.factory import with_options

    model = make_chat_model(settings)
    prompt = [("user", "What is a TV remote? Describe every button.")]

    def answer(penalty: float) -> str:
        return str(with_options(model, max_new_tokens=64, repeat_penalty=penalty).invoke(prompt).content)

    plain, penalised = answer(1.0), answer(1.5)
    assert plain != penalised
    assert compression_ratio(penalised) < compression_ratio(plain)
