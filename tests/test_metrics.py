"""Evaluation metrics against hand-worked examples (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import pytest

from chatbot.evaluation import metrics
from chatbot.evaluation.dataset import Question, sample_questions
from chatbot.rag.citations import strip_citations


def test_squad_normalisation_drops_case_punctuation_articles():
    assert metrics.normalize_answer("An  Apple, the PEAR; a plum!") == "apple pear plum"
    assert metrics.tokens("It's on-screen.") == ["its", "onscreen"]


def test_token_f1_hand_worked():
    # pred [open, settings, menu] vs ref [open, general, settings, tab]: overlap {open, settings} = 2
    # precision 2/3, recall 2/4 -> F1 = 2 * (2/3) * (1/2) / (2/3 + 1/2) = (2/3) / (7/6) = 4/7
    assert metrics.token_f1("Open the Settings menu", ["open General settings tab"]) == pytest.approx(4 / 7)


def test_token_f1_takes_the_best_reference_and_ignores_empty_ones():
    # against "open settings menu" the prediction is exact -> 1.0, which beats 4/7
    assert metrics.token_f1("Open the Settings menu", ["open General settings tab", "open settings menu"]) == 1.0
    assert metrics.token_f1("anything", ["", "  "]) == 0.0
    assert metrics.token_f1("", ["reference"]) == 0.0


def test_token_f1_counts_repeated_words_once_per_occurrence():
    # pred [yes, yes, yes] vs ref [yes]: overlap min(3, 1) = 1 -> precision 1/3, recall 1 -> F1 = 0.5
    assert metrics.token_f1("yes yes yes", ["yes"]) == pytest.approx(0.5)


def test_lcs_and_rouge_l_hand_worked():
    # pred [press, home, then, select, settings]; ref [press, home, button, select, settings, menu]
    # LCS = [press, home, select, settings] = 4 -> P = 4/5, R = 4/6, F = 2PR/(P+R) = (32/30)/(44/30) = 8/11
    pred, ref = "Press Home then select Settings", "press the Home button, select Settings menu"
    assert metrics.lcs_length(metrics.tokens(pred), metrics.tokens(ref)) == 4
    assert metrics.rouge_l(pred, [ref]) == pytest.approx(8 / 11)
    assert metrics.rouge_l_recall(pred, [ref]) == pytest.approx(4 / 6)


def test_rouge_l_is_order_sensitive_unlike_f1():
    # [cable, power] vs [power, cable]: same bag (F1 = 1) but LCS 1 -> P = R = F = 1/2
    assert metrics.token_f1("cable power", ["power cable"]) == 1.0
    assert metrics.rouge_l("cable power", ["power cable"]) == pytest.approx(0.5)


def test_bleu_hand_worked():
    # pred [turn, tv, on, now] vs ref [turn, tv, on]
    # p1 = 3/4; p2 = (2+1)/(3+1) = 3/4; p3 = (1+1)/(2+1) = 2/3; p4 = (0+1)/(1+1) = 1/2
    # pred longer than ref -> brevity 1; BLEU = (3/4 * 3/4 * 2/3 * 1/2) ** (1/4) = (3/16) ** 0.25
    assert metrics.bleu("turn TV on now", ["turn the TV on"]) == pytest.approx((3 / 16) ** 0.25)


def test_bleu_brevity_penalty_and_no_unigram_match():
    # pred [tv] vs ref [turn, tv, on]: p1 = 1, p2..p4 = (0+1)/(0+1) = 1; brevity exp(1 - 3/1) = e^-2
    assert metrics.bleu("TV", ["turn TV on"]) == pytest.approx(math.exp(-2))
    assert metrics.bleu("radio", ["turn TV on"]) == 0.0
    # max over references: the exact one wins
    assert metrics.bleu("turn TV on", ["radio off", "turn TV on"]) == 1.0


def test_recall_and_mrr_at_k_hand_worked():
    ranked = ["d4", "d2", "d4", "d1", "d9"]  # one entry per retrieved chunk; d4 appears twice
    gold = ["d1", "d2"]
    assert metrics.recall_at_k(ranked, gold, 1) == 0.0  # top-1 is d4
    assert metrics.recall_at_k(ranked, gold, 2) == 0.5  # d2 found, d1 not yet
    assert metrics.recall_at_k(ranked, gold, 4) == 1.0  # both by rank 4
    assert metrics.hit_at_k(ranked, gold, 2) == 1.0
    assert metrics.mrr_at_k(ranked, gold, 10) == 0.5  # first gold at rank 2
    assert metrics.mrr_at_k(ranked, gold, 1) == 0.0
    assert metrics.recall_at_k(ranked, [], 5) == 0.0


def test_refusal_scores_hand_worked():
    # should refuse: [T, T, T, F, F, F]; refused: [T, T, F, T, F, F]
    # tp 2, fn 1, fp 1, tn 2 -> precision 2/3, recall 2/3, F1 = 2*2 / (2*2 + 1 + 1) = 4/6
    s = metrics.refusal_scores([True, True, True, False, False, False], [True, True, False, True, False, False])
    assert (s["tp"], s["fp"], s["fn"], s["tn"]) == (2, 1, 1, 2)
    assert s["precision"] == pytest.approx(2 / 3)
    assert s["recall"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx(2 / 3)


def test_refusal_scores_undefined_figures_are_none():
    # all answerable, nothing refused: no positives and no refusals -> all undefined
    s = metrics.refusal_scores([False, False], [False, False])
    assert (s["precision"], s["recall"], s["f1"]) == (None, None, None)
    # all answerable, one refused: precision 0/1 = 0, recall undefined, F1 = 0 / (0 + 1 + 0) = 0
    s = metrics.refusal_scores([False, False], [True, False])
    assert (s["precision"], s["recall"], s["f1"]) == (0.0, None, 0.0)
    with pytest.raises(ValueError):
        metrics.refusal_scores([True], [])


def test_best_threshold_hand_worked():
    # similarity [0.2, 0.3, 0.4, 0.6, 0.8], should refuse [T, F, T, F, F]
    # t = 0.3: declines 0.2 -> tp 1, fp 0, fn 1 -> F1 2/3;  t = 0.4: declines 0.2, 0.3 -> tp 1, fp 1, fn 1 -> 1/2
    # t = 0.6: declines 0.2, 0.3, 0.4 -> tp 2, fp 1, fn 0 -> F1 4/5 (the best);  t = 0.8: tp 2, fp 2 -> 2/3
    best = metrics.best_threshold([0.2, 0.3, 0.4, 0.6, 0.8], [True, False, True, False, False])
    assert best == {"min_relevance": 0.6, "f1": 0.8, "precision": pytest.approx(0.6667, abs=1e-4), "recall": 1.0}
    assert metrics.best_threshold([0.2, 0.9], [False, False]) is None  # no unanswerable item: nothing to choose
    assert metrics.best_threshold([0.2, 0.9], [True, True]) is None


def test_percentile_hand_worked():
    values = [10, 20, 30, 40, 50]
    # p50: rank 0.5 * 4 = 2 -> 30; p95: rank 3.8 -> 40 + 0.8 * 10 = 48
    assert metrics.percentile(values, 50) == 30
    assert metrics.percentile(values, 95) == pytest.approx(48)
    assert metrics.percentile([7], 95) == 7
    assert metrics.percentile([], 50) is None


def test_bootstrap_ci_is_seeded_and_brackets_the_mean():
    values = [0.0, 1.0] * 50  # mean 0.5; standard error sqrt(0.25/100) = 0.05 -> CI about 0.5 ± 0.1
    low, high = metrics.bootstrap_ci(values, seed=3)
    assert low < 0.5 < high
    assert 0.35 < low and high < 0.65
    assert metrics.bootstrap_ci(values, seed=3) == (low, high)
    assert metrics.bootstrap_ci([], seed=0) is None


def test_bootstrap_ci_of_a_custom_statistic():
    pairs = [(True, True)] * 5  # every resample is all true positives -> refusal F1 always 1
    assert metrics.bootstrap_ci(pairs, seed=0, stat=metrics.refusal_f1) == (1.0, 1.0)


def test_paired_bootstrap_detects_a_consistent_gap_and_not_a_null_one():
    a = [0.9, 0.8, 0.7, 0.9, 0.8] * 8
    b = [x - 0.2 for x in a]  # every item 0.2 better in a
    result = metrics.paired_bootstrap(a, b, seed=0)
    assert result.mean_diff == pytest.approx(0.2)
    assert result.ci[0] == pytest.approx(0.2) and result.ci[1] == pytest.approx(0.2)
    assert result.p == 0.0
    same = metrics.paired_bootstrap([1.0, 0.0] * 10, [0.0, 1.0] * 10, seed=0)  # mean diff 0
    assert same.mean_diff == 0.0 and same.p == 1.0
    assert same.ci[0] < 0 < same.ci[1]
    with pytest.raises(ValueError):
        metrics.paired_bootstrap([1.0], [], seed=0)


def test_strip_citations():
    assert strip_citations("Open Settings [1], then General [2, 3].") == "Open Settings , then General ."


def test_sample_keeps_the_answerable_mix_and_is_seeded():
    qs = [Question(str(i), "q", answerable=[True, True, True, False, None][i % 5]) for i in range(50)]
    # 30 true, 10 false, 10 null; a 10-sample gets 6 / 2 / 2
    picked = sample_questions(qs, 10, seed=7)
    assert [sum(q.answerable is v for q in picked) for v in (True, False, None)] == [6, 2, 2]
    assert picked == sample_questions(qs, 10, seed=7)
    assert [q.id for q in picked] == sorted((q.id for q in picked), key=int)  # dataset order kept
    assert sample_questions(qs, None, seed=0) == qs


def test_repetitive_catches_near_repeats_that_the_loop_metric_misses_and_spares_step_lists():
    """Answers seen from the closed-book arm on the TV manual: exact 4-gram repeats banned, near-repeats not."""
    from chatbot.evaluation.metrics import loops, repetitive

    near = ("Off Timer Off Timer Off Timer Off Time Off Timer Off Time. Sleep Timer Off Timer Sleep Time Off "
            "Timer Sleep Timer Off Time Sleep Timers Off Timer Sleep Timer Off Times Sleep Timer Off Timer.")
    steps = ("To schedule a recording, open the Guide, move to the program you want and press Select [1]. "
             "Choose Schedule Recording, then set the start and end times if you want to change them [1]. "
             "The recording appears in the Recordings list under Schedules, where you can edit or cancel it [2]. "
             "Make sure a USB drive of at least 32 GB is connected before the program starts [2].")
    assert repetitive(near) and not loops(near)
    assert not repetitive(steps) and not repetitive("")
