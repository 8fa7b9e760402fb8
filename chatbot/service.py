"""The one facade the UI and the CLI call: ingest, list, delete, ask, stream, compare, train, evaluate.
It owns the heavy objects (embeddings, chat models, store, database); build it once with
`make_service(settings)`. Answers given with a conversation id are recorded in the database."""

from __future__ import annotations

import logging
import threading
import time
import unicodedata
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from chatbot import conversations, feedback, grounding, jobs, prompts
from chatbot.chain import as_langchain, in_prompt, make_condense_step, make_generate_step, make_prepare_step
from chatbot.config import Settings
from chatbot.db import open_database
from chatbot.evidence import ExcerptSelector
from chatbot.finetune import registry
from chatbot.ingest import IngestError, load, safe_name, split
from chatbot.ingest.detect import SUPPORTED
from chatbot.keyword import codes
from chatbot.models import make_chat_model, make_embeddings, with_options
from chatbot.repeat_guard import cut_loop, loop_start
from chatbot.retrieval import HybridRetriever, body_snippet
from chatbot.store import KnowledgeStore
from chatbot.types import (
    Answer,
    Chunk,
    Comparison,
    DocInfo,
    Document,
    IngestResult,
    IngestStatus,
    Mode,
    Source,
    StreamEvent,
    Turn,
)

log = logging.getLogger(__name__)
INGESTIBLE = set(SUPPORTED.split())
# Skipped when walking a folder: the folder's own notes, and historical tickets (fine-tuning data, not KB).
SKIP_NAMES = {"readme.md", "tickets.jsonl"}
QUOTE_CHARS = 700  # longest quote of a source shown under an answer


@dataclass
class _Attempt:
    """One generation's outcome while it streams: its text, first-token time, tokens and sources shown."""

    text: str = ""
    ttft: float = 0.0
    tokens: int = 0
    sources: tuple[Source, ...] = ()
    decline_probability: float | None = None  # the model's, at its first token (chatbot/decline_guard.py)


class ServiceError(RuntimeError):
    """A request the service cannot serve; the message is for the user."""


@dataclass(frozen=True)
class Prepared:
    """A file that passed the checks: its document and chunks, ready to be embedded and written."""

    label: str
    doc: Document
    chunks: list[Chunk]

    def result(self, status: IngestStatus) -> IngestResult:
        return IngestResult(self.label, status, doc_id=self.doc.doc_id, title=self.doc.title,
                            chunks=len(self.chunks))


