"""The RAG chain end to end with a real (small) model: answers cite real sources, refusals happen."""

from __future__ import annotations

from chatbot.rag import prompts
from chatbot.rag.citations import cited_numbers
from chatbot.types import Turn
from tests.documents import LANTERN_PRICED


def test_answer_from_a_tiny_document_streams_and_cites(service):
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    events = list(service.stream("How big is the battery of the SL-300 lantern?"))
    kinds = [e.kind for e in events]
    assert kinds[0] == "sources" and kinds[-1] == "done" and "token" in kinds
    answer = events[-1].answer
    assert answer.sources and answer.sources[0].doc_id == "lantern"
    assert answer.text.strip()
    assert "".join(e.token for e in events if e.kind == "token").strip()
    assert answer.ttft_s <= answer.latency_s
    assert answer.output_tokens > 0
    for number in cited_numbers(answer.text, len(answer.sources)):
        assert 1 <= number <= len(answer.sources)


def test_refuses_on_an_empty_store(service):
    answer = service.ask("How do I reset my password?")
    assert answer.refused and answer.sources == ()
    assert "support team" in answer.text


def test_refuses_an_unrelated_question_without_selecting_excerpts(service, monkeypatch):
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    selected: list[str] = []
    real = service.selector.select
    monkeypatch.setattr(service.selector, "select",
                        lambda question, *a: selected.append(question) or real(question, *a))
    answer = service.ask("What is the capital of Australia?")
    assert answer.refused
    assert answer.sources == ()
    assert selected == []  # the relevance gate declined before excerpt selection
    service.ask("How big is the battery of the SL-300 lantern?")
    assert selected == ["How big is the battery of the SL-300 lantern?"]


def test_follow_up_is_rewritten_into_a_standalone_question(service):
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    history = [Turn("user", "Tell me about the SL-300 lantern battery."),
               Turn("assistant", "It has a 5200 mAh battery.")]
    answer = service.ask("and how much does it cost?", history=history)
    assert answer.standalone_question != "and how much does it cost?"
    assert answer.sources and answer.sources[0].doc_id == "lantern"


def test_closed_book_base_arm_has_no_sources(service):
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    answer = service.ask("Hello, who are you?", mode="base")
    assert answer.mode == "base" and answer.sources == ()


def test_with_refusal_switched_off_the_bot_always_answers(settings, embeddings, small_chat_model):
    from chatbot.service import make_service

    service = make_service(settings.model_copy(update={"refuse": False}), chat_model=small_chat_model,
                           embeddings=embeddings)
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    answer = service.ask("What is the capital of Australia?")  # declined when refusal is on (above)
    assert not answer.refused and answer.text.strip()
    assert answer.text != prompts.REFUSAL_TEXT
    rules = prompts.rag_messages("q", [], [], may_decline=False)[1]["content"]
    assert "I don't know" not in rules and "cite each document" in rules


