"""Run answer arms (rag, finetuned, hybrid, base) over an evaluation dataset and score them.

The harness never touches the user's knowledge base: it builds its own service in a separate home (a
temporary folder, or OUT/.eval-home/DATASET when an output folder is given, which makes re-runs skip the
embedding of an unchanged corpus), with its own SQLite database and embedded Chroma even when the user's
settings point at a server. Only the converted-model cache (HOME/models) is shared, through a symlink,
so models are not converted again and a fine-tuned model stored there can be evaluated.

Every arm answers the same questions, so two arms can be compared item by item (paired bootstrap).

    from chatbot.config import Settings
    from chatbot.evaluation.harness import run_eval
    from chatbot.service import make_service
    report = run_eval("/work/shared/eval/emanual_smarttv", make_service, ["rag"], limit=40, seed=0,
                      out_dir="eval-out", settings=Settings())

The harness does not import the service (the service imports the harness): it takes a factory that builds
one, and asks of it only what `EvalService` names.
"""

from __future__ import annotations

import itertools
import logging
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from langchain_core.language_models import BaseChatModel

from chatbot.config import Settings
from chatbot.evaluation import metrics
from chatbot.evaluation.dataset import CorpusRecord, Dataset, Question, load_dataset, sample_questions
from chatbot.ingest.loaders import doc_id_for
from chatbot.rag.citations import strip_citations
from chatbot.types import ARMS, RETRIEVAL_ARMS, Answer, DocInfo, IngestResult, Mode, ServiceError, Source, Turn

log = logging.getLogger(__name__)

RETRIEVAL_K = 10
RETRIEVAL_KS = (1, 5, 10)
ANSWER_METRICS = ("token_f1", "rouge_l", "rouge_l_recall", "bleu")
EVAL_COLLECTION = "eval"
NAME_SLUG_CHARS = 60  # doc ids are cut at 80 characters: room for a numeric suffix

Progress = Callable[[str, int, int], None]
"""progress(phase, done, total): phase is "ingest" or "answer"."""


class EvalService(Protocol):
    """What the harness asks of the service (chatbot/service.py) it evaluates."""

    settings: Settings

    @property
    def chat_model(self) -> BaseChatModel: ...
    def ingest_contents(self, items: Iterable[tuple[str, bytes]]) -> Iterator[IngestResult]: ...
    def documents(self) -> list[DocInfo]: ...
    def delete_document(self, doc_id: str) -> bool: ...
    def ask(self, question: str, history: Sequence[Turn] = (), mode: Mode = "rag") -> Answer: ...
    def search(self, question: str, k: int) -> list[Source]: ...
    def warm(self) -> None: ...
    def chunk_count(self) -> int: ...
    def model_name(self, model: BaseChatModel) -> str: ...


ServiceFactory = Callable[..., EvalService]
"""make_service(settings, chat_model=...) -> a service (chatbot.service.make_service)."""


# --- the isolated knowledge base -----------------------------------------------------------------
@dataclass
class CorpusIndex:
    """How dataset corpus ids map onto the service's document ids (file-name slugs). Two records with
    identical content share one indexed document (the service refuses the duplicate), so several corpus
    ids may map to one doc id."""

    corpus_to_doc: dict[str, str] = field(default_factory=dict)
    doc_to_corpus: dict[str, list[str]] = field(default_factory=dict)
    refused: dict[str, str] = field(default_factory=dict)

    def add(self, corpus_id: str, doc_id: str) -> None:
        self.corpus_to_doc[corpus_id] = doc_id
        self.doc_to_corpus.setdefault(doc_id, []).append(corpus_id)

    def gold_docs(self, gold_ids: Sequence[str]) -> set[str]:
        """Doc ids of the gold corpus records; a gold id that was never indexed can't be hit."""
        return {self.corpus_to_doc.get(g, f"missing:{g}") for g in gold_ids}

    def corpus_ids(self, doc_ids: Sequence[str]) -> list[str]:
        """Corpus ids of retrieved doc ids, in order (for people reading results.jsonl)."""
        return ["|".join(self.doc_to_corpus.get(d, [d])) for d in doc_ids]


