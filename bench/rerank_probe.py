"""Would a small language model, reading question and passage together, pay for itself as a reranker
or as the relevance gate? A probe of the packaged models, not a feature of the app.

    .venv/bin/python bench/rerank_probe.py --dataset ../shared/eval/emanual_smarttv --half tune
    .venv/bin/python bench/rerank_probe.py --dataset ../shared/eval/mtrag_un --gate --depth 5

Two scorers, run by llama.cpp on a GGUF model (`--model`, default the packaged SmolLM2-135M):
- `likelihood`: the mean log-probability of the question's tokens after the passage, the model asked to
  write the question the passage answers (query likelihood, as in UPR, Sachan et al. 2022);
- `yesno`: the log-odds of "yes" over "no" when asked whether the passage answers the question.

Rerank mode: the hybrid retriever's first `--depth` documents (each by its best chunk, cut to `--chars`)
get `(1 - a) * (1 - rank / (depth - 1)) + a * minmax(score)`; recall@5 and MRR@10 per `a`, on answerable
questions of one half of bench/retrieval_quality.py's split (`a` = 0 is the retriever as it is).
Gate mode: refusal F1 of declining when the best candidate's score is under a threshold chosen on one
half and applied to the other, for the model's score and for the cosine similarity the app's gate reads.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
from retrieval_quality import half  # bench/ is on sys.path when run as a script

from chatbot.config import PACKAGED_SMALL_CHAT, Settings
from chatbot.evaluation import metrics
from chatbot.evaluation.dataset import load_dataset
from chatbot.evaluation.harness import eval_settings, ingest_corpus
from chatbot.llm.factory import llamacpp_gguf, make_embeddings
from chatbot.service import Service

LIKELIHOOD_SYSTEM = "You write the question a customer would ask that this help-centre passage answers."
YESNO_SYSTEM = "You check whether a passage from a help centre answers a customer's question. Reply yes or no."
WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.7, 1.0)


class Scorer:
    """One llama.cpp context with every position's logits; prompts share their prefix in its KV cache."""

    def __init__(self, gguf: Path, how: str):
        from llama_cpp import Llama

        self.llm = Llama(model_path=str(gguf), n_ctx=1024, logits_all=True, n_threads=2, n_threads_batch=2,
                         verbose=False)
        self.how = how
        self.tokens_read = 0
        first = {w: self.llm.tokenize(w.encode(), add_bos=False)[0] for w in ("yes", "Yes", "no", "No")}
        self.yes, self.no = [first["yes"], first["Yes"]], [first["no"], first["No"]]

    def _eval(self, tokens: list[int], keep_at_most: int) -> None:
        have = self.llm.input_ids[: self.llm.n_tokens].tolist()
        common = 0
        while common < min(len(have), keep_at_most) and have[common] == tokens[common]:
            common += 1
        self.llm.n_tokens = common
        self.llm.eval(tokens[common:])
        self.tokens_read += len(tokens) - common

    def score(self, question: str, passage: str) -> float:
        chat = "<|im_start|>{role}\n{text}<|im_end|>\n"
        if self.how == "likelihood":
            head = (chat.format(role="system", text=LIKELIHOOD_SYSTEM)
                    + chat.format(role="user", text="Passage:\n" + passage) + "<|im_start|>assistant\nQuestion:")
            head_ids = self.llm.tokenize(head.encode(), add_bos=False, special=True)
            asked = self.llm.tokenize((" " + question).encode(), add_bos=False)[:200]
            self._eval(head_ids + asked, len(head_ids) - 1)
            logits = np.asarray(self.llm.scores[len(head_ids) - 1: len(head_ids) + len(asked) - 1], np.float32)
            top = logits.max(axis=1, keepdims=True)
            log_probs = logits - top - np.log(np.exp(logits - top).sum(axis=1, keepdims=True))
            return float(log_probs[np.arange(len(asked)), asked].mean())
        head = (chat.format(role="system", text=YESNO_SYSTEM)
                + "<|im_start|>user\nQuestion: " + question + "\n\nPassage:\n")
        prompt = head + passage + ("\n\nDoes the passage answer the question? Reply yes or no.<|im_end|>\n"
                                   "<|im_start|>assistant\n")
        ids = self.llm.tokenize(prompt.encode(), add_bos=False, special=True)
        self._eval(ids, len(ids) - 1)
        logits = np.asarray(self.llm.scores[len(ids) - 1], np.float64)
        return float(np.logaddexp.reduce(logits[self.yes]) - np.logaddexp.reduce(logits[self.no]))


def candidates(service: Service, query: str, depth: int, chars: int) -> tuple[list[str], list[str], list[float]]:
    """(document ids, their best chunk's first `chars` characters, its cosine), best first: at least ten
    documents, so that MRR@10 sees the ones below `depth` too."""
    docs, texts, cosines = [], [], []
    for source in service.retriever.retrieve(query, 3 * max(depth, 10)):
        if source.doc_id not in docs and len(docs) < max(depth, 10):
            docs.append(source.doc_id)
            texts.append(service.retriever.chunk_text(source.chunk_id)[:chars])
            cosines.append(source.score)
    return docs, texts, cosines


