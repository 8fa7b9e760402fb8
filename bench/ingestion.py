"""Ingestion throughput: chunks per second through the whole pipeline (Service.ingest_paths on a folder of
the documents: parse, split, embed across documents, Chroma add, manifest commit) against bare
SentenceTransformer.encode on the very same chunk texts, plus the process's peak resident memory after
each stage.

    .venv/bin/python bench/ingestion.py                         # 100 synthetic Markdown documents
    .venv/bin/python bench/ingestion.py --docs 300 --json
    .venv/bin/python bench/ingestion.py --corpus /path/to/corpus.jsonl --docs 200   # real text, {"id","title","text"}
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.machine import cpu_name  # noqa: E402
from chatbot.config import Settings  # noqa: E402

SENTENCES = (
    "Open Settings and choose {topic} to change how it works.",
    "If the {topic} light blinks orange, restart the device and wait two minutes.",
    "Refunds for {topic} are paid to the original card within five business days.",
    "You can export your {topic} history as a CSV file from the Account page.",
    "Customers on the annual plan get priority support for {topic} issues.",
    "The {topic} feature needs firmware 2.4 or later; update it from the Help menu.",
)
TOPICS = ("billing", "Wi-Fi", "router", "password", "shipping", "invoice", "backup", "sound", "display")


def peak_rss_mb() -> float:
    """Peak resident set size of this process so far (Linux reports kilobytes)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def synthetic_documents(n: int, seed: int) -> list[tuple[str, bytes]]:
    """(file name, Markdown bytes): a title and 3-5 sections of 4-12 support-style sentences each."""
    rng = random.Random(seed)
    docs = []
    for i in range(n):
        parts = [f"# Help article {i}: {rng.choice(TOPICS)}"]
        for s in range(rng.randint(3, 5)):
            topic = rng.choice(TOPICS)
            body = " ".join(rng.choice(SENTENCES).format(topic=topic) for _ in range(rng.randint(4, 12)))
            parts.append(f"## {topic.title()} step {s}\n\n{body}")
        docs.append((f"article-{i:04d}.md", "\n\n".join(parts).encode()))
    return docs


def corpus_documents(path: Path, n: int) -> list[tuple[str, bytes]]:
    """The first `n` records of a corpus.jsonl, as Markdown files."""
    docs = []
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if len(docs) >= n:
                break
            row = json.loads(line)
            docs.append((f"doc-{len(docs):05d}.md", f"# {row.get('title', '')}\n\n{row['text']}".encode()))
    return docs


def resume(settings: Settings, folder: Path, n_docs: int, clean) -> dict[str, Any]:
    """Ingest the folder into a second home, stop half-way (as Ctrl-C would, between results), then run the
    same ingest again: it must finish the rest only and leave the store equal to the clean one's."""
    from chatbot.service import Service

    home = settings.home.parent / "resumed"
    service = Service(settings.model_copy(update={"home": home}))
    started = time.perf_counter()
    for done, _ in enumerate(service.ingest_paths([folder]), 1):
        if done >= n_docs // 2:
            break
    first_s = time.perf_counter() - started
    started = time.perf_counter()
    statuses: dict[str, int] = {}
    for result in service.ingest_paths([folder]):
        statuses[result.status] = statuses.get(result.status, 0) + 1
    rest_s = time.perf_counter() - started

    def content(store) -> list:
        return sorted(store.chunks(), key=lambda c: c.chunk_id)

    return {"resume_first_half_s": round(first_s, 2), "resume_rest_s": round(rest_s, 2),
            "resume_statuses": statuses, "resume_equals_clean": content(service.store) == content(clean)}


def run(docs: list[tuple[str, bytes]]) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer

    from chatbot.llm.files import resolve_embedding_model
    from chatbot.service import Service

    out: dict[str, Any] = {"documents": len(docs), "rss_start_mb": peak_rss_mb()}
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        settings = Settings(home=Path(tmp) / "home", kb_dir=Path(tmp) / "none", collection="bench")
        folder = Path(tmp) / "docs"
        folder.mkdir()
        for name, data in docs:
            (folder / name).write_bytes(data)
        service = Service(settings)
        service.embeddings.embed_query("warm up")  # model load is not ingestion
        out["rss_model_loaded_mb"] = peak_rss_mb()
        started = time.perf_counter()
        chunks = sum(result.chunks for result in service.ingest_paths([folder]))
        pipeline_s = time.perf_counter() - started
        out.update(chunks=chunks, pipeline_s=round(pipeline_s, 2),
                   pipeline_chunks_per_s=round(chunks / pipeline_s, 1),
                   pipeline_docs_per_s=round(len(docs) / pipeline_s, 2), rss_after_pipeline_mb=peak_rss_mb())
        out.update(resume(settings, folder, len(docs), service.store))
        stored = service.store.chunks()
        texts = [c.text for c in stored]
        by_doc: dict[str, list[str]] = {}
        for c in stored:
            by_doc.setdefault(c.doc_id, []).append(c.text)

    model = SentenceTransformer(resolve_embedding_model(settings.embedding_model), device="cpu")
    model.encode(["warm up"])
    started = time.perf_counter()
    model.encode(texts, batch_size=32, normalize_embeddings=True)
    encode_s = time.perf_counter() - started
    started = time.perf_counter()
    for group in by_doc.values():  # one document's chunks at a time (how the pipeline batched before)
        model.encode(group, batch_size=32, normalize_embeddings=True)
    per_doc_s = time.perf_counter() - started
    out.update(encode_s=round(encode_s, 2), encode_chunks_per_s=round(len(texts) / encode_s, 1),
               encode_per_doc_chunks_per_s=round(len(texts) / per_doc_s, 1),
               pipeline_share_in_encoding=round(encode_s / pipeline_s, 2), rss_peak_mb=peak_rss_mb())
    return out


def table(result: dict[str, Any]) -> str:
    width = max(len(k) for k in result)
    return "\n".join(f"{k:<{width}}  {v}" for k, v in result.items())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=100, help="number of documents to ingest")
    parser.add_argument("--corpus", type=Path, default=None, help="corpus.jsonl to take real text from")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    docs = corpus_documents(args.corpus, args.docs) if args.corpus else synthetic_documents(args.docs, args.seed)
    result = run(docs)
    result["source"] = str(args.corpus) if args.corpus else "synthetic markdown"
    result["cpu"] = cpu_name()
    print(json.dumps(result, indent=2) if args.json else table(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