def file_names(corpus: Sequence[CorpusRecord]) -> dict[str, str]:
    """A file name per corpus id whose doc-id slug is unique. The name is the id's slug cut to
    `NAME_SLUG_CHARS` (ids are free text: long, with `#`, `|`, `:`, spaces, non-ASCII), and ids that slug
    alike get a numeric suffix, kept inside the doc-id length so that it is never cut off again.

    >>> file_names([CorpusRecord("a_b", "", "x"), CorpusRecord("a-b", "", "y")])
    {'a_b': 'a-b.md', 'a-b': 'a-b-2.md'}
    >>> names = file_names([CorpusRecord("x" * 90 + str(i), "", "t") for i in range(3)])
    >>> len(set(names.values())), max(len(n) for n in names.values()) <= NAME_SLUG_CHARS + 10
    (3, True)
    """
    names: dict[str, str] = {}
    taken: set[str] = set()
    for record in corpus:
        stem = doc_id_for(f"{record.id}.md")[:NAME_SLUG_CHARS].strip("-") or "doc"
        candidate = stem
        for n in itertools.count(2):
            if candidate not in taken:
                break
            candidate = f"{stem}-{n}"
        taken.add(candidate)
        names[record.id] = f"{candidate}.md"
    return names


def eval_settings(settings: Settings, home: Path) -> Settings:
    """A copy of the user's settings pointing every piece of state into `home`. The database and Chroma
    URLs are cleared too: a user on Postgres or a Chroma server must not get evaluation documents there."""
    home.mkdir(parents=True, exist_ok=True)
    models = home / "models"
    if not models.exists():
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        models.symlink_to(settings.models_dir.resolve(), target_is_directory=True)
    return settings.model_copy(update={"home": home, "collection": EVAL_COLLECTION, "database_url": None,
                                       "chroma_url": None, "kb_dir": home / "no-sample-kb"})


def ingest_corpus(service: EvalService, corpus: Sequence[CorpusRecord], progress: Progress | None = None
                  ) -> CorpusIndex:
    """Index every corpus record as one Markdown document and drop documents of earlier runs that the
    corpus no longer has. Returns the id mapping."""
    index = CorpusIndex()
    names = file_names(corpus)
    contents = ((names[r.id], r.markdown().encode("utf-8")) for r in corpus)
    # ingest_contents repairs what a killed run left behind, then embeds the records in batches
    for done, (record, result) in enumerate(zip(corpus, service.ingest_contents(contents), strict=True), start=1):
        if result.doc_id:  # indexed, unchanged, or identical content to an indexed record: share its document
            index.add(record.id, result.doc_id)
        else:
            index.refused[record.id] = result.reason
        if progress:
            progress("ingest", done, len(corpus))
    for doc in service.documents():
        if doc.doc_id not in index.doc_to_corpus:
            service.delete_document(doc.doc_id)
    return index


# --- answering and scoring one item --------------------------------------------------------------
def run_item(service: EvalService, arm: Mode, question: Question, index: CorpusIndex) -> dict[str, Any]:
    """Ask one question in one arm; returns the answer, what was retrieved and the item's scores."""
    try:
        answer = service.ask(question.question, history=list(question.history), mode=arm)
    except ServiceError as exc:
        return {"error": str(exc)}
    retrieved: list[str] | None = None
    similarity: float | None = None
    if arm in RETRIEVAL_ARMS:
        query = answer.standalone_question or question.question
        retrieved, similarity = ranked_documents_and_similarity(service, query)
    return {
        "answer": answer.text,
        "refused": answer.refused,
        "standalone": answer.standalone_question,
        "sources": index.corpus_ids([s.doc_id for s in answer.sources]),
        "retrieved": index.corpus_ids(retrieved) if retrieved is not None else None,
        "top_similarity": similarity,
        "decline_probability": answer.decline_probability,
        "ttft_s": round(answer.ttft_s, 4),
        "latency_s": round(answer.latency_s, 4),
        "output_tokens": answer.output_tokens,
        "gen_s": round(max(answer.latency_s - answer.ttft_s, 0.0), 4),
        "model": answer.model,
        "scores": score_item(question, answer, retrieved, index),
    }


def ranked_documents(service: EvalService, query: str, k: int = RETRIEVAL_K) -> list[str]:
    """The first `k` distinct documents the retriever ranks for `query`, each at the rank of its best
    chunk (a document split into several chunks takes one place, as in document retrieval)."""
    return ranked_documents_and_similarity(service, query, k)[0]


def ranked_documents_and_similarity(service: EvalService, query: str, k: int = RETRIEVAL_K
                                    ) -> tuple[list[str], float | None]:
    """`ranked_documents`, and the best chunk's cosine similarity (what the relevance gate reads)."""
    chunks = service.search(query, 3 * k)
    gated = chunks[: service.settings.top_k]  # the gate reads the chunks an answer would use
    top = round(max(s.score for s in gated), 4) if gated else None
    return metrics.distinct([s.doc_id for s in chunks])[:k], top


