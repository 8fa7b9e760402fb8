"""Decide a file's type from its content (magic bytes, text decodability), not only its extension."""

from __future__ import annotations

import codecs

TEXT_EXTENSIONS = {".md": "markdown", ".markdown": "markdown", ".txt": "text", ".html": "html", ".htm": "html",
                   ".csv": "csv", ".jsonl": "jsonl"}
SUPPORTED = ".md .markdown .txt .html .htm .pdf .docx .csv .jsonl"


def sniff(head: bytes, suffix: str) -> str:
    """Return the loader kind for a file whose first bytes are `head`.

    >>> sniff(b"%PDF-1.7...", ".pdf")
    'pdf'
    >>> sniff(b"# Title", ".md")
    'markdown'

    Raises ValueError with a user-facing reason when the content is not a supported document.
    """
    suffix = suffix.lower()
    if head.startswith(b"%PDF-"):
        return "pdf"
    if suffix == ".pdf":
        raise ValueError("not a valid PDF (the file does not start with a PDF header)")
    if head.startswith(b"PK\x03\x04"):
        if suffix == ".docx":
            return "docx"
        raise ValueError(f"a zip archive is not a supported document (supported: {SUPPORTED})")
    if suffix == ".docx":
        raise ValueError("not a valid DOCX (not a zip archive, which every DOCX file is)")
    if not looks_like_text(head):
        raise ValueError(f"binary content, not a supported document (supported: {SUPPORTED})")
    if suffix in TEXT_EXTENSIONS:
        return TEXT_EXTENSIONS[suffix]
    stripped = head.lstrip().lower()
    if stripped.startswith((b"<!doctype html", b"<html")):
        return "html"
    raise ValueError(f"unsupported file type {suffix or '(no extension)'!r} (supported: {SUPPORTED})")


def looks_like_text(head: bytes) -> bool:
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE, codecs.BOM_UTF8)):
        return True
    if b"\x00" in head:
        return False
    control = sum(1 for b in head if b < 32 and b not in (9, 10, 12, 13))
    return control <= max(2, len(head) // 100)


def decode_text(data: bytes) -> str:
    """Decode text in UTF-8 (with or without BOM), UTF-16 (with BOM) or, failing those, Latin-1/CP1252.

    >>> decode_text("café".encode("latin-1"))
    'café'
    """
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")
