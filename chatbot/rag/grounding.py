"""How well an answer is supported by the retrieved text, and citations for sentences the model left
uncited. Small models often answer correctly without writing [n]; attributing each sentence to the
source it overlaps most keeps every answer traceable to a document."""

from __future__ import annotations

import re
from collections.abc import Sequence

from chatbot.rag.citations import CITATION
from chatbot.rag.keyword import tokenize
from chatbot.rag.sentences import split_sentences


def content_tokens(text: str) -> set[str]:
    return set(tokenize(CITATION.sub(" ", text)))


def support(answer: str, texts: Sequence[str]) -> float:
    """Share of the answer's content words that appear in the retrieved texts (0..1).

    >>> support("Refunds take 5 days.", ["Refunds are paid within 5 business days."])
    0.75
    """
    words = content_tokens(answer)
    if not words or not texts:
        return 0.0
    seen = set().union(*(content_tokens(t) for t in texts))
    return round(len(words & seen) / len(words), 4)


def add_citations(answer: str, texts: Sequence[str], min_overlap: float = 0.5) -> str:
    """Append [n] to each uncited sentence whose content words overlap source n by at least `min_overlap`.

    >>> add_citations("It costs $79. Blue is nice.", ["The lantern costs $79.", "Shipping is free."])
    'It costs $79 [1]. Blue is nice.'
    """
    if not texts:
        return answer
    source_words = [content_tokens(t) for t in texts]
    out = []
    for sentence in split_sentences(answer.strip()):
        words = content_tokens(sentence)
        if CITATION.search(sentence) or not words:
            out.append(sentence)
            continue
        scores = [len(words & sw) / len(words) for sw in source_words]
        best = max(range(len(scores)), key=scores.__getitem__)
        if scores[best] >= min_overlap:
            match = re.match(r"^(.*?)([.!?]*)$", sentence, re.DOTALL)
            body, end = (match.group(1), match.group(2)) if match else (sentence, "")
            sentence = f"{body.rstrip()} [{best + 1}]{end}"
        out.append(sentence)
    return " ".join(out)


# A figure as written in an answer or a document: 18, 3,190, 19.2, 10:00, with its currency sign when it has
# one (€4 is not supported by "4 hours"); thousands separators dropped.
_FIGURE = re.compile(r"(?<![\w.,])[€$£]?\s?\d+(?:[.,:]\d+)*")
_LIST_NUMBER = re.compile(r"(?m)^\s*\d+[.)]\s")


def _figures(text: str) -> set[str]:
    out = set()
    for match in _FIGURE.finditer(text):
        figure = match.group().rstrip(".,:").replace(" ", "")
        out.add(re.sub(r"(?<=\d),(?=\d{3}\b)", "", figure))  # 3,190 -> 3190; 19,2 stays
    return out


def unsupported_figures(answer: str, texts: Sequence[str]) -> set[str]:
    """Figures (prices, times, sizes, counts) the answer states that none of the texts contains: a small
    model asked for a detail the documents lack tends to invent one ("The charger costs €4"). Citation
    markers and the numbers of a numbered list don't count.

    >>> sorted(unsupported_figures("It costs €3,190 and weighs 26 kg [1].", ["Price: €3190. Weight: 26 kg."]))
    []
    >>> sorted(unsupported_figures("The charger costs €4 [2].\\n1. Open the app", ["Charge for 4 hours."]))
    ['€4']
    """
    return _unsupported(answer, _known_figures(texts))


def _known_figures(texts: Sequence[str]) -> set[str]:
    return set().union(*(_figures(t) for t in texts)) if texts else set()


def _unsupported(text: str, known: set[str]) -> set[str]:
    return _figures(_LIST_NUMBER.sub(" ", CITATION.sub(" ", text))) - known


def drop_unsupported(answer: str, texts: Sequence[str]) -> str:
    """The answer without what states a figure none of the texts contains: a sentence is cut before its
    first clause that does ("5200 mAh, which is 10% more" keeps "5200 mAh."), and dropped when that is its
    first clause; "" when nothing is left. `texts` are the retrieved chunks and the question.

    >>> drop_unsupported("Returns are free [1]. The fee is €4 [1].", ["Returns are free within 30 days."])
    'Returns are free [1].'
    >>> drop_unsupported("It has 5200 mAh, which is 10% more [1].", ["A 5200 mAh battery."])
    'It has 5200 mAh.'
    """
    known = _known_figures(texts)  # the texts' figures, read once for every sentence and clause
    if not _unsupported(answer, known):
        return answer
    kept = []
    for sentence in split_sentences(answer.strip()):
        if not _unsupported(sentence, known):
            kept.append(sentence)
            continue
        clauses = re.split(r"(?<=[,;])\s+|\s+(?=\()", sentence)
        good: list[str] = []
        for clause in clauses:
            if _unsupported(clause, known):
                break
            good.append(clause)
        head = " ".join(good).rstrip(" ,;")
        if any(c.isalnum() for c in CITATION.sub("", head)):
            kept.append(head if head.endswith((".", "!", "?")) else head + ".")
    return " ".join(kept).strip()
