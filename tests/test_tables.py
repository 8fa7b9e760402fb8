"""Tables keep their headers in every loader: each row reaches a chunk as one line that names its cells'
columns ("Plan: Drivo Plus | Per minute: €0.28 | Monthly fee: €9"), wherever the table sits in the
document, so a row cut off from the table's first line by a chunk boundary or the excerpt selector still
says what its numbers mean."""

from __future__ import annotations

import csv
import io

from chatbot.ingest import load, split
from chatbot.ingest.split import body_of
from chatbot.rag.evidence import ExcerptSelector, units
from chatbot.rag.keyword import KeywordIndex
from chatbot.types import Document

HEADER = ["Plan", "Per minute", "Monthly fee"]
# Drivo Plus, then enough rows that the table runs over several 300-character chunks
ROWS = [["Drivo Go", "€0.35", "€0"], ["Drivo Plus", "€0.28", "€9"]] + [
    [f"Fleet {n}", f"€0.{n:02d}", f"€{n * 10}"] for n in range(10, 30)
]
PLUS = "Plan: Drivo Plus | Per minute: €0.28 | Monthly fee: €9"
LAST = "Plan: Fleet 29 | Per minute: €0.29 | Monthly fee: €290"
BEFORE = "Our plans are billed by the minute."
AFTER = "Students pay the Go fee on any plan."


def assert_rows_keep_their_headers(doc: Document) -> None:
    """The table sits between two paragraphs; each row is a whole line naming its columns; a row landing
    in a later chunk than the table's first row still names them."""
    lines = doc.text.splitlines()
    assert PLUS in lines and LAST in lines
    assert lines.index(BEFORE) < lines.index(PLUS) < lines.index(LAST) < lines.index(AFTER)
    assert not any(line.replace(" ", "") == "|".join(HEADER).replace(" ", "") for line in lines)
    chunks = split(doc, chunk_size=300, overlap=50)
    first = next(i for i, c in enumerate(chunks) if PLUS in body_of(c).splitlines())
    last = next(i for i, c in enumerate(chunks) if LAST in body_of(c).splitlines())
    assert last > first
    assert "Drivo Go" not in body_of(chunks[last])  # the table's first row is not in the later chunk...
    assert all(line.startswith("Plan: Fleet ") and "| Per minute: €0." in line and "| Monthly fee: €" in line
               for line in body_of(chunks[last]).splitlines() if "Fleet" in line)  # ...every row there names them


def test_html_table_rows_name_their_columns():
    cells = "".join(f"<th>{h}</th>" for h in HEADER)
    rows = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in ROWS)
    html = (f"<html><body><h1>Drivo rates</h1><p>{BEFORE}</p><table><thead><tr>{cells}</tr></thead>"
            f"<tbody>{rows}</tbody></table><p>{AFTER}</p></body></html>")
    assert_rows_keep_their_headers(load("rates.html", html.encode()))


def test_html_header_without_th_rowspan_colspan_and_key_value_tables():
    html = b"""<html><body><h1>Errors</h1><table><tr><td>Code</td><td>Meaning</td><td>What to do</td></tr>
    <tr><td rowspan="2">E-221</td><td>Update failed</td><td>Wait and retry</td></tr>
    <tr><td>Wi-Fi lost</td><td>Check the router</td></tr>
    <tr><td>E-900</td><td colspan="2">Hardware fault: contact support</td></tr></table>
    <table><tr><th>Phone</th><td>0800 123 456</td></tr><tr><th>Hours</th><td>9:00-17:00</td></tr></table>
    </body></html>"""
    lines = load("errors.html", html).text.splitlines()
    assert lines == [
        "Code: E-221 | Meaning: Update failed | What to do: Wait and retry",
        "Code: E-221 | Meaning: Wi-Fi lost | What to do: Check the router",  # the rowspan repeated
        "Code: E-900 | Meaning: Hardware fault: contact support",
        "Phone: 0800 123 456",  # no header row: a two-column table reads as key: value
        "Hours: 9:00-17:00",
    ]


def docx_with_table(rows: list[list[str]]) -> bytes:
    import docx

    document = docx.Document()
    document.add_heading("Drivo fee sheet", level=1)
    document.add_heading("Rates", level=2)
    document.add_paragraph(BEFORE)
    table = document.add_table(rows=len(rows), cols=len(rows[0]))
    for r, row in enumerate(rows):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    document.add_paragraph(AFTER)
    document.add_heading("Deposits", level=2)
    deposits = document.add_table(rows=2, cols=2)
    for r, (key, value) in enumerate([("Deposit", "€100"), ("Card fee", "€5 once")]):
        deposits.cell(r, 0).text, deposits.cell(r, 1).text = key, value
    buf = io.BytesIO()
    document.save(buf)
    return buf.getvalue()


def test_docx_table_rows_name_their_columns_in_document_order():
    doc = load("fees.docx", docx_with_table([HEADER, *ROWS]))
    rates, deposits = doc.sections
    assert rates.heading == "Drivo fee sheet > Rates" and deposits.heading == "Drivo fee sheet > Deposits"
    assert deposits.text.splitlines() == ["Deposit: €100", "Card fee: €5 once"]  # under its own heading
    assert_rows_keep_their_headers(doc)


