"""Sanity checks for the unseen-document check (files only, no models).

python bench/unseen/validate.py   (needs pypdf for the PDF; the project's .venv has it)

- every answerable question (and follow-up) names an existing document, and at least one of its
  must_contain variants occurs in that document's text (case-insensitive, whitespace collapsed);
- variants of the same fact found in *other* documents are listed as warnings (the fact should be
  stated in exactly one document; a shared string for a different fact is fine);
- each unanswerable question's key detail is absent from every document (a regex per question).
Exit code 1 on any failure.
"""

import csv
import html
import io
import json
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DOC_SUFFIXES = {".md", ".txt", ".html", ".pdf", ".csv"}

# Regexes that must NOT match any document, keyed by unanswerable id (searched in normalised text).
ABSENT = {
    "u01": [r"student"],
    "u02": [r"\bnm\b", r"newton"],
    "u03": [r"charger[^.\n]{0,80}€", r"€[^.\n]{0,40}charger"],
    "u04": [r"kickstand[^.\n]{0,80}warrant", r"warrant[^.\n]{0,80}kickstand"],
    "u05": [r"\bpsi\b", r"\d\s?bar\b", r"tyre pressure", r"tire pressure", r"inflat"],
    "u06": [r"\be-?15\b"],
    "u07": [r"step-?through", r"low[- ]step", r"low entry", r"frame shape"],
    "u08": [r"opening hours", r"\bopen(s|ing)? (from|at|daily|until)", r"showroom[^\n]{0,120}\d\d[:.]\d\d"],
    "u09": [r"paypal", r"credit card", r"\bvisa\b", r"mastercard", r"apple pay", r"klarna"],
    "u10": [r"insurance(?! report)"],
    "u11": [r"strava", r"komoot", r"garmin", r"apple health", r"google fit"],
    "u12": [r"hiring", r"career", r"\bjobs?\b", r"vacanc", r"recruit"],
    "u13": [r"bruges", r"brugge"],
    "u14": [r"change (your |the )?e-?mail", r"e-?mail address"],
    "u15": [r"newsletter", r"mailing list"],
    "u16": [r"\bgift"],
    "u17": [r"loyalty", r"points programme", r"reward"],
    "u18": [r"trade-?in", r"part[- ]exchange"],
    "u19": [r"helmet"],
}
# Also: the kickstand must not be named in the warranty document at all (u04).
ABSENT_IN_DOC = {"u04": ("warranty-and-repairs.pdf", [r"kickstand", r"\bstand\b"])}


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip().lower()


def doc_text(path: Path) -> str:
    if path.suffix == ".pdf":
        from pypdf import PdfReader

        return "\n".join(page.extract_text() or "" for page in PdfReader(str(path)).pages)
    raw = path.read_text(encoding="utf-8")
    if path.suffix == ".html":
        raw = re.sub(r"<(script|style)\b.*?</\1>", " ", raw, flags=re.S | re.I)
        return html.unescape(re.sub(r"<[^>]+>", " ", raw))
    if path.suffix == ".csv":
        rows = list(csv.DictReader(io.StringIO(raw)))
        assert rows and set(rows[0]) == {"question", "answer"}, "CSV needs columns question,answer"
        return "\n".join(f"{r['question']}\n{r['answer']}" for r in rows)
    return raw


def load_jsonl(name: str) -> list[dict]:
    return [json.loads(line) for line in (HERE / name).read_text(encoding="utf-8").splitlines() if line.strip()]


def main() -> int:
    docs = {p.name: norm(doc_text(p)) for p in sorted(HERE.iterdir()) if p.suffix in DOC_SUFFIXES}
    docs.pop("README.md", None)
    failures, warnings = [], []
    for name, text in docs.items():
        words = len(text.split())
        print(f"doc {name:34s} {words:5d} words")
        if not 300 <= words <= 1200:
            failures.append(f"{name}: {words} words, outside 300-1200")

    questions = load_jsonl("questions.jsonl")
    followups = load_jsonl("followups.jsonl")
    ids = [q["id"] for q in questions + followups]
    if len(ids) != len(set(ids)):
        failures.append("duplicate ids")

    for q in questions + followups:
        if not q["answerable"]:
            continue
        doc = q["doc"]
        if doc not in docs:
            failures.append(f"{q['id']}: unknown doc {doc}")
            continue
        variants = [norm(v) for v in q["must_contain"]]
        if not variants or not any(v in docs[doc] for v in variants):
            failures.append(f"{q['id']}: no must_contain variant found in {doc}: {q['must_contain']}")
        for other, text in docs.items():
            hits = [v for v in variants if other != doc and v in text]
            if hits:
                warnings.append(f"{q['id']} ({doc}): {hits} also in {other}")
        if q in followups and (len(q["history"]) != 1 or q["history"][0]["role"] != "user"):
            failures.append(f"{q['id']}: history must be exactly one user turn")

    for q in questions:
        if q["answerable"]:
            continue
        if q["doc"] is not None or q["must_contain"] or not q.get("note"):
            failures.append(f"{q['id']}: unanswerable needs doc null, empty must_contain and a note")
        patterns = ABSENT.get(q["id"])
        if not patterns:
            failures.append(f"{q['id']}: no absence check defined")
            continue
        for name, text in docs.items():
            for pat in patterns:
                m = re.search(pat, text)
                if m:
                    failures.append(f"{q['id']}: /{pat}/ found in {name}: ...{text[max(0, m.start() - 60):m.end() + 60]}...")
        if q["id"] in ABSENT_IN_DOC:
            name, pats = ABSENT_IN_DOC[q["id"]]
            for pat in pats:
                if re.search(pat, docs[name]):
                    failures.append(f"{q['id']}: /{pat}/ found in {name}")

    per_doc = {d: sum(1 for q in questions if q["doc"] == d) for d in docs}
    answerable = sum(q["answerable"] for q in questions)
    print(f"answerable {answerable}, unanswerable {len(questions) - answerable}, followups {len(followups)}")
    print("answerable per doc:", per_doc)
    if min(per_doc.values()) < 4:
        failures.append("a document has fewer than 4 answerable questions")
    for w in warnings:
        print("warning:", w)
    for f in failures:
        print("FAIL:", f)
    print("OK" if not failures else f"{len(failures)} failure(s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