def score_item(question: Question, answer: Answer, retrieved: list[str] | None,
               index: CorpusIndex) -> dict[str, float | None]:
    """Per-item scores: retrieval and answer overlap for answerable items, refusal correctness for the
    rest (None where a score does not apply)."""
    scores: dict[str, float | None] = {}
    if question.answerable is True and question.gold_ids and retrieved is not None:
        gold = index.gold_docs(question.gold_ids)
        for k in range(1, RETRIEVAL_K + 1):
            scores[f"recall@{k}"] = metrics.recall_at_k(retrieved, gold, k)
            scores[f"hit@{k}"] = metrics.hit_at_k(retrieved, gold, k)
        scores[f"mrr@{RETRIEVAL_K}"] = metrics.mrr_at_k(retrieved, gold, RETRIEVAL_K)
    if question.answerable is True and question.references:
        text = strip_citations(answer.text)
        refs = question.references
        scores.update(token_f1=metrics.token_f1(text, refs), rouge_l=metrics.rouge_l(text, refs),
                      rouge_l_recall=metrics.rouge_l_recall(text, refs), bleu=metrics.bleu(text, refs))
    if question.answerable is not None:
        scores["refusal_correct"] = float(answer.refused == (question.answerable is False))
    scores["loops"] = float(metrics.loops(answer.text))
    scores["repetitive"] = float(metrics.repetitive(answer.text))
    return scores


# --- summaries -----------------------------------------------------------------------------------
def _values(items: Sequence[dict[str, Any]], key: str) -> list[float]:
    return [float(v) for item in items if (v := item["scores"].get(key)) is not None]


def _rounded(value: float | None, digits: int = 4) -> float | None:
    return None if value is None else round(value, digits)


def summarize_arm(arm: str, questions: Sequence[Question], items: Sequence[dict[str, Any]],
                  seed: int) -> dict[str, Any]:
    """The per-arm report block: retrieval, answer, refusal, latency and 95% bootstrap intervals."""
    ok = [(q, item) for q, item in zip(questions, items, strict=True) if "error" not in item]
    answered = [item for _, item in ok]
    retrieval: dict[str, float | None] | None = None
    if arm in RETRIEVAL_ARMS:
        retrieval = {f"recall@{k}": _rounded(metrics.mean(_values(answered, f"recall@{k}")))
                     for k in RETRIEVAL_KS}
        retrieval[f"mrr@{RETRIEVAL_K}"] = _rounded(metrics.mean(_values(answered, f"mrr@{RETRIEVAL_K}")))
    answer = {m: _rounded(metrics.mean(_values(answered, m))) for m in ANSWER_METRICS}
    refusal, pairs = summarize_refusal(ok)
    ci: dict[str, list[float] | None] = {}
    ci_keys = [*(retrieval or {}), *ANSWER_METRICS]
    for offset, key in enumerate(ci_keys):
        low_high = metrics.bootstrap_ci(_values(answered, key), seed=seed + offset)
        ci[key] = [round(x, 4) for x in low_high] if low_high else None
    refusal_ci = metrics.bootstrap_ci(pairs, seed=seed + 99, stat=metrics.refusal_f1) if pairs else None
    ci["refusal_f1"] = [round(x, 4) for x in refusal_ci] if refusal_ci and refusal["f1"] is not None else None
    return {"n": len(answered), "errors": len(items) - len(answered), "retrieval": retrieval,
            "answer": answer, "refusal": refusal, "latency": summarize_latency(answered), "ci": ci,
            "repeat_share": _rounded(metrics.mean(_values(answered, "loops"))),
            "repetitive_share": _rounded(metrics.mean(_values(answered, "repetitive")))}


def summarize_refusal(ok: Sequence[tuple[Question, dict[str, Any]]]
                      ) -> tuple[dict[str, Any], list[tuple[bool, bool]]]:
    """Refusal precision/recall/F1 over answerable true/false items; null items reported on their own."""
    pairs = [(q.answerable is False, bool(item["refused"])) for q, item in ok if q.answerable is not None]
    scores = metrics.refusal_scores([g for g, _ in pairs], [p for _, p in pairs])
    nulls = [bool(item["refused"]) for q, item in ok if q.answerable is None]
    answerable = [p for g, p in pairs if not g]
    refusal = {
        "precision": _rounded(scores["precision"]), "recall": _rounded(scores["recall"]),
        "f1": _rounded(scores["f1"]),
        "confusion": {k: scores[k] for k in ("tp", "fp", "fn", "tn")},
        "n_unanswerable": sum(g for g, _ in pairs), "n_answerable": len(answerable),
        "refused_rate_answerable": _rounded(metrics.mean([float(p) for p in answerable])),
        "null": {"n": len(nulls), "refused_rate": _rounded(metrics.mean([float(p) for p in nulls]))},
        "threshold": _best_gate(ok),
    }
    return refusal, pairs


