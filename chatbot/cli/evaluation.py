"""`chatbot eval`: run the evaluation harness from the command line.

    chatbot eval --dataset /work/shared/eval/emanual_smarttv --arms rag --limit 40 --out eval-out/emanual
    chatbot eval --dataset /work/shared/eval/mtrag_un --arms rag,base --limit 40 --seed 1 --json
    chatbot eval --live-kb --arms rag,finetuned,hybrid,base --out eval-out/kb   # the indexed KB
    chatbot eval --dataset /work/shared/eval/doc2dial_dev --prompt-only --context-chars 600,1200,0 --limit 100
                                  # fact recall in the prompt, no generation (chatbot/evaluation/prompt_recall.py)
    python -m chatbot.cli.evaluation --dataset DIR ...      (the same)

`add_parser(subparsers)` registers the subcommand on the main CLI's subparsers (chatbot/cli/__init__.py)."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chatbot import admin
from chatbot.types import ARMS


def parse_arms(text: str) -> list[str]:
    """Comma-separated arm names, validated, duplicates dropped, order kept.

    >>> parse_arms("rag, base,rag")
    ['rag', 'base']
    """
    arms: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        if name not in ARMS:
            raise argparse.ArgumentTypeError(f"unknown arm {name!r}; choose from {', '.join(ARMS)}")
        if name not in arms:
            arms.append(name)
    if not arms:
        raise argparse.ArgumentTypeError("name at least one arm")
    return arms


def parse_budgets(text: str) -> list[int]:
    """Comma-separated excerpt budgets in characters (0: whole chunks), duplicates dropped, order kept.

    >>> parse_budgets("600, 1200,0,600")
    [600, 1200, 0]
    """
    budgets: list[int] = []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        if not part.isdigit():
            raise argparse.ArgumentTypeError(f"not a number of characters: {part!r}")
        if int(part) not in budgets:
            budgets.append(int(part))
    if not budgets:
        raise argparse.ArgumentTypeError("name at least one budget")
    return budgets


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register `eval` on the main CLI's subparsers; returns the new parser."""
    p = subparsers.add_parser("eval", help="evaluate answer arms on a dataset folder (admin)",
                              description="Run arms over an evaluation dataset in an isolated store.")
    configure(p)
    return p


def configure(p: argparse.ArgumentParser) -> None:
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument("--dataset", metavar="DIR", help="folder with corpus.jsonl and questions.jsonl")
    source.add_argument("--live-kb", action="store_true",
                        help="questions from the indexed knowledge base: the active fine-tuned model's held-out "
                             "pairs (else templated ones) plus off-topic questions, as the Evaluation page asks")
    p.add_argument("--arms", type=parse_arms, default=["rag"], metavar="ARMS",
                   help=f"comma-separated: {','.join(ARMS)} (default rag)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="seeded sample of N questions")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="sampling and bootstrap seed (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="write results.jsonl, report.json/md, charts")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
    p.add_argument("--prompt-only", action="store_true",
                   help="no generation: measure fact recall in the prompt (reference tokens in the quoted excerpts) "
                        "on the answerable questions, per --context-chars budget")
    p.add_argument("--context-chars", type=parse_budgets, default=None, metavar="N,N",
                   help="with --prompt-only: excerpt budgets to measure, 0 = whole chunks "
                        "(default CHATBOT_CONTEXT_CHARS)")
    p.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="with --prompt-only: chunks retrieved (default CHATBOT_TOP_K)")
    admin.admin_command(p, cmd_eval)


class ProgressBar:
    """Progress per phase (ingest, answer) on stderr: a tqdm bar on a terminal; otherwise (a log file, a
    CI job) a plain line such as `answer 40/332 (12%)` at most every `every_s` seconds and at the end."""

    def __init__(self, every_s: float = 10.0) -> None:
        self._bars: dict[str, Any] = {}
        self._last: dict[str, float] = {}
        self.every_s = every_s
        self.terminal = sys.stderr.isatty()

    def __call__(self, phase: str, done: int, total: int) -> None:
        if not self.terminal:
            import time

            now = time.monotonic()
            if done >= total or now - self._last.get(phase, float("-inf")) >= self.every_s:
                self._last[phase] = now
                print(f"{phase} {done}/{total} ({done / max(total, 1):.0%})", file=sys.stderr, flush=True)
            return
        from tqdm import tqdm

        bar = self._bars.get(phase)
        if bar is None:
            bar = self._bars[phase] = tqdm(total=total, desc=phase, unit="doc" if phase == "ingest" else "q",
                                           file=sys.stderr, leave=True, dynamic_ncols=True, mininterval=1.0)
        bar.update(done - bar.n)
        if done >= total:
            bar.close()

    def close(self) -> None:
        for bar in self._bars.values():
            bar.close()


def cmd_eval(args: argparse.Namespace) -> int:
    from chatbot.config import Settings
    from chatbot.evaluation.dataset import DatasetError
    from chatbot.evaluation.harness import run_eval
    from chatbot.evaluation.report import text_table
    from chatbot.service import make_service

    if args.prompt_only:
        return cmd_prompt_recall(args)
    if args.context_chars is not None or args.top_k is not None:
        print("error: --context-chars and --top-k go with --prompt-only (else set CHATBOT_CONTEXT_CHARS, "
              "CHATBOT_TOP_K)", file=sys.stderr)
        return 2
    bar = ProgressBar()
    settings = Settings()
    try:
        dataset = _live_kb_dataset(settings, args.out) if args.live_kb else args.dataset
        report = run_eval(dataset, make_service, args.arms, limit=args.limit, seed=args.seed, out_dir=args.out,
                          settings=settings, progress=bar)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
    else:
        print(text_table(report))
        if args.out:
            print(f"report: {args.out}/report.md")
    return 0 if report["arms"] else 1


def cmd_prompt_recall(args: argparse.Namespace) -> int:
    """`chatbot eval --prompt-only`: fact recall in the prompt per excerpt budget, no model loaded."""
    from chatbot.config import Settings
    from chatbot.evaluation.dataset import DatasetError
    from chatbot.evaluation.prompt_recall import run_prompt_recall, text_table
    from chatbot.service import make_service

    bar = ProgressBar()
    settings = Settings()
    if args.top_k is not None and args.top_k < 1:
        print("error: --top-k must be at least 1", file=sys.stderr)
        return 2
    try:
        dataset = _live_kb_dataset(settings, args.out) if args.live_kb else args.dataset
        report = run_prompt_recall(dataset, make_service, args.context_chars or [settings.context_chars],
                                   limit=args.limit, seed=args.seed, out_dir=args.out, settings=settings,
                                   top_k=args.top_k, progress=bar)
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        bar.close()
    print(json.dumps(report, ensure_ascii=False) if args.json else text_table(report))
    return 0 if report["n"] else 1


def _live_kb_dataset(settings: Any, out: str | None) -> Any:
    """Write the live-KB questions (chatbot/evaluation/live_kb.py) into OUT/dataset, or a temporary folder."""
    import tempfile
    from pathlib import Path

    from chatbot.evaluation.live_kb import live_kb_dataset
    from chatbot.service import make_service

    service = make_service(settings)  # reads the store; no model is loaded
    folder = Path(out) / "dataset" if out else Path(tempfile.mkdtemp(prefix="chatbot-live-kb-"))
    return live_kb_dataset(settings, service.kb_chunks(), folder)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: `python -m chatbot.cli.evaluation --dataset DIR ...`."""
    import logging
    import os

    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(prog="chatbot eval", description="Evaluate answer arms on a dataset.")
    configure(parser)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