class Service:
    def __init__(self, settings: Settings, chat_model: BaseChatModel | None = None,
                 embeddings: Embeddings | None = None):
        self.settings = settings
        settings.home.mkdir(parents=True, exist_ok=True)
        self.engine = open_database(settings.database)
        self.embeddings = embeddings or make_embeddings(settings)
        self.store = KnowledgeStore(settings, self.embeddings, self.engine)
        self.retriever = HybridRetriever(self.store, settings)
        self.selector = ExcerptSelector(self.embeddings, self.retriever.idf, query_vector=self.retriever.query_vector)
        self._chat_model = chat_model
        self._finetuned: dict[str, BaseChatModel] = {}  # loaded fine-tuned models by folder path
        self._pair_writer: tuple[str, BaseChatModel] | None = None  # the pair model, loaded when training needs it
        self.training: jobs.TrainingJob | None = None  # the latest background fine-tuning job
        self.evaluation: jobs.EvaluationJob | None = None  # the latest background evaluation
        self._model_lock = threading.Lock()
        self._ingest_lock = threading.Lock()

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
                in_process = "transformers" if self.settings.chat_backend in ("transformers", "openai") else "auto"
                local = self.settings.model_copy(update={"chat_backend": in_process})
                model = make_chat_model(local, model=path)
                role = " reader" if path != record.path else ""
                model.model_name = f"{record.name}{role} (fine-tuned {record.base_model.removeprefix('packaged:')})"
                # keep the active model's weights only: an older active model is released
                current = (record.path, record.weights_for("hybrid"))
                self._finetuned = {p: m for p, m in self._finetuned.items() if p in current}
                self._finetuned[path] = model
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
        """What the RAG prompt would quote of `texts` for `question` (chatbot/evidence.py)."""
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
        derived from the live KB (the active fine-tuned model's held-out pairs, else the templated pairs
        fine-tuning holds out) plus off-topic questions."""
        from chatbot.evaluation.harness import run_eval
        from chatbot.evaluation.live_kb import write_kb_dataset

        with self._model_lock:
            if self.evaluation and self.evaluation.running:
                raise ServiceError("An evaluation is already running.")
            stamp = time.strftime("%Y%m%d-%H%M%S")
            out = self.evaluations_dir / f"{stamp}-{dataset.name if dataset else 'live-kb'}"
            job = jobs.EvaluationJob(out_dir=out)
            self.evaluation = job

        def work(job: jobs.EvaluationJob) -> dict:
            active = registry.get_active(self.settings)
            held_out = registry.read_held_out(active) if active else None
            source = dataset or write_kb_dataset(self.store.chunks(), out / "dataset", held_out)
            return run_eval(source, arms=list(arms), limit=limit, out_dir=out, settings=self.settings,
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
        return str(getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__)

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
                raise ServiceError(f"Unknown mode {mode!r}; use rag, finetuned, hybrid or base.")

    # --- knowledge base ----------------------------------------------------------------------
    def documents(self) -> list[DocInfo]:
        return self.store.list()

    def delete(self, doc_id: str) -> bool:
        with self._ingest_lock:
            return self.store.delete(doc_id)

    def ingest_bytes(self, name: str, data: bytes, source: str | None = None) -> IngestResult:
        """Index one file's content. Refusals never touch what is already indexed."""
        item = self._prepare(name, data, source)
        if isinstance(item, IngestResult):
            return item
        with self._ingest_lock:
            status = self.store.upsert(item.doc, item.chunks)
            if source is None and status != "unchanged":  # an upload: keep the original, under a safe name
                uploads = self.settings.home / "uploads"
                uploads.mkdir(exist_ok=True)
                (uploads / safe_name(name)).write_bytes(data)
        return item.result(status)

    def _prepare(self, name: str, data: bytes, source: str | None = None,
                 pending: Mapping[str, Document] | None = None) -> IngestResult | Prepared:
        """Load and split one file, or say why it is refused or unchanged. `pending` (doc_id -> document)
        holds documents checked but not yet written: the checks count them as written."""
        pending = pending or {}
        name = safe_name(name)
        label = source or name
        limit = int(self.settings.max_upload_mb * 1024 * 1024)
        if len(data) > limit:
            return IngestResult(label, "refused", reason=_too_big(len(data), self.settings.max_upload_mb))
        try:
            doc = load(name, data)
        except IngestError as exc:
            return IngestResult(label, "refused", reason=str(exc))
        if source:
            doc = replace(doc, source=source)
        twin = self._doc_with_content(doc.sha256, pending)
        if twin and twin.doc_id != doc.doc_id:
            return IngestResult(label, "refused", doc_id=twin.doc_id,
                                reason=f"same content as the indexed document {twin.source!r} ({twin.doc_id})")
        prepared = Prepared(label, doc, split(doc, self.settings.chunk_size, self.settings.chunk_overlap))
        current = pending.get(doc.doc_id) or self.store.get(doc.doc_id)
        return prepared.result("unchanged") if current and current.sha256 == doc.sha256 else prepared

    def _doc_with_content(self, sha256: str, pending: Mapping[str, Document]) -> Document | DocInfo | None:
        """The document whose current version has this content, pending documents counted as written."""
        for doc in pending.values():
            if doc.sha256 == sha256:
                return doc
        indexed = self.store.find_by_sha(sha256)
        return indexed if indexed and indexed.doc_id not in pending else None

    def ingest_paths(self, paths: Iterable[str | Path]) -> Iterator[IngestResult]:
        """Index files and folders (recursively); one result per file, refused files included.
        Starts by removing what an interrupted earlier run left behind."""
        with self._ingest_lock:
            self.store.repair()
        yield from self._ingest_files(paths)

    def _ingest_files(self, paths: Iterable[str | Path]) -> Iterator[IngestResult]:
        """One result per file, in order, embedded in batches (`_ingest`)."""
        def files() -> Iterator[IngestResult | tuple[str, bytes, str | None]]:
            for path in expand_paths(paths):
                if not path.is_file():
                    yield IngestResult(str(path), "refused", reason="no such file")
                elif (size := path.stat().st_size) > self.settings.max_upload_mb * 1024 * 1024:  # refused unread
                    yield IngestResult(str(path), "refused", reason=_too_big(size, self.settings.max_upload_mb))
                else:
                    yield path.name, path.read_bytes(), str(path)

        yield from self._ingest(files())

    def ingest_contents(self, items: Iterable[tuple[str, bytes]]) -> Iterator[IngestResult]:
        """Index many (file name, content) pairs, embedded in batches like a folder (the evaluation harness
        indexes a dataset's corpus this way); one result per item, in order. Nothing is kept in uploads."""
        with self._ingest_lock:
            self.store.repair()
        yield from self._ingest((name, data, name) for name, data in items)

    def _ingest(self, entries: Iterable[IngestResult | tuple[str, bytes, str | None]]) -> Iterator[IngestResult]:
        """One result per entry (a refusal already made, or (name, content, source)), in order. New and
        changed documents are gathered until they hold `ingest_batch_chunks` chunks and embedded together;
        their results come once they are written."""
        batch: list[IngestResult | Prepared] = []
        pending: dict[str, Document] = {}  # doc_id -> its latest version in the batch
        chunks = 0
        for entry in entries:
            item = entry if isinstance(entry, IngestResult) else self._prepare(*entry, pending)
            batch.append(item)
            if isinstance(item, Prepared):
                pending[item.doc.doc_id] = item.doc
                chunks += len(item.chunks)
            if not pending or chunks >= self.settings.ingest_batch_chunks:
                yield from self._write(batch)
                batch, pending, chunks = [], {}, 0
        yield from self._write(batch)

    def _write(self, batch: list[IngestResult | Prepared]) -> list[IngestResult]:
        """Embed the chunks of the batch's prepared documents in one call, then store them together
        (`upsert_many` takes each document once: a document repeated in the batch starts a new write)."""
        prepared = [item for item in batch if isinstance(item, Prepared)]
        vectors = self.embeddings.embed_documents([c.text for p in prepared for c in p.chunks]) if prepared else []
        writes: list[list[tuple]] = [[]]
        start = 0
        for item in prepared:
            if any(doc.doc_id == item.doc.doc_id for doc, _, _ in writes[-1]):
                writes.append([])
            writes[-1].append((item.doc, item.chunks, vectors[start : start + len(item.chunks)]))
            start += len(item.chunks)
        statuses: list[str] = []
        with self._ingest_lock:
            for write in writes:
                statuses += self.store.upsert_many(write) if write else []
        done = iter(statuses)
        return [item.result(next(done)) if isinstance(item, Prepared) else item for item in batch]

    def ensure_sample_kb(self) -> list[IngestResult]:
        """Index the sample knowledge base when the store holds no documents (first start)."""
        with self._ingest_lock:
            self.store.repair()
        if self.store.list() or not self.settings.kb_dir.is_dir():
            return []
        return list(self._ingest_files([self.settings.kb_dir]))  # repaired just above

    # --- answering ---------------------------------------------------------------------------
    def stream(self, question: str, history: Sequence[Turn] = (), mode: Mode = "rag",
               conversation_id: str | None = None) -> Iterator[StreamEvent]:
        """Answer `question`: yields the sources, then tokens as they are generated, then the Answer.
        With a conversation id, the question and the answer are recorded in that conversation."""
        for event in self._stream(question, history, mode):
            if event.kind == "done" and event.answer is not None and conversation_id:
                self.record_turn(conversation_id, [event.answer])
            yield event

    def _relevant(self, question: str, sources: Sequence, texts: Sequence[str]) -> bool:
        """Whether retrieval found something worth answering from: a chunk at least `min_relevance`
        similar to the question, or one naming the same code (E-104) — the embedding model knows
        English only, so "Was bedeutet E-104?" scores low on similarity yet names the right document."""
        if max((s.score for s in sources), default=0.0) >= self.settings.min_relevance:
            return True
        asked = codes(question)
        return bool(asked) and any(asked & codes(text) for text in texts)

    def _stream(self, question: str, history: Sequence[Turn], mode: Mode) -> Iterator[StreamEvent]:
        started = time.perf_counter()
        question = clean_question(question, self.settings.max_question_chars)
        if not question:
            raise ServiceError("Please type a question.")
        model, retrieves = self._arm(mode)
        condense = make_condense_step(self.chat_model, self.settings.history_turns)
        refuse = self.settings.refuse
        gate = (lambda x: self._relevant(x["question"], x["sources"], x["texts"])) if refuse else None
        prepared = make_prepare_step(self.retriever if retrieves else None, condense, self.selector,
                                     self.settings.context_chars, gate).invoke(
            {"question": question, "history": list(history)})
        name = self.model_name(model)
        shown, texts, excerpts = in_prompt(prepared)  # the chunks the prompt quotes: citation [n] is the n-th

        def finish(text: str, refused: bool, attempt: _Attempt, shown: tuple[Source, ...]) -> StreamEvent:
            grounded = grounding.support(text, texts) if retrieves and not refused else None
            answer = Answer(text=text, sources=shown, refused=refused, mode=mode, model=name,
                            latency_s=time.perf_counter() - started, ttft_s=attempt.ttft, question=question,
                            standalone_question=prepared["standalone"], output_tokens=attempt.tokens,
                            groundedness=grounded, decline_probability=attempt.decline_probability)
            return StreamEvent("done", answer=answer)

        if retrieves and not prepared["relevant"]:
            yield StreamEvent("sources", sources=())
            text = prompts.refusal_text(question)
            yield StreamEvent("token", token=text)
            yield finish(text, True, _Attempt(ttft=time.perf_counter() - started), ())
            return

        attempt = _Attempt()
        yield from self._generate(model, retrieves, prepared, shown, excerpts, started, attempt)
        if (refuse and retrieves and prompts.is_refusal(attempt.text) and self.settings.second_look
                and list(prepared["excerpts"]) != list(prepared["texts"])):
            # Declined from the excerpts: the answer may sit in a part of the chunks they left out. Read the
            # whole retrieved chunks before handing off, so that a decline means the documents lack it.
            yield StreamEvent("reset")
            prepared = {**prepared, "excerpts": list(prepared["texts"])}
            shown, texts, excerpts = in_prompt(prepared)
            attempt = _Attempt()  # its first token is the answer's: the time to it is what the customer waits
            yield from self._generate(model, retrieves, prepared, shown, texts, started, attempt)
        attempt.text = cut_loop(attempt.text)  # a loop the decoding guard let through ends the answer
        if refuse and retrieves and not prompts.is_refusal(attempt.text):
            # a figure stated in no document is a guess: drop its sentence (an answer left empty declines)
            attempt.text = grounding.drop_unsupported(attempt.text, [*texts, question])
        if refuse and prompts.is_refusal(attempt.text):
            yield finish(prompts.refusal_text(question), True, attempt, ())
        else:
            text = prompts.strip_bad_citations(attempt.text, len(attempt.sources))
            yield finish(grounding.add_citations(text, texts) if retrieves else text, False, attempt,
                         attempt.sources)

    def _generate(self, model: BaseChatModel, retrieves: bool, prepared: dict, shown: Sequence[Source],
                  quoted: Sequence[str], started: float, attempt: _Attempt) -> Iterator[StreamEvent]:
        """Stream one generation over `prepared` (its "excerpts" are what the prompt quotes): the sources
        event (each source showing what was quoted from it), then tokens; fills `attempt`."""
        attempt.sources = tuple(replace(s, snippet=body_snippet(q, QUOTE_CHARS))
                                for s, q in zip(shown, quoted, strict=True))
        yield StreamEvent("sources", sources=attempt.sources)
        generate = make_generate_step(model, with_context=retrieves,
                                      may_decline=self.settings.refuse and self.settings.model_declines,
                                      decline_confidence=self.settings.decline_confidence)
        for chunk in generate.stream(prepared):
            if chunk.usage_metadata:
                attempt.tokens = chunk.usage_metadata.get("output_tokens", attempt.tokens)
            attempt.decline_probability = chunk.response_metadata.get("decline_probability",
                                                                      attempt.decline_probability)
            piece = str(chunk.content)
            if not piece:
                continue
            if not attempt.text:
                attempt.ttft = time.perf_counter() - started
            attempt.text += piece
            yield StreamEvent("token", token=piece)
            if loop_start(attempt.text) is not None:  # stuck in a loop: nothing more worth waiting for
                break

    def ask(self, question: str, history: Sequence[Turn] = (), mode: Mode = "rag",
            conversation_id: str | None = None) -> Answer:
        for event in self.stream(question, history, mode, conversation_id):
            if event.kind == "done" and event.answer is not None:
                return event.answer
        raise ServiceError("no answer was produced")  # pragma: no cover - stream always ends with done

    def with_groundedness(self, answer: Answer) -> Answer:
        """For closed-book answers: how much of the answer the knowledge base supports (retrieved now)."""
        if answer.groundedness is not None or answer.refused:
            return answer
        texts = [self.retriever.chunk_text(s.chunk_id) for s in self.retriever.retrieve(answer.question)]
        return replace(answer, groundedness=grounding.support(answer.text, texts))

    def compare(self, question: str, arms: Sequence[Mode] = ("rag", "finetuned", "hybrid"),
                history: Sequence[Turn] = (), conversation_id: str | None = None) -> Comparison:
        """The same question answered by several arms, one after another (they share the CPU); with a
        conversation id, recorded as one question followed by every arm's answer."""
        answers = tuple(self.with_groundedness(self.ask(question, history, arm)) for arm in arms)
        if conversation_id:
            self.record_turn(conversation_id, answers)
        return Comparison(question=question, answers=answers)

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
        """A recorded conversation as the turns a follow-up is read against: each question and the first
        answer given to it (side by side turns record one answer per arm). Empty for an unknown id."""
        turns: list[Turn] = []
        for message in self.conversation(conversation_id):
            if message.role == "user":
                turns.append(Turn("user", message.text))
            elif turns and turns[-1].role == "user":
                turns.append(Turn("assistant", message.text))
        return turns


def make_service(settings: Settings | None = None, chat_model: BaseChatModel | None = None,
                 embeddings: Embeddings | None = None) -> Service:
    """Build the service; pass already-loaded models to share them between services (tests, evaluation)."""
    return Service(settings or Settings(), chat_model=chat_model, embeddings=embeddings)


def expand_paths(paths: Iterable[str | Path]) -> Iterator[Path]:
    """Files as given; folders walked recursively for supported extensions (hidden files skipped)."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for child in sorted(path.rglob("*")):
                rel = child.relative_to(path)
                if child.is_file() and not any(p.startswith(".") for p in rel.parts) \
                        and child.suffix.lower() in INGESTIBLE and child.name.lower() not in SKIP_NAMES:
                    yield child
        else:
            yield path


def clean_question(text: str, limit: int) -> str:
    """Drop control characters, collapse whitespace, cut to `limit` characters."""
    text = "".join(" " if unicodedata.category(c).startswith("C") else c for c in text)
    return " ".join(text.split())[:limit].strip()


def _too_big(size: int, limit_mb: float) -> str:
    return f"the file is {size / 1048576:.1f} MB, over the {limit_mb:g} MB limit"
