"""One loader per format. Each turns bytes into a Document of Sections, or raises IngestError with a
reason a support admin can act on. Nothing here touches the store."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
import zipfile
from pathlib import Path

from chatbot.ingest.detect import decode_text, sniff
from chatbot.types import Document, Section

MAX_UNZIPPED_BYTES = 200 * 1024 * 1024  # a DOCX that inflates past this is treated as a zip bomb
MAX_ZIP_RATIO = 200


class IngestError(ValueError):
    """A file that cannot be indexed; str(error) says why."""


def safe_name(name: str, max_len: int = 120) -> str:
    """A file name with path parts and control characters removed, cut to a sane length.

    >>> safe_name("../../etc/pass\\x07wd.md")
    'pass_wd.md'
    """
    base = re.split(r"[\\/]", name)[-1]
    base = "".join("_" if unicodedata.category(c).startswith("C") else c for c in base).strip(" .")
    if not base:
        base = "unnamed"
    if len(base) > max_len:
        stem, dot, ext = base.rpartition(".")
        if dot and len(ext) <= 10:
            base = stem[: max_len - len(ext) - 1] + "." + ext
        else:
            base = base[:max_len]
    return base


def doc_id_for(name: str) -> str:
    """Stable document id from a file name: the same name is the same document.

    >>> doc_id_for("Refund Policy (2024).md")
    'refund-policy-2024'
    """
    stem = Path(safe_name(name)).stem
    slug = re.sub(r"[^a-z0-9]+", "-", unicodedata.normalize("NFKD", stem).encode("ascii", "ignore")
                  .decode().lower()).strip("-")
    return slug[:80] or "doc-" + hashlib.sha256(name.encode()).hexdigest()[:10]


def load(name: str, data: bytes) -> Document:
    """Parse a file's bytes into a Document. `name` is the display/source name (a path or upload name)."""
    if not data:
        raise IngestError("the file is empty")
    try:
        kind = sniff(data[:4096], Path(name).suffix)
    except ValueError as exc:
        raise IngestError(str(exc)) from None
    sections, title = LOADERS[kind](data)
    sections = tuple(s for s in (_clean(s) for s in sections) if s.text)
    if not sections:
        raise IngestError("no text found in the file" + (" (scanned images?)" if kind == "pdf" else ""))
    fallback = Path(safe_name(name)).stem.replace("-", " ").replace("_", " ").strip().capitalize()
    return Document(
        doc_id=doc_id_for(name),
        title=(title or "").strip()[:200] or fallback,
        source=name,
        doc_type=kind,
        sections=sections,
        sha256=hashlib.sha256(data).hexdigest(),
    )


def _clean(section: Section) -> Section:
    text = "".join(c for c in section.text if c in "\n\t" or not unicodedata.category(c).startswith("C"))
    text = re.sub(r"[ \t]+\n", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text).strip()
    return Section(heading=section.heading.strip(), text=text, page=section.page)


def _markdown(data: bytes) -> tuple[list[Section], str]:
    text = decode_text(data)
    title = ""
    path: list[str] = []
    sections: list[Section] = []
    buf: list[str] = []
    in_code = False

    def flush() -> None:
        if "".join(buf).strip():
            sections.append(Section(" > ".join(path), "\n".join(buf)))
        buf.clear()

    for line in text.splitlines():
        if line.lstrip().startswith("```"):
            in_code = not in_code
        match = None if in_code else re.match(r"^(#{1,6})\s+(.*?)\s*#*\s*$", line)
        if match:
            flush()
            level, heading = len(match.group(1)), match.group(2)
            if level == 1 and not title:
                title = heading
            path[:] = path[: level - 1] + [heading]
        else:
            buf.append(line)
    flush()
    return sections, title