def pdf_with_table(rows: list[list[str]]) -> bytes:
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    buf = io.BytesIO()
    SimpleDocTemplate(buf, pagesize=A4, title="Drivo rates").build([
        Paragraph("Drivo rates", styles["Heading1"]),
        Paragraph(BEFORE, styles["BodyText"]),
        Table(rows, style=TableStyle([("GRID", (0, 0), (-1, -1), 0.5, colors.grey)])),
        Paragraph(AFTER, styles["BodyText"]),
    ])
    return buf.getvalue()


def test_pdf_table_rows_name_their_columns():
    assert_rows_keep_their_headers(load("rates.pdf", pdf_with_table([HEADER, *ROWS])))


def test_pdf_wrapped_cells_join_their_row_and_lists_are_not_tables():
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import getSampleStyleSheet
    from reportlab.platypus import ListFlowable, ListItem, Paragraph, SimpleDocTemplate, Table, TableStyle

    styles = getSampleStyleSheet()
    long = "Charged per started hour when the car comes back after the booked end time of the trip."
    for valign in ("TOP", "BOTTOM"):
        buf = io.BytesIO()
        SimpleDocTemplate(buf, pagesize=A4).build([
            Table([["Fee", "Amount", "When"], ["Late return", "€25", Paragraph(long, styles["BodyText"])],
                   ["Cleaning", "€50", "Car left dirty."]], colWidths=[100, 60, 200],
                  style=TableStyle([("VALIGN", (0, 0), (-1, -1), valign)])),
            ListFlowable([ListItem(Paragraph(t, styles["BodyText"])) for t in ("Open the app.", "Tap Trips.",
                                                                               "Tap Cancel.")]),
        ])
        lines = load("fees.pdf", buf.getvalue()).text.splitlines()
        assert f"Fee: Late return | Amount: €25 | When: {long}" in lines, valign
        assert "Fee: Cleaning | Amount: €50 | When: Car left dirty." in lines
        assert "Open the app." in [line.lstrip("1 ") for line in lines]  # a numbered list stays a list


def test_csv_table_rows_name_their_columns():
    buf = io.StringIO()
    csv.writer(buf).writerows([HEADER, *ROWS])
    doc = load("rates.csv", buf.getvalue().encode())
    lines = doc.text.splitlines()
    assert PLUS in lines and LAST in lines and len(lines) == len(ROWS)
    chunks = split(doc, chunk_size=300, overlap=50)
    assert LAST in body_of(chunks[-1]).splitlines() and PLUS not in chunks[-1].text
    # spreadsheet exports in Europe separate with ";", and a CSV FAQ is still an FAQ
    semi = load("rates.csv", "Plan;Per minute\nDrivo Plus;€0,28\n".encode()).text
    assert semi == "Plan: Drivo Plus | Per minute: €0,28"
    assert load("faq.csv", b"question,answer\nHow much?,Nine euros.\n").text == "Q: How much?\nA: Nine euros."


def test_markdown_table_rows_name_their_columns():
    table = ["| " + " | ".join(HEADER) + " |", "|:---|---:|---:|"] + ["| " + " | ".join(r) + " |" for r in ROWS]
    md = "\n".join(["# Drivo rates", "", BEFORE, "", *table, "", AFTER, "", "```", *table[:3], "```"])
    doc = load("rates.md", md.encode())
    assert_rows_keep_their_headers(doc)
    assert "|:---|---:|---:|" in doc.text  # a table inside a code block is left as written


def test_plain_text_aligned_table_rows_name_their_columns():
    text = "\n".join(["Drivo rates", "", BEFORE, ""] + [f"{a:<14}{b:<14}{c}" for a, b, c in [HEADER, *ROWS]]
                     + ["", AFTER])
    assert_rows_keep_their_headers(load("rates.txt", text.encode()))


def test_a_row_longer_than_a_chunk_is_cut_between_cells_and_each_part_names_its_row():
    header = ["Plan"] + [f"Note {n}" for n in range(8)]
    row = ["Drivo Plus"] + [f"note {n} says something about the plan in several words" for n in range(8)]
    doc = load("notes.csv", "\n".join(",".join(r) for r in (header, row)).encode())
    bodies = [body_of(c) for c in split(doc, chunk_size=200, overlap=0)]
    assert len(bodies) > 1
    assert all(body.startswith("Plan: Drivo Plus | Note ") and len(body) <= 200 for body in bodies)
    assert "Note 7: note 7 says" in bodies[-1]


def test_the_excerpt_selector_keeps_a_row_whole_with_its_headers(embeddings):
    chunk = "Drivo rates\nWe bill per minute.\nPlan: Drivo Plus | Per minute: €0.28 | Notes: No deposit. Free parking."
    assert [u.text for u in units(chunk)[1]] == ["We bill per minute.", chunk.splitlines()[2]]
    doc = load("fees.docx", docx_with_table([HEADER, *ROWS]))
    texts = [c.text for c in split(doc, chunk_size=300, overlap=50)]
    question = "whats the per minute price with drivo plus"
    excerpts = ExcerptSelector(embeddings, KeywordIndex.of_texts(texts).idf).select(question, texts, 200)
    assert any(PLUS in e.splitlines() for e in excerpts)
