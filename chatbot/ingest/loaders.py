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
from chatbot.ingest.tables import OpenTable, aligned_tables, is_table_row, markdown_tables, table_lines
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


def _outside_code(lines: list[str], convert) -> list[str]:
    """`lines` with `convert` applied to each stretch outside ``` code fences."""
    out: list[str] = []
    stretch: list[str] = []
    in_code = False
    for line in lines:
        if line.lstrip().startswith("```"):
            if not in_code:
                out.extend(convert(stretch))
                stretch = []
            in_code = not in_code
            out.append(line)
        elif in_code:
            out.append(line)
        else:
            stretch.append(line)
    return out + convert(stretch)


def _markdown(data: bytes) -> tuple[list[Section], str]:
    text = "\n".join(_outside_code(decode_text(data).splitlines(), markdown_tables))
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
    """First non-empty line is the title; a short line without final punctuation starts a section. Tables
    (Markdown ones, or columns lined up with spaces) become one line per row (chatbot/ingest/tables.py)."""
    lines = aligned_tables(markdown_tables(decode_text(data).splitlines()))[0]
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
                and len(first.split()) <= 10 and not is_table_row(first):
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


# A table is one block: one line per row, each cell named by its column's header ("Plan: Drivo Plus | Per
# minute: €0.28"), so a row quoted on its own still says which column each value is in (tables.py).
BLOCK_TAGS = ["h1", "h2", "h3", "h4", "h5", "h6", "p", "li", "pre", "table", "caption", "dt", "dd", "blockquote",
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
    block_set = set(BLOCK_TAGS)
    for el in body.find_all(BLOCK_TAGS):
        if any(parent.name in block_set for parent in el.parents):
            continue
        if el.name == "table":
            text = "\n".join(_html_table(el))
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


def _span(value) -> int:
    try:
        return max(1, min(int(str(value).strip()), 50))
    except ValueError:
        return 1


def _html_table(table) -> list[str]:
    """A <table> as its caption, then one line per row (`table_lines`). Cells spread over several columns
    (colspan) stay in their first column; cells spread over several rows (rowspan) are repeated in each,
    so every row line is whole. The first row is the header when its cells are all <th> (or it sits in
    <thead>), otherwise when it reads like one.

    >>> from bs4 import BeautifulSoup
    >>> table = BeautifulSoup("<table><tr><th>Plan</th><th>Per minute</th></tr><tr><td>Plus</td><td>€0.28</td>"
    ...                       "</tr><tr><td>Go</td><td>€0.35</td></tr></table>", "html.parser")
    >>> _html_table(table.table)
    ['Plan: Plus | Per minute: €0.28', 'Plan: Go | Per minute: €0.35']
    """
    lines = [c.get_text(" ", strip=True) for c in table.find_all("caption") if c.find_parent("table") is table]
    grid: list[list[str]] = []
    carried: dict[int, tuple[int, str]] = {}  # column -> (rows still spanned, text) from a rowspan above
    rows = [tr for tr in table.find_all("tr") if tr.find_parent("table") is table]
    for tr in rows:
        row: list[str] = []

        def carry() -> None:
            while len(row) in carried:
                left, text = carried.pop(len(row))
                if left > 1:
                    carried[len(row)] = (left - 1, text)
                row.append(text)

        for cell in tr.find_all(["td", "th"], recursive=False):
            carry()
            text = cell.get_text(" ", strip=True)
            rowspan = _span(cell.get("rowspan"))
            for k in range(_span(cell.get("colspan"))):
                if rowspan > 1:
                    carried[len(row)] = (rowspan - 1, text if k == 0 else "")
                row.append(text if k == 0 else "")
        carry()
        grid.append(row)
    header = None
    if rows:
        first = rows[0].find_all(["td", "th"], recursive=False)
        if first and (all(c.name == "th" for c in first) or rows[0].find_parent("thead") is not None):
            header = True
    return [line for line in lines if line] + table_lines(grid, header=header)


def _pdf(data: bytes) -> tuple[list[Section], str]:
    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    try:
        reader = PdfReader(io.BytesIO(data))
        if reader.is_encrypted and not reader.decrypt(""):
            raise IngestError("the PDF is password-protected")
        title = (reader.metadata.title if reader.metadata else None) or ""
        sections = []
        open_table: OpenTable | None = None  # a table running over to the next page
        for number, page in enumerate(reader.pages, start=1):
            text, open_table = _pdf_page_text(page, open_table)
            sections.append(Section("", text, page=number))
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


def _pdf_page_text(page, carried: OpenTable | None = None) -> tuple[str, OpenTable | None]:
    """A page's text, with each table's rows as `table_lines`; and the table left open at its end.

    pypdf's plain extraction gives a table's cells one per line ("Drivo Plus\n€0.28\n€9"). Its layout
    mode keeps the page's columns as runs of spaces, and `aligned_tables` finds runs of lines whose cells
    line up in columns (where the layout ran two cells together, the plain text's line break cuts them): a
    page with one is read in layout mode (spaces outside the tables collapsed), any other page in plain
    mode as before. A table running to the end of a page carries its header over to
    rows in the same columns at the top of the next. Limits: a table whose columns are not two spaces or
    more apart in layout mode, or do not line up, stays as plain text (its cells one per line); a table of
    fewer than three lines is not taken for one; a cell wrapping onto several lines is joined to the row
    above it, or to the row below when it reads as the start of that row's cell (bottom-aligned cells); a
    header cell wrapping above the header line is lost; a table with no header row is given as its cells
    joined by " | " ("Key: value" for two columns); on a page with a table, prose set in two columns side
    by side is read across both columns."""
    text = page.extract_text() or ""
    try:
        laid_out = page.extract_text(extraction_mode="layout") or ""
    except Exception:  # layout mode trips on some fonts and drawings: plain text is still good
        return text, None
    lines = ["".join(c for c in line if not unicodedata.category(c).startswith("C")) for line in laid_out.splitlines()]
    pieces = {line.strip() for line in text.splitlines()}
    lines, found, open_table = aligned_tables(lines, carried=carried, pieces=pieces)
    return ("\n".join(" ".join(line.split()) for line in lines), open_table) if found else (text, None)


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
    from docx.table import Table

    for para in document.iter_inner_content():  # paragraphs and tables, in document order
        if isinstance(para, Table):
            buf.extend(_docx_table(para))
            continue
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
    if buf:
        sections.append(Section(" > ".join(path), "\n".join(buf)))
    return sections, title


def _docx_table(table) -> list[str]:
    """A python-docx table as one line per row (`table_lines`). A cell merged over several columns counts
    once, in its first column; one merged over several rows is repeated in each. The first row is the
    header when Word marks it as one (repeated on every page) or all its text is bold, otherwise when it
    reads like one."""
    from docx.oxml.ns import qn

    try:
        grid: list[list[str]] = []
        for row in table.rows:
            cells, last = [""] * row.grid_cols_before, None
            for cell in row.cells:
                cells.append("" if cell._tc is last else cell.text)
                last = cell._tc
            grid.append(cells)
        header = None
        if table.rows:
            first = table.rows[0]
            runs = [r for c in first.cells for p in c.paragraphs for r in p.runs if r.text.strip()]
            if first._tr.find(f"{qn('w:trPr')}/{qn('w:tblHeader')}") is not None or runs and all(r.bold for r in runs):
                header = True
    except Exception:  # python-docx can trip on malformed tables: keep their text, one row per line
        return [" | ".join(c.text.strip() for c in row.cells if c.text.strip()) for row in table.rows]
    return table_lines(grid, header=header)


def _faq_sections(rows: list[tuple[str, str]]) -> list[Section]:
    return [Section(q.strip(), f"Q: {q.strip()}\nA: {a.strip()}") for q, a in rows if q.strip() and a.strip()]


def _csv(data: bytes) -> tuple[list[Section], str]:
    """A CSV with 'question' and 'answer' columns is an FAQ (one section per row); any other CSV is a table
    whose first row is the header: one line per row, "Plan: Drivo Plus | Per minute: €0.28" (tables.py).
    Comma-separated unless the header row says otherwise (";", tab or "|", as spreadsheet exports use)."""
    text = decode_text(data)
    try:
        reader = csv.DictReader(io.StringIO(text))
        fields = {f.strip().lower(): f for f in (reader.fieldnames or []) if f}
        if "question" in fields and "answer" in fields:
            rows = [(r.get(fields["question"]) or "", r.get(fields["answer"]) or "") for r in reader]
            return _faq_sections(rows), ""
        dialect: type[csv.Dialect] | csv.Dialect = csv.excel
        if len(reader.fieldnames or []) < 2:
            try:
                dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t|")
            except csv.Error:
                pass
        table = list(csv.reader(io.StringIO(text), dialect))
    except csv.Error as exc:
        raise IngestError(f"malformed CSV ({exc})") from None
    return [Section("", "\n".join(table_lines(table, header=True)))], ""


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
