"""Sanity checks for the third unseen-document check (files only, no models, no bot).

    /work/main/.venv/bin/python bench/unseen3/validate.py

Standard library only; python-docx (for the .docx) and pypdf (for the .pdf) are imported lazily.

- questions.jsonl and followups.jsonl parse, have the required fields, ids are unique and use the
  prefixes b (answerable), v (unanswerable) and g (follow-ups);
- every `doc` named by an item exists in this folder, and the folder holds no other file with an
  extension the checker indexes (.md .txt .pdf .html .csv .docx; README.md excluded);
- for every answerable item, at least one must_contain variant occurs in the text of its document
  (case-insensitive, whitespace collapsed; .docx paragraphs and table cells via python-docx, .pdf via
  pypdf, .html with tags stripped);
- each document is 600-1500 words;
- each unanswerable item's key detail is absent (a list of regexes per id, searched in every document
  or only in the named one), as a guard against a fact that slipped into a document;
- the counts the set promises (>=55 answerable, >=25 table/list, >=20 condition, >=20 unanswerable with
  >=15 near misses, >=15 follow-ups of which 2-3 unanswerable) hold;
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

HOL = "hollybrook-pet-insurance-policy-guide.docx"
TAL = "talweg-car-hire-rental-terms.pdf"
HAR = "harbourline-fibre-plans-and-installation.html"
COR = "coralbay-dental-faq.txt"
TAV = "tavola-home-delivery-and-returns.md"
LED = "ledger-house-coworking-guide.md"
MIN_WORDS, MAX_WORDS = 600, 1500
INDEXED = {".md", ".txt", ".pdf", ".html", ".csv", ".docx"}  # what bench/unseen_check.py indexes

# id -> list of (document or None for all documents, regex that must NOT match the normalised text)
ABSENT = {
    "v01": [(TAL, r"lugano[^.]{0,200}\+41"), (TAL, r"lugano[^.]{0,200}phone \+")],
    "v02": [(None, r"hereditary"), (None, r"dysplasia"), (HOL, r"\bhips?\b"), (HOL, r"congenital")],
    "v03": [(LED, r"ottawa[^.]{0,200}\(\d{3}\)"), (LED, r"\(613\)")],
    "v04": [(LED, r"6-person office: (?!toronto only)"), (LED, r"montr[ée]al[^.]{0,60}6-person")],
    "v05": [(TAL, r"weekend")],
    "v06": [(HAR, r"second (ont|socket|fibre socket)"), (HAR, r"(extra|additional|another) (ont|socket|fibre socket)"),
            (HAR, r"mov(e|ing) the ont")],
    "v07": [(None, r"fibre 50\b")],
    "v08": [(COR, r"\bcrowns?\b")],
    "v09": [(None, r"invisalign"), (None, r"aligner"), (COR, r"orthodont"), (COR, r"braces")],
    "v10": [(TAV, r"sofa[^.|]{0,60}€"), (TAV, r"(costs?|priced at|from) €\d{3}")],
    "v11": [(LED, r"6-person room"), (LED, r"6-person meeting"), (LED, r"six-person")],
    "v12": [(None, r"geneva"), (None, r"genf\b"), (None, r"genève")],
    "v13": [(HOL, r"vaccin"), (HOL, r"\bfleas?\b"), (HOL, r"worming"), (HOL, r"preventive|preventative|routine care")],
    "v14": [(LED, r"mbps"), (LED, r"wi-?fi[^.]{0,40}\d+ ?(mb|gb)")],
    "v15": [(LED, r"car park"), (LED, r"parking")],
    "v16": [(COR, r"medicare"), (COR, r"bulk[- ]bill")],
    "v17": [(HAR, r"(extra|additional|third|single) (mesh )?unit"), (HAR, r"per unit")],
    "v18": [(TAV, r"student")],
    "v19": [(None, r"hiring"), (None, r"career"), (None, r"\bjobs?\b"), (None, r"vacanc"), (None, r"recruit")],
    "v20": [(HAR, r"netflix"), (HAR, r"\btv\b"), (HAR, r"streaming")],
    "v21": [(LED, r"wedding"), (LED, r"\bevents?\b"), (LED, r"venue")],
    "v22": [(COR, r"\bgift"), (COR, r"voucher")],
    "v23": [(HOL, r"travel insurance"), (HOL, r"\bhumans?\b"), (HOL, r"cover for you\b")],
    "g16": [(COR, r"chermside[^;]{0,80}\(0\d\)"), (COR, r"chermside[^;]{0,80}\d{4} \d{4}")],
    "g17": [(TAL, r"zero excess[^.]{0,80}(week|per rental)"), (TAL, r"chf \d+ (per|a) week")],
    "g18": [(LED, r"senior"), (LED, r"pension"), (LED, r"retire")],
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
        if not MIN_WORDS <= words <= MAX_WORDS:
            failures.append(f"{name}: {words} words, outside {MIN_WORDS}-{MAX_WORDS}")
    stray = sorted(p.name for p in HERE.iterdir() if p.suffix in INDEXED and p.name not in NOT_DOCS
                   and p.suffix not in DOC_SUFFIXES)
    if stray:
        failures.append(f"files the checker would index but this set does not expect: {stray}")

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
        prefix = "g" if is_followup else ("b" if q.get("answerable") else "v")
        if not re.fullmatch(prefix + r"\d{2}", str(qid)):
            failures.append(f"{qid}: id should be {prefix}NN")
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
    fu = [q for q in followups if not q["answerable"]]
    for label, value, ok in [
        ("answerable questions", len(ans), len(ans) >= 55),
        ("table/list items", sum(bool({"table", "list"} & set(q.get("tags", []))) for q in ans),
         sum(bool({"table", "list"} & set(q.get("tags", []))) for q in ans) >= 25),
        ("condition items", tag("condition"), tag("condition") >= 20),
        ("unanswerable questions", len(una), len(una) >= 20),
        ("near misses", sum(q["near_miss"] for q in una), sum(q["near_miss"] for q in una) >= 15),
        ("follow-ups", len(followups), len(followups) >= 15),
        ("unanswerable follow-ups", len(fu), 2 <= len(fu) <= 3),
    ]:
        if not ok:
            failures.append(f"count: {label} = {value}")
    for w in warnings:
        print("warning:", w)
    for f in failures:
        print("FAIL:", f)
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
