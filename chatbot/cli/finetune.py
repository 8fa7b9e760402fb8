"""Command-line twins of the fine-tuning actions; `chatbot/cli/__init__.py` registers them with `add_parser`.

    chatbot finetune --preset quick                  # SmolLM2-135M on tickets + the indexed KB
    chatbot finetune --preset standard --name qwen-lora-1
    chatbot finetune --tickets my-tickets.csv --max-steps 20
    chatbot models list --json
    chatbot models use smollm2-135m-instruct-quick-20250102-030405
    chatbot models delete smollm2-135m-instruct-quick-20250102-030405
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from chatbot import admin
from chatbot.config import Settings
from chatbot.finetune import registry


def add_parser(subparsers) -> None:
    """Register `finetune` and `models {list,delete,use}` on the main parser's subparsers."""
    p = subparsers.add_parser("finetune", help="fine-tune a chat model on tickets and the knowledge base (admin)")
    p.add_argument("--base", default=None, help="base model (default: the preset's)")
    p.add_argument("--tickets", type=Path, default=None,
                   help="tickets JSONL/CSV with question, answer (default: KB_DIR/tickets.jsonl if present)")
    p.add_argument("--preset", default="quick", choices=["quick", "standard"])
    p.add_argument("--name", default=None, help="model name (default: base-preset-timestamp)")
    p.add_argument("--max-steps", type=int, default=None, help="stop after this many optimizer steps")
    p.add_argument("--use", action="store_true", help="make the new model the active one")
    p.add_argument("--corpus", type=Path, default=None, metavar="DIR",
                   help="train on an evaluation dataset's corpus.jsonl instead of the knowledge base (indexed "
                        "apart, in HOME/finetune/corpora; its questions are never trained on)")
    admin.admin_command(p, cmd_finetune)

    models = subparsers.add_parser("models", help="list, activate or delete fine-tuned models")
    actions = models.add_subparsers(dest="action", required=True)
    p = actions.add_parser("list")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_models_list)
    p = actions.add_parser("delete", help="delete a fine-tuned model (admin)")
    p.add_argument("name")
    admin.admin_command(p, cmd_models_delete)
    p = actions.add_parser("use", help="make NAME the model of the fine-tuned and hybrid arms (admin)")
    p.add_argument("name")
    admin.admin_command(p, cmd_models_use)


def cmd_finetune(args: argparse.Namespace) -> int:
    from chatbot.finetune.train import TrainingCancelled
    from chatbot.service import make_service

    settings = Settings()
    tickets = args.tickets or (None if args.corpus else _default_tickets(settings))
    if tickets is not None and not tickets.is_file():
        print(f"error: no tickets file at {tickets}", file=sys.stderr)
        return 2
    exclude: list[str] = []
    figures: dict = {}
    if args.corpus:
        from chatbot.evaluation.dataset import DatasetError

        try:
            service, exclude, figures = _corpus_service(settings, args.corpus)
        except DatasetError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
    else:
        service = make_service(settings)
    print(f"training data: {tickets or 'no tickets file'} + {len(service.kb_chunks())} indexed chunks "
          f"(KB version {service.kb_version()})", flush=True)
    started = time.perf_counter()
    last = [0.0]

    def pair_progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if done == total or now - last[0] >= 10:
            last[0] = now
            print(f"writing question/answer pairs: chunk {done}/{total}  {now - started:6.0f}s", flush=True)

    def progress(step: int, total: int, loss: float) -> None:
        elapsed = time.perf_counter() - started
        print(f"step {step:>4}/{total}  loss {loss:.4f}  {elapsed:6.0f}s", flush=True)

    try:
        record = service.train(args.preset, tickets, args.name, progress=progress, pair_progress=pair_progress,
                               base=args.base, max_steps=args.max_steps, exclude=exclude, figures=figures)
    except KeyboardInterrupt:
        print("\ninterrupted: no model was saved", file=sys.stderr)
        return 130
    except (TrainingCancelled, registry.RegistryError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"saved {record.name} to {record.path}")
    figures = record.figures
    print(f"train loss {_fmt(record.train_loss)}, validation loss {_fmt(record.val_loss)} "
          f"(before: {_fmt(record.hyperparams.get('val_loss_before'))}), {record.duration_s:.0f}s")
    print(f"{figures.get('train_rows')} training rows ({record.hyperparams.get('sources')}), "
          f"{figures.get('steps')} steps (best {figures.get('best_step')}, stopped: {figures.get('stopped')}), "
          f"pairs written {figures.get('pairs', {}).get('kept', 0)} in {figures.get('pairs_s', 0):.0f}s, "
          f"peak memory {figures.get('peak_rss_mb')} MB; {record.arms_note()}")
    if reader := figures.get("reader"):
        print(f"the hybrid arm's reader: {reader.get('train_rows')} RAG-prompt rows, {reader.get('steps')} steps "
              f"(best {reader.get('best_step')}, stopped: {reader.get('stopped')}) in {reader.get('train_s', 0):.0f}s")
    if args.use:
        registry.set_active(settings, record.name)
        print(f"{record.name} is now the active fine-tuned model")
    else:
        print(f"use it with: chatbot models use {record.name}")
    return 0


