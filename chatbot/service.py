"""The one facade the UI and the CLI call: ingest, list, delete, ask, stream, compare, train, evaluate.
It owns the heavy objects (embeddings, chat models, store, database) and delegates the work to the
packages: answering to chatbot/rag/answer.py, ingestion to chatbot/ingest/pipeline.py, model loading to
chatbot/llm/factory.py, fine-tuning and evaluation to their packages. Build it once with
`make_service(settings)`. Answers given with a conversation id are recorded in the database."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from chatbot import apikeys, conversations, curated, feedback, handoffs, insights, jobs, retention
from chatbot.config import Settings
from chatbot.db import open_database
from chatbot.finetune import registry
from chatbot.ingest.pipeline import Ingestor
from chatbot.llm.factory import LazyEmbeddings, load_finetuned, make_chat_model, make_embeddings, with_options
from chatbot.rag import answer, prompts
from chatbot.rag.chain import as_langchain
from chatbot.rag.evidence import ExcerptSelector
from chatbot.rag.retrieval import HybridRetriever
from chatbot.store import KnowledgeStore
from chatbot.types import (
    ARMS,
    RETRIEVAL_ARMS,
    Answer,
    Chunk,
    Comparison,
    DocInfo,
    IngestResult,
    Mode,
    ServiceError,
    Source,
    StreamEvent,
    Turn,
)

__all__ = ["Service", "ServiceError", "make_service"]


class Service:
    def __init__(self, settings: Settings, chat_model: BaseChatModel | None = None,
                 embeddings: Embeddings | None = None):
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = open_database(settings.effective_database_url)
        # loaded on first use: listing or deleting documents needs no model
        self.embeddings = embeddings or LazyEmbeddings(lambda: make_embeddings(settings))
        self.store = KnowledgeStore(settings, self.embeddings, self.engine)
        self.retriever = HybridRetriever(self.store, settings)
        self.selector = ExcerptSelector(self.embeddings, self.retriever.idf, query_vector=self.retriever.query_vector)
        self.ingestor = Ingestor(settings, self.store, self.embeddings)
        self.answerer = answer.Answerer(settings, self.retriever, self.selector)
        self._chat_model = chat_model
        self._finetuned: dict[str, BaseChatModel] = {}  # loaded fine-tuned models by folder path
        self._pair_writer: tuple[str, BaseChatModel] | None = None  # the pair model, loaded when training needs it
        self.training: jobs.TrainingJob | None = None  # the latest background fine-tuning job
        self.evaluation: jobs.EvaluationJob | None = None  # the latest background evaluation
        self._model_lock = threading.Lock()
        # the support team's loop: curated answers, hand-off delivery, retention (started when configured)
        self.curated_matcher = curated.Matcher(self.engine, self.embeddings.embed_documents)
        self._delivery_lock = threading.Lock()
        self._background: threading.Thread | None = None
        self._stop, self._wake = threading.Event(), threading.Event()

    # --- models ------------------------------------------------------------------------------
    @property
    def chat_model(self) -> BaseChatModel:
        """The base chat model, loaded on first use (call `warm()` at start-up to pay that early)."""
        if self._chat_model is None:
            with self._model_lock:
                if self._chat_model is None:
                    self._chat_model = make_chat_model(self.settings)
        return self._chat_model

    def warm(self) -> None:
        """Load every model now and read the RAG prompt's fixed start (system prompt and rules) once, so the
        first customer neither waits for loading nor for that prefix (llama.cpp keeps it cached)."""
        self.embeddings.embed_query("warm up")
        self.retriever.retrieve("warm up")
        with_options(self.chat_model, max_new_tokens=1).invoke(as_langchain(prompts.rag_messages("Hi", [], [])))

    def finetuned_model(self, arm: str = "finetuned") -> BaseChatModel:
        """The active fine-tuned model's weights for `arm` (the hybrid arm has its own reader when the
        preset trained one), run in-process (llama.cpp on its GGUF export, else transformers)."""
        record = registry.get_active(self.settings)
        if record is None:
            raise ServiceError("No fine-tuned model is active: train one with `chatbot finetune` or pick one "
                               "with `chatbot models use NAME`.")
        path = record.weights_for(arm)
        with self._model_lock:
            if path not in self._finetuned:
                # keep the active model's weights only: an older active model is released
                current = (record.path, record.weights_for("hybrid"))
                self._finetuned = {p: m for p, m in self._finetuned.items() if p in current}
                self._finetuned[path] = load_finetuned(self.settings, path, record.display_name(path))
            return self._finetuned[path]

    # --- fine-tuned models -------------------------------------------------------------------
    def models(self) -> list[registry.ModelRecord]:
        return registry.list_models(self.settings)

    def active_model(self) -> registry.ModelRecord | None:
        return registry.get_active(self.settings)

    def use_model(self, name: str) -> registry.ModelRecord:
        return registry.set_active(self.settings, name)

    def delete_model(self, name: str) -> None:
        registry.delete_model(self.settings, name)

    def start_training(self, preset: str = "quick", tickets: Path | None = None,
                       name: str | None = None) -> jobs.TrainingJob:
        """Fine-tune in a background thread on the tickets and the current KB; one job at a time."""
        with self._model_lock:
            if self.training and self.training.running:
                raise ServiceError("A training job is already running.")
            job = jobs.TrainingJob(preset=preset)
            self.training = job
        tickets = tickets or self.default_tickets()

        def work(job: jobs.TrainingJob) -> registry.ModelRecord:
            return self.train(preset, tickets, name, progress=job.progress, cancel=job.cancel,
                              pair_progress=job.pair_progress)

        jobs.start(job, work, self.engine)
        return job

    def train(self, preset: str = "quick", tickets: Path | None = None, name: str | None = None,
              **options) -> registry.ModelRecord:
        """Fine-tune on the tickets and the current KB in the foreground (chatbot/finetune/kb_training.py);
        `options`: progress, cancel, pair_progress, base, max_steps."""
        from chatbot.finetune.kb_training import train_on_kb

        return train_on_kb(self, preset, tickets, name, **options)

    # What fine-tuning reads from the knowledge base (chatbot/finetune/kb_training.KnowledgeBase).
    def kb_chunks(self) -> list[Chunk]:
        return self.store.chunks()

    def kb_version(self) -> int:
        return self.store.version()

    def search(self, question: str, k: int) -> list[Source]:
        return self.retriever.retrieve(question, k)

    def excerpts(self, question: str, texts: Sequence[str]) -> list[str]:
        """What the RAG prompt would quote of `texts` for `question` (chatbot/rag/evidence.py)."""
        return self.selector.select(question, texts, self.settings.context_chars)

    def pair_writer(self, preset_model: str = "") -> tuple[BaseChatModel, str]:
        """The model that writes fine-tuning pairs and its name: CHATBOT_PAIR_MODEL, else the preset's, else
        the chat model."""
        name = self.settings.pair_model or preset_model
        if not name or name == self.settings.chat_model:
            return self.chat_model, self.model_name(self.chat_model)
        with self._model_lock:
            if self._pair_writer is None or self._pair_writer[0] != name:
                self._pair_writer = (name, make_chat_model(self.settings, name))
        return self._pair_writer[1], name.removeprefix("packaged:")

    def start_evaluation(self, arms: Sequence[Mode], dataset: Path | None = None,
                         limit: int | None = None) -> jobs.EvaluationJob:
        """Evaluate arms in the background into HOME/evaluations/<time>; without `dataset`, on questions
        derived from the live KB (chatbot/evaluation/live_kb.py)."""
        from chatbot.evaluation.harness import run_eval
        from chatbot.evaluation.live_kb import live_kb_dataset

        with self._model_lock:
            if self.evaluation and self.evaluation.running:
                raise ServiceError("An evaluation is already running.")
            out = self.evaluations_dir / f"{time.strftime('%Y%m%d-%H%M%S')}-{dataset.name if dataset else 'live-kb'}"
            job = jobs.EvaluationJob(out_dir=out)
            self.evaluation = job

        def work(job: jobs.EvaluationJob) -> dict:
            source = dataset or live_kb_dataset(self.settings, self.kb_chunks(), out / "dataset")
            return run_eval(source, make_service, arms=list(arms), limit=limit, out_dir=out, settings=self.settings,
                            chat_model=self.chat_model, progress=job.progress)

        jobs.start(job, work, self.engine)
        return job

    def recent_jobs(self, limit: int = 20, kind: str | None = None) -> list[jobs.JobRecord]:
        """Training and/or evaluation jobs from the database (all replicas, earlier runs), newest first;
        one whose process died shows as interrupted."""
        return jobs.history(self.engine, limit, kind)

    @property
    def evaluations_dir(self) -> Path:
        return self.settings.home / "evaluations"

    def evaluation_reports(self) -> list[Path]:
        """Folders holding a finished report, newest first."""
        if not self.evaluations_dir.is_dir():
            return []
        return sorted((p.parent for p in self.evaluations_dir.glob("*/report.json")), reverse=True)

    def evaluation_report(self, folder: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A finished report (report.json) and its per-question results (results.jsonl)."""
        from chatbot.evaluation.report import read_report

        return read_report(folder)

    def default_tickets(self) -> Path | None:
        path = self.settings.kb_dir / "tickets.jsonl"
        return path if path.is_file() else None

    def staleness(self, record: registry.ModelRecord) -> tuple[int, list[tuple[str, str]]]:
        """(number of documents changed since the model was trained, [(doc_id, action)])."""
        return registry.staleness(record, self.store)

    # --- feedback ----------------------------------------------------------------------------
    def rate(self, answer: Answer, rating: int, comment: str = "", comparison_id: str | None = None) -> int:
        return feedback.record(self.engine, answer, rating, comment, comparison_id)

    def prefer(self, comparison_id: str, feedback_id: int) -> None:
        feedback.mark_preferred(self.engine, comparison_id, feedback_id)

    def export_feedback(self, out_dir: Path) -> tuple[Path, Path, int, int]:
        return feedback.export(self.engine, out_dir)

    def model_name(self, model: BaseChatModel) -> str:
        return answer.model_name(model)

    def _arm(self, mode: Mode) -> tuple[BaseChatModel, bool]:
        """(model, uses retrieval) for an arm."""
        match mode:
            case "rag":
                return self.chat_model, True
            case "base":
                return self.chat_model, False
            case "finetuned":
                return self.finetuned_model(), False
            case "hybrid":
                return self.finetuned_model("hybrid"), True
            case _:
                raise ServiceError(f"Unknown mode {mode!r}; use {', '.join(ARMS[:-1])} or {ARMS[-1]}.")

    # --- knowledge base (chatbot/ingest/pipeline.py) -------------------------------------------
    def documents(self) -> list[DocInfo]:
        return self.store.list()

    def delete_document(self, doc_id: str) -> bool:
        return self.ingestor.delete(doc_id)

    def ingest_bytes(self, name: str, data: bytes, source: str | None = None) -> IngestResult:
        """Index one file's content (an upload). Refusals never touch what is already indexed."""
        return self.ingestor.ingest_bytes(name, data, source)

    def ingest_paths(self, paths: Iterable[str | Path]) -> Iterator[IngestResult]:
        """Index files and folders (recursively); one result per file, refused files included."""
        return self.ingestor.ingest_paths(paths)

    def ingest_contents(self, items: Iterable[tuple[str, bytes]]) -> Iterator[IngestResult]:
        """Index many (file name, content) pairs, embedded in batches like a folder (the evaluation harness
        indexes a dataset's corpus this way); one result per item, in order."""
        return self.ingestor.ingest_contents(items)

    def ensure_sample_kb(self) -> list[IngestResult]:
        """Index the sample knowledge base when the store holds no documents (first start)."""
        return self.ingestor.ensure_sample_kb()

    def chunk_count(self) -> int:
        return self.store.chunk_count()

    # --- answering (chatbot/rag/answer.py) ---------------------------------------------------
    def stream(self, question: str, history: Sequence[Turn] = (), mode: Mode = "rag",
               conversation_id: str | None = None) -> Iterator[StreamEvent]:
        """Answer `question`: yields the sources, then tokens as they are generated, then the Answer.
        With a conversation id, the question and the answer are recorded in that conversation. A request for a
        person, and a question a curated answer covers, are answered before the answerer (`_support_reply`)."""
        reply = self._support_reply(question, mode)
        events = _reply_events(reply) if reply else self.answerer.stream(question, history, mode, self._arm,
                                                                         lambda: self.chat_model)
        for event in events:
            if event.kind == "done" and event.answer is not None and conversation_id:
                self.record_turn(conversation_id, [event.answer])
                if event.answer.refused and event.answer.model != insights.PERSON_MODEL:  # for the Insights' gaps
                    insights.keep_vector(self.engine, event.answer.question,
                                         self.retriever.query_vector(event.answer.question),
                                         self.settings.embedding_model)
            yield event

    def ask(self, question: str, history: Sequence[Turn] = (), mode: Mode = "rag",
            conversation_id: str | None = None) -> Answer:
        return _final(self.stream(question, history, mode, conversation_id))

    def with_groundedness(self, answer: Answer) -> Answer:
        """For closed-book answers: how much of the answer the knowledge base supports (retrieved now)."""
        return self.answerer.with_groundedness(answer)

    def stream_compare(self, question: str, arms: Sequence[Mode] = ("rag", "finetuned", "hybrid"),
                       history: Sequence[Turn] = (), conversation_id: str | None = None,
                       groundedness: bool = True) -> Iterator[tuple[Mode, Iterator[StreamEvent]]]:
        """The same question answered by several arms, one after another (they share the CPU): yields
        (arm, its events) in turn. A failing arm fails its own events only: the next arm still answers.
        `groundedness`: closed-book answers get theirs (`with_groundedness`). With a conversation id, the
        answers given are recorded as one question followed by every arm's answer once all have streamed."""
        answers: list[Answer] = []
        for arm in arms:
            yield arm, self._compare_arm(question, history, arm, groundedness, answers)
        if conversation_id:
            self.record_turn(conversation_id, answers)

    def _compare_arm(self, question: str, history: Sequence[Turn], arm: Mode, groundedness: bool,
                     answers: list[Answer]) -> Iterator[StreamEvent]:
        for event in self.stream(question, history, arm):
            if event.kind == "done" and event.answer is not None:
                event = replace(event, answer=self.with_groundedness(event.answer) if groundedness else event.answer)
                answers.append(event.answer)
            yield event

    def compare(self, question: str, arms: Sequence[Mode] = ("rag", "finetuned", "hybrid"),
                history: Sequence[Turn] = (), conversation_id: str | None = None) -> Comparison:
        """`stream_compare`, waited for: every arm's answer (the first failure raises)."""
        streams = self.stream_compare(question, arms, history, conversation_id)
        return Comparison(question=question, answers=tuple(_final(events) for _, events in streams))

    # --- API keys (chatbot/apikeys.py) --------------------------------------------------------
    def create_api_key(self, name: str, scope: apikeys.Scope = "chat",
                       rate_per_minute: int | None = None) -> tuple[str, apikeys.ApiKey]:
        """A new API key: (the key, shown only now, and its record)."""
        return apikeys.create(self.engine, name, scope, rate_per_minute or self.settings.api_key_rate_per_minute)

    def api_keys(self, include_revoked: bool = True) -> list[apikeys.ApiKey]:
        return apikeys.list_keys(self.engine, include_revoked)

    def revoke_api_key(self, which: str | int) -> apikeys.ApiKey | None:
        return apikeys.revoke(self.engine, which)

    def verify_api_key(self, presented: str) -> apikeys.ApiKey | None:
        return apikeys.verify(self.engine, presented)

    def article(self, doc_id: str) -> tuple[DocInfo, list[Chunk]] | None:
        """An indexed document and its current chunks in order (the API's read-only article view)."""
        info = self.store.get(doc_id)
        if info is None:
            return None
        chunks = self.store.chunks_by_id([cid for cid, _, _ in self.store.doc_chunks(doc_id)])
        return info, sorted(chunks.values(), key=lambda c: c.index)

    # --- the support team's loop (chatbot/curated.py, handoffs.py, insights.py, retention.py) -------------
    def wants_person(self, question: str) -> bool:
        """Whether a customer's message asks for a person (the chat page then offers the hand-off form)."""
        return handoffs.asks_for_person(question)

    def _support_reply(self, question: str, mode: Mode) -> Answer | None:
        """The answer given without the answerer, or None: a request for a person gets the hand-off offer; in
        a retrieval arm, a question close enough to a curated one gets its curated answer, cited, or for a
        topic set to always hand off, the hand-off. The contact form's data never reaches here."""
        started = time.perf_counter()
        text = answer.clean_question(question, self.settings.max_question_chars)
        if not text:
            return None
        contact = self.settings.support_contact
        reply, sources, refused, model = handoffs.PERSON_REPLY.format(contact=contact), (), False, insights.PERSON_MODEL
        if not handoffs.asks_for_person(text):
            match = self.curated_matcher.match(self.retriever.query_vector(text), self.settings.curated_match) \
                if mode in RETRIEVAL_ARMS else None
            if match is None:
                return None
            item, score = match
            if item.action == "handoff":
                reply, refused = handoffs.TOPIC_REPLY.format(contact=contact), True
            else:
                reply, sources, model = f"{item.answer} [1]", (item.source(score),), insights.CURATED_MODEL
        took = time.perf_counter() - started
        return Answer(text=reply, sources=sources, refused=refused, mode=mode, model=model, latency_s=took,
                      ttft_s=took, question=text, standalone_question=text)

    def request_handoff(self, conversation_id: str, contact: str, message: str = "", reason: str = "declined") -> int:
        """Queue the conversation for a person with the customer's contact (stored first); when a webhook is
        set, the background loop POSTs it to the helpdesk at once and retries until it is accepted."""
        try:
            handoff_id = handoffs.create(self.engine, self.settings, conversations.check_id(conversation_id),
                                         contact, message, reason)
        except ValueError as exc:
            raise ServiceError(str(exc)) from exc
        if self.settings.handoff_webhook_url:
            self.start_background()
            self._wake.set()
        return handoff_id

    def handoffs(self, status: str | None = None) -> list[handoffs.Handoff]:
        return handoffs.listing(self.engine, status)

    def handoff_attempts(self, handoff_id: int) -> list[handoffs.Attempt]:
        return handoffs.attempts(self.engine, handoff_id)

    def handoff_payload(self, handoff_id: int) -> dict:
        """What the helpdesk receives for a hand-off (contact, message, whole conversation with sources)."""
        return handoffs.payload(self.engine, handoff_id)

    def set_handoff_status(self, handoff_id: int, status: str) -> bool:
        return handoffs.set_status(self.engine, handoff_id, status)

    def send_handoff_again(self, handoff_id: int) -> None:
        handoffs.retry_now(self.engine, handoff_id)
        self._wake.set()

    def deliver_handoffs(self) -> tuple[int, int]:
        """Send the due hand-offs now: (delivered, failed attempts)."""
        with self._delivery_lock:
            return handoffs.deliver_due(self.engine, self.settings)

    def start_background(self) -> None:
        """Start (once) the loop that delivers due hand-offs every few seconds (so hand-offs stored while the
        helpdesk or this server was down are sent) and deletes expired conversations daily; the web app's
        server starts it (a command-line call delivers only what it is asked to). Nothing to do: no thread."""
        if not (self.settings.handoff_webhook_url or self.settings.retain_days):
            return
        with self._model_lock:
            if self._background is not None:
                return
            self._background = threading.Thread(target=self._background_loop, name="support-loop", daemon=True)
        self._background.start()

    def stop_background(self) -> None:
        self._stop.set()
        self._wake.set()

    def _background_loop(self) -> None:
        import logging

        log = logging.getLogger(__name__)
        purged_at = 0.0
        while not self._stop.is_set():
            try:
                if self.settings.handoff_webhook_url:
                    self.deliver_handoffs()
                if self.settings.retain_days and time.time() - purged_at > 86400:
                    self.purge_conversations()
                    purged_at = time.time()
            except Exception:  # a database hiccup must not end the loop
                log.exception("support loop")
            self._wake.wait(min(5.0, self.settings.handoff_retry_s))
            self._wake.clear()

    def add_curated(self, question: str, answer_text: str = "", action: str = "answer") -> curated.Curated:
        """Store a curated answer (indexed at once as a KB document of kind curated) or a topic that always
        hands off."""
        try:
            return curated.add(self.engine, self.ingestor, question, answer_text, action)
        except ValueError as exc:
            raise ServiceError(str(exc)) from exc

    def curated_answers(self) -> list[curated.Curated]:
        return curated.listing(self.engine)

    def delete_curated(self, curated_id: int) -> bool:
        return curated.remove(self.engine, self.ingestor, curated_id)

    def insights(self, days: int = 30) -> insights.Insights:
        """The Insights page's figures for the last `days` days (chatbot/insights.py)."""
        items, vectors = self.curated_matcher.items()
        known = [(c.question, v) for c, v in zip(items, vectors, strict=True)]
        return insights.build(self.engine, self.embeddings.embed_documents, self.settings.embedding_model, days,
                              similarity=self.settings.gap_similarity, curated=known,
                              curated_match=self.settings.curated_match)

    def delete_conversation(self, conversation_id: str) -> bool:
        """Delete one conversation with its hand-offs and the contact left in them."""
        return retention.delete_conversations(self.engine, [conversation_id]) > 0

    def purge_conversations(self) -> int:
        """Delete conversations older than CHATBOT_RETAIN_DAYS (none when it is unset)."""
        return retention.purge(self.engine, self.settings.retain_days) if self.settings.retain_days else 0

    def export_conversations(self, out_dir: Path, fmt: str = "jsonl") -> tuple[Path, Path, int, int]:
        """conversations.<fmt> and handoffs.<fmt> (jsonl or csv) in out_dir."""
        return retention.export(self.engine, out_dir, fmt)

    # --- conversations -----------------------------------------------------------------------
    def record_turn(self, conversation_id: str, answers: Sequence[Answer]) -> None:
        """Record a question and its answers (one per arm side by side) in a conversation; the chat
        page calls this after streaming the arms of a side-by-side turn one by one."""
        if answers:
            conversations.record_turn(self.engine, conversation_id, answers[0].question, answers)

    def conversation(self, conversation_id: str) -> list[conversations.Message]:
        """A conversation's recorded messages, oldest first."""
        return conversations.messages(self.engine, conversation_id)

    def history(self, conversation_id: str) -> list[Turn]:
        """A recorded conversation as the turns a follow-up is read against (empty for an unknown id)."""
        return conversations.turns(self.conversation(conversation_id))


def make_service(settings: Settings | None = None, chat_model: BaseChatModel | None = None,
                 embeddings: Embeddings | None = None) -> Service:
    """Build the service; pass already-loaded models to share them between services (tests, evaluation)."""
    return Service(settings or Settings(), chat_model=chat_model, embeddings=embeddings)


def _reply_events(reply: Answer) -> list[StreamEvent]:
    """A ready answer as the events of a stream."""
    return [StreamEvent("sources", sources=reply.sources), StreamEvent("token", token=reply.text),
            StreamEvent("done", answer=reply)]

def _final(events: Iterable[StreamEvent]) -> Answer:
    """The answer a stream ends with."""
    for event in events:
        if event.kind == "done" and event.answer is not None:
            return event.answer
    raise ServiceError("no answer was produced")  # pragma: no cover - a stream always ends with done