def _best_gate(ok: Sequence[tuple[Question, dict[str, Any]]]) -> dict[str, float] | None:
    """The CHATBOT_MIN_RELEVANCE at which the relevance gate alone would have declined best on these
    items (refusal F1), for datasets with unanswerable items; chosen on them, so optimistic."""
    labelled = [(item["top_similarity"], q.answerable is False) for q, item in ok
                if q.answerable is not None and item.get("top_similarity") is not None]
    if not labelled:
        return None
    return metrics.best_threshold([s for s, _ in labelled], [g for _, g in labelled])


def summarize_latency(items: Sequence[dict[str, Any]]) -> dict[str, float | None]:
    """Time to first token and total time (p50/p95, seconds) over every answer; tokens per second as
    all generated tokens over all generation time (answers refused before generating don't count)."""
    ttft = [item["ttft_s"] for item in items]
    total = [item["latency_s"] for item in items]
    generated = [item for item in items if item["output_tokens"] and item["gen_s"] > 0]
    gen_s = sum(item["gen_s"] for item in generated)
    return {"ttft_p50": _rounded(metrics.percentile(ttft, 50), 3),
            "ttft_p95": _rounded(metrics.percentile(ttft, 95), 3),
            "total_p50": _rounded(metrics.percentile(total, 50), 3),
            "total_p95": _rounded(metrics.percentile(total, 95), 3),
            "tokens_per_s": round(sum(i["output_tokens"] for i in generated) / gen_s, 2) if gen_s else None}


def retrieval_curve(items: Sequence[dict[str, Any]]) -> dict[str, list[float | None]]:
    """Mean recall@k and hit@k for k = 1..10 (for the recall@k chart)."""
    return {name: [_rounded(metrics.mean(_values(items, f"{name}@{k}"))) for k in range(1, RETRIEVAL_K + 1)]
            for name in ("recall", "hit")}


def answerable_label(question: Question) -> str:
    """The JSON spelling of `answerable`, for slice names.

    >>> answerable_label(Question("q", "?", answerable=None))
    'null'
    """
    return {True: "true", False: "false", None: "null"}[question.answerable]


SLICE_METRICS = ("recall@5", f"mrr@{RETRIEVAL_K}", "token_f1", "rouge_l", "rouge_l_recall")


