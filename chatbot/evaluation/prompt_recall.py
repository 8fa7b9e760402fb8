"""Fact recall in the prompt: did the reference fact reach the text the RAG prompt quotes? Measured with no
generation, so the excerpt budget (CHATBOT_CONTEXT_CHARS) and top_k can be tuned in seconds per question.

For every answerable question with a reference span, the service's own prepare step runs (chatbot/rag/chain.py
`make_prepare_step` with the service's retriever, relevance gate and excerpt selector, as
chatbot/rag/answer.py builds it) once per excerpt budget, on the question as given (no follow-up rewrite:
that needs the model). The item's score is the token coverage of the quoted text (the excerpts of the
chunks that reach the prompt, joined): the share of the reference's content tokens found in it, the best
over `answer` and `alt_answers` (metrics.token_coverage). A question the gate declines quotes nothing and
scores 0, as the customer gets no answer from it. "Fact in prompt" is coverage >= FACT_THRESHOLD. The
ceiling is the same figure over the whole retrieved chunks without the gate: what the excerpts and the gate
can at best keep. Every figure is also given over the items whose gold document was among the retrieved
chunks, with a 95% bootstrap interval.

    chatbot eval --dataset /work/shared/eval/doc2dial_dev --prompt-only --context-chars 600,1200,0 --limit 150
    .venv/bin/python bench/prompt_recall.py --context-chars 600,1200,0     # bench/unseen: its must_contain

References that are only "yes" / "no" (emanual's yes_no items) name no fact to find and are left out.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Protocol, cast

from langchain_core.runnables import Runnable

from chatbot.config import Settings
from chatbot.evaluation import metrics
from chatbot.evaluation.dataset import Question, load_dataset, sample_questions
from chatbot.evaluation.harness import EvalService, Progress, ServiceFactory, _eval_home, eval_settings, ingest_corpus
from chatbot.rag.answer import clean_question
from chatbot.rag.chain import in_prompt, make_prepare_step
from chatbot.rag.evidence import ExcerptSelector
from chatbot.rag.retrieval import HybridRetriever
from chatbot.types import Source

FACT_THRESHOLD = 0.8  # coverage from which the reference fact counts as in the prompt
CEILING = "ceiling"  # the key of the whole retrieved chunks, ungated
YES_NO = frozenset({"yes", "no"})


class RelevanceGate(Protocol):
    """The answerer's gate (chatbot/rag/answer.py): retrieval found something relevant, and the knowledge
    base names every model number and code the question names."""

    def relevant(self, question: str, sources: Sequence[Source], texts: Sequence[str]) -> bool: ...
    def covers(self, question: str) -> bool: ...


class PromptService(EvalService, Protocol):
    """What the measurement asks of the service (chatbot/service.py) besides the harness's needs: the
    pieces its answers are prepared with."""

    retriever: HybridRetriever
    selector: ExcerptSelector
    answerer: RelevanceGate


@dataclass(frozen=True)
class RecallItem:
    """One question to measure: `score(quoted text)` in [0, 1]; `gold_docs` the service doc ids that hold
    its answer (empty when unknown)."""

    id: str
    question: str
    gold_docs: frozenset[str]
    score: Callable[[str], float]


def budget_key(budget: int) -> str:
    return str(budget)


def prepare_steps(service: PromptService, budgets: Sequence[int]) -> dict[str, Runnable]:
    """The service's prepare step per excerpt budget, built as the answer builds it (without the
    follow-up rewrite): its retriever, selector and, when the settings refuse, its relevance gate."""
    settings = service.settings
    answerer = service.answerer

    def gate(x: dict) -> bool:  # as Answerer.stream's gate: keep the two in step
        return answerer.relevant(x["question"], x["sources"], x["texts"]) and answerer.covers(x["standalone"])

    return {budget_key(b): make_prepare_step(service.retriever, None, service.selector, b,
                                             gate if settings.refuse else None) for b in budgets}


def quoted_text(prepared: dict) -> str:
    """What the prompt quotes: the excerpts of the chunks that reach it, joined."""
    return "\n\n".join(in_prompt(prepared)[2])


def measure_item(service: PromptService, steps: dict[str, Runnable], item: RecallItem) -> dict[str, Any]:
    """One item's coverage and quoted characters per budget, plus the ceiling (whole chunks, no gate)."""
    question = clean_question(item.question, service.settings.max_question_chars)
    row: dict[str, Any] = {"id": item.id, "question": item.question, "coverage": {}, "chars": {}}
    prepared: dict = {}
    for key, step in steps.items():
        prepared = step.invoke({"question": question, "history": []})
        text = quoted_text(prepared)
        row["coverage"][key] = round(item.score(text), 4)
        row["chars"][key] = len(text)
    whole = "\n\n".join(prepared.get("texts") or [])
    row["coverage"][CEILING] = round(item.score(whole), 4)
    row["chars"][CEILING] = len(whole)
    sources = [s.doc_id for s in prepared.get("sources") or []]
    row["relevant"] = bool(prepared.get("relevant"))
    row["sources"] = sources
    row["gold_retrieved"] = bool(item.gold_docs & set(sources)) if item.gold_docs else None
    return row


