"""The unseen-document check: documents and questions written for it (bench/unseen/, README there), never
used to tune prompts case by case. Indexes the documents into a temporary home, asks every question
(and the follow-up conversations) through the service as a customer would, and grades each answer by the
fact it must contain and a cited source from the right document.

    .venv/bin/python bench/unseen_check.py                                # default settings
    .venv/bin/python bench/unseen_check.py --model packaged:qwen2.5-coder-0.5b-instruct --context-chars 600
    .venv/bin/python bench/unseen_check.py --json --out /tmp/unseen.jsonl  # per-question rows too
    .venv/bin/python bench/unseen_check.py --set unseen2                  # the second check (bench/unseen2)

Any CHATBOT_* variable applies as in the app (CHATBOT_TOP_K, CHATBOT_MIN_RELEVANCE, ...). Prints right /
declined / wrongly answered counts for answerable questions, declined / answered for unanswerable ones,
the follow-ups, first-token p50 and the CPU the times come from.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from chatbot.config import Settings
from chatbot.rag.citations import cited_numbers
from chatbot.types import Answer, Turn

BENCH = Path(__file__).resolve().parent
HERE = BENCH / "unseen"


def normalise(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower().replace("\u2013", "-").replace("\u2014", "-")).strip()


def grade(item: dict, answer: Answer) -> str:
    """right / wrong / declined for an answerable item (right: the fact and a cited source from its
    document), declined / answered for an unanswerable one."""
    if not item["answerable"]:
        return "declined" if answer.refused else "answered"
    if answer.refused:
        return "declined"
    text = normalise(answer.text)
    has_fact = any(normalise(fact) in text for fact in item["must_contain"])
    cited = {Path(answer.sources[n - 1].source).name for n in cited_numbers(answer.text, len(answer.sources))}
    return "right" if has_fact and item["doc"] in cited else "wrong"


def load(name: str, folder: Path = HERE) -> list[dict]:
    path = folder / name
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.is_file() else []


def run(settings: Settings, out: Path | None, folder: Path = HERE) -> dict:
    from chatbot.service import make_service

    with tempfile.TemporaryDirectory(prefix="unseen-") as tmp:
        home = Path(tmp)
        settings.models_dir.mkdir(parents=True, exist_ok=True)
        (home / "models").symlink_to(settings.models_dir.resolve(), target_is_directory=True)
        service = make_service(settings.model_copy(update={"home": home, "kb_dir": home / "none",
                                                           "database_url": None, "chroma_url": None}))
        docs = sorted(p for p in folder.iterdir() if p.suffix in {".md", ".txt", ".pdf", ".html", ".csv", ".docx"}
                      and p.name != "README.md")
        refused = [r for r in service.ingest_paths(docs) if r.status == "refused"]
        if refused:
            raise SystemExit("documents refused: " + "; ".join(r.line() for r in refused))
        service.warm()
        rows = []
        for item in load("questions.jsonl", folder):
            answer = service.ask(item["question"])
            rows.append(row(item, answer, grade(item, answer)))
        for item in load("followups.jsonl", folder):
            history: list[Turn] = []
            for turn in item["history"]:  # the checker answers each earlier customer turn itself
                if turn["role"] == "user":
                    history.append(Turn("user", turn["content"]))
                    history.append(Turn("assistant", service.ask(turn["content"], history[:-1]).text))
            answer = service.ask(item["question"], history)
            rows.append(row(item, answer, grade(item, answer), followup=True))
        model = service.model_name(service.chat_model)
    if out:
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
    return summary(rows, settings, model, folder.name)


def row(item: dict, answer: Answer, verdict: str, followup: bool = False) -> dict:
    return {"id": item["id"], "followup": followup, "answerable": item["answerable"], "verdict": verdict,
            "question": item["question"], "standalone": answer.standalone_question, "answer": answer.text,
            "expected": item.get("must_contain"), "doc": item.get("doc"),
            # a near miss: the topic is covered, the asked detail is not (the first check's notes say "close")
            "near_miss": bool(item.get("near_miss", str(item.get("note", "")).startswith("close"))),
            "tags": item.get("tags", []),
            "sources": [Path(s.source).name for s in answer.sources], "ttft_s": round(answer.ttft_s, 3),
            "latency_s": round(answer.latency_s, 3)}


def summary(rows: list[dict], settings: Settings, model: str, name: str = "unseen") -> dict:
    def count(kind: str, verdict: str, followup: bool = False) -> int:
        return sum(r["verdict"] == verdict and r["answerable"] == (kind == "answerable") and
                   r["followup"] == followup for r in rows)

    answered = [r["ttft_s"] for r in rows if r["verdict"] != "declined" or r["answerable"]]
    everyone = [r["ttft_s"] for r in rows]
    near = [r for r in rows if not r["answerable"] and r["near_miss"]]
    n_answerable = sum(r["answerable"] for r in rows)
    wrong = sum(r["verdict"] == "wrong" for r in rows)
    return {
        "set": name, "model": model, "verify": getattr(settings, "verify_answers", None),
        "verify_with_model": getattr(settings, "verify_with_model", None),
        "wrong_share_of_answerable": round(wrong / n_answerable, 3) if n_answerable else None,
        "near_misses": {v: sum(r["verdict"] == v for r in near) for v in ("declined", "answered")},
        "by_tag": {tag: {v: sum(r["verdict"] == v and tag in r["tags"] for r in rows if r["answerable"])
                         for v in ("right", "declined", "wrong")}
                   for tag in sorted({t for r in rows for t in r["tags"]})},
        "first_shown_all_p50_s": round(statistics.median(everyone), 3) if everyone else None,
        "first_shown_all_p95_s": round(statistics.quantiles(everyone, n=20)[-1], 3) if len(everyone) > 1 else None,
        "context_chars": settings.context_chars, "top_k": settings.top_k,
        "min_relevance": settings.min_relevance, "cpu": cpu_name(),
        "answerable": {v: count("answerable", v) for v in ("right", "declined", "wrong")},
        "unanswerable": {v: count("unanswerable", v) for v in ("declined", "answered")},
        "followups": {v: count("answerable", v, True) for v in ("right", "declined", "wrong")},
        "ttft_p50_s": round(statistics.median(answered), 3) if answered else None,
        "ttft_p95_s": round(statistics.quantiles(answered, n=20)[-1], 3) if len(answered) > 1 else None,
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=None, help="chat model (default: CHATBOT_CHAT_MODEL or the default)")
    parser.add_argument("--context-chars", type=int, default=None, help="CHATBOT_CONTEXT_CHARS for this run")
    parser.add_argument("--set", default="unseen", help="the check's folder under bench/ (unseen, unseen2)")
    parser.add_argument("--out", type=Path, default=None, help="write one JSON row per question here")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    settings = Settings()
    overrides = {k: v for k, v in (("chat_model", args.model), ("context_chars", args.context_chars)) if v is not None}
    result = run(settings.model_copy(update=overrides), args.out, BENCH / args.set)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<16} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
