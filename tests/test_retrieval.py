"""Hybrid retrieval: vectors and BM25 fused; keyword matches on codes; cosine scores for refusal."""

from __future__ import annotations

from chatbot.keyword import BM25, tokenize
from chatbot.retrieval import fuse_scores

KB = {
    "hub-errors.md": b"# Hub error codes\n\n## E-104\n\nE-104 means the Hub lost its internet connection. "
                     b"Restart your router.\n\n## E-221\n\nE-221 means a firmware update failed. Retry from "
                     b"Settings > Devices > Hub > Firmware.\n",
    "refunds.md": b"# Refunds\n\n## Timing\n\nRefunds are paid to the original card within 5 business days.\n",
    "camera.md": b"# Camera night vision\n\n## Turning it on\n\nOpen Settings > Devices > Cam > Night vision "
                 b"and choose Auto.\n",
}


def test_bm25_ranks_exact_codes_first():
    index = BM25(["error E-104 internet", "error E-221 firmware", "refunds card"])
    assert index.search("what is E-221", 3)[0][0] == 1
    assert "e-221" in tokenize("E-221")


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
    store_service.delete("refunds")
    assert r.retrieve("refund timing") == []
