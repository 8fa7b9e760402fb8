"""Benchmark a fine-tuning preset on the sample knowledge base: wall time, peak memory, steps, losses.

    .venv/bin/python bench/finetune.py                      # quick preset, temporary home
    .venv/bin/python bench/finetune.py --json
    .venv/bin/python bench/finetune.py --preset standard --max-steps 4
    .venv/bin/python bench/finetune.py --home /tmp/bench-home   # keep the index and the model

The knowledge base is ingested into a fresh home first (not timed), the base model is converted if
needed (timed separately), then `chatbot.finetune.train.finetune` runs as `chatbot finetune` does.
Peak RSS is the process's high-water mark, which training sets (ingestion uses far less). On a
shared machine wall time depends on the other jobs; `idle_estimate_s` (training CPU seconds / torch
threads) is what an otherwise idle machine would take, roughly (an upper bound: busy-waiting counts).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", default="quick", choices=["quick", "standard"])
    parser.add_argument("--max-steps", type=int, default=None, help="override the preset's step cap")
    parser.add_argument("--kb", type=Path, default=ROOT / "knowledge_base")
    parser.add_argument("--tickets", type=Path, default=None, help="default: KB/tickets.jsonl if present")
    parser.add_argument("--home", type=Path, default=None, help="state folder (default: a temporary one)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    return parser.parse_args(argv)


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def cpu_s() -> float:
    """User + system CPU seconds of this process: with other jobs on the machine, CPU time / threads
    estimates the wall time an idle machine would take better than wall time does."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run(args: argparse.Namespace, home: Path) -> dict:
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from transformers.utils import logging as hf_logging

    from chatbot.config import Settings
    from chatbot.finetune.train import PRESETS, finetune
    from chatbot.llm.files import resolve_chat_model
    from chatbot.service import make_service

    hf_logging.disable_progress_bar()
    settings = Settings(home=home, kb_dir=args.kb)

    def log(message: str) -> None:  # progress on stderr; the result alone on stdout
        print(message, file=sys.stderr, flush=True)

    started = time.perf_counter()
    service = make_service(settings)
    results = list(service.ingest_paths([args.kb]))
    chunks, kb_version = service.store.chunks(), service.store.version()
    ingest_s = time.perf_counter() - started
    ingest_rss = peak_rss_mb()
    log(f"ingested {len(results)} files, {len(chunks)} chunks in {ingest_s:.0f}s")
    del service

    started = time.perf_counter()
    resolve_chat_model(PRESETS[args.preset].base, settings.models_dir)
    convert_s = time.perf_counter() - started

    tickets = args.tickets or (args.kb / "tickets.jsonl")
    tickets = tickets if tickets.is_file() else None
    last_log = [0.0]

    def progress(step: int, total: int, loss: float) -> None:
        if time.perf_counter() - last_log[0] > 30 or step == total:
            last_log[0] = time.perf_counter()
            log(f"step {step}/{total} loss {loss:.4f} ({time.perf_counter() - started:.0f}s)")

    started, cpu_started = time.perf_counter(), cpu_s()
    record = finetune(settings, tickets=tickets, chunks=chunks, kb_version=kb_version, preset=args.preset,
                      progress=progress, max_steps=args.max_steps)
    wall_s, train_cpu_s = time.perf_counter() - started, cpu_s() - cpu_started
    steps = record.hyperparams["steps"]
    return {
        "preset": args.preset, "base_model": record.base_model, "method": record.method,
        "tickets": str(tickets) if tickets else None, "chunks": len(chunks),
        "train_rows": record.hyperparams["train_rows"], "val_rows": record.hyperparams["val_rows"],
        "sources": record.hyperparams["sources"], "steps": steps,
        "batch_size": record.hyperparams["batch_size"], "max_length": record.hyperparams["max_length"],
        "wall_s": round(wall_s, 1), "s_per_step": round(wall_s / max(1, steps), 2),
        "cpu_s": round(train_cpu_s, 1), "idle_estimate_s": round(train_cpu_s / _threads(), 1),
        "peak_rss_mb": round(peak_rss_mb()), "ingest_peak_rss_mb": round(ingest_rss),
        "ingest_s": round(ingest_s, 1), "convert_s": round(convert_s, 1),
        "first_loss": next((h["loss"] for h in record.loss_history if "loss" in h), None),
        "train_loss": record.train_loss, "val_loss_before": record.hyperparams["val_loss_before"],
        "val_loss": record.val_loss, "torch_threads": _threads(), "load_avg_1m": round(os.getloadavg()[0], 2),
        "model_path": record.path,
    }


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.home:
        result = run(args, args.home)
    else:
        with tempfile.TemporaryDirectory(prefix="bench-finetune-") as tmp:
            result = run(args, Path(tmp))
            result["model_path"] = "(temporary, removed)"
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:<20} {value}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
