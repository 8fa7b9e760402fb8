"""Verify before showing (chatbot/rag/verify.py): a sentence whose source is about another product or code,
or that the model's check does not confirm, is dropped; an answer left with nothing is the hand-off, which
lists the sections that came closest. Wiring on the scripted echo model and real embeddings; the model's
judgement itself on the default answer model (slow)."""

from __future__ import annotations

import pytest

from chatbot.llm.factory import make_chat_model
from chatbot.rag import prompts, verify
from chatbot.service import make_service
from chatbot.types import Source, Turn
from tests.conftest import MODEL_CACHE, make_settings
from tests.fakes import EchoChatModel

PRINTERS = b"""# Quillo printers

## P340 warranty
The Quillo P340 comes with a 24-month warranty. If you register the printer within 30 days of purchase,
the warranty is extended to 30 months.

## P340 speed
The P340 prints 18 pages per minute in black and white.
"""

ERRORS = b"""# Hub error codes

## E-900 hardware fault
The hub's LED ring flashes red. This is a hardware fault: contact support for a warranty replacement.

## E-221 firmware update failed
Wait ten minutes and retry the update. Check Wi-Fi and power, then restart the hub. Contact support after
three failed attempts.
"""

RETURNS = b"""# Grindwell returns

## Return shipping
If your grinder arrived defective, we email you a prepaid return label, so the return costs you nothing.
If you changed your mind, you pay the return shipping yourself.
"""


def checked_service(tmp_path, embeddings, replies: list[str], **overrides):
    model = EchoChatModel(replies=list(replies))
    values = {"verify_answers": True, "context_chars": 0, "answer_style": "free", **overrides}
    settings = make_settings(tmp_path / "home", **values)
    return make_service(settings, chat_model=model, embeddings=embeddings), model


def number_of(answer_sources, section: str) -> int:
    return next(n for n, s in enumerate(answer_sources, start=1) if section in s.section)


def test_a_model_number_no_document_names_is_handed_off_with_the_closest_sections(tmp_path, embeddings):
    service, model = checked_service(tmp_path, embeddings, ["The warranty is 24 months [1]."])
    service.ingest_bytes("printers.md", PRINTERS)
    answer = service.ask("whats the warranty on the quillo P780?")
    assert answer.refused and model.calls == []  # not even generated: no document names a P780
    assert "These articles may help:" in answer.text and "P340 warranty" in answer.text
    assert answer.sources and all(s.doc_id == "printers" for s in answer.sources)


def test_an_answer_from_another_products_section_is_dropped(tmp_path, embeddings):
    question = "my hub keeps showing E-221 after an update, what do i do?"
    service, _ = checked_service(tmp_path, embeddings, [], verify_with_model=False)
    service.ingest_bytes("errors.md", ERRORS)
    sources = service.retriever.retrieve(question)
    wrong, right = number_of(sources, "E-900"), number_of(sources, "E-221")
    service.chat_model.replies.extend([f"Contact support for a warranty replacement [{wrong}]."])
    answer = service.ask(question)
    assert answer.refused and "warranty replacement" not in answer.text
    service.chat_model.replies.extend([f"Wait ten minutes and retry the update [{right}]. "
                                       f"The hub has a hardware fault [{wrong}]."])
    answer = service.ask(question)
    assert not answer.refused and answer.text == f"Wait ten minutes and retry the update [{right}]."


def test_an_entity_swap_is_caught_when_both_models_are_documented(tmp_path, embeddings):
    other = b"# Quillo P780\n\n## About\nThe P780 is our photo printer, sold in Japan only.\n"
    service, _ = checked_service(tmp_path, embeddings, [], verify_with_model=False)
    service.ingest_bytes("printers.md", PRINTERS)
    service.ingest_bytes("p780.md", other)
    question = "What's the warranty on the Quillo P780?"
    sources = service.retriever.retrieve(question)
    service.chat_model.replies.append(f"The P340 has a 24-month warranty [{number_of(sources, 'P340 warranty')}].")
    answer = service.ask(question)
    assert answer.refused and "24-month" not in answer.text


