"""`chatbot eval`: run the evaluation harness from the command line.

    chatbot eval --dataset /work/shared/eval/emanual_smarttv --arms rag --limit 40 --out eval-out/emanual
    chatbot eval --dataset /work/shared/eval/mtrag_un --arms rag,base --limit 40 --seed 1 --json
    chatbot eval --live-kb --arms rag,finetuned,hybrid,base --out eval-out/kb   # the indexed KB
    python -m chatbot.evaluation.cli --dataset DIR ...      (the same)

`add_parser(subparsers)` registers the subcommand on the main CLI's subparsers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from chatbot import admin

ARM_NAMES = ("rag", "finetuned", "hybrid", "base")


def parse_arms(text: str) -> list[str]:
    """Comma-separated arm names, validated, duplicates dropped, order kept.

    >>> parse_arms("rag, base,rag")
    ['rag', 'base']
    """
    arms: list[str] = []
    for name in (part.strip() for part in text.split(",")):
        if not name:
            continue
        if name not in ARM_NAMES:
            raise argparse.ArgumentTypeError(f"unknown arm {name!r}; choose from {', '.join(ARM_NAMES)}")
        if name not in arms:
            arms.append(name)
    if not arms:
        raise argparse.ArgumentTypeError("name at least one arm")
    return arms


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
                   help="comma-separated: rag,finetuned,hybrid,base (default rag)")
    p.add_argument("--limit", type=int, default=None, metavar="N", help="seeded sample of N questions")
    p.add_argument("--seed", type=int, default=0, metavar="S", help="sampling and bootstrap seed (default 0)")
    p.add_argument("--out", default=None, metavar="DIR", help="write results.jsonl, report.json/md, charts")
    p.add_argument("--json", action="store_true", help="print the report as one JSON object")
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
            bar = self._bars[phase] = tqdm(total=total, desc=phase, unit="q" if phase == "answer" else "doc",
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

    bar = ProgressBar()
    settings = Settings()
    try:
        dataset = _live_kb_dataset(settings, args.out) if args.live_kb else args.dataset
        report = run_eval(dataset, args.arms, limit=args.limit, seed=args.seed, out_dir=args.out,
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


def _live_kb_dataset(settings: Any, out: str | None) -> Any:
    """Write the live-KB questions (chatbot/evaluation/live_kb.py) into OUT/dataset, or a temporary folder."""
    import tempfile
    from pathlib import Path

    from chatbot.evaluation.live_kb import write_kb_dataset
    from chatbot.finetune import registry
    from chatbot.service import make_service

    service = make_service(settings)  # reads the store; the chat model is loaded only when used
    active = registry.get_active(settings)
    folder = Path(out) / "dataset" if out else Path(tempfile.mkdtemp(prefix="chatbot-live-kb-"))
    held_out = registry.read_held_out(active) if active else None
    # the questions depend on which model is active now: say so, an eval started before `--use` asks others
    print(f"questions: held out from training by the active model {active.name}" if held_out else
          "questions: templated pairs of the knowledge base (no active fine-tuned model holds any out)",
          file=sys.stderr)
    return write_kb_dataset(service.kb_chunks(), folder, held_out)


def main(argv: list[str] | None = None) -> int:
    """Stand-alone entry point: `python -m chatbot.evaluation.cli --dataset DIR ...`."""
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