def _plain_text(data: bytes) -> tuple[list[Section], str]:
    """First non-empty line is the title; a short line without final punctuation starts a section."""
    lines = decode_text(data).splitlines()
    while lines and not lines[0].strip():
        lines.pop(0)
    title = lines[0].strip() if lines else ""
    sections: list[Section] = []
    heading, buf = "", []
    blocks = re.split(r"\n\s*\n", "\n".join(lines[1:]))
    for block in blocks:
        block_lines = block.strip().splitlines()
        if not block_lines:
            continue
        first = block_lines[0].strip()
        if len(first) <= 70 and not re.search(r"[.:;,!?]$", first) and (len(block_lines) > 1 or len(blocks) > 1) \
                and len(first.split()) <= 10:
            if buf:
                sections.append(Section(heading, "\n\n".join(buf)))
                buf = []
            heading = first
            rest = "\n".join(block_lines[1:]).strip()
            if rest:
                buf.append(rest)
        else:
            buf.append(block.strip())
    if buf:
        sections.append(Section(heading, "\n\n".join(buf)))
    return sections, title


# A table row is one block: one line in which each cell is named by its column's header ("Spec: Weight;
# Metro: 24 kg; Fold: 19.2 kg"), so a row quoted on its own still says which column each value is in.
BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "tr", "caption", "dt", "dd", "blockquote",
              "figcaption", "summary"]


def _html(data: bytes) -> tuple[list[Section], str]:
    from bs4 import BeautifulSoup

    soup = BeautifulSoup(decode_text(data), "html.parser")
    for tag in soup(["script", "style", "noscript", "template", "iframe", "object", "svg"]):
        tag.decompose()
    h1 = soup.find("h1")  # preferred over <title>, which often carries a site-name suffix
    title = h1.get_text(" ", strip=True) if h1 else ""
    title = title or (soup.title.get_text(" ", strip=True) if soup.title else "")
    body = soup.body or soup
    path: list[str] = []
    sections: list[Section] = []
    buf: list[str] = []
    headers: dict[int, list[str]] = {}  # id(table) -> its header row's cells
    block_set = set(BLOCK_TAGS)
    for el in body.find_all(BLOCK_TAGS):
        if any(parent.name in block_set for parent in el.parents):
            continue
        if el.name == "tr":
            text = _table_row(el, headers)
        else:
            text = el.get_text(" ", strip=True)
        if not text:
            continue
        if el.name in {"h1", "h2", "h3", "h4", "h5", "h6"}:
            if buf:
                sections.append(Section(" > ".join(path), "\n".join(buf)))
                buf = []
            level = int(el.name[1])
            path[:] = path[: level - 1] + [text]
        else:
            buf.append(("- " if el.name == "li" else "") + text)
    if buf:
        sections.append(Section(" > ".join(path), "\n".join(buf)))
    if not sections:  # no block structure at all: take the visible text
        sections.append(Section("", body.get_text("\n", strip=True)))
    return sections, title


def _table_row(row, headers: dict[int, list[str]]) -> str:
    """A table row as one line. The table's first row is its header (shown as "Spec | Metro | Fold"); every
    later cell is prefixed with its column's header.

    >>> from bs4 import BeautifulSoup
    >>> table = BeautifulSoup("<table><tr><th></th><th>Metro</th></tr><tr><td>Weight</td><td>24 kg</td></tr>"
    ...                       "</table>", "html.parser")
    >>> seen = {}
    >>> [_table_row(tr, seen) for tr in table.find_all("tr")]
    ['Metro', 'Weight; Metro: 24 kg']
    """
    cells = [" ".join(c.get_text(" ", strip=True).split()) for c in row.find_all(["td", "th"])]
    table = row.find_parent("table")
    key = id(table)
    if key not in headers:
        headers[key] = cells
        return " | ".join(c for c in cells if c)
    names = headers[key]
    parts = [f"{names[i]}: {cell}" if i < len(names) and names[i] and cell else cell
             for i, cell in enumerate(cells) if cell]
    return "; ".join(parts)


