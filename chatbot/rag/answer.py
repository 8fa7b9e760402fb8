"""Answering one question in one arm, streamed: the prepare step (follow-up rewritten, retrieval, the
relevance gate, excerpts), then generation, then the answer checks (a second look at the whole chunks
after a decline from the excerpts, a loop cut, unsupported figures dropped, bad citations removed,
uncited sentences attributed). The service picks the arm's model; this module does the rest."""

from __future__ import annotations

import time
import unicodedata
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace

from langchain_core.language_models import BaseChatModel

from chatbot.config import Settings
from chatbot.rag import grounding, prompts, verify
from chatbot.rag.chain import in_prompt, make_condense_step, make_generate_step, make_prepare_step
from chatbot.rag.citations import strip_bad_citations
from chatbot.rag.evidence import ExcerptSelector
from chatbot.rag.keyword import codes
from chatbot.rag.loops import cut_loop, loop_start
from chatbot.rag.retrieval import HybridRetriever, body_snippet
from chatbot.rag.sentences import split_sentences
from chatbot.types import Answer, Mode, ServiceError, Source, StreamEvent, Turn

QUOTE_CHARS = 700  # longest quote of a source shown under an answer
CHECKING = "Checking the answer against the documents…"  # shown while an answer is held for its checks
Arm = Callable[[Mode], tuple[BaseChatModel, bool]]
"""arm(mode) -> (the model that answers, whether it answers from the retrieved documents)."""


@dataclass
class _Attempt:
    """One generation's outcome while it streams: its text, first-token time, tokens and sources shown."""

    text: str = ""
    ttft: float = 0.0
    tokens: int = 0
    sources: tuple[Source, ...] = ()
    decline_probability: float | None = None  # the model's, at its first token (chatbot/llm/decline_guard.py)
    hold: bool = False  # tokens are kept back until the answer is checked; then it is shown whole
    shown_at: float = 0.0  # when a held answer was shown: what the customer waited for its first word
    messages: list = field(default_factory=list)  # the prompt the answer was written from
    release: _Release | None = None  # shows a held answer sentence by sentence as each passes the checks


class _Release:
    """A held answer shown sentence by sentence: as soon as the model has finished a sentence, `check` turns it
    into what the customer sees (the document sentences that state it, none when it fails) and that is shown,
    so the customer reads the first checked sentence while the model writes the next. Nothing is shown of an
    answer that starts by declining; a document sentence is shown once."""

    def __init__(self, check: Callable[[str], list[str]]):
        self.check = check
        self.checked = 0  # model sentences checked so far
        self.shown: list[str] = []
        self.text = ""  # what has been shown, as one string
        self.declined = False

    def feed(self, written: str, final: bool = False) -> Iterator[str]:
        """The pieces to show now, given everything the model has written so far."""
        sentences = [s for s in split_sentences(written.strip()) if s.strip()]
        complete = sentences if final else sentences[:-1]  # the last may still be growing
        if self.declined or not complete:
            return
        if not self.checked and prompts.is_refusal(complete[0]):
            self.declined = True
            return
        for sentence in complete[self.checked:]:
            self.checked += 1
            for part in self.check(sentence):
                if part in self.shown:
                    continue
                joiner = "" if not self.shown else "\n\n" if " | " in part or " | " in self.shown[-1] else " "
                self.shown.append(part)
                self.text += joiner + part
                yield joiner + part


def _released(attempt: _Attempt) -> bool:
    return attempt.release is not None and bool(attempt.release.shown)


def model_name(model: BaseChatModel) -> str:
    """The name an answer reports for the model that wrote it."""
    return str(getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__)


def clean_question(text: str, limit: int) -> str:
    """Drop control characters, collapse whitespace, cut to `limit` characters.

    >>> clean_question("  Where is\\tmy\\x07 order? ", 100)
    'Where is my order?'
    """
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return " ".join(text.split())[:limit].strip()


