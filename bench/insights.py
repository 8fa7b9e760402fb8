"""Insights benchmark (issue 28): do the gap clusters group what customers could not get answered by topic, and
how long does the Insights page take to build at 1k and 10k conversations?

A realistic history: the questions of doc2dial_dev and mtrag_un asked through the service as customer
conversations (mtrag's multi-turn conversations in order, each with its recorded history), `--passes` times
(the later passes as customers type them: a greeting, lower case, "thanks"). The KB holds the datasets'
passages minus a held-out 40% of their documents (by title), so questions about those are what the help
centre lacks. The service answers on fast fakes (tests/fakes.py: an echoing chat model, so declines come from
the relevance gate, and a hashed bag-of-words embedder for retrieval); the gaps are clustered over the
product's embedder (all-MiniLM-L6-v2), as the page does. A simulated customer rates down half of the answers
whose sources miss the question's gold document. Gaps = declined + rated-down questions, clustered by the
product's code (chatbot/insights.py).

Purity: each gap question's label is its gold document (doc2dial: the page; mtrag: the gold passage's title,
or its conversation when it has none) and its domain; a cluster's purity is the share of its questions with its
majority label, weighted by size. Singletons are pure by definition, so purity is also given for clusters of 3+.

Page time: the recorded conversations copied (new ids, spread over 30 days) to 1,000 and 10,000
conversations, then `insights.build` timed (what the page calls; embeddings kept in the database).

    .venv/bin/python bench/insights.py                       # ~2,500 turns, a few minutes on 2 cores
    .venv/bin/python bench/insights.py --passes 1 --limit 300 # quick look
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter, defaultdict
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.machine import cpu_name  # noqa: E402

EVAL = ROOT.parent / "shared" / "eval"
HOLD_OUT = 0.4
VARIANTS = ["{q}", "hi, {q}", "{lower} thanks", "Hello! {q}", "{lower}"]


def load(folder: Path) -> tuple[list[dict], list[dict]]:
    read = lambda name: [json.loads(line) for line in (folder / name).open(encoding="utf-8")]  # noqa: E731
    return read("corpus.jsonl"), read("questions.jsonl")


def held_out(title: str) -> bool:
    return int(hashlib.md5(title.encode()).hexdigest(), 16) % 100 < HOLD_OUT * 100


def purity(groups: list[list[str]], labels: dict[str, str], counts: Counter, min_size: int = 1) -> tuple[float, int]:
    """(weighted purity, questions counted) over clusters of at least `min_size` question occurrences."""
    hit = total = 0
    for group in groups:
        weight = sum(counts[q] for q in group)
        if weight < min_size:
            continue
        by_label = Counter()
        for q in group:
            by_label[labels[q]] += counts[q]
        hit += by_label.most_common(1)[0][1]
        total += weight
    return (hit / total if total else 0.0), total


def distinct_purity(groups: list[list[str]], labels: dict[str, str], origin: dict[str, int]) -> tuple[float, int, int]:
    """Purity counting each dataset question once (its typed variants fall together trivially), over the
    clusters holding 2+ distinct questions: (purity, distinct questions in them, distinct gap questions)."""
    hit = total = everything = 0
    for group in groups:
        distinct = {origin[q]: labels[q] for q in group}
        everything += len(distinct)
        if len(distinct) >= 2:
            hit += Counter(distinct.values()).most_common(1)[0][1]
            total += len(distinct)
    return (hit / total if total else 0.0), total, everything


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=3)
    parser.add_argument("--limit", type=int, default=0, help="questions per dataset (0: all)")
    parser.add_argument("--thresholds", default="0.45,0.55,0.6,0.65", help="CHATBOT_GAP_SIMILARITY values compared")
    parser.add_argument("--keep", default="", help="keep the bench home in this folder")
    args = parser.parse_args()

    from sqlalchemy import insert, select

    from chatbot import db, insights
    from chatbot.config import Settings
    from chatbot.llm.factory import make_embeddings
    from chatbot.service import make_service
    from tests.fakes import EchoChatModel, HashedEmbeddings

    print(f"CPU: {cpu_name()}")
    home = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="bench-insights-"))
    settings = Settings(home=home, kb_dir=home / "none", verify_answers=False, answer_style="free", context_chars=0,
                        second_look=False)
    # the service answers on fast fakes: an echoing chat model and a hashed bag-of-words embedder (retrieval, the
    # relevance gate); the gaps are clustered on the product's embedder, as the page does
    embeddings = make_embeddings(settings)
    service = make_service(settings, chat_model=EchoChatModel(), embeddings=HashedEmbeddings(384))
    cluster_model = f"bench:{settings.embedding_model}"  # not the service's kept (hashed) vectors
    rng = random.Random(28)

    # --- the KB: both corpora minus the held-out documents -------------------------------------------
    doc_title: dict[str, str] = {}  # our doc_id -> the passage's title
    gold_title: dict[str, str] = {}  # corpus id -> title
    items, questions = [], []
    for name, prefix in (("doc2dial_dev", "d2d"), ("mtrag_un", "mt")):
        corpus, qs = load(EVAL / name)
        golds = {g for q in qs for g in q["gold_ids"]}
        for n, record in enumerate(corpus):
            title = record["title"] if prefix == "mt" else record["id"].split("#")[0]
            gold_title[record["id"]] = title
            # the KB: the gold passages and a quarter of the others (neighbours to be retrieved instead), minus
            # the held-out documents
            if not held_out(title) and (record["id"] in golds or n % 4 == 0):
                doc_id = f"{prefix}-{n}"
                doc_title[doc_id] = title
                items.append((f"{doc_id}.md", f"# {record['title']}\n\n{record['text']}\n".encode()))
        for q in qs[: args.limit or None]:
            conv = q["id"].split("<::>")[0] if prefix == "mt" else q["id"]
            gold = [gold_title.get(g, "") for g in q["gold_ids"]]
            domain = q.get("tags", {}).get("domain", "")
            questions.append({"set": prefix, "conversation": conv, "question": q["question"], "gold": gold,
                              "doc_label": f"{prefix}:{gold[0]}" if gold and gold[0] else f"{prefix}:conv:{conv}",
                              "domain_label": f"{prefix}:{domain}"})
    started = time.perf_counter()
    results = list(service.ingest_contents(items))
    print(f"KB: {sum(r.status != 'refused' for r in results)} passages indexed of {len(gold_title)} (the gold "
          f"passages and a quarter of the others, minus the {HOLD_OUT:.0%} of documents held out) in "
          f"{time.perf_counter() - started:.0f} s, {service.chunk_count()} chunks")

    # --- the history: conversations asked through the service ----------------------------------------
    by_conv: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for q in questions:
        by_conv[(q["set"], q["conversation"])].append(q)
    labels: dict[str, tuple[str, str]] = {}
    origin: dict[str, int] = {}  # asked text -> the dataset question it came from (its variants share it)
    turns = declined = rated_down = 0
    started = time.perf_counter()
    for p in range(args.passes):
        for (prefix, conv), qs in by_conv.items():
            cid = hashlib.md5(f"{p}:{prefix}:{conv}".encode()).hexdigest()
            for q in qs:
                text = q["question"] if p == 0 else rng.choice(VARIANTS).format(q=q["question"],
                                                                                  lower=q["question"].lower())
                answer = service.ask(text, service.history(cid)[-4:], conversation_id=cid)
                turns += 1
                key = " ".join(answer.question.split())
                labels[key] = (q["doc_label"], q["domain_label"])
                origin[key] = id(q)
                if answer.refused:
                    declined += 1
                elif not {doc_title.get(s.doc_id) for s in answer.sources} & set(q["gold"]) and rng.random() < 0.5:
                    service.rate(answer, -1, "wrong page")
                    rated_down += 1
    took = time.perf_counter() - started
    print(f"history: {turns} turns in {len(by_conv) * args.passes} conversations ({took:.0f} s, "
          f"{took / turns * 1000:.0f} ms/turn): {declined} declined, {rated_down} rated down")

    # --- purity of the gaps -------------------------------------------------------------------------
    print("\n| gap similarity | gaps | gap questions | purity vs document | in clusters of 3+ (share) | purity 3+ "
          "vs document | purity vs domain | distinct questions grouped with others (share) | their purity |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for threshold in [float(t) for t in args.thresholds.split(",")]:
        report = insights.build(service.engine, embeddings.embed_documents, cluster_model, days=30,
                                similarity=threshold)
        groups = [list(g.questions) for g in report.gaps]
        counts: Counter = Counter()
        for a in insights.read_asked(service.engine, report.since):
            if a.outcome == "declined" or a.rated_down:
                counts[" ".join(a.question.split())] += 1
        doc_labels = {q: labels[q][0] for g in groups for q in g}
        dom_labels = {q: labels[q][1] for g in groups for q in g}
        p_doc, n = purity(groups, doc_labels, counts)
        p_doc3, n3 = purity(groups, doc_labels, counts, 3)
        p_dom, _ = purity(groups, dom_labels, counts)
        p_distinct, grouped, distinct = distinct_purity(groups, doc_labels, origin)
        print(f"| {threshold:.2f} | {len(groups)} | {n} | {p_doc:.3f} | {n3} ({n3 / max(1, n):.0%}) | {p_doc3:.3f} | "
              f"{p_dom:.3f} | {grouped} of {distinct} ({grouped / max(1, distinct):.0%}) | {p_distinct:.3f} |")

    # --- page time at 1k and 10k conversations ---------------------------------------------------------
    print("\n| conversations | questions | gap questions | gaps | page build (s), first | again |")
    print("|---:|---:|---:|---:|---:|---:|")
    with service.engine.connect() as conn:
        base_convs = conn.execute(select(db.conversations)).all()
        base_msgs = conn.execute(select(db.messages).order_by(db.messages.c.id)).all()
    msgs_by_conv: dict[str, list] = defaultdict(list)
    for m in base_msgs:
        msgs_by_conv[m.conversation_id].append(m)
    with service.engine.connect() as conn:  # the copies below read the file: fold the write-ahead log into it
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    for target in (1000, 10000):
        path = home / f"scale-{target}.db"
        shutil.copy(home / "chatbot.db", path)
        engine = db.open_database(f"sqlite:///{path}")
        with engine.begin() as conn:
            conn.execute(db.messages.delete())
            conn.execute(db.conversations.delete())
            conv_rows, msg_rows = [], []
            for n in range(target):
                source = base_convs[n % len(base_convs)]
                cid = f"{n:06d}-{source.id[:20]}"
                at = db.now() - timedelta(minutes=rng.randrange(0, 29 * 24 * 60))
                conv_rows.append({"id": cid, "created_at": at})
                msg_rows += [{"conversation_id": cid, "role": m.role, "text": m.text, "mode": m.mode, "model": m.model,
                              "refused": m.refused, "sources": m.sources, "created_at": at, "ttft_s": m.ttft_s}
                             for m in msgs_by_conv[source.id]]
            conn.execute(insert(db.conversations), conv_rows)
            for start in range(0, len(msg_rows), 5000):
                conn.execute(insert(db.messages), msg_rows[start : start + 5000])
            # the ratings stay as copied: a rating marks every copy of the answer it rated
        times, report = [], None
        for _ in range(2):
            started = time.perf_counter()
            report = insights.build(engine, embeddings.embed_documents, cluster_model, days=30,
                                    similarity=settings.gap_similarity)
            times.append(time.perf_counter() - started)
        gap_questions = sum(g.count for g in report.gaps)
        print(f"| {target:,} | {report.questions:,} | {gap_questions:,} | {len(report.gaps)} | {times[0]:.2f} | "
              f"{times[1]:.2f} |")
        engine.dispose()
    if not args.keep:
        shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    main()
