"""Generation speed: the app's chat backend vs bare llama.cpp on the same GGUF file and prompts, plus the
time to first token of full RAG answers over the sample KB.

    .venv/bin/python bench/generation.py                 # table
    .venv/bin/python bench/generation.py --json --model packaged:qwen2.5-coder-0.5b-instruct --rag-questions 10

"ours" is whatever `make_chat_model` builds from the settings (llama.cpp when llama-cpp-python is
installed, transformers otherwise); `--backend transformers` measures the fallback.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import tempfile
import time
from pathlib import Path

from chatbot.config import Settings
from chatbot.model_files import resolve_gguf
from chatbot.models import make_chat_model

PROMPT_FILLER = ("Brightline Plus costs $4.99 a month or $49 a year and keeps 30 days of camera clips. "
                 "Returns are accepted within 30 days of delivery; refunds reach cards in 5-10 business days. ")
QUESTIONS = ["How long do refunds take?", "What does error E-104 mean?", "How much is Brightline Plus per year?",
             "How do I reset my Hub?", "Can I return a camera I opened?", "Which payment methods do you accept?",
             "What does a purple LED on the hub mean?", "How long is the warranty?",
             "How do I turn on two-step verification?", "Do you ship to Canada?"]


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def time_stream(model, messages, max_tokens: int) -> tuple[float, float, int]:
    """(time to first token, total time, output tokens) of one streamed answer."""
    start, first, n = time.perf_counter(), None, 0
    for chunk in model.stream(messages, max_new_tokens=max_tokens):
        if chunk.content and first is None:
            first = time.perf_counter() - start
        if chunk.usage_metadata:
            n = chunk.usage_metadata.get("output_tokens", n)
    return first or 0.0, time.perf_counter() - start, n


def llamacpp_figures(gguf: Path, prompt: str, max_tokens: int) -> dict[str, float]:
    """Bare llama.cpp: prompt-reading and generation speed from its own timings."""
    from llama_cpp import Llama

    llm = Llama(model_path=str(gguf), n_ctx=4096, verbose=False)
    n_prompt = len(llm.tokenize(prompt.encode()))
    start = time.perf_counter()
    llm.create_completion(prompt, max_tokens=1, temperature=0)
    prompt_s = time.perf_counter() - start
    llm.reset()
    start = time.perf_counter()
    out = llm.create_completion("Tell me about smart home hubs.", max_tokens=max_tokens, temperature=0)
    gen_s = time.perf_counter() - start
    return {"prompt_tokens_per_s": n_prompt / prompt_s, "tokens_per_s": out["usage"]["completion_tokens"] / gen_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default="packaged:qwen2.5-coder-0.5b-instruct")
    parser.add_argument("--backend", default="auto")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--rag-questions", type=int, default=10)
    parser.add_argument("--home", default=None, help="CHATBOT_HOME holding converted models (default ~/.chatbot)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    base = Settings() if args.home is None else Settings(home=Path(args.home))
    settings = base.model_copy(update={"chat_model": args.model, "chat_backend": args.backend,
                                       "max_new_tokens": args.max_tokens})
    gguf = resolve_gguf(args.model, settings.models_dir)
    model = make_chat_model(settings)
    prompt = PROMPT_FILLER * 20  # about 700 tokens, like a RAG prompt
    model.invoke([("user", "Hi")], max_new_tokens=1)  # warm
    ttft, _, _ = time_stream(model, [("user", prompt + "\nSummarise in one sentence.")], 1)
    n_prompt = len(prompt.split()) * 1.3  # rough token count, refined below when llama.cpp is present
    _, total, n_out = time_stream(model, [("user", "Tell me about smart home hubs.")], args.max_tokens)
    result = {"model": args.model, "backend": type(model).__name__,
              "ours_tokens_per_s": round(n_out / total, 2) if total else None,
              "ours_ttft_s": round(ttft, 3)}
    if gguf is not None:
        try:
            bare = llamacpp_figures(gguf, prompt + "\nSummarise in one sentence.", args.max_tokens)
            from llama_cpp import Llama

            n_prompt = len(Llama(model_path=str(gguf), n_ctx=64, verbose=False, vocab_only=True)
                           .tokenize(prompt.encode()))
            result.update(llamacpp_tokens_per_s=round(bare["tokens_per_s"], 2),
                          llamacpp_prompt_tokens_per_s=round(bare["prompt_tokens_per_s"], 1))
        except ImportError:
            result.update(llamacpp_tokens_per_s=None, llamacpp_prompt_tokens_per_s=None)
    result["ours_prompt_tokens_per_s"] = round(n_prompt / ttft, 1) if ttft else None
    if args.rag_questions:
        from chatbot.service import make_service

        with tempfile.TemporaryDirectory() as home:
            (Path(home) / "models").symlink_to(settings.models_dir.resolve(), target_is_directory=True)
            service = make_service(settings.model_copy(update={"home": Path(home)}), chat_model=model)
            list(service.ingest_paths([Path("knowledge_base")]))
            ttfts = [service.ask(q).ttft_s for q in QUESTIONS[: args.rag_questions]]
        result["rag_ttft_p50_s"] = round(statistics.median(ttfts), 3)
    result["peak_rss_mb"] = round(rss_mb(), 1)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<32} {value}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
