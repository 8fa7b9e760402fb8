"""Freshness, shown: train a fine-tuned model on the sample KB, change one fact in the documents, re-index,
and ask every arm the same question before and after. RAG and hybrid read today's documents; the
fine-tuned (closed-book) arm answers from what it learned, and the model is reported stale.

    .venv/bin/python bench/freshness.py --preset quick                 # trains first (pairs + training)
    .venv/bin/python bench/freshness.py --home H --model NAME --json   # an already-trained model in home H

Any CHATBOT_* variable applies (CHATBOT_CHAT_MODEL is the RAG and base arms' model). The fact changed by
default is the identity-verification time of the 2FA article; give --old/--new/--question for another.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

from chatbot.config import Settings
from chatbot.finetune import registry

ARMS = ("rag", "hybrid", "finetuned", "base")


def ask_all(service, question: str, old: str, new: str) -> dict[str, dict]:
    out = {}
    for arm in ARMS:
        answer = service.ask(question, mode=arm)
        out[arm] = {"answer": answer.text, "old_fact": old in answer.text, "new_fact": new in answer.text,
                    "refused": answer.refused, "ttft_s": round(answer.ttft_s, 2)}
    return out


def change_fact(service, kb_dir: Path, old: str, new: str) -> list[str]:
    """Replace `old` with `new` in every KB file that states it and re-index those files."""
    changed = []
    for path in sorted(p for p in kb_dir.rglob("*") if p.is_file()):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            continue
        if old in text:
            result = service.ingest_bytes(path.name, text.replace(old, new).encode("utf-8"), source=str(path))
            changed.append(f"{path.name}: {result.status}")
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--home", type=Path, default=None, help="CHATBOT_HOME to use (default: a new temporary one)")
    parser.add_argument("--preset", default="quick", help="training preset when no --model is given")
    parser.add_argument("--model", default=None, help="an already-trained fine-tuned model in that home")
    parser.add_argument("--question", default="How long does identity verification take if I lose my 2FA codes?")
    parser.add_argument("--old", default="takes up to **3 business days**", help="text to replace in the KB")
    parser.add_argument("--new", default="takes up to **6 business days**", help="its replacement")
    parser.add_argument("--old-fact", default="3 business days", help="what an answer with the old fact contains")
    parser.add_argument("--new-fact", default="6 business days", help="what an answer with the new fact contains")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)

    from chatbot.service import make_service

    home = args.home or Path(tempfile.mkdtemp(prefix="chatbot-freshness-"))
    settings = Settings(home=home)
    service = make_service(settings)
    service.ensure_sample_kb()
    started = time.perf_counter()
    if args.model:
        record = service.use_model(args.model)
    else:
        record = service.train(args.preset, service.default_tickets(),
                               progress=lambda s, t, loss: print(f"step {s}/{t} loss {loss:.3f}", file=sys.stderr))
        service.use_model(record.name)
    trained_s = time.perf_counter() - started
    before = ask_all(service, args.question, args.old_fact, args.new_fact)
    changed = change_fact(service, settings.kb_dir, args.old, args.new)
    n_changed, _ = service.staleness(registry.get_model(settings, record.name))
    after = ask_all(service, args.question, args.old_fact, args.new_fact)
    report = {"model": record.name, "base_model": record.base_model, "trained_s": round(trained_s, 1),
              "question": args.question, "changed_files": changed, "stale_documents": n_changed,
              "before": before, "after": after, "chat_model": settings.chat_model}
    if args.json:
        print(json.dumps(report, ensure_ascii=False))
        return 0
    print(f"model {record.name} ({record.base_model}); changed: {', '.join(changed) or 'nothing'}; "
          f"stale documents: {n_changed}")
    print(f"{'arm':<10} {'before: old/new fact':<22} {'after: old/new fact':<22} answer after")
    for arm in ARMS:
        b, a = before[arm], after[arm]
        print(f"{arm:<10} {str(b['old_fact']) + '/' + str(b['new_fact']):<22} "
              f"{str(a['old_fact']) + '/' + str(a['new_fact']):<22} {a['answer'][:90]!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