def test_the_model_check_drops_what_it_does_not_confirm_and_sees_its_own_answer(tmp_path, embeddings):
    wrong = "Return shipping for a defective grinder is paid by the customer [1]."
    service, model = checked_service(tmp_path, embeddings, [wrong, "No."], verify_with_model=True)
    service.ingest_bytes("returns.md", RETURNS)
    events = list(service.stream("who pays the return shipping for a defective grinder?"))
    answer = events[-1].answer
    assert answer.refused and "paid by the customer" not in answer.text
    assert "Grindwell returns" in answer.text  # the hand-off names the closest section
    assert [e.kind for e in events].index("status") < [e.kind for e in events].index("token")
    assert "paid by the customer" not in "".join(e.token for e in events if e.kind == "token")  # never shown
    check = model.calls[1]
    assert [m.type for m in check[-2:]] == ["ai", "human"] and check[-2].content == wrong
    assert "Does document [1] state exactly this" in check[-1].content
    assert [m.content for m in check[:-2]] == [m.content for m in model.calls[0]]  # the answer prompt, as read

    right = "We email you a prepaid return label, so it costs you nothing [1]."
    model.replies.extend([right, "Yes"])
    answer = service.ask("who pays the return shipping for a defective grinder?")
    assert not answer.refused and answer.text == right


def test_an_answer_is_shown_in_the_documents_words_with_its_condition(tmp_path, embeddings):
    reply = "You get a prepaid return label [1]. Return shipping costs €5 [1]."
    service, _ = checked_service(tmp_path, embeddings, [reply], answer_style="document")
    service.ingest_bytes("returns.md", RETURNS)
    answer = service.ask("who pays the return shipping for a defective grinder?")
    assert not answer.refused  # the €5 sentence is in no document: dropped; the label one shown whole
    assert answer.text == ("If your grinder arrived defective, we email you a prepaid return label, so the return "
                           "costs you nothing. [1]")
    service.chat_model.replies.append("Returns are free for everyone on Sundays. [1]")
    assert service.ask("who pays the return shipping for a defective grinder?").refused  # in no document


WRAPPED = b"""Caldera machines: warranty

All Caldera products have a 2-year warranty from the date of purchase. The Duo's steam boiler is covered for
5 years. The warranty does not cover seals, gaskets and shower screens (wear parts), or damage from
limescale when the machine has not been descaled as recommended.

The Uno uses the DR-1 drum. The Duo's DR-2 drum lasts about 30,000 shots.
"""


def test_a_sentence_wrapped_across_lines_supports_the_answer_it_states(tmp_path, embeddings):
    # PDF and HTML text is cut at the page width: "covered for" / "5 years." is one sentence of the document
    reply = "The warranty on the steam boiler in the Duo is 5 years [1]."
    service, _ = checked_service(tmp_path, embeddings, [reply], answer_style="document")
    service.ingest_bytes("caldera.txt", WRAPPED)
    answer = service.ask("how long is the warranty on the steam boiler in the duo")
    assert not answer.refused and answer.text == "The Duo's steam boiler is covered for 5 years. [1]"


def test_a_document_sentence_about_a_sibling_model_is_not_shown(tmp_path, embeddings):
    service, _ = checked_service(tmp_path, embeddings, ["The drum lasts about 30,000 shots [1]."],
                                 answer_style="document")
    service.ingest_bytes("caldera.txt", WRAPPED)
    assert service.ask("how many shots does the DR-1 drum last").refused  # 30,000 is the DR-2's


def test_each_clause_of_a_merged_sentence_is_checked_on_its_own():
    texts = ["Fees > Exit\nIf you cancel before the term ends, an exit fee of $99 applies. The exit fee is waived "
             "if you move more than 25 km from every club."]
    shown = verify.in_document_words("The exit fee is $99 if you cancel early, and it is waived if you move "
                                     "more than 25 km away [1].", texts, question="will i pay the exit fee")
    assert shown.text == ("If you cancel before the term ends, an exit fee of $99 applies. [1] The exit fee is "
                          "waived if you move more than 25 km from every club. [1]")


def test_one_table_row_close_to_the_question_passes_the_relevance_gate(tmp_path, embeddings):
    rows = "\n".join(f"Item: {name} | Charge: {price}" for name, price in [
        ("SIM replacement", "£5"), ("Late payment", "£7.50"), ("Paper bill", "£1.50 a month, free over 75"),
        ("Itemised bill", "£2"), ("Number transfer", "free"), ("Roaming outside Europe", "£6 a day"),
        ("Spending cap change", "free"), ("Engineer visit", "£45"), ("Returned payment", "£10")])
    question = "my dad is 78 and insists on paper bills, is there a monthly charge for them?"
    for by_row in (True, False):
        service, _ = checked_service(tmp_path / str(by_row), embeddings, ["Paper bills are free over 75 [1]."],
                                     min_relevance=0.35, min_sentence_relevance=0.45 if by_row else 1.0)
        service.ingest_bytes("charges.txt", f"Extra charges\n\n{rows}\n".encode())
        assert max(s.score for s in service.search(question, 4)) < service.settings.min_relevance  # as a whole
        assert service.ask(question).refused is not by_row


