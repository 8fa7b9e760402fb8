"""Loaders per format, and refusal of files that can't be indexed, each with a reason."""

from __future__ import annotations

import json

import pytest

from chatbot.ingest import IngestError, load, safe_name
from chatbot.ingest.loaders import doc_id_for
from tests import files

MD = b"""# Refund Policy

Intro text about refunds.

## Timelines

Refunds are paid within 5 business days.

### Card payments

Card refunds show up after 3 days.
"""


def test_markdown_keeps_heading_paths():
    doc = load("refund-policy.md", MD)
    assert doc.title == "Refund Policy"
    assert doc.doc_type == "markdown"
    headings = [s.heading for s in doc.sections]
    assert headings == ["Refund Policy", "Refund Policy > Timelines", "Refund Policy > Timelines > Card payments"]
    assert "3 days" in doc.sections[-1].text


def test_html_drops_scripts_and_styles():
    html = b"""<html><head><title>Site | Help</title><style>p{color:red}</style></head><body>
    <h1>Shipping</h1><script>alert('x')</script><p>We ship in 2 days.</p>
    <h2>Costs</h2><ul><li>Standard: $5</li><li>Express: $15</li></ul></body></html>"""
    doc = load("shipping.html", html)
    assert doc.title == "Shipping"
    text = doc.text
    assert "alert" not in text and "color" not in text
    assert "We ship in 2 days." in text and "Express: $15" in text
    assert doc.sections[-1].heading == "Shipping > Costs"


def test_html_table_rows_stay_whole():
    """Each table row is one line whose cells are named by their column headers, so a row quoted alone
    still says which column each value belongs to (a cell per line lost that)."""
    html = b"""<html><body><h1>Compare bikes</h1><table><caption>Specs</caption>
    <tr><th>Spec</th><th>Metro</th><th>Trail</th></tr>
    <tr><td>Range</td><td><p>80 km</p></td><td>110 | 120 km</td></tr></table><p>After the table.</p></body></html>"""
    lines = load("bikes.html", html).text.splitlines()
    assert lines == ["Specs", "Spec: Range | Metro: 80 km | Trail: 110 / 120 km", "After the table."]


def test_plain_text_title_and_sections():
    doc = load("faq.txt", b"Wi-Fi help\n\nResetting the hub\nHold the button for 10 seconds.\n\nOther\nCall us.")
    assert doc.title == "Wi-Fi help"
    assert doc.sections[0].heading == "Resetting the hub"


def test_csv_and_jsonl_faq_rows_become_sections():
    csv_doc = load("faq.csv", b'question,answer\n"How much is Plus?","$4.99 a month, billed monthly."\n')
    assert csv_doc.sections[0].heading == "How much is Plus?"
    assert "4.99" in csv_doc.sections[0].text
    rows = [{"question": "Do you ship to Canada?", "answer": "Yes, in 5-8 days."}]
    jsonl_doc = load("faq.jsonl", "\n".join(json.dumps(r) for r in rows).encode())
    assert jsonl_doc.sections[0].text == "Q: Do you ship to Canada?\nA: Yes, in 5-8 days."


def test_pdf_pages_and_docx_headings():
    pdf = load("guide.pdf", files.pdf_bytes(["Page one text about pairing.", "Page two about resets."]))
    assert [s.page for s in pdf.sections] == [1, 2]
    assert "resets" in pdf.sections[1].text
    docx_doc = load("guide.docx", files.docx_bytes("Camera guide", {"Night vision": "Turn on IR in Settings."}))
    assert docx_doc.title == "Camera guide"
    assert docx_doc.sections[-1].heading == "Camera guide > Night vision"


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "utf-16", "latin-1"])
def test_text_encodings(encoding):
    doc = load("cafe.md", "# Café menu\n\nCrème brûlée costs €5.".encode(encoding) if encoding != "latin-1"
               else "# Café menu\n\nCrème brûlée costs 5 EUR.".encode(encoding))
    assert doc.title == "Café menu"
    assert "Crème brûlée" in doc.text


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.md", b"", "empty"),
        ("blank.md", b"   \n\n  ", "no text"),
        ("broken.pdf", b"%PDF-1.7\n this is not really a pdf", "corrupt"),
        ("fake.pdf", b"hello, I am text", "not a valid PDF"),
        ("notzip.docx", b"plain text pretending to be docx", "not a zip"),
        ("blob.md", bytes(range(256)) * 20, "binary"),
        ("image.png", b"\x89PNG\r\n\x1a\n" + b"\0" * 100, "binary"),
        ("data.xyz", b"some text", "unsupported file type"),
        ("faq.csv", b"question,answer\n", "no text"),
        ("faq.jsonl", b'{"question": "x", "answer": "y"}\nnot json\n', "line 2"),
    ],
)
def test_bad_files_are_refused_with_a_reason(name, data, reason):
    with pytest.raises(IngestError) as err:
        load(name, data)
    assert reason in str(err.value)


def test_truncated_encrypted_scanned_and_bomb_files_are_refused():
    good = files.pdf_bytes(["Some text"] * 3)
    with pytest.raises(IngestError, match="corrupt"):
        load("cut.pdf", good[: len(good) // 3])
    with pytest.raises(IngestError, match="password"):
        load("locked.pdf", files.encrypted_pdf("secret text"))
    with pytest.raises(IngestError, match="no text found"):
        load("scan.pdf", files.image_only_pdf())
    with pytest.raises(IngestError, match="zip bomb"):
        load("bomb.docx", files.zip_bomb_docx())


def test_safe_names_and_stable_ids():
    assert safe_name("../../x.md") == "x.md"
    assert safe_name("a\x00b\nc.md") == "a_b_c.md"
    long = safe_name("n" * 300 + ".md")
    assert len(long) <= 120 and long.endswith(".md")
    assert doc_id_for("Refund Policy.md") == doc_id_for("refund-policy.md") == "refund-policy"
    assert load("x.md", MD).sha256 == load("x.md", MD).sha256