def measure(service: PromptService, items: Sequence[RecallItem], budgets: Sequence[int],
            progress: Progress | None = None) -> list[dict[str, Any]]:
    """Every item measured at every budget (phase "prompt" for `progress`)."""
    steps = prepare_steps(service, budgets)
    rows = []
    for done, item in enumerate(items, start=1):
        rows.append(measure_item(service, steps, item))
        if progress:
            progress("prompt", done, len(items))
    return rows


def _figures(rows: Sequence[dict[str, Any]], key: str, seed: int, threshold: float) -> dict[str, Any]:
    coverage = [float(r["coverage"][key]) for r in rows]
    found = [float(c >= threshold) for c in coverage]

    def ci(values: list[float], offset: int) -> list[float] | None:
        low_high = metrics.bootstrap_ci(values, seed=seed + offset)
        return [round(x, 4) for x in low_high] if low_high else None

    mean_cov, mean_found = metrics.mean(coverage), metrics.mean(found)
    return {"n": len(rows), "coverage": None if mean_cov is None else round(mean_cov, 4),
            "coverage_ci": ci(coverage, 0),
            "fact_in_prompt": None if mean_found is None else round(mean_found, 4), "fact_in_prompt_ci": ci(found, 1)}


def summarize(rows: Sequence[dict[str, Any]], budgets: Sequence[int], seed: int = 0,
              threshold: float = FACT_THRESHOLD) -> dict[str, Any]:
    """Per budget (and the ceiling): mean coverage and the fact-in-prompt share with 95% bootstrap
    intervals, over all items and over those whose gold document was retrieved; mean quoted characters."""
    gold = [r for r in rows if r["gold_retrieved"]]
    known = [r for r in rows if r["gold_retrieved"] is not None]
    out: dict[str, Any] = {
        "n": len(rows), "threshold": threshold,
        "gold_retrieved": round(len(gold) / len(known), 4) if known else None,
        "gate_passed": round(sum(r["relevant"] for r in rows) / len(rows), 4) if rows else None,
        "budgets": {},
    }
    for offset, key in enumerate([*(budget_key(b) for b in budgets), CEILING]):
        chars = metrics.mean([float(r["chars"][key]) for r in rows])
        out["budgets"][key] = {"all": _figures(rows, key, seed + 10 * offset, threshold),
                               "gold_retrieved": _figures(gold, key, seed + 10 * offset + 5, threshold),
                               "chars_mean": None if chars is None else round(chars)}
    return out


# --- a dataset folder (chatbot eval --prompt-only) -----------------------------------------------
def span_references(question: Question) -> tuple[str, ...]:
    """The references that name a fact to find: not empty, not a bare yes / no.

    >>> span_references(Question("q", "?", answer="Yes", alt_answers=("Yes, press Home.",)))
    ('Yes, press Home.',)
    """
    return tuple(r for r in question.references if metrics.content_tokens(r) - YES_NO)


