"""Retrieval quality of the hybrid retriever on an evaluation dataset, across settings, without
generating answers (so a sweep takes minutes, not hours).

    .venv/bin/python bench/retrieval_quality.py --dataset ../shared/eval/emanual_smarttv
    .venv/bin/python bench/retrieval_quality.py --dataset DIR --weights 0,0.3,0.5,0.7,1 --chunk-sizes 600,900 --json

Questions are split by a hash of their id into a tuning half and a reporting half: choose settings on
`tune`, quote the figures of `report`, so the figures are not tuned on the questions they describe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import tempfile
from pathlib import Path

from chatbot.config import Settings
from chatbot.evaluation.dataset import load_dataset
from chatbot.evaluation.harness import ingest_corpus, ranked_documents
from chatbot.evaluation.metrics import mrr_at_k, recall_at_k
from chatbot.llm.factory import make_embeddings
from chatbot.service import Service


def half(question_id: str) -> str:
    return "tune" if int(hashlib.sha256(question_id.encode()).hexdigest(), 16) % 2 == 0 else "report"


def measure(service: Service, questions, index) -> dict[str, dict[str, float]]:
    figures: dict[str, dict[str, list[float]]] = {"tune": {}, "report": {}}
    for q in questions:
        if not q.answerable or not q.gold_ids:
            continue
        # multi-turn: the last user turn plus the question, as the follow-up fallback does
        text = " ".join([t.content for t in q.history if t.role == "user"][-1:] + [q.question])
        ranked = ranked_documents(service, text)
        gold = index.gold_docs(q.gold_ids)
        bucket = figures[half(q.id)]
        for name, value in (("recall@1", recall_at_k(ranked, gold, 1)), ("recall@5", recall_at_k(ranked, gold, 5)),
                            ("recall@10", recall_at_k(ranked, gold, 10)), ("mrr@10", mrr_at_k(ranked, gold, 10))):
            bucket.setdefault(name, []).append(value)
    return {h: {k: round(sum(v) / len(v), 4) for k, v in b.items()} | {"n": len(next(iter(b.values()), []))}
            for h, b in figures.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--weights", default="0,0.3,0.5,0.7,1")
    parser.add_argument("--chunk-sizes", default="900")
    parser.add_argument("--candidates", type=int, default=20)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.dataset)
    embeddings = make_embeddings(Settings())
    rows = []
    for size in [int(s) for s in args.chunk_sizes.split(",")]:
        with tempfile.TemporaryDirectory() as home:
            settings = Settings(home=Path(home), chunk_size=size, candidates=args.candidates,
                                kb_dir=Path(home) / "none")
            service = Service(settings, embeddings=embeddings)
            index = ingest_corpus(service, dataset.corpus)
            for weight in [float(w) for w in args.weights.split(",")]:
                service.settings.keyword_weight = weight
                rows.append({"chunk_size": size, "keyword_weight": weight,
                             **measure(service, dataset.questions, index)})
    if args.json:
        print(json.dumps({"dataset": dataset.name, "rows": rows}, indent=2))
        return 0
    print(f"{'chunk':>6} {'kw':>4} | tune R@1 R@5 R@10 MRR | report R@1 R@5 R@10 MRR")
    for r in rows:
        t, p = r["tune"], r["report"]
        print(f"{r['chunk_size']:>6} {r['keyword_weight']:>4} | {t['recall@1']:.3f} {t['recall@5']:.3f} "
              f"{t['recall@10']:.3f} {t['mrr@10']:.3f} | {p['recall@1']:.3f} {p['recall@5']:.3f} "
              f"{p['recall@10']:.3f} {p['mrr@10']:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
