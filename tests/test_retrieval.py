"""Hybrid retrieval: vectors and BM25 fused; keyword matches on codes; cosine scores for refusal."""

from __future__ import annotations

import math
import random
from collections import Counter

from chatbot.rag.keyword import KeywordIndex, tokenize
from chatbot.rag.retrieval import fuse_scores

KB = {
    "hub-errors.md": b"# Hub error codes\n\n## E-104\n\nE-104 means the Hub lost its internet connection. "
                     b"Restart your router.\n\n## E-221\n\nE-221 means a firmware update failed. Retry from "
                     b"Settings > Devices > Hub > Firmware.\n",
    "refunds.md": b"# Refunds\n\n## Timing\n\nRefunds are paid to the original card within 5 business days.\n",
    "camera.md": b"# Camera night vision\n\n## Turning it on\n\nOpen Settings > Devices > Cam > Night vision "
                 b"and choose Auto.\n",
}


def test_bm25_ranks_exact_codes_first():
    index = KeywordIndex.of_texts(["error E-104 internet", "error E-221 firmware", "refunds card"])
    assert index.search("what is E-221", 3)[0][0] == "1"
    assert "e-221" in tokenize("E-221")


def reference_bm25(texts: dict[str, str], query: str, k1: float = 0.9, b: float = 0.4) -> dict[str, float]:
    """Okapi BM25 written out term by term, as the index computed it before it was incremental."""
    counts = {cid: Counter(tokenize(t)) for cid, t in texts.items()}
    avg = sum(sum(c.values()) for c in counts.values()) / len(counts)
    scores: dict[str, float] = {}
    for term in set(tokenize(query)):
        df = sum(term in c for c in counts.values())
        idf = math.log(1 + (len(counts) - df + 0.5) / (df + 0.5))
        for cid, c in counts.items():
            if term in c:
                norm = k1 * (1 - b + b * sum(c.values()) / avg)
                scores[cid] = scores.get(cid, 0.0) + idf * c[term] * (k1 + 1) / (c[term] + norm)
    return scores


def test_incremental_keyword_index_equals_a_fresh_one_after_adds_replaces_and_deletes():
    rng = random.Random(7)
    words = [f"w{i}" for i in range(60)] + ["E-104", "router", "refund", "firmware", "2.4.1"]
    index, docs = KeywordIndex(), {}  # docs: doc id -> {chunk id: text}, what the knowledge base holds now
    made = 0
    for step in range(1500):  # enough removals to compact the slots more than once
        doc_id = f"doc{rng.randrange(40)}"
        if doc_id in docs and rng.random() < 0.4:
            index.remove_doc(doc_id)
            del docs[doc_id]
            continue
        version = {f"{doc_id}:{step}:{i}": " ".join(rng.choices(words, k=rng.randint(3, 30)))
                   for i in range(rng.randint(1, 6))}
        index.remove_doc(doc_id)  # a replaced document: the old version's chunks go, the new ones come
        index.add_many((cid, doc_id, text) for cid, text in version.items())
        docs[doc_id] = version
        made += len(version)
    fresh = KeywordIndex()
    fresh.add_many((cid, doc_id, text) for doc_id, chunks in docs.items() for cid, text in chunks.items())
    live = {cid: text for chunks in docs.values() for cid, text in chunks.items()}
    assert len(index) == len(fresh) == len(live) and len(index._ids) < made - 1024  # compacted
    for query in ["E-104 router", "refund w3 w7", "firmware 2.4.1 w50", "w1", "nothing-like-this"]:
        got, clean = index.search(query, 10), fresh.search(query, 10)
        assert [round(s, 4) for _, s in got] == [round(s, 4) for _, s in clean]
        assert {cid for cid, _ in got} == {cid for cid, _ in clean} or len(got) == 10
        expected = reference_bm25(live, query)
        for cid, score in got:
            assert math.isclose(score, expected[cid], rel_tol=1e-4)
        best = sorted(expected.values(), reverse=True)[:10]
        assert [round(s, 3) for _, s in got] == [round(s, 3) for s in best]
        assert math.isclose(index.idf(tokenize(query)[0]), fresh.idf(tokenize(query)[0]))


def test_fuse_scores_weighs_normalised_scores():
    vector = {"a": 0.80, "b": 0.70, "c": 0.30}
    keyword = {"b": 10.0, "c": 9.0}
    assert fuse_scores(vector, keyword, 0.5) == ["b", "a", "c"]  # b: 0.5 + 0.4 beats a: 0 + 0.5
    assert fuse_scores(vector, keyword, 0.0) == ["a", "b", "c"]  # vectors only
    assert fuse_scores(vector, keyword, 1.0)[:2] == ["b", "c"]  # keywords only
    assert fuse_scores({"x": 0.5}, {}, 0.7) == ["x"] and fuse_scores({}, {}, 0.7) == []


def test_hybrid_retrieval_finds_the_right_document(store_service):
    for name, data in KB.items():
        store_service.ingest_bytes(name, data)
    r = store_service.retriever
    top = r.retrieve("My hub shows E-221, what now?", k=2)
    assert top[0].doc_id == "hub-errors" and top[0].section == "E-221"
    assert r.retrieve("how long until I get my money back", k=1)[0].doc_id == "refunds"
    assert r.retrieve("camera can't see in the dark", k=1)[0].doc_id == "camera"
    relevant = r.retrieve("refund to my card", k=1)[0].score
    unrelated = r.retrieve("who won the football world cup in 1966", k=1)[0].score
    assert 0 <= unrelated < relevant <= 1


def test_new_documents_are_searchable_at_once(store_service):
    r = store_service.retriever
    assert r.retrieve("anything") == []
    store_service.ingest_bytes("refunds.md", KB["refunds.md"])
    assert r.retrieve("refund timing")[0].doc_id == "refunds"
    store_service.delete_document("refunds")
    assert r.retrieve("refund timing") == []
