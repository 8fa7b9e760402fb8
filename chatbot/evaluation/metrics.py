"""Evaluation metrics as small pure functions: answer overlap (token-F1, ROUGE-L, BLEU), ranking
(recall@k, MRR@k), refusal (precision/recall/F1), percentiles and bootstrap intervals.

Every text metric scores a prediction against several references and keeps the best score, because a
question may have more than one acceptable answer. Texts are compared after SQuAD normalisation, so
case, punctuation and articles never decide a score."""

from __future__ import annotations

import math
import re
import string
import zlib
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar

import numpy as np

from chatbot.rag.citations import strip_citations
from chatbot.rag.keyword import STOPWORDS

T = TypeVar("T")

_ARTICLES = re.compile(r"\b(a|an|the)\b")
_PUNCT = set(string.punctuation)


# --- text normalisation ------------------------------------------------------------------------
def normalize_answer(text: str) -> str:
    """SQuAD normalisation: lower case, drop punctuation and articles, collapse whitespace.

    >>> normalize_answer("The  Wi-Fi menu, in Settings!")
    'wifi menu in settings'
    """
    text = "".join(c for c in text.lower() if c not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def tokens(text: str) -> list[str]:
    """Normalised word tokens.

    >>> tokens("Press the Home button.")
    ['press', 'home', 'button']
    """
    return normalize_answer(text).split()


def _best_over_references(pred: str, refs: Sequence[str], score: Callable[[list[str], list[str]], float]) -> float:
    """The best `score(pred tokens, reference tokens)` over the non-empty references; 0.0 without any."""
    pred_tokens = tokens(pred)
    return max((score(pred_tokens, tokens(r)) for r in refs if r and r.strip()), default=0.0)


# --- token F1 ----------------------------------------------------------------------------------
def _f1_single(pred: list[str], ref: list[str]) -> float:
    if not pred or not ref:
        return float(pred == ref)
    common = sum((Counter(pred) & Counter(ref)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(pred), common / len(ref)
    return 2 * precision * recall / (precision + recall)


def token_f1(pred: str, refs: Sequence[str]) -> float:
    """SQuAD token-F1 of `pred`, the best over the non-empty references (0.0 when there are none).

    pred "press the home button" -> [press, home, button]; ref "Press Home" -> [press, home]:
    overlap 2, precision 2/3, recall 2/2, F1 = 2*(2/3)*1/(2/3+1) = 0.8.

    >>> round(token_f1("press the home button", ["Press Home", "unrelated"]), 3)
    0.8
    """
    return _best_over_references(pred, refs, _f1_single)


# --- ROUGE-L -----------------------------------------------------------------------------------
def lcs_length(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common subsequence (dynamic programming, one row at a time).

    >>> lcs_length("a b c d".split(), "a c x d".split())
    3
    """
    if not a or not b:
        return 0
    if len(a) < len(b):
        a, b = b, a
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b, start=1):
            cur.append(prev[j - 1] + 1 if x == y else max(prev[j], cur[j - 1]))
        prev = cur
    return prev[-1]


def _rouge_l_single(pred: list[str], ref: list[str]) -> tuple[float, float, float]:
    """(precision, recall, F1) of the LCS between one prediction and one reference."""
    lcs = lcs_length(pred, ref)
    if lcs == 0:
        return 0.0, 0.0, 0.0
    precision, recall = lcs / len(pred), lcs / len(ref)
    return precision, recall, 2 * precision * recall / (precision + recall)


def rouge_l(pred: str, refs: Sequence[str]) -> float:
    """ROUGE-L F-measure (beta = 1), the best over the references.

    pred [open, settings, general] vs ref [open, general, menu]: LCS [open, general] = 2,
    precision 2/3, recall 2/3, F = 2/3.

    >>> round(rouge_l("Open Settings, General", ["open the General menu"]), 4)
    0.6667
    """
    return _best_over_references(pred, refs, lambda p, r: _rouge_l_single(p, r)[2])


def rouge_l_recall(pred: str, refs: Sequence[str]) -> float:
    """ROUGE-L recall: the share of the reference covered by the LCS, the best over the references.
    Suits references that are whole manual paragraphs, where a correct short answer has low precision.

    pred [open, general] vs ref [open, settings, general, menu]: LCS 2 of 4 reference words = 0.5.

    >>> rouge_l_recall("Open General", ["open Settings general menu"])
    0.5
    """
    return _best_over_references(pred, refs, lambda p, r: _rouge_l_single(p, r)[1])


# --- BLEU --------------------------------------------------------------------------------------
def _ngrams(words: Sequence[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(words[i : i + n]) for i in range(len(words) - n + 1))


def _bleu_single(pred: list[str], ref: list[str], max_n: int) -> float:
    if not pred or not ref:
        return 0.0
    log_total = 0.0
    for n in range(1, max_n + 1):
        pred_grams = _ngrams(pred, n)
        matches = sum((pred_grams & _ngrams(ref, n)).values())
        total = sum(pred_grams.values())
        if n == 1:
            if matches == 0:
                return 0.0
            log_total += math.log(matches / total)
        else:  # add-one smoothing (Lin & Och 2004, "BLEU+1") so one missing 4-gram doesn't zero the score
            log_total += math.log((matches + 1) / (total + 1))
    brevity = 1.0 if len(pred) > len(ref) else math.exp(1 - len(ref) / len(pred))
    return brevity * math.exp(log_total / max_n)


def bleu(pred: str, refs: Sequence[str], max_n: int = 4) -> float:
    """Smoothed sentence BLEU up to `max_n`-grams (BLEU+1), the best over the references.

    pred = ref = [press, home, button] (3 words): 1-grams 3/3; 2-grams (2+1)/(2+1); 3-grams (1+1)/(1+1);
    4-grams (0+1)/(0+1); brevity penalty 1 (equal lengths) -> BLEU = 1.0.
    pred [press, home] vs ref [press, home, button]: p1 = 2/2, p2 = (1+1)/(1+1), p3 = p4 = 1/1;
    brevity exp(1 - 3/2) = 0.6065 -> BLEU = 0.6065.

    >>> bleu("Press Home button", ["press the home button"])
    1.0
    >>> round(bleu("press home", ["press home button"]), 4)
    0.6065
    """
    return _best_over_references(pred, refs, lambda p, r: _bleu_single(p, r, max_n))


# --- reference coverage ------------------------------------------------------------------------
def content_tokens(text: str) -> set[str]:
    """The distinct normalised tokens of `text` that carry content: SQuAD normalisation, then the
    retriever's stop words dropped (chatbot/rag/keyword.py); all normalised tokens when only stop words
    are left ("How do I?"), so no non-empty text has nothing to find.

    >>> sorted(content_tokens("Press the Home button on your remote."))
    ['button', 'home', 'press', 'remote']
    """
    words = set(tokens(text))
    return (words - STOPWORDS) or words


def token_coverage(text: str, refs: Sequence[str]) -> float:
    """The share of a reference's content tokens that occur anywhere in `text`, the best over the
    non-empty references (0.0 without any): does the text hold the reference fact, word for word?

    ref "Hold reset for 10 seconds" -> {hold, reset, 10, seconds}; the text holds hold, reset and 10: 0.75.

    >>> token_coverage("Hold the pinhole reset button for 10 s.", ["Hold reset for 10 seconds", "x"])
    0.75
    """
    have = set(tokens(text))
    best = 0.0
    for ref in refs:
        wanted = content_tokens(ref)
        if wanted:
            best = max(best, len(wanted & have) / len(wanted))
    return best


# --- ranking -----------------------------------------------------------------------------------
def loops(text: str, n: int = 4, times: int = 3) -> bool:
    """Whether an answer repeats some word n-gram at least `times` times: the mark of a model stuck in a
    loop ("1 year, 10 years, 20 years, ...").

    >>> loops("for 1 year, for 10 years, for 20 years, for 30 years"), loops("Refunds take 5 days [1].")
    (False, False)
    >>> loops("call us now and call us now and call us now and call us now")
    True
    """
    words = tokens(strip_citations(text))
    return any(count >= times for count in _ngrams(words, n).values())


def compression_ratio(text: str) -> float:
    """Bytes of the text over bytes of its zlib compression: ~1 for a short answer, ~1.5-2 for long prose,
    well above 2.4 for text that keeps coming back to the same words (Whisper flags its own transcripts
    above 2.4 as repetitive). 0 for empty text.

    >>> compression_ratio("")
    0.0
    >>> compression_ratio("Refunds take 5-10 business days to appear on your statement.") < 1.5
    True
    """
    data = text.encode()
    return len(data) / len(zlib.compress(data)) if data else 0.0


def repetitive(text: str, threshold: float = 2.4) -> bool:
    """Whether an answer keeps circling back to the same phrases, even where no 4-gram comes back three times
    (`loops`): a model whose exact repeats are banned slides into near-repeats ("Schedule Program Schedule
    Recording Schedule Program Schedule Recordings ..."). Measured as `compression_ratio` above `threshold`.

    >>> repetitive("Schedule Program Schedule Recording Schedule Program Schedule Recordings Schedule Program "
    ...            "Schedule Program Schedule Recording Schedule Programs Schedule Recording Schedule Program")
    True
    >>> repetitive("To reset the hub, hold the button on its back for ten seconds until the light blinks "
    ...            "blue, then set it up again in the app [1].")
    False
    """
    return compression_ratio(strip_citations(text)) > threshold


def distinct(ids: Sequence[str]) -> list[str]:
    """The ids in order of first appearance, each once.

    >>> distinct(["d3", "d1", "d3", "d2", "d1"])
    ['d3', 'd1', 'd2']
    """
    return list(dict.fromkeys(ids))


def recall_at_k(ranked_doc_ids: Sequence[str], gold_ids: Sequence[str] | set[str], k: int) -> float:
    """Share of the gold documents found among the first `k` retrieved items (0.0 without gold).

    `ranked_doc_ids` may repeat a document (one entry per retrieved chunk): the first k *chunks* count.

    >>> recall_at_k(["d3", "d1", "d3", "d2"], ["d1", "d2"], 3)
    0.5
    """
    gold = set(gold_ids)
    if not gold:
        return 0.0
    return len(gold & set(ranked_doc_ids[:k])) / len(gold)


def hit_at_k(ranked_doc_ids: Sequence[str], gold_ids: Sequence[str] | set[str], k: int) -> float:
    """1.0 when any gold document is among the first `k` items ("success@k"), else 0.0.

    >>> hit_at_k(["d3", "d1"], ["d1", "d2"], 2), hit_at_k(["d3", "d1"], ["d1", "d2"], 1)
    (1.0, 0.0)
    """
    return float(bool(set(gold_ids) & set(ranked_doc_ids[:k])))


def mrr_at_k(ranked_doc_ids: Sequence[str], gold_ids: Sequence[str] | set[str], k: int) -> float:
    """Reciprocal rank of the first gold item within the first `k` (0.0 when none is there).

    >>> mrr_at_k(["d3", "d3", "d1"], ["d1"], 10), mrr_at_k(["d3", "d1"], ["d1"], 1)
    (0.3333333333333333, 0.0)
    """
    gold = set(gold_ids)
    for rank, doc_id in enumerate(ranked_doc_ids[:k], start=1):
        if doc_id in gold:
            return 1.0 / rank
    return 0.0


# --- refusal -----------------------------------------------------------------------------------
def refusal_scores(should_refuse: Sequence[bool], refused: Sequence[bool]) -> dict[str, float | int | None]:
    """Precision, recall and F1 of declining, with "should refuse" (answerable == false) as positives.

    Undefined figures are None, not 0: precision when nothing was refused, recall when nothing should
    have been, F1 (= 2tp / (2tp + fp + fn)) when there is neither a positive nor a refusal.
    gold [T, T, F, F], refused [T, F, T, F]: tp 1, fp 1, fn 1, tn 1 -> precision = recall = f1 = 0.5.

    >>> s = refusal_scores([True, True, False, False], [True, False, True, False]); s["f1"], s["tn"]
    (0.5, 1)
    """
    if len(should_refuse) != len(refused):
        raise ValueError("should_refuse and refused must have the same length")
    pairs = list(zip(should_refuse, refused, strict=True))
    tp = sum(bool(g and p) for g, p in pairs)
    fp = sum(bool(p and not g) for g, p in pairs)
    fn = sum(bool(g and not p) for g, p in pairs)
    tn = len(pairs) - tp - fp - fn
    return {"precision": tp / (tp + fp) if tp + fp else None,
            "recall": tp / (tp + fn) if tp + fn else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fp + fn else None,
            "tp": tp, "fp": fp, "fn": fn, "tn": tn}


def best_threshold(similarity: Sequence[float], should_refuse: Sequence[bool]) -> dict[str, float] | None:
    """The relevance threshold t for which "decline when similarity < t" scores the best refusal F1
    over these items (ties: the lowest t), with its precision and recall; None without both classes.
    Chosen on the items it is scored on, so the F1 is optimistic.

    similarity [0.2, 0.5, 0.35, 0.7], should_refuse [T, F, T, F]: t = 0.5 declines 0.2 and 0.35 -> F1 1.0.

    >>> best_threshold([0.2, 0.5, 0.35, 0.7], [True, False, True, False])
    {'min_relevance': 0.5, 'f1': 1.0, 'precision': 1.0, 'recall': 1.0}
    """
    if len(similarity) != len(should_refuse):
        raise ValueError("similarity and should_refuse must have the same length")
    if all(should_refuse) or not any(should_refuse):
        return None
    best: dict[str, float] | None = None
    for t in sorted(set(similarity)) + [max(similarity) + 1e-9]:
        s = refusal_scores(should_refuse, [x < t for x in similarity])
        if s["f1"] is not None and (best is None or s["f1"] > best["f1"]):
            best = {"min_relevance": round(t, 4), "f1": round(float(s["f1"]), 4),
                    "precision": round(float(s["precision"] or 0.0), 4), "recall": round(float(s["recall"] or 0.0), 4)}
    return best


def refusal_f1(pairs: Sequence[tuple[bool, bool]]) -> float:
    """Refusal F1 of (should_refuse, refused) pairs, 0.0 when undefined: the statistic to bootstrap.

    >>> refusal_f1([(True, True), (False, False)]), refusal_f1([(False, False)])
    (1.0, 0.0)
    """
    f1 = refusal_scores([g for g, _ in pairs], [p for _, p in pairs])["f1"]
    return float(f1) if f1 is not None else 0.0


# --- distributions -----------------------------------------------------------------------------
def percentile(values: Sequence[float], p: float) -> float | None:
    """The `p`-th percentile with linear interpolation between ranks (numpy's default); None if empty.

    [1, 2, 3, 4]: p50 sits at rank 0.5*3 = 1.5 -> 2.5; p95 at rank 2.85 -> 3 + 0.85*(4-3) = 3.85.

    >>> percentile([4, 1, 3, 2], 50), round(percentile([1, 2, 3, 4], 95), 2)
    (2.5, 3.85)
    """
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return float(ordered[low] + (ordered[high] - ordered[low]) * (rank - low))


def mean(values: Sequence[float]) -> float | None:
    """Arithmetic mean; None for no values (a metric that could not be measured is not zero).

    >>> mean([1, 2]), mean([])
    (1.5, None)
    """
    return float(sum(values) / len(values)) if values else None


def bootstrap_ci(values: Sequence[T], seed: int, n: int = 1000,
                 stat: Callable[[list[T]], float] | None = None,
                 level: float = 0.95) -> tuple[float, float] | None:
    """Percentile-bootstrap interval (default 95%) of `stat` (default: the mean) over `values`.

    Resamples the items with replacement `n` times with a seeded generator, so a report is reproducible.
    `stat` lets one bootstrap a figure that is not a mean, e.g. refusal F1 over (gold, predicted) pairs.
    Every resample of a constant list has the same mean, so the interval collapses to that value:

    >>> bootstrap_ci([0.5, 0.5, 0.5], seed=0)
    (0.5, 0.5)
    """
    if not values:
        return None
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(n, len(values)))
    if stat is None:
        stats = np.asarray(values, dtype=float)[picks].mean(axis=1)
    else:
        items = list(values)
        stats = np.asarray([stat([items[i] for i in row]) for row in picks], dtype=float)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(stats, [tail, 100 - tail])
    return float(low), float(high)


@dataclass(frozen=True)
class PairedResult:
    """Arm a minus arm b on the same items: mean difference, its interval and a bootstrap p-value."""

    n: int
    mean_diff: float
    ci: tuple[float, float]
    p: float

    def to_dict(self, digits: int = 4) -> dict[str, float | int | list[float]]:
        return {"n": self.n, "mean_diff": round(self.mean_diff, digits),
                "ci": [round(x, digits) for x in self.ci], "p": round(self.p, digits)}


def paired_bootstrap(a: Sequence[float], b: Sequence[float], seed: int, n: int = 1000,
                     level: float = 0.95) -> PairedResult:
    """Compare two arms scored on the same items: mean of a - b, its bootstrap interval, and `p`, twice
    the share of resampled mean differences on the other side of zero from the observed one (a
    bootstrap two-sided p-value, capped at 1). A small p and an interval excluding 0 mean a real gap.

    a = [1, 1, 1], b = [0, 0, 0]: every difference is 1, so mean 1, interval [1, 1], p 0.

    >>> paired_bootstrap([1, 1, 1], [0, 0, 0], seed=0)
    PairedResult(n=3, mean_diff=1.0, ci=(1.0, 1.0), p=0.0)
    """
    if len(a) != len(b):
        raise ValueError("paired_bootstrap needs scores of the same items in the same order")
    if not a:
        return PairedResult(0, 0.0, (0.0, 0.0), 1.0)
    diffs = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    observed = float(diffs.mean())
    rng = np.random.default_rng(seed)
    means = diffs[rng.integers(0, len(diffs), size=(n, len(diffs)))].mean(axis=1)
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(means, [tail, 100 - tail])
    if observed > 0:
        share = float((means <= 0).mean())
    elif observed < 0:
        share = float((means >= 0).mean())
    else:
        share = 0.5
    return PairedResult(len(diffs), observed, (float(low), float(high)), min(1.0, 2 * share))
