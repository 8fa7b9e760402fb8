"""Structure-aware splitting: each chunk stays inside one section and carries its heading path, so a
retrieved chunk always says where it came from ("Returns > Damaged items")."""

from __future__ import annotations

from langchain_text_splitters import RecursiveCharacterTextSplitter

from chatbot.ingest.tables import fit_rows
from chatbot.types import Chunk, Document


def chunk_header(title: str, section: str) -> str:
    """The line put in front of every chunk's text.

    >>> chunk_header("Returns", "Damaged items")
    'Returns > Damaged items'
    """
    return f"{title} > {section}" if section and section != title else title


def split(doc: Document, chunk_size: int = 900, overlap: int = 120) -> list[Chunk]:
    """Cut a Document into Chunks of at most `chunk_size` characters of body text each.

    Sections are never merged, so a heading stays attached to its own text. Long sections are cut on
    paragraph, line, sentence and word boundaries, in that order, with `overlap` characters repeated. A
    table row is one line naming its cells' columns (chatbot/ingest/tables.py), so a row lands whole in a
    chunk; a row longer than a chunk is first cut between its cells, each part keeping the row's first cell.
    Chunk ids are `doc_id:sha8:index`: a new version of a document never reuses an old version's ids.
    """
    splitter = RecursiveCharacterTextSplitter(
        chunk_size=chunk_size,
        chunk_overlap=min(overlap, chunk_size // 2),
        separators=["\n\n", "\n", ". ", " ", ""],
        keep_separator="end",
    )
    chunks: list[Chunk] = []
    for section in doc.sections:
        heading = section.heading
        if heading.startswith(doc.title + " > "):
            heading = heading[len(doc.title) + 3 :]
        elif heading == doc.title:
            heading = ""
        header = chunk_header(doc.title, heading)
        for body in splitter.split_text(fit_rows(section.text, chunk_size)):
            body = body.strip()
            if not body:
                continue
            chunks.append(
                Chunk(
                    chunk_id=f"{doc.doc_id}:{doc.sha256[:8]}:{len(chunks)}",
                    doc_id=doc.doc_id,
                    index=len(chunks),
                    text=f"{header}\n{body}",
                    title=doc.title,
                    section=heading,
                    source=doc.source,
                    page=section.page,
                )
            )
    return chunks


def body_of(chunk: Chunk) -> str:
    """A chunk's text without its header line."""
    return chunk.text.split("\n", 1)[1] if "\n" in chunk.text else ""