def slices(questions: Sequence[Question], per_arm: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Per tag value (and per answerable value): n, mean slice metrics and refusal rate, per arm."""
    labels: dict[str, dict[str, list[int]]] = {}
    for pos, q in enumerate(questions):
        for key, value in (*q.tags, ("answerable", answerable_label(q))):
            labels.setdefault(key, {}).setdefault(value, []).append(pos)
    out: dict[str, Any] = {}
    for key, values in sorted(labels.items()):
        out[key] = {}
        for value, positions in sorted(values.items()):
            row: dict[str, Any] = {"n": len(positions)}
            for arm, items in per_arm.items():
                chosen = [items[p] for p in positions if "error" not in items[p]]
                row[arm] = {m: _rounded(metrics.mean(_values(chosen, m))) for m in SLICE_METRICS}
                row[arm]["refused_rate"] = _rounded(metrics.mean([float(i["refused"]) for i in chosen]))
            out[key][value] = row
    return out


PAIRED_METRICS = (f"mrr@{RETRIEVAL_K}", "recall@5", *ANSWER_METRICS, "refusal_correct")


def paired(per_arm: dict[str, list[dict[str, Any]]], seed: int) -> dict[str, Any]:
    """Paired bootstrap of every metric both arms have, on the items both scored: "a vs b" is a - b."""
    out: dict[str, Any] = {}
    for a, b in itertools.combinations(per_arm, 2):
        block: dict[str, Any] = {}
        for offset, metric in enumerate(PAIRED_METRICS):
            both = [(x["scores"].get(metric), y["scores"].get(metric))
                    for x, y in zip(per_arm[a], per_arm[b], strict=True)
                    if "error" not in x and "error" not in y]
            both = [(x, y) for x, y in both if x is not None and y is not None]
            if both:
                result = metrics.paired_bootstrap([x for x, _ in both], [y for _, y in both],
                                                  seed=seed + offset)
                block[metric] = result.to_dict()
        out[f"{a} vs {b}"] = block
    return out


# --- the run -------------------------------------------------------------------------------------
def run_arms(service: EvalService, arms: Sequence[Mode], questions: Sequence[Question], index: CorpusIndex,
             progress: Progress | None = None) -> tuple[dict[str, list[dict[str, Any]]], dict[str, str]]:
    """Every arm on every question. An arm whose every question fails with ServiceError (e.g. no
    fine-tuned model yet) is skipped, with the service's message as the reason."""
    per_arm: dict[str, list[dict[str, Any]]] = {}
    skipped: dict[str, str] = {}
    total, done = len(arms) * len(questions), 0
    for arm in arms:
        items = []
        for question in questions:
            items.append(run_item(service, arm, question, index))
            done += 1
            if progress:
                progress("answer", done, total)
            if len(items) == 1 and "error" in items[0]:
                break  # an arm that can't answer the first question is unavailable; don't retry them all
        if all("error" in item for item in items):
            skipped[arm] = items[0]["error"] if items else "no questions"
            done += len(questions) - len(items)
            if progress:
                progress("answer", done, total)
            continue
        per_arm[arm] = items
    return per_arm, skipped


def run_eval(dataset_dir: str | Path, make_service: ServiceFactory, arms: Sequence[Mode] = ("rag",),
             limit: int | None = None, seed: int = 0, out_dir: str | Path | None = None,
             settings: Settings | None = None, chat_model: BaseChatModel | None = None,
             progress: Progress | None = None) -> dict[str, Any]:
    """Evaluate `arms` on (a seeded sample of `limit` questions of) the dataset, answered by a service
    `make_service` builds in an isolated home (see the module's docstring); returns the report dict
    {"dataset", "n", "arms": {arm: {retrieval, answer, refusal, latency, ci}}, "slices", "paired",
    "skipped", ...}. With `out_dir`, also writes results.jsonl, report.json, report.md and charts."""
    unknown = [a for a in arms if a not in ARMS]
    if unknown:
        raise ValueError(f"unknown arm(s) {unknown}; choose from {', '.join(ARMS)}")
    settings = settings or Settings()
    dataset = load_dataset(dataset_dir)
    questions = sample_questions(dataset.questions, limit, seed)
    with ExitStack() as stack:
        home = _eval_home(stack, dataset, out_dir)
        service = make_service(eval_settings(settings, home), chat_model=chat_model)
        index = ingest_corpus(service, dataset.corpus, progress)
        service.warm()  # pay model loading before the first timed answer
        per_arm, skipped = run_arms(service, arms, questions, index, progress)
        report = build_report(dataset, questions, per_arm, skipped, index, seed, service)
    if out_dir is not None:
        from chatbot.evaluation.report import write_outputs

        write_outputs(report, questions, per_arm, Path(out_dir))
    return report


def _eval_home(stack: ExitStack, dataset: Dataset, out_dir: str | Path | None) -> Path:
    """OUT/.eval-home/DATASET (kept, so a re-run reuses the index), else a temporary folder."""
    if out_dir is not None:
        return Path(out_dir) / ".eval-home" / dataset.name
    return Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="chatbot-eval-")))


def build_report(dataset: Dataset, questions: Sequence[Question], per_arm: dict[str, list[dict[str, Any]]],
                 skipped: dict[str, str], index: CorpusIndex, seed: int, service: EvalService) -> dict[str, Any]:
    """Assemble the report dict from the per-item results."""
    answerable = [answerable_label(q) for q in questions]
    return {
        "dataset": dataset.name,
        "n": len(questions),
        "arms": {arm: summarize_arm(arm, questions, items, seed) for arm, items in per_arm.items()},
        "slices": slices(questions, per_arm),
        "paired": paired(per_arm, seed),
        "skipped": skipped,
        "retrieval_curve": {arm: retrieval_curve(items) for arm, items in per_arm.items()
                            if arm in RETRIEVAL_ARMS},
        "setup": {
            "seed": seed, "questions_total": len(dataset.questions),
            "answerable_mix": {v: answerable.count(v) for v in ("true", "false", "null")},
            "corpus_records": len(dataset.corpus), "documents_indexed": len(index.doc_to_corpus),
            "corpus_refused": index.refused, "chunks": service.chunk_count(),
            "chat_model": service.model_name(service.chat_model),
            "embedding_model": service.settings.embedding_model,
            "max_new_tokens": service.settings.max_new_tokens, "top_k": service.settings.top_k,
            "min_relevance": service.settings.min_relevance, "retrieval_k": RETRIEVAL_K,
            "recall_definition": "share of gold corpus records among the first k retrieved documents (each "
                                 "ranked by its best chunk); "
                                 "hit@k (any gold record in the first k) is in retrieval_curve",
        },
    }