class Answerer:
    """Answers over one retriever and excerpt selector, with the settings' answering options."""

    def __init__(self, settings: Settings, retriever: HybridRetriever, selector: ExcerptSelector):
        self.settings = settings
        self.retriever = retriever
        self.selector = selector

    def relevant(self, question: str, sources: Sequence, texts: Sequence[str]) -> bool:
        """Whether retrieval found something worth answering from: a chunk at least `min_relevance`
        similar to the question, or one naming the same code (E-104) — the embedding model knows
        English only, so "Was bedeutet E-104?" scores low on similarity yet names the right document —, or
        one sentence or table row `min_sentence_relevance` similar (a long table scores low as a whole)."""
        if max((s.score for s in sources), default=0.0) >= self.settings.min_relevance:
            return True
        asked = codes(question)
        if asked and any(asked & codes(text) for text in texts):
            return True
        return self.selector.best_similarity(question, texts) >= self.settings.min_sentence_relevance

    def covers(self, question: str) -> bool:
        """Whether the knowledge base names every model number and code the question names: "the warranty
        on the P780?" is not answered from the P340's page when no document names a P780."""
        return not verify.uncovered(question, self.retriever.known)

    def suggestions(self, sources: Sequence[Source]) -> tuple[Source, ...]:
        """The one to three sections (one per document section) that came closest, for the hand-off; only
        those at least `min_relevance` similar to the question."""
        seen, out = set(), []
        for source in sorted(sources, key=lambda s: -s.score):
            key = (source.doc_id, source.section)
            if source.score >= self.settings.min_relevance and key not in seen:
                seen.add(key)
                out.append(source)
        return tuple(out[:3])

    def stream(self, question: str, history: Sequence[Turn], mode: Mode, arm: Arm,
               condenser: Callable[[], BaseChatModel]) -> Iterator[StreamEvent]:
        """Answer `question` in `mode`: `arm(mode)` gives its model and whether it answers from the
        retrieved documents; `condenser()` the model that rewrites a follow-up into a stand-alone question.
        Yields the sources, tokens, then the Answer."""
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        if not question:
            raise ServiceError("Please type a question.")
        model, retrieves = arm(mode)
        condense = make_condense_step(condenser(), self.settings.history_turns)
        refuse = self.settings.refuse
        gate = (lambda x: self.relevant(x["question"], x["sources"], x["texts"])
                and self.covers(x["standalone"])) if refuse else None
        # the RAG arm's answer is shown in the documents' own words; the hybrid arm's model was trained to write
        # its own, and its own words are what the side-by-side view compares
        in_doc_words = retrieves and mode == "rag" and self.settings.answer_style == "document"
        checking = retrieves and (in_doc_words or refuse and self.settings.verify_answers)  # held until checked
        prepared = make_prepare_step(self.retriever if retrieves else None, condense, self.selector,
                                     self.settings.context_chars, gate).invoke(
            {"question": question, "history": list(history)})
        name = model_name(model)
        shown, texts, excerpts = in_prompt(prepared)  # the chunks the prompt quotes: citation [n] is the n-th

        def finish(text: str, refused: bool, attempt: _Attempt, shown: tuple[Source, ...]) -> StreamEvent:
            grounded = grounding.support(text, texts) if retrieves and not refused else None
            answer = Answer(text=text, sources=shown, refused=refused, mode=mode, model=name,
                            latency_s=time.perf_counter() - started, ttft_s=attempt.ttft or attempt.shown_at,
                            question=question,
                            standalone_question=prepared["standalone"], output_tokens=attempt.tokens,
                            groundedness=grounded, decline_probability=attempt.decline_probability)
            return StreamEvent("done", answer=answer)

        if retrieves and not prepared["relevant"]:
            closest = self.suggestions(prepared["sources"])
            yield StreamEvent("sources", sources=closest)
            text = prompts.handoff_text(question, closest)
            yield StreamEvent("token", token=text)
            yield finish(text, True, _Attempt(ttft=time.perf_counter() - started), closest)
            return

        # in the documents' words each sentence is checked on its own, so it is shown as soon as it is checked
        by_sentence = in_doc_words and not self.settings.verify_with_model
        attempt = _Attempt(hold=checking, release=self._release(prepared, texts, shown) if by_sentence else None)
        yield from self._generate(model, retrieves, prepared, shown, excerpts, started, attempt)
        if (refuse and retrieves and prompts.is_refusal(attempt.text) and self.settings.second_look
                and list(prepared["excerpts"]) != list(prepared["texts"]) and not _released(attempt)):
            # Declined from the excerpts: the answer may sit in a part of the chunks they left out. Read the
            # whole retrieved chunks before handing off, so that a decline means the documents lack it.
            if not checking:
                yield StreamEvent("reset")
            prepared = {**prepared, "excerpts": list(prepared["texts"])}
            shown, texts, excerpts = in_prompt(prepared)
            # its first token is the answer's: what the customer waits for
            attempt = _Attempt(hold=checking, release=self._release(prepared, texts, shown) if by_sentence else None)
            yield from self._generate(model, retrieves, prepared, shown, texts, started, attempt)
        text = cut_loop(attempt.text)  # a loop the decoding guard let through ends the answer
        if attempt.release is not None:
            for piece in attempt.release.feed(text, final=True):
                attempt.shown_at = attempt.shown_at or time.perf_counter() - started
                yield StreamEvent("token", token=piece)
            if attempt.release.shown:
                yield finish(attempt.release.text, False, attempt, attempt.sources)
                return
            text = ""  # it declined, or no sentence passed: the hand-off below
        if in_doc_words and attempt.release is None and text and not prompts.is_refusal(text):
            # each sentence is shown as the document sentence that states it, whole (or dropped when none does)
            text = verify.in_document_words(text, texts, question=prepared["standalone"]).text
        elif refuse and retrieves and not prompts.is_refusal(text):
            # a figure stated in no document is a guess: drop its sentence (an answer left empty declines)
            text = grounding.drop_unsupported(text, [*texts, question])
        if not (refuse and prompts.is_refusal(text)) and not in_doc_words:
            text = strip_bad_citations(text, len(attempt.sources))
            text = grounding.add_citations(text, texts) if retrieves else text
        if refuse and checking and self.settings.verify_answers and not prompts.is_refusal(text):
            text = self._verified(model, prepared["standalone"], text, attempt, texts, shown)
        if refuse and (prompts.is_refusal(text) or not verify.has_statement(text)) or not text.strip():
            closest = self.suggestions(prepared["sources"])
            attempt.shown_at = attempt.shown_at or time.perf_counter() - started
            handoff = prompts.handoff_text(question, closest)
            if checking:
                yield StreamEvent("token", token=handoff)
            yield finish(handoff, True, attempt, closest)
            return
        if checking:
            attempt.shown_at = time.perf_counter() - started
            yield StreamEvent("token", token=text)
        yield finish(text, False, attempt, attempt.sources)

    def _release(self, prepared: dict, texts: Sequence[str], shown: Sequence[Source]) -> _Release:
        """Sentence-by-sentence release of an answer shown in the documents' words: each model sentence becomes
        the document sentences that state it, each kept when its source is about what the customer named."""
        question = prepared["standalone"]

        def check(sentence: str) -> list[str]:
            parts = verify.in_document_words(sentence, texts, question=question).parts
            if self.settings.refuse and self.settings.verify_answers:
                parts = [p for p in parts if verify.has_statement(
                    verify.check_entities(p, question, texts, [s.doc_id for s in shown], self.retriever.mentions).text)]
            return parts

        return _Release(check)

    def _verified(self, model: BaseChatModel, question: str, text: str, attempt: _Attempt,
                  texts: Sequence[str], shown: Sequence[Source]) -> str:
        """The answer with the sentences that fail a check removed (chatbot/rag/verify.py): first whether
        each sentence's source is about what the customer named, then the model's own yes/no on whether its
        cited document states the sentence."""
        checked = verify.check_entities(text, question, texts, [s.doc_id for s in shown], self.retriever.mentions)
        if verify.has_statement(checked.text) and self.settings.verify_with_model:
            checked = verify.check_with_model(model, attempt.messages, attempt.text, checked.text, len(texts))
        return checked.text

    def _generate(self, model: BaseChatModel, retrieves: bool, prepared: dict, shown: Sequence[Source],
                  quoted: Sequence[str], started: float, attempt: _Attempt) -> Iterator[StreamEvent]:
        """Stream one generation over `prepared` (its "excerpts" are what the prompt quotes): the sources
        event (each source showing what was quoted from it), then tokens; fills `attempt`."""
        attempt.sources = tuple(replace(s, snippet=body_snippet(q, QUOTE_CHARS))
                                for s, q in zip(shown, quoted, strict=True))
        if retrieves and self.settings.verify_answers and self.settings.verify_with_model:  # the check continues it
            attempt.messages = prompts.rag_messages(prepared["standalone"], shown, quoted,
                                                    self.settings.refuse and self.settings.model_declines)
        yield StreamEvent("sources", sources=attempt.sources)
        if attempt.hold:
            yield StreamEvent("status", token=CHECKING)
        generate = make_generate_step(model, with_context=retrieves,
                                      may_decline=self.settings.refuse and self.settings.model_declines,
                                      decline_confidence=self.settings.decline_confidence,
                                      closed_book_penalty=self.settings.closed_book_repeat_penalty)
        for chunk in generate.stream(prepared):
            if chunk.usage_metadata:
                attempt.tokens = chunk.usage_metadata.get("output_tokens", attempt.tokens)
            attempt.decline_probability = chunk.response_metadata.get("decline_probability",
                                                                      attempt.decline_probability)
            piece = str(chunk.content)
            if not piece:
                continue
            if not attempt.text and not attempt.hold:
                attempt.ttft = time.perf_counter() - started
            attempt.text += piece
            if not attempt.hold:
                yield StreamEvent("token", token=piece)
            elif attempt.release is not None:
                for shown_piece in attempt.release.feed(attempt.text):
                    attempt.shown_at = attempt.shown_at or time.perf_counter() - started
                    yield StreamEvent("token", token=shown_piece)
            if loop_start(attempt.text) is not None:  # stuck in a loop: nothing more worth waiting for
                break

    def with_groundedness(self, answer: Answer) -> Answer:
        """For closed-book answers: how much of the answer the knowledge base supports (retrieved now)."""
        if answer.groundedness is not None or answer.refused:
            return answer
        texts = [self.retriever.chunk_text(s.chunk_id) for s in self.retriever.retrieve(answer.question)]
        return replace(answer, groundedness=grounding.support(answer.text, texts))
