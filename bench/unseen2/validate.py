"""Sanity checks for the second unseen-document check (files only, no models, no bot).

    /work/main/.venv/bin/python bench/unseen2/validate.py

Standard library only; python-docx (for the .docx) and pypdf (for the .pdf) are imported lazily.

- questions.jsonl and followups.jsonl parse, have the required fields, and ids are unique;
- every `doc` named by an item exists in this folder;
- for every answerable item, at least one must_contain variant occurs in the text of its document
  (case-insensitive, whitespace collapsed; .docx paragraphs and table cells via python-docx, .pdf via
  pypdf, .html with tags stripped);
- each document is 300-900 words;
- each unanswerable item's key detail is absent (a list of regexes per id, searched in every document
  or only in the named one), as a guard against a fact that slipped into a document;
- variants of an answerable fact that also occur in other documents are listed as warnings.
Exit code 1 on any failure.
"""

import html
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC_SUFFIXES = {".md", ".txt", ".html", ".pdf", ".docx"}
NOT_DOCS = {"README.md"}

SKY = "skylark-mobile-price-guide.docx"
MAR = "marlow-printers-warranty-and-repairs.pdf"
CAL = "caldera-espresso-troubleshooting.html"
GRE = "greenpot-kitchen-faq.txt"
PUL = "pulse-yard-memberships.md"
SAL = "saltmarsh-ferries-booking-help.md"

# id -> list of (document or None for all documents, regex that must NOT match the normalised text)
ABSENT = {
    "u01": [(SKY, r"student"), (SKY, r"discount")],
    "u02": [(SAL, r"senior"), (SAL, r"pensioner"), (SAL, r"concession"), (SAL, r"over[- ]6\d"), (SAL, r"aged 6\d")],
    "u03": [(None, r"marseille")],
    "u04": [(None, r"platinum"), (PUL, r"gold"), (PUL, r"premium")],
    "u05": [(MAR, r"dr-34"), (MAR, r"lx340's drum"), (MAR, r"drum[^.]{0,40}(for|on|of|in) the lx340"),
            (MAR, r"lx340[^.]{0,120}drum unit")],
    "u06": [(None, r"\be-?7\b")],
    "u07": [(SKY, r"\b10 ?gb")],
    "u08": [(PUL, r"refer"), (PUL, r"bonus"), (PUL, r"bring a friend")],
    "u09": [(SAL, r"inchmore[^.]{0,80}\b0\d{3,4} ?\d{3}"), (SAL, r"inchmore (port|pier)? ?office")],
    "u10": [(SKY, r"family"), (SKY, r"multi-?sim"), (SKY, r"(additional|extra|second) sim")],
    "u11": [(CAL, r"duo[^.]{0,80}(€|eur) ?\d{3}"), (CAL, r"(€|eur) ?\d{3}"), (CAL, r"\bprice of the (uno|duo)")],
    "u12": [(None, r"lx380"), (None, r"lx3[0-9]0(?<!lx340)(?<!lx360)")],
    "u13": [(SAL, r"wi-?fi"), (SAL, r"internet")],
    "u14": [(SKY, r"24[- ]month"), (SKY, r"two-year"), (SKY, r"2-year")],
    "u15": [(CAL, r"descal[^.]{0,80}(workshop|service centre)"), (CAL, r"(workshop|service centre)[^.]{0,80}descal")],
    "u16": [(None, r"hiring"), (None, r"career"), (None, r"\bjobs\b"), (None, r"vacanc"), (None, r"recruit")],
    "u17": [(None, r"gift")],
    "u18": [(CAL, r"roast"), (CAL, r"arabica"), (CAL, r"robusta"), (CAL, r"blend"), (CAL, r"bean[^.]{0,60}recommend")],
    "u19": [(PUL, r"pool"), (PUL, r"swim"), (PUL, r"sauna")],
    "u20": [(SKY, r"roam[^.]{0,150}(usa|united states|america)"), (SKY, r"(usa|united states|america)[^.]{0,150}roam"),
            (SKY, r"rest of (the )?world roaming"), (SKY, r"roaming (outside|beyond) europe")],
    "u21": [(SAL, r"early[- ]booking"), (SAL, r"advance (fare|purchase|booking)"), (SAL, r"discount"),
            (SAL, r"save \d"), (SAL, r"\d+% off(?! all fares on the route)")],
    "f16": [(CAL, r"bordeaux[^+]{0,400}\+33"), (CAL, r"bordeaux[^.]{0,200}tel")],
    "f17": [(PUL, r"disab"), (PUL, r"pension"), (PUL, r"concession"), (PUL, r"health care card")],
}
TAGS = {"table", "list", "condition", "answer-referent"}


