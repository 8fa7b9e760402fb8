"""Fact recall in the prompt on the unseen-document check (bench/unseen/, or another folder in its format):
the share of its answerable questions whose fact (any `must_contain` string, compared as
bench/unseen_check.py compares answers) is in the text the prompt quotes, per excerpt budget, and in the
whole retrieved chunks (the ceiling). No generation: the service's prepare step only
(chatbot/evaluation/prompt_recall.py). Follow-ups (followups.jsonl) are left out: their question alone
retrieves nothing useful and the rewrite needs the model.

    .venv/bin/python bench/prompt_recall.py --context-chars 600,900,1200,1600,0
    .venv/bin/python bench/prompt_recall.py --context-chars 600,0 --top-k 6 --json

The datasets with reference answers are measured by `chatbot eval --dataset DIR --prompt-only`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from bench.unseen_check import normalise  # noqa: E402
from chatbot.cli.evaluation import parse_budgets
from chatbot.config import Settings
from chatbot.evaluation.prompt_recall import RecallItem, measure, summarize, text_table

HERE = Path(__file__).resolve().parent / "unseen"
DOC_SUFFIXES = {".md", ".txt", ".pdf", ".html", ".csv", ".docx"}


def fact_found(facts: list[str], text: str) -> float:
    """1.0 when any of the facts is in the text (case and whitespace ignored, as the check grades).

    >>> fact_found(["19.2 kg", "19,2 kg"], "Weight: 19.2  KG"), fact_found(["180 km"], "range 18 km")
    (1.0, 0.0)
    """
    text = normalise(text)
    return float(any(normalise(fact) in text for fact in facts))


def load(folder: Path, name: str) -> list[dict]:
    path = folder / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run(settings: Settings, folder: Path, budgets: list[int]) -> dict:
    from chatbot.service import make_service

    with tempfile.TemporaryDirectory(prefix="prompt-recall-") as tmp:
        home = Path(tmp)
        service = make_service(settings.model_copy(update={"home": home, "kb_dir": home / "none",
                                                           "database_url": None, "chroma_url": None}))
        docs = sorted(p for p in folder.iterdir() if p.suffix in DOC_SUFFIXES and p.name != "README.md")
        doc_ids = {}
        for result in service.ingest_paths(docs):
            if result.status == "refused":
                raise SystemExit(f"document refused: {result.line()}")
            doc_ids[Path(result.path).name] = result.doc_id
        questions = load(folder, "questions.jsonl")
        answerable = [q for q in questions if q["answerable"]]
        items = [RecallItem(q["id"], q["question"], frozenset({doc_ids.get(q["doc"], f"missing:{q['doc']}")}),
                            lambda text, facts=q["must_contain"]: fact_found(facts, text)) for q in answerable]
        started = time.perf_counter()
        rows = measure(service, items, budgets)
        report = {"dataset": folder.name, **summarize(rows, budgets),
                  "setup": {"top_k": service.settings.top_k, "context_chars": budgets,
                            "min_relevance": service.settings.min_relevance,
                            "unanswerable_left_out": len(questions) - len(answerable),
                            "followups_left_out": len(load(folder, "followups.jsonl")),
                            "measure_s": round(time.perf_counter() - started, 1), "cpu": cpu_name()}}
    return {"report": report, "rows": rows}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dir", type=Path, default=HERE, help="documents and questions.jsonl (default bench/unseen)")
    parser.add_argument("--context-chars", type=parse_budgets, default=None, metavar="N,N",
                        help="excerpt budgets, 0 = whole chunks (default CHATBOT_CONTEXT_CHARS)")
    parser.add_argument("--top-k", type=int, default=None, help="chunks retrieved (default CHATBOT_TOP_K)")
    parser.add_argument("--out", type=Path, default=None, help="write one JSON row per question here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = Settings()
    if args.top_k is not None:
        settings = settings.model_copy(update={"top_k": args.top_k})
    result = run(settings, args.dir, args.context_chars or [settings.context_chars])
    if args.out:
        args.out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in result["rows"]))
    report = result["report"]
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(text_table(report))
        print(f"cpu: {report['setup']['cpu']}  measured in {report['setup']['measure_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