def scripted_service(settings, embeddings, *replies: str):
    """A service whose chat model gives these replies in turn (a real LangChain chat model that streams
    scripted text), for what the service does with an answer, whatever the model."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage

    from chatbot.service import make_service

    model = GenericFakeChatModel(messages=iter([AIMessage(content=r) for r in replies]))
    # a budget smaller than the chunk, so the excerpts leave part of it out
    service = make_service(settings.model_copy(update={"context_chars": 40}), chat_model=model,
                           embeddings=embeddings)
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    return service


def test_a_bare_citation_never_reaches_the_customer_as_an_answer(settings, embeddings):
    """A model answering "[1]" twice (from the excerpts, then from the whole chunks) is a decline: the
    customer gets the hand-off with the closest sections to read, not the bare marker."""
    service = scripted_service(settings, embeddings, "[1]", "[1] [2]")
    events = list(service.stream("How big is the battery of the SL-300 lantern?"))
    answer = events[-1].answer
    assert answer.refused and answer.text.startswith(prompts.refusal_text("x")) and "[1]" not in answer.text
    assert answer.sources and {s.doc_id for s in answer.sources} == {"lantern"}
    assert "These articles may help:" in answer.text
    assert [e.kind for e in events].count("reset") == 1


def test_a_decline_from_the_excerpts_gets_a_second_look_at_the_whole_chunks(settings, embeddings):
    service = scripted_service(settings, embeddings, "I don't know.", "The SL-300 costs $79 [1].")
    events = list(service.stream("How big is the battery of the SL-300 lantern?"))
    kinds = [e.kind for e in events]
    assert kinds.index("reset") < len(kinds) - 1 and kinds.count("sources") == 2
    answer = events[-1].answer
    assert not answer.refused and answer.text == "The SL-300 costs $79 [1]."
    # the sources panel shows what the second prompt quoted: the whole chunk, price included
    assert answer.sources[0].doc_id == "lantern" and "$79" in " ".join(s.snippet for s in answer.sources)
    assert answer.ttft_s > 0


def test_without_a_second_look_a_decline_is_final(settings, embeddings):
    service = scripted_service(settings.model_copy(update={"second_look": False}), embeddings,
                               "I don't know.", "never asked")
    events = list(service.stream("How big is the battery of the SL-300 lantern?"))
    assert events[-1].answer.refused and "reset" not in [e.kind for e in events]


def test_a_figure_no_document_states_is_not_passed_on(settings, embeddings):
    """A sentence stating a figure that no retrieved document (nor the question) holds is dropped; an
    answer made only of such sentences is a decline."""
    service = scripted_service(settings, embeddings, "The SL-300 costs $79 [1]. It ships in 2 days [1].",
                               "A spare lantern battery costs $12 [1].", "Also a guess: $13 [1].")
    answer = service.ask("How much does the SL-300 cost?")
    assert not answer.refused and answer.text == "The SL-300 costs $79 [1]."
    answer = service.ask("How much is a spare battery for the SL-300?")
    assert answer.refused and answer.text.startswith(prompts.refusal_text("x")) and "$12" not in answer.text


def test_with_model_declines_off_the_rules_leave_declining_to_the_gate(settings, embeddings, monkeypatch):
    seen: list[bool] = []
    real = prompts.rag_messages
    monkeypatch.setattr(prompts, "rag_messages", lambda q, s, t, may_decline=True, earlier=(): seen.append(
        may_decline) or real(q, s, t, may_decline, earlier))
    service = scripted_service(settings.model_copy(update={"model_declines": False}), embeddings,
                               "The SL-300 costs $79 [1].")
    assert not service.ask("How much does the SL-300 cost?").refused
    assert seen == [False]
    assert service.ask("What is the capital of Australia?").refused  # the relevance gate still declines


def test_a_loop_ends_the_answer_and_is_cut_back_to_the_last_full_sentence(settings, embeddings):
    """A model looping in other tokens than the decoding guard compares ("PayPal Express, PayPal Exp...")
    is stopped once a word 4-gram comes a third time, and the customer gets the answer up to the loop."""
    looping = "The SL-300 costs $79 [1]. Pay with " + "PayPal Express, " * 30
    service = scripted_service(settings, embeddings, looping)
    events = list(service.stream("How much does the SL-300 cost?"))
    tokens = "".join(e.token for e in events if e.kind == "token")
    assert len(tokens) < len(looping), "generation goes on after the loop"
    answer = events[-1].answer
    assert not answer.refused and answer.text == "The SL-300 costs $79 [1]."
    from chatbot.evaluation.metrics import loops

    assert loops(looping) and not loops(answer.text)


def test_closed_book_answers_are_decoded_with_the_repetition_penalty_and_rag_answers_are_not(settings, embeddings):
    """The fine-tuned and base arms answer from memory and get `closed_book_repeat_penalty`; answers that read
    documents quote their words and get none; 1.0 switches it off."""
    from collections.abc import Iterator
    from typing import Any

    from langchain_core.messages import AIMessageChunk
    from langchain_core.outputs import ChatGenerationChunk

    from chatbot.llm.base import InProcessChatModel
    from chatbot.service import make_service

    class Recording(InProcessChatModel):  # an in-process backend that records its generation options
        seen: list[dict[str, Any]] = []

        @property
        def _llm_type(self) -> str:
            return "recording"

        def _stream(self, messages, stop=None, run_manager=None, **kwargs: Any) -> Iterator[ChatGenerationChunk]:
            self.seen.append(kwargs)
            yield ChatGenerationChunk(message=AIMessageChunk(content="The SL-300 costs $79 [1]."))

    model = Recording(model_name="recording")
    service = make_service(settings.model_copy(update={"closed_book_repeat_penalty": 1.3}), chat_model=model,
                           embeddings=embeddings)
    service.ingest_bytes("lantern.md", LANTERN_PRICED)
    service.ask("How much does the SL-300 cost?", mode="base")
    assert model.seen[-1].get("repeat_penalty") == 1.3
    service.ask("How much does the SL-300 cost?", mode="rag")
    assert "repeat_penalty" not in model.seen[-1]
    off = make_service(settings.model_copy(update={"closed_book_repeat_penalty": 1.0}), chat_model=model,
                       embeddings=embeddings)
    off.ask("How much does the SL-300 cost?", mode="base")
    assert "repeat_penalty" not in model.seen[-1]