def norm(text: str) -> str:
    text = text.replace("\u00a0", " ").replace("\u202f", " ").replace("\u2019", "'")
    return re.sub(r"\s+", " ", text).strip().lower()


def doc_text(path: Path) -> str:
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    if path.suffix == ".docx":
        import docx

        d = docx.Document(str(path))
        parts = [p.text for p in d.paragraphs]
        for table in d.tables:
            for row in table.rows:
                parts.append(" | ".join(cell.text for cell in row.cells))
        return "\n".join(parts)
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S | re.I)
        return html.unescape(re.sub(r"<[^>]+>", " ", raw))
    return raw


def load_jsonl(name: str, failures: list) -> list:
    items = []
    for n, line in enumerate((HERE / name).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            items.append(json.loads(line))
        except json.JSONDecodeError as e:
            failures.append(f"{name}:{n}: not JSON ({e})")
    return items


def main() -> int:
    failures, warnings = [], []
    docs = {p.name: norm(doc_text(p)) for p in sorted(HERE.iterdir())
            if p.suffix in DOC_SUFFIXES and p.name not in NOT_DOCS}
    for name, text in docs.items():
        words = len(text.split())
        print(f"doc {name:42s} {words:5d} words")
        if not 300 <= words <= 900:
            failures.append(f"{name}: {words} words, outside 300-900")

    questions = load_jsonl("questions.jsonl", failures)
    followups = load_jsonl("followups.jsonl", failures)
    items = questions + followups
    ids = [q.get("id") for q in items]
    dup = sorted({i for i in ids if ids.count(i) > 1})
    if dup:
        failures.append(f"duplicate ids: {dup}")

    for q in items:
        qid = q.get("id")
        is_followup = q in followups
        need = {"id", "question", "answerable", "must_contain", "doc"} | ({"history"} if is_followup else set())
        if need - set(q):
            failures.append(f"{qid}: missing fields {sorted(need - set(q))}")
            continue
        if is_followup:
            hist = q["history"]
            if not 1 <= len(hist) <= 2 or any(t.get("role") != "user" or not t.get("content") for t in hist):
                failures.append(f"{qid}: history must be 1-2 user turns")
        if q["answerable"]:
            doc = q["doc"]
            if doc not in docs:
                failures.append(f"{qid}: doc {doc!r} is not in the folder")
                continue
            bad_tags = set(q.get("tags", [])) - TAGS
            if bad_tags:
                failures.append(f"{qid}: unknown tags {sorted(bad_tags)}")
            variants = [norm(v) for v in q["must_contain"]]
            if not variants or any(not v for v in variants):
                failures.append(f"{qid}: empty must_contain or empty variant")
            elif not any(v in docs[doc] for v in variants):
                failures.append(f"{qid}: no must_contain variant in {doc}: {q['must_contain']}")
            for other, text in docs.items():
                hits = [v for v in variants if other != doc and v in text]
                if hits:
                    warnings.append(f"{qid} ({doc}): {hits} also in {other}")
        else:
            if q["doc"] is not None or q["must_contain"] or not q.get("note") or "near_miss" not in q:
                failures.append(f"{qid}: unanswerable needs doc null, empty must_contain, near_miss and a note")
            if qid not in ABSENT:
                failures.append(f"{qid}: no absence check defined")
                continue
            for where, pat in ABSENT[qid]:
                for name, text in docs.items():
                    if where is not None and name != where:
                        continue
                    m = re.search(pat, text)
                    if m:
                        failures.append(f"{qid}: /{pat}/ found in {name}: "
                                        f"...{text[max(0, m.start() - 60):m.end() + 60]}...")

    ans = [q for q in questions if q["answerable"]]
    una = [q for q in questions if not q["answerable"]]
    tag = lambda t: sum(t in q.get("tags", []) for q in ans)
    print(f"questions: {len(ans)} answerable (table {tag('table')}, list {tag('list')}, "
          f"table-or-list {sum(bool({'table', 'list'} & set(q.get('tags', []))) for q in ans)}, "
          f"condition {tag('condition')}); {len(una)} unanswerable "
          f"({sum(q['near_miss'] for q in una)} near misses)")
    fa = [q for q in followups if q["answerable"]]
    print(f"followups: {len(followups)} ({len(fa)} answerable, "
          f"{sum('answer-referent' in q.get('tags', []) for q in fa)} refer to the earlier answer, "
          f"{len(followups) - len(fa)} unanswerable)")
    print("answerable per doc:", {d: sum(q["doc"] == d for q in ans + fa) for d in docs})
    for w in warnings:
        print("warning:", w)
    for f in failures:
        print("FAIL:", f)
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