def _pdf(data: bytes) -> tuple[list[Section], str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError("the PDF is password-protected")
        title = (reader.metadata.title if reader.metadata else None) or ""
        sections = []
        for number, page in enumerate(reader.pages, start=1):
            sections.append(Section("", page.extract_text() or "", page=number))
    except IngestError:
        raise
    except (PdfReadError, ValueError, KeyError, TypeError, OSError, AssertionError, RecursionError) as exc:
        raise IngestError(f"corrupt or truncated PDF ({type(exc).__name__}: {str(exc)[:120]})") from None
    except Exception as exc:  # pypdf raises many kinds on damaged files
        if "decrypt" in str(exc).lower() or "crypt" in type(exc).__name__.lower():
            raise IngestError("the PDF is password-protected") from None
        raise IngestError(f"corrupt or truncated PDF ({type(exc).__name__})") from None
    if not any(s.text.strip() for s in sections):
        raise IngestError("no text found in the PDF (scanned images without a text layer?)")
    return sections, str(title)


def _docx(data: bytes) -> tuple[list[Section], str]:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            total = sum(i.file_size for i in infos)
            if total > MAX_UNZIPPED_BYTES or total > MAX_ZIP_RATIO * max(len(data), 1):
                raise IngestError(f"the DOCX would inflate to {total // (1024 * 1024)} MB (a zip bomb?)")
            if "word/document.xml" not in archive.namelist():
                raise IngestError("not a valid DOCX (word/document.xml is missing)")
    except zipfile.BadZipFile:
        raise IngestError("not a valid DOCX (corrupt zip archive)") from None
    import docx

    try:
        document = docx.Document(io.BytesIO(data))
    except Exception as exc:
        raise IngestError(f"not a valid DOCX ({type(exc).__name__})") from None
    title = document.core_properties.title or ""
    path: list[str] = []
    sections: list[Section] = []
    buf: list[str] = []
    for para in document.paragraphs:
        style = (para.style.name if para.style is not None else "") or ""
        text = para.text.strip()
        if not text:
            continue
        level = 1 if style == "Title" else int(m.group(1)) if (m := re.match(r"Heading (\d)", style)) else 0
        if level:
            if buf:
                sections.append(Section(" > ".join(path), "\n".join(buf)))
                buf = []
            title = title or text
            path[:] = path[: level - 1] + [text]
        else:
            buf.append(text)
    for table in document.tables:
        for row in table.rows:
            cells = [c.text.strip() for c in row.cells if c.text.strip()]
            if cells:
                buf.append(" | ".join(cells))
    if buf:
        sections.append(Section(" > ".join(path), "\n".join(buf)))
    return sections, title


def _faq_sections(rows: list[tuple[str, str]]) -> list[Section]:
    return [Section(q.strip(), f"Q: {q.strip()}\nA: {a.strip()}") for q, a in rows if q.strip() and a.strip()]


def _csv(data: bytes) -> tuple[list[Section], str]:
    text = decode_text(data)
    try:
        reader = csv.DictReader(io.StringIO(text))
        fields = {f.strip().lower(): f for f in (reader.fieldnames or []) if f}
        if "question" not in fields or "answer" not in fields:
            raise IngestError("a CSV FAQ needs a header row with 'question' and 'answer' columns")
        rows = [(r.get(fields["question"]) or "", r.get(fields["answer"]) or "") for r in reader]
    except csv.Error as exc:
        raise IngestError(f"malformed CSV ({exc})") from None
    return _faq_sections(rows), ""


def _jsonl(data: bytes) -> tuple[list[Section], str]:
    rows = []
    for number, line in enumerate(decode_text(data).splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise IngestError(f"line {number} is not valid JSON ({exc.msg})") from None
        if not isinstance(record, dict) or "question" not in record or "answer" not in record:
            raise IngestError(f"line {number} needs 'question' and 'answer' fields")
        rows.append((str(record["question"]), str(record["answer"])))
    return _faq_sections(rows), ""


LOADERS = {
    "markdown": _markdown,
    "text": _plain_text,
    "html": _html,
    "pdf": _pdf,
    "docx": _docx,
    "csv": _csv,
    "jsonl": _jsonl,
}