def reranked(docs: list[str], scores: list[float], weight: float) -> list[str]:
    """The first len(scores) documents reordered by the blend of their place and score; the rest after."""
    if not scores:
        return docs
    s = np.asarray(scores)
    spread = float(s.max() - s.min()) or 1.0
    place = 1 - np.arange(len(s)) / max(len(s) - 1, 1)
    fused = (1 - weight) * place + weight * (s - s.min()) / spread
    return [docs[i] for i in np.argsort(-fused, kind="stable")] + docs[len(s):]


def held_out_gate(rows: list[dict], feature: str) -> dict[str, dict]:
    """Threshold chosen on one half (`metrics.best_threshold`), applied to the other; both directions."""
    out = {}
    for tune, report in (("tune", "report"), ("report", "tune")):
        fit = [r for r in rows if r["half"] == tune]
        test = [r for r in rows if r["half"] == report]
        best = metrics.best_threshold([r[feature] for r in fit], [r["unanswerable"] for r in fit])
        if best is None:  # one half has a single class: no threshold to choose
            continue
        scores = metrics.refusal_scores([r["unanswerable"] for r in test],
                                        [r[feature] < best["min_relevance"] for r in test])
        out[f"chosen on {tune}, scored on {report}"] = {"threshold": round(best["min_relevance"], 3), **{
            k: round(scores[k] or 0.0, 3) for k in ("f1", "precision", "recall")}}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dataset", required=True)
    parser.add_argument("--model", default=PACKAGED_SMALL_CHAT, help="packaged name or .gguf file")
    parser.add_argument("--scorer", choices=("likelihood", "yesno"), default="likelihood")
    parser.add_argument("--depth", type=int, default=10, help="documents rescored per question")
    parser.add_argument("--chars", type=int, default=500, help="characters of each passage the model reads")
    parser.add_argument("--half", choices=("tune", "report"), default="tune", help="rerank mode's questions")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--gate", action="store_true", help="gate mode (labelled answerable true/false items)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    dataset = load_dataset(args.dataset)
    with tempfile.TemporaryDirectory() as home:
        settings = eval_settings(Settings(), Path(home))
        service = Service(settings, embeddings=make_embeddings(settings))
        index = ingest_corpus(service, dataset.corpus)
        gguf = llamacpp_gguf(args.model, settings)
        if gguf is None:
            parser.error(f"{args.model!r} is not a GGUF model")
        scorer = Scorer(gguf, args.scorer)
        if args.gate:
            items = [q for q in dataset.questions if q.answerable is not None]
        else:
            items = [q for q in dataset.questions if q.answerable and q.gold_ids and half(q.id) == args.half]
        items = items[: args.limit]
        rows, started = [], time.perf_counter()
        for q in items:
            # multi-turn: the last user turn plus the question, as bench/retrieval_quality.py does
            query = " ".join([t.content for t in q.history if t.role == "user"][-1:] + [q.question])
            docs, texts, cosines = candidates(service, query, args.depth, args.chars)
            scores = [scorer.score(query, text) for text in texts[: args.depth]]
            rows.append({"id": q.id, "half": half(q.id), "docs": docs, "scores": scores,
                         "gold": sorted(index.gold_docs(q.gold_ids)) if q.gold_ids else [],
                         "unanswerable": q.answerable is False, "model": max(scores, default=-1e9),
                         "cosine": max(cosines[: args.depth], default=0.0)})
        seconds = time.perf_counter() - started
    result: dict = {"dataset": dataset.name, "model": args.model, "scorer": args.scorer, "depth": args.depth,
                    "chars": args.chars, "n": len(rows), "seconds_per_question": round(seconds / len(rows), 2),
                    "tokens_per_question": round(scorer.tokens_read / len(rows))}
    if args.gate:
        result["gate"] = {"cosine": held_out_gate(rows, "cosine"), args.scorer: held_out_gate(rows, "model")}
    else:
        result["half"] = args.half
        result["rerank"] = []
        for weight in WEIGHTS:
            ranked = [reranked(r["docs"], r["scores"], weight) for r in rows]
            result["rerank"].append({"weight": weight, **{name: round(float(np.mean(
                [fn(order, set(r["gold"]), k) for order, r in zip(ranked, rows, strict=True)])), 3)
                for name, fn, k in (("recall@1", metrics.recall_at_k, 1), ("recall@5", metrics.recall_at_k, 5),
                                    ("mrr@10", metrics.mrr_at_k, 10))}})
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{result['dataset']}: {args.scorer} with {args.model}, {result['n']} questions, depth {args.depth}, "
          f"{result['seconds_per_question']} s and {result['tokens_per_question']} tokens read per question")
    if args.gate:
        for feature, halves in result["gate"].items():
            for split, f in halves.items():
                print(f"  gate on {feature:10s} {split}: threshold {f['threshold']}, F1 {f['f1']:.3f} "
                      f"(P {f['precision']:.2f} R {f['recall']:.2f})")
    else:
        print(f"  {'a':>4} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}   ({result['half']} half)")
        for row in result["rerank"]:
            print(f"  {row['weight']:>4} {row['recall@1']:>6.3f} {row['recall@5']:>6.3f} {row['mrr@10']:>7.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
