"""Tight context: the sentences that answer the question reach the prompt, the rest stays out."""

from __future__ import annotations

from chatbot.rag.evidence import ExcerptSelector
from chatbot.rag.keyword import KeywordIndex

WARRANTY = (
    "Warranty > Coverage\n"
    "Every Brightline device comes with a limited warranty. The Hub Pro is covered for 24 months from "
    "the date of delivery. Cameras are covered for 12 months. Accessories such as mounts and cables are "
    "covered for 6 months. Keep your order number: we ask for it when you make a claim.\n"
    "To make a claim:\n"
    "1. Open the app and go to Support.\n"
    "2. Choose Warranty claim and describe the fault.\n"
    "3. Send the device back with the prepaid label."
)
SHIPPING = (
    "Shipping > Times\n"
    "| Method | Time | Price |\n"
    "|---|---|---|\n"
    "| Standard | 3-5 business days | Free over $50 |\n"
    "| Express | 1-2 business days | $12 |\n"
    "Orders placed before 2pm ET ship the same day."
)


def _selector(embeddings, texts):
    return ExcerptSelector(embeddings, KeywordIndex.of_texts(texts).idf)


def test_keeps_the_answering_sentence_and_drops_the_rest(embeddings):
    texts = [WARRANTY, SHIPPING]
    excerpts = _selector(embeddings, texts).select("How long is the warranty on the Hub Pro?", texts, 150)
    assert "24 months" in excerpts[0]
    assert excerpts[0].startswith("Warranty > Coverage\n")
    assert "mounts and cables" not in excerpts[0]
    assert excerpts[1] == ""  # nothing about shipping made the cut
    assert sum(len(e.split("\n", 1)[1]) for e in excerpts if e) <= 150


def test_a_line_ending_in_a_colon_brings_its_list(embeddings):
    texts = [WARRANTY]
    excerpt = _selector(embeddings, texts).select("How do I make a warranty claim?", texts, 250)[0]
    assert "To make a claim:" in excerpt
    assert "1. Open the app" in excerpt and "2. Choose Warranty claim" in excerpt


def test_a_table_row_comes_with_its_header(embeddings):
    texts = [WARRANTY, SHIPPING]
    excerpts = _selector(embeddings, texts).select("How much does express shipping cost?", texts, 120)
    assert "| Express | 1-2 business days | $12 |" in excerpts[1]
    assert "| Method | Time | Price |" in excerpts[1]
    assert "|---|" not in excerpts[1]


def test_budget_zero_keeps_whole_chunks_and_the_best_unit_always_fits(embeddings):
    texts = [WARRANTY, SHIPPING]
    selector = _selector(embeddings, texts)
    assert selector.select("warranty", texts, 0) == texts
    tiny = selector.select("How long is the warranty on the Hub Pro?", texts, 5)
    assert "24 months" in tiny[0]  # over the budget on its own, but never nothing


def test_rag_prompt_quotes_excerpts_and_citations_follow_the_prompt(service):
    service.ingest_bytes("warranty.md", ("# Warranty\n\n## Coverage\n\n" + WARRANTY.split("\n", 1)[1]).encode())
    service.ingest_bytes("shipping.md", ("# Shipping\n\n## Times\n\n" + SHIPPING.split("\n", 1)[1]).encode())
    answer = service.ask("How long is the warranty on the Hub Pro?")
    assert not answer.refused
    assert [s.doc_id for s in answer.sources] == ["warranty"]  # only what the prompt quoted is cited
    assert "24 months" in answer.sources[0].snippet  # the sources panel shows what the model was given
    assert "mounts and cables" not in answer.sources[0].snippet


def test_a_matching_faq_question_brings_its_answer(embeddings):
    faq = ("Billing faq > Which payment methods do you accept?\n"
           "Q: Which payment methods do you accept?\n"
           "A: We accept Visa, Mastercard, American Express, PayPal, Apple Pay and Google Pay.")
    texts = [faq, WARRANTY]
    excerpt = _selector(embeddings, texts).select("Which payment methods do you accept?", texts, 60)[0]
    assert "Q: Which payment methods" in excerpt  # the best match, over the budget on its own
    assert "A: We accept Visa" in excerpt  # and the answer that follows it


def test_a_question_is_embedded_once_for_retrieval_and_excerpt_selection(store_service, monkeypatch):
    store_service.ingest_bytes("warranty.md", ("# " + WARRANTY.replace("\n", "\n\n", 1)).encode())
    question = "How long is the Hub Pro covered?"
    calls: list[str] = []
    real = type(store_service.embeddings).embed_query
    monkeypatch.setattr(type(store_service.embeddings), "embed_query",
                        lambda self, text: calls.append(text) or real(self, text))
    sources = store_service.retriever.retrieve(question)
    texts = [store_service.retriever.chunk_text(s.chunk_id) for s in sources]
    [excerpt] = store_service.selector.select(question, texts, 200)
    assert "24 months" in excerpt
    assert calls == [question]  # the selector reused the retriever's vector
