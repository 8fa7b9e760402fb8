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

from chatbot import conversations, feedback, jobs
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
        With a conversation id, the question and the answer are recorded in that conversation."""
        for event in self.answerer.stream(question, history, mode, self._arm, lambda: self.chat_model):
            if event.kind == "done" and event.answer is not None and conversation_id:
                self.record_turn(conversation_id, [event.answer])
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


def _final(events: Iterable[StreamEvent]) -> Answer:
    """The answer a stream ends with."""
    for event in events:
        if event.kind == "done" and event.answer is not None:
            return event.answer
    raise ServiceError("no answer was produced")  # pragma: no cover - a stream always ends with done
