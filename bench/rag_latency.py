"""Where a RAG answer's time to first token goes, question by question, on the llama.cpp backend:
retrieval, excerpt selection (chatbot/rag/evidence.py), prompt build (messages, chat template, tokenising),
prompt evaluation (tokens read, and
tokens reused from llama.cpp's KV cache of the previous prompt) and the first token.

    .venv/bin/python bench/rag_latency.py --home /tmp/bench-home --json

The sample KB is indexed into a temporary home (models are linked from --home); retrieval settings are
the defaults (or CHATBOT_* variables). Instruments the running service by wrapping
`HybridRetriever.retrieve` and `Llama.eval` on the objects in use; nothing in the app changes.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

from generation import QUESTIONS  # bench/ is on sys.path when run as a script

from chatbot.config import PACKAGED_CHAT, Settings
from chatbot.llm.factory import make_chat_model

MORE_QUESTIONS = ["How do I pair a new camera?", "What is the return window?", "Is there a student discount?",
                  "How do I update the hub firmware?", "How do I cancel Brightline Plus?"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=PACKAGED_CHAT)
    parser.add_argument("--questions", type=int, default=15)
    parser.add_argument("--max-tokens", type=int, default=16, help="answer length (does not change TTFT)")
    parser.add_argument("--home", default=None, help="CHATBOT_HOME holding converted models (default ~/.chatbot)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = Settings() if args.home is None else Settings(home=Path(args.home))
    settings = base.model_copy(update={"chat_model": args.model, "max_new_tokens": args.max_tokens})
    model = make_chat_model(settings)
    if not hasattr(model, "llm"):
        raise SystemExit("rag_latency.py measures the llama.cpp backend; install llama-cpp-python.")

    marks: dict[str, float] = {}
    evals: list[tuple[int, int, float, float]] = []  # (cached tokens, new tokens, start, end) per eval call
    llm = model.llm
    eval_inner = llm.eval

    def eval_timed(tokens):
        start = time.perf_counter()
        cached = llm.n_tokens
        eval_inner(tokens)
        evals.append((cached, len(tokens), start, time.perf_counter()))

    llm.eval = eval_timed

    from chatbot.service import make_service

    rows = []
    with tempfile.TemporaryDirectory() as home:
        (Path(home) / "models").symlink_to(settings.models_dir.resolve(), target_is_directory=True)
        service = make_service(settings.model_copy(update={"home": Path(home)}), chat_model=model)
        list(service.ingest_paths([Path("knowledge_base")]))
        retrieve_inner = service.retriever.retrieve

        def retrieve_timed(query, k=None):
            marks["retrieve_start"] = time.perf_counter()
            out = retrieve_inner(query, k)
            marks["retrieve_end"] = time.perf_counter()
            return out

        service.retriever.retrieve = retrieve_timed
        select_inner = service.selector.select

        def select_timed(question, texts, budget):
            marks["select_start"] = time.perf_counter()
            out = select_inner(question, texts, budget)
            marks["select_end"] = time.perf_counter()
            return out

        service.selector.select = select_timed
        service.warm()
        for question in (QUESTIONS + MORE_QUESTIONS)[: args.questions]:
            marks.clear()
            evals.clear()
            start = time.perf_counter()
            answer = service.ask(question)
            if answer.refused and not evals:
                rows.append({"question": question, "refused_before_model": True,
                             "ttft_s": round(answer.ttft_s, 3)})
                continue
            cached, new, eval_start, eval_end = evals[0]
            first = start + answer.ttft_s
            rows.append({
                "question": question,
                "ttft_s": round(answer.ttft_s, 3),
                "before_retrieval_s": round(marks["retrieve_start"] - start, 3),
                "retrieval_s": round(marks["retrieve_end"] - marks["retrieve_start"], 3),
                "excerpts_s": round(marks["select_end"] - marks["select_start"], 3),
                "prompt_build_s": round(eval_start - marks["select_end"], 3),
                "prompt_eval_s": round(eval_end - eval_start, 3),
                "first_token_s": round(first - eval_end, 3),
                "prompt_tokens": cached + new, "reused_tokens": cached, "evaluated_tokens": new,
                "prompt_tokens_per_s": round(new / (eval_end - eval_start), 1),
                "model_declined": answer.refused,
            })
    answered = [r for r in rows if "prompt_eval_s" in r]
    med = statistics.median

    def p50(key: str) -> float:
        return round(med(r[key] for r in answered), 3)

    summary = {"model": args.model, "questions": len(rows), "answered_by_model": len(answered),
               "load_average": [round(x, 2) for x in os.getloadavg()],
               "settings": {k: getattr(settings, k) for k in ("top_k", "chunk_size", "context_chars",
                                                                       "min_relevance")},
               "ttft_p50_s": round(med(r["ttft_s"] for r in rows), 3)}
    if answered:
        summary.update({f"{k}_p50": p50(k) for k in ("retrieval_s", "excerpts_s", "prompt_build_s", "prompt_eval_s",
                                                      "first_token_s", "prompt_tokens", "reused_tokens",
                                                      "evaluated_tokens", "prompt_tokens_per_s")})
    if args.json:
        print(json.dumps({"summary": summary, "questions": rows}, indent=2))
    else:
        for row in rows:
            print(json.dumps(row))
        for key, value in summary.items():
            print(f"{key:<28} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