def cmd_models_list(args: argparse.Namespace) -> int:
    settings = Settings()
    records = registry.list_models(settings)
    changed = _documents_changed(settings, records)
    if args.json:
        print(json.dumps([{**r.summary(), "stale": changed[r.name] > 0, "documents_changed": changed[r.name]}
                          for r in records], indent=2))
        return 0
    active = registry.get_active(settings)
    for r in records:
        mark = "*" if active and active.name == r.name else " "
        stale = f"  STALE: {changed[r.name]} documents changed since" if changed[r.name] else ""
        print(f"{mark} {r.name:<48} {r.method:<4} {r.base_model:<40} val {_fmt(r.val_loss)}  "
              f"KB v{r.kb_version}  {r.trained_at}{stale}")
    print(f"{len(records)} fine-tuned models" + ("  (* active)" if active else ""))
    return 0


def cmd_models_delete(args: argparse.Namespace) -> int:
    try:
        registry.delete_model(Settings(), args.name)
    except registry.RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"deleted {args.name}")
    return 0


def cmd_models_use(args: argparse.Namespace) -> int:
    try:
        record = registry.set_active(Settings(), args.name)
    except registry.RegistryError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"{record.name} is now the active fine-tuned model")
    return 0


def _corpus_service(settings: Settings, folder: Path):
    """(a service over the dataset's corpus indexed in HOME/finetune/corpora/NAME, its questions to exclude,
    figures naming the corpus). Models are saved in the user's registry (the corpus home links to it)."""
    from chatbot.evaluation.dataset import load_dataset
    from chatbot.evaluation.harness import eval_settings, ingest_corpus
    from chatbot.service import make_service

    dataset = load_dataset(folder)
    home = settings.home / "finetune" / "corpora" / dataset.name
    service = make_service(eval_settings(settings, home))
    print(f"indexing {len(dataset.corpus)} corpus records of {dataset.name} in {home}", flush=True)
    ingest_corpus(service, dataset.corpus)
    return service, [q.question for q in dataset.questions], {"corpus": dataset.name}


def _documents_changed(settings: Settings, records: list[registry.ModelRecord]) -> dict[str, int]:
    """How many documents changed since each model was trained (read from the database only)."""
    if not records:
        return {}
    from chatbot.db import changes_since, open_database

    engine = open_database(settings.effective_database_url)
    try:
        return {r.name: len(changes_since(engine, r.kb_version)) for r in records}
    finally:
        engine.dispose()


def _default_tickets(settings: Settings) -> Path | None:
    path = settings.kb_dir / "tickets.jsonl"
    return path if path.is_file() else None


def _fmt(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.4f}"