def run_prompt_recall(dataset_dir: str | Path, make_service: ServiceFactory, budgets: Sequence[int],
                      limit: int | None = None, seed: int = 0, out_dir: str | Path | None = None,
                      settings: Settings | None = None, top_k: int | None = None,
                      progress: Progress | None = None) -> dict[str, Any]:
    """Fact recall in the prompt on (a seeded sample of `limit` of) the dataset's answerable questions with
    a reference span, in an isolated home as `run_eval` builds it (OUT/.eval-home/DATASET when `out_dir` is
    given, so a re-run does not embed the corpus again). With `out_dir`, writes prompt_recall-kK.json (the
    report) and prompt_recall-kK.jsonl (one row per question)."""
    settings = settings or Settings()
    if top_k is not None:
        settings = settings.model_copy(update={"top_k": top_k})
    dataset = load_dataset(dataset_dir)
    answerable = [q for q in dataset.questions if q.answerable is True and q.references]
    eligible = [q for q in answerable if span_references(q)]
    questions = sample_questions(eligible, limit, seed)
    started = time.perf_counter()
    with ExitStack() as stack:
        home = _eval_home(stack, dataset, out_dir)
        service = cast(PromptService, make_service(eval_settings(settings, home)))
        index = ingest_corpus(service, dataset.corpus, progress)
        items = [RecallItem(q.id, q.question, frozenset(index.gold_docs(q.gold_ids)),
                            partial(metrics.token_coverage, refs=span_references(q))) for q in questions]
        measuring = time.perf_counter()
        rows = measure(service, items, budgets, progress)
        report = {
            "dataset": dataset.name, **summarize(rows, budgets, seed),
            "setup": {"seed": seed, "limit": limit, "answerable_with_reference": len(answerable),
                      "no_span_reference": len(answerable) - len(eligible), "top_k": service.settings.top_k,
                      "context_chars": list(budgets), "min_relevance": service.settings.min_relevance,
                      "refuse": service.settings.refuse, "embedding_model": service.settings.embedding_model,
                      "chunk_size": service.settings.chunk_size, "chunks": service.chunk_count(),
                      "measure_s": round(time.perf_counter() - measuring, 1),
                      "total_s": round(time.perf_counter() - started, 1)},
        }
    if out_dir is not None:
        write_outputs(report, rows, Path(out_dir), f"prompt_recall-k{report['setup']['top_k']}")
    return report


def write_outputs(report: dict[str, Any], rows: Iterable[dict[str, Any]], out_dir: Path, stem: str) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / f"{stem}.json").write_text(json.dumps(report, ensure_ascii=False, indent=2))
    (out_dir / f"{stem}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def text_table(report: dict[str, Any]) -> str:
    """The budgets as rows: mean coverage and fact-in-prompt share (95% interval), over all items and over
    those whose gold document was retrieved, and the mean characters quoted."""
    from chatbot.evaluation.report import fmt, fmt_ci

    setup = report.get("setup", {})
    lines = [f"fact recall in the prompt: {report.get('dataset', '')}  n={report['n']}  "
             f"top_k={setup.get('top_k')}  gold doc retrieved {fmt(report['gold_retrieved'])}  "
             f"gate passed {fmt(report['gate_passed'])}  (fact in prompt: coverage >= {report['threshold']})",
             f"{'context chars':<16} {'coverage':>24} {'fact in prompt':>24} {'gold-retrieved cov':>19} "
             f"{'fact':>7} {'chars':>6}"]
    for key, block in report["budgets"].items():
        label = "ceiling (chunks)" if key == CEILING else ("0 (whole)" if key == "0" else key)
        every, gold = block["all"], block["gold_retrieved"]
        lines.append(f"{label:<16} {fmt(every['coverage']):>6} {fmt_ci(every['coverage_ci']):>17} "
                     f"{fmt(every['fact_in_prompt']):>6} {fmt_ci(every['fact_in_prompt_ci']):>17} "
                     f"{fmt(gold['coverage']):>13} (n={gold['n']:<3}) {fmt(gold['fact_in_prompt']):>6} "
                     f"{fmt(block['chars_mean']):>6}")
    return "\n".join(lines)
