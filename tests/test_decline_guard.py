"""The first-token decline guard on both in-process backends, with the real small model: the model
declines only as sure as the threshold asks, and reports how sure it was."""

from __future__ import annotations

import re

import pytest

from chatbot.rag import prompts
from chatbot.rag.chain import as_langchain
from chatbot.types import Source
from tests.conftest import make_settings
from tests.documents import LANTERN_BATTERY

SOURCE = Source("lantern", "Solar Lantern SL-300", "Battery", "lantern.md", "", 0.8)
TEXT = "Solar Lantern SL-300 > Battery\nThe SL-300 lantern has a 5200 mAh battery."


@pytest.fixture(scope="module", params=["llamacpp", "transformers"])
def backend_model(request, tmp_path_factory):
    from chatbot.llm.factory import make_chat_model

    home = tmp_path_factory.mktemp(f"guard-{request.param}")
    return make_chat_model(make_settings(home, chat_backend=request.param))


def _answer(model, threshold: float):
    from chatbot.llm.factory import with_options

    messages = as_langchain(prompts.rag_messages("How big is the battery of the SL-300?", [SOURCE], [TEXT]))
    return with_options(model, max_new_tokens=8, decline_threshold=threshold).invoke(messages)


def test_a_threshold_of_zero_makes_the_model_decline_and_one_makes_it_answer(backend_model):
    declined, answered = _answer(backend_model, 0.0), _answer(backend_model, 1.0)
    assert declined.content.startswith("I")  # the decline's first token, forced
    assert not re.match(r"I\b", answered.content)  # the decline's first token, removed
    p = declined.response_metadata["decline_probability"]
    assert 0.0 <= p <= 1.0
    assert answered.response_metadata["decline_probability"] == p  # the same prompt, the same first token


def test_without_a_threshold_the_model_is_not_guarded(backend_model):
    from chatbot.llm.factory import with_options

    messages = as_langchain(prompts.rag_messages("How big is the battery?", [SOURCE], [TEXT]))
    reply = with_options(backend_model, max_new_tokens=4).invoke(messages)
    assert "decline_probability" not in reply.response_metadata


def test_the_service_records_the_probability_and_declines_above_the_threshold(tmp_path, embeddings,
                                                                              small_chat_model):
    from chatbot.service import make_service

    for threshold, refused in ((0.0, True), (1.0, False)):
        settings = make_settings(tmp_path / f"h{threshold}", decline_confidence=threshold, second_look=False)
        service = make_service(settings, chat_model=small_chat_model, embeddings=embeddings)
        service.ingest_bytes("lantern.md", LANTERN_BATTERY)
        answer = service.ask("How big is the battery of the SL-300 lantern?")
        assert answer.refused is refused
        assert answer.decline_probability is not None and 0.0 <= answer.decline_probability <= 1.0


def test_the_repeat_guard_keeps_an_answer_out_of_a_loop(backend_model):
    """Asked to repeat a phrase over and over, the small model still never says any 4-word phrase a third
    time (the evaluation's loop measure), and the guard reports that it stepped in."""
    from chatbot.evaluation.metrics import loops
    from chatbot.llm.factory import with_options

    ask = [("user", "Say 'thank you very much' again and again, forever.")]
    reply = with_options(backend_model, max_new_tokens=96).invoke(ask)
    assert str(reply.content).strip() and not loops(str(reply.content))
    assert reply.response_metadata["repeat_bans"] > 0
