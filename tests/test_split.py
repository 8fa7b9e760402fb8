"""Chunking invariants: chunks cover the text, stay inside the size limit, keep their heading."""

from __future__ import annotations

import re

from chatbot.ingest import load, split
from chatbot.ingest.split import body_of

LONG = "# Guide\n\n" + "\n\n".join(
    f"## Part {n}\n\n" + " ".join(f"Sentence {n}.{i} explains step {i} of part {n}." for i in range(40))
    for n in range(3)
)


def words(text: str) -> set[str]:
    return set(re.findall(r"\w+", text))


def test_chunks_cover_every_word_and_respect_the_size():
    doc = load("guide.md", LONG.encode())
    chunks = split(doc, chunk_size=300, overlap=50)
    assert len(chunks) > 6
    assert all(len(body_of(c)) <= 300 for c in chunks)
    covered = set().union(*(words(body_of(c)) for c in chunks))
    assert words(doc.text) <= covered


def test_headings_stay_attached_and_ids_are_versioned():
    doc = load("guide.md", LONG.encode())
    chunks = split(doc, chunk_size=300, overlap=50)
    for chunk in chunks:
        assert chunk.text.startswith("Guide > Part ")
        part = chunk.section.removeprefix("Part ")
        assert f"of part {part}" in body_of(chunk)  # a chunk never mixes two sections
    ids = [c.chunk_id for c in chunks]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(f"guide:{doc.sha256[:8]}:") for i in ids)
    changed = load("guide.md", (LONG + "\n\nOne more line.").encode())
    assert not set(ids) & {c.chunk_id for c in split(changed, 300, 50)}


def test_split_is_deterministic():
    doc = load("guide.md", LONG.encode())
    assert split(doc, 300, 50) == split(doc, 300, 50)
