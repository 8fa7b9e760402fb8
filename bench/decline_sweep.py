"""What each decline policy would have scored, from one evaluation run, without running the model again.

    CHATBOT_DECLINE_CONFIDENCE=1 CHATBOT_SECOND_LOOK=false \\
        .venv/bin/chatbot eval --dataset ../shared/eval/doc2dial_dev --limit 100 --out /tmp/d2d
    .venv/bin/python bench/decline_sweep.py /tmp/d2d/results.jsonl [--json]

Run the evaluation with the model never allowed to decline (confidence 1): every item then has the
model's answer and the probability it gave to declining at its first token (chatbot/llm/decline_guard.py),
and its retrieval's best cosine similarity. A policy "decline when the gate (similarity < g) or the model
(probability >= t) says so" is then scored exactly for any g and t: a declined item's answer is the
hand-off. Prints refusal precision / recall / F1 (unanswerable items are the positives) and answer
token-F1 on answerable items, per policy, next to the never-decline row that token-F1 must not fall below.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from chatbot.evaluation.metrics import token_f1
from chatbot.rag.citations import strip_citations
from chatbot.rag.prompts import REFUSAL_TEXT

GATES = (0.30, 0.35, 0.40, 0.45)
CONFIDENCES = (0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.98, 1.0)


def load(path: Path) -> list[dict]:
    items = []
    for line in path.read_text().splitlines():
        row = json.loads(line)
        arm = row["arms"]["rag"]
        if "error" in arm or row["answerable"] is None:
            continue
        items.append({"answerable": row["answerable"], "refs": [row["reference"], *row["alt_answers"]],
                      "answer": arm["answer"], "refused": arm["refused"], "p": arm.get("decline_probability"),
                      "similarity": arm.get("top_similarity") or 0.0})
    return items


def score(items: list[dict], gate: float, confidence: float) -> dict[str, float]:
    tp = fp = fn = 0
    f1s = []
    for item in items:
        declined = (item["refused"] or item["similarity"] < gate
                    or (confidence < 1 and item["p"] is not None and item["p"] >= confidence))
        if item["answerable"]:
            fp += declined
            refs = [r for r in item["refs"] if r]
            if refs:
                f1s.append(token_f1(REFUSAL_TEXT if declined else strip_citations(item["answer"]), refs))
        else:
            tp += declined
            fn += not declined
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"gate": gate, "confidence": confidence, "precision": round(precision, 3), "recall": round(recall, 3),
            "refusal_f1": round(f1, 3), "token_f1": round(sum(f1s) / len(f1s), 4) if f1s else 0.0,
            "declined_answerable": fp}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", type=Path, help="results.jsonl of a `chatbot eval` run")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if not args.results.is_file():
        parser.error(f"{args.results} is not a file: give the results.jsonl of a `chatbot eval --out DIR` run")
    items = load(args.results)
    never = [i for i in items if not i["refused"]]
    rows = [score(items, g, c) for g in GATES for c in CONFIDENCES]
    if args.json:
        print(json.dumps({"items": len(items), "rows": rows}, indent=2))
        return 0
    answerable = sum(i["answerable"] for i in items)
    print(f"{len(items)} items: {answerable} answerable, {len(items) - answerable} unanswerable; "
          f"{len(items) - len(never)} declined by the run itself (gate at its setting, or the answer checks)")
    print(" gate  conf | refusal P    R   F1 | token-F1 | answerable declined")
    for r in rows:
        print(f" {r['gate']:.2f} {r['confidence']:5.2f} | {r['precision']:9.3f} {r['recall']:.3f} {r['refusal_f1']:.3f} "
              f"| {r['token_f1']:8.4f} | {r['declined_answerable']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