class CountingEchoModel(EchoChatModel):
    written: list[str] = []  # every piece streamed so far

    def _stream(self, messages, stop=None, run_manager=None, **kwargs):
        for chunk in super()._stream(messages, stop, run_manager, **kwargs):
            self.written.append(str(chunk.message.content))
            yield chunk


def test_a_checked_sentence_is_shown_while_the_model_writes_the_next(tmp_path, embeddings):
    first = "A defective grinder gets a prepaid return label [1]. "
    second = "If you changed your mind, you pay the return shipping yourself [1]."
    model = CountingEchoModel(replies=[first + second])
    settings = make_settings(tmp_path / "home", verify_answers=True, context_chars=0, answer_style="document")
    service = make_service(settings, chat_model=model, embeddings=embeddings)
    service.ingest_bytes("returns.md", RETURNS)
    model.written.clear()
    events = service.stream("who pays return shipping for a defective grinder?")
    kinds, written_at_first_token = [], None
    for event in events:
        kinds.append(event.kind)
        if event.kind == "token" and written_at_first_token is None:
            written_at_first_token = len(model.written)
        if event.kind == "done":
            answer = event.answer
    assert kinds.index("status") < kinds.index("token")  # "Checking the answer…" while the first is written
    assert written_at_first_token < len(first.split()) + 3  # shown before the second sentence was written
    assert answer.text == ("If your grinder arrived defective, we email you a prepaid return label, so the return "
                           "costs you nothing. [1] If you changed your mind, you pay the return shipping yourself. [1]")
    assert 0 < answer.ttft_s <= answer.latency_s


def test_a_follow_up_whose_referent_is_in_the_earlier_answer_carries_it(tmp_path, embeddings):
    service, model = checked_service(tmp_path, embeddings, ["How much is a repair quote?", "I don't know."])
    service.ingest_bytes("returns.md", RETURNS)
    history = [Turn("user", "how much is a repair quote for my grinder?"),
               Turn("assistant", "Looking at it costs a €25 inspection fee [1].")]
    answer = service.ask("and if I decide not to go ahead?", history)
    assert "€25 inspection fee" in answer.standalone_question  # the rewrite dropped the new question


def test_handoff_lists_one_to_three_sections():
    closest = [Source("a", "Returns", "Shipping", "a.md", "", 0.6), Source("b", "Fees", "", "b.md", "", 0.5)]
    text = prompts.handoff_text("who pays?", closest)
    assert text.startswith(prompts.REFUSAL_TEXT) and "- Returns › Shipping\n- Fees" in text


@pytest.fixture(scope="module")
def answer_model(tmp_path_factory):
    from chatbot.config import PACKAGED_CHAT

    settings = make_settings(tmp_path_factory.mktemp("home"), chat_model=PACKAGED_CHAT, max_new_tokens=64)
    return make_chat_model(settings.model_copy(update={"home": MODEL_CACHE.parent / "test-home-1.5b"}))


@pytest.mark.slow
def test_the_default_model_and_checks_show_the_condition_with_the_answer(tmp_path, embeddings, answer_model):
    """On the default answer model with the default checks, the customer reads the page's own sentence, its
    condition included, or the hand-off: never a turned-around paraphrase."""
    settings = make_settings(tmp_path / "home", verify_answers=True, answer_style="document")
    service = make_service(settings, chat_model=answer_model, embeddings=embeddings)
    service.ingest_bytes("returns.md", RETURNS)
    service.ingest_bytes("printers.md", PRINTERS)
    answer = service.ask("hi, my grinder arrived broken. who pays the return shipping?")
    if not answer.refused:
        body = RETURNS.decode()
        shown = [s.strip() for s in answer.text.replace("[1]", "").replace("[2]", "").split(". ") if s.strip()]
        assert all(part.rstrip(".") in body for part in shown), answer.text
    answer = service.ask("whats the warranty on the quillo P780?")
    assert answer.refused and "P340 warranty" in answer.text


@pytest.mark.slow
def test_the_default_model_confirms_its_own_sentences_so_its_check_is_off_by_default(answer_model):
    """Why CHATBOT_VERIFY_WITH_MODEL is off: asked in the same conversation, the packaged 1.5B confirms a
    sentence its document does not state. If this fails, a newer model judges: measure turning it on."""
    text = "Quillo printers > P340 speed\nThe P340 prints 18 pages per minute in black and white."
    source = Source("printers", "Quillo printers", "P340 speed", "printers.md", "", 0.8)
    messages = prompts.rag_messages("How fast does the P340 print in colour?", [source], [text])
    invented = "The P340 prints 12 pages per minute in colour [1]."
    assert verify.check_with_model(answer_model, messages, invented, invented, 1).text == invented
