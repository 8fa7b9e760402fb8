"""Turn a harness report into files people read: results.jsonl (one line per question, every arm's
answer and scores), report.json (the report dict), report.md (tables) and PNG charts (quality vs
latency, recall@k, refusal confusion). Also the short text table the CLI prints."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from chatbot.evaluation.dataset import Question

CHARTS = ("quality_latency.png", "recall_at_k.png", "refusal_confusion.png")


def fmt(value: Any, digits: int = 3) -> str:
    """A table cell: numbers rounded, missing figures as an en dash.

    >>> fmt(0.87654), fmt(None), fmt(12)
    ('0.877', '–', '12')
    """
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def fmt_ci(ci: Sequence[float] | None) -> str:
    """`[low, high]` of an interval, or nothing.

    >>> fmt_ci([0.5, 0.75]), fmt_ci(None)
    ('[0.500, 0.750]', '')
    """
    return f"[{ci[0]:.3f}, {ci[1]:.3f}]" if ci else ""


# --- plain-text and Markdown tables --------------------------------------------------------------
SUMMARY_COLUMNS: tuple[tuple[str, str, str], ...] = (
    ("R@1", "retrieval", "recall@1"), ("R@5", "retrieval", "recall@5"), ("R@10", "retrieval", "recall@10"),
    ("MRR@10", "retrieval", "mrr@10"), ("F1", "answer", "token_f1"), ("RL", "answer", "rouge_l"),
    ("RL-rec", "answer", "rouge_l_recall"), ("BLEU", "answer", "bleu"), ("refuse-F1", "refusal", "f1"),
    ("ttft p50", "latency", "ttft_p50"), ("total p50", "latency", "total_p50"),
    ("total p95", "latency", "total_p95"), ("tok/s", "latency", "tokens_per_s"),
    ("loops", "", "repeat_share"),  # share of answers repeating a 4-gram 3+ times (section "": top level)
    ("repetitive", "", "repetitive_share"),  # share whose compression ratio is above 2.4 (near-repeats too)
)


def arm_figure(block: dict[str, Any], section: str, key: str) -> Any:
    """One figure of an arm's report block: `block[section][key]`, or `block[key]` when `section` is ""
    (figures kept at the arm's top level, such as the loop shares); None when absent.

    >>> block = {"answer": {"token_f1": 0.3}, "repeat_share": 0.0}
    >>> arm_figure(block, "answer", "token_f1"), arm_figure(block, "", "repeat_share"), arm_figure(block, "x", "y")
    (0.3, 0.0, None)
    """
    return (block.get(section) or {}).get(key) if section else block.get(key)


def summary_rows(report: dict[str, Any]) -> list[list[str]]:
    """One row per arm with the headline figures, in SUMMARY_COLUMNS order."""
    rows = []
    for arm, block in report["arms"].items():
        row = [arm]
        for _, section, key in SUMMARY_COLUMNS:
            row.append(fmt(arm_figure(block, section, key)))
        rows.append(row)
    return rows


def text_table(report: dict[str, Any]) -> str:
    """The short table `chatbot eval` prints.

    >>> print(text_table({"dataset": "d", "n": 0, "arms": {}, "skipped": {"base": "no model"}}))
    d: 0 questions
    arm
    skipped base: no model
    """
    header = ["arm", *(name for name, _, _ in SUMMARY_COLUMNS)] if report["arms"] else ["arm"]
    rows = [header, *summary_rows(report)]
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    lines = [f"{report['dataset']}: {report['n']} questions"]
    lines += ["  ".join(cell.rjust(w) if i else cell.ljust(w) for i, (cell, w) in enumerate(zip(r, widths,
              strict=True))).rstrip() for r in rows]
    lines += [f"skipped {arm}: {why}" for arm, why in (report.get("skipped") or {}).items()]
    return "\n".join(lines)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """A GitHub Markdown table.

    >>> print(markdown_table(["a", "b"], [["1", "2"]]))
    | a | b |
    |---|---|
    | 1 | 2 |
    """
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def markdown_report(report: dict[str, Any]) -> str:
    """report.md: headline table, intervals, refusal, paired comparisons, slices, charts."""
    setup = report.get("setup", {})
    parts = [f"# Evaluation: {report['dataset']}", "",
             f"{report['n']} questions (answerable mix {setup.get('answerable_mix')}), "
             f"seed {setup.get('seed')}, "
             f"model `{setup.get('chat_model')}`, max_new_tokens {setup.get('max_new_tokens')}, "
             f"top_k {setup.get('top_k')}, min_relevance {setup.get('min_relevance')}; "
             f"{setup.get('documents_indexed')} documents / {setup.get('chunks')} chunks indexed.", "",
             "## Summary", "",
             markdown_table(["arm", *(n for n, _, _ in SUMMARY_COLUMNS)], summary_rows(report)), ""]
    for arm, why in (report.get("skipped") or {}).items():
        parts.append(f"- **{arm} skipped**: {why}")
    parts += ["", "## 95% bootstrap intervals", ""]
    rows = [[arm, key, fmt_ci(ci)] for arm, block in report["arms"].items()
            for key, ci in block["ci"].items()]
    parts += [markdown_table(["arm", "metric", "95% CI"], rows), ""]
    parts += ["## Refusal", "",
              "Positives: `answerable == false`; `null` (underspecified) items separately.", ""]
    rows = [[arm, fmt(r["precision"]), fmt(r["recall"]), fmt(r["f1"]), str(r["confusion"]),
             fmt(r["refused_rate_answerable"]), f"{r['null']['n']} / {fmt(r['null']['refused_rate'])}"]
            for arm, r in ((arm, b["refusal"]) for arm, b in report["arms"].items())]
    parts += [markdown_table(["arm", "precision", "recall", "F1", "confusion", "refused (answerable)",
                              "null: n / refused"], rows), ""]
    for arm, block in report["arms"].items():
        if best := block["refusal"].get("threshold"):
            parts.append(f"- {arm}: declining only by the relevance gate would have scored best at "
                         f"`CHATBOT_MIN_RELEVANCE={best['min_relevance']}` (refusal F1 {fmt(best['f1'])}, precision "
                         f"{fmt(best['precision'])}, recall {fmt(best['recall'])}; chosen on these questions, so "
                         "optimistic: check it on held-out questions before setting it).")
    parts.append("")
    parts += paired_section(report.get("paired") or {})
    parts += slices_section(report.get("slices") or {})
    parts += ["## Charts", ""] + [f"![{name}]({name})" for name in CHARTS] + [""]
    return "\n".join(parts)


def paired_section(paired: dict[str, Any]) -> list[str]:
    if not paired:
        return []
    rows = [[pair, metric, fmt(r["mean_diff"]), fmt_ci(r["ci"]), fmt(r["p"]), str(r["n"])]
            for pair, block in paired.items() for metric, r in block.items()]
    return ["## Paired comparisons (a − b, same items)", "",
            markdown_table(["arms", "metric", "mean diff", "95% CI", "p", "n"], rows), ""]


def slices_section(slices: dict[str, Any]) -> list[str]:
    if not slices:
        return []
    out = ["## Slices", ""]
    for key, values in slices.items():
        rows = []
        for value, row in values.items():
            for arm, figures in row.items():
                if arm == "n":
                    continue
                rows.append([f"{key}={value}", str(row["n"]), arm, *(fmt(figures[m]) for m in
                            ("recall@5", "mrr@10", "token_f1", "rouge_l_recall", "refused_rate"))])
        out += [markdown_table(["slice", "n", "arm", "R@5", "MRR@10", "F1", "RL-rec", "refused"], rows), ""]
    return out


# --- files ---------------------------------------------------------------------------------------
def result_lines(questions: Sequence[Question],
                 per_arm: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """One record per question: the question, its references and every arm's answer and scores."""
    lines = []
    for pos, q in enumerate(questions):
        lines.append({"id": q.id, "question": q.question, "history_turns": len(q.history),
                      "reference": q.answer, "alt_answers": list(q.alt_answers), "answerable": q.answerable,
                      "gold_ids": list(q.gold_ids), "tags": q.tag_dict,
                      "arms": {arm: items[pos] for arm, items in per_arm.items()}})
    return lines


def write_outputs(report: dict[str, Any], questions: Sequence[Question],
                  per_arm: dict[str, list[dict[str, Any]]], out_dir: Path) -> list[Path]:
    """Write results.jsonl, report.json, report.md and the charts into `out_dir`; returns the paths."""
    out_dir.mkdir(parents=True, exist_ok=True)
    results = out_dir / "results.jsonl"
    with results.open("w", encoding="utf-8") as handle:
        for line in result_lines(questions, per_arm):
            handle.write(json.dumps(line, ensure_ascii=False) + "\n")
    (out_dir / "report.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    (out_dir / "report.md").write_text(markdown_report(report))
    return [results, out_dir / "report.json", out_dir / "report.md", *write_charts(report, out_dir)]


def read_report(out_dir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What `write_outputs` wrote: the report dict and the per-question lines of results.jsonl."""
    report = json.loads((out_dir / "report.json").read_text())
    results = out_dir / "results.jsonl"
    lines = results.read_text().splitlines() if results.is_file() else []
    return report, [json.loads(line) for line in lines if line.strip()]


def write_charts(report: dict[str, Any], out_dir: Path) -> list[Path]:
    """The three PNG charts (matplotlib, headless)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for name, draw in zip(CHARTS, (_quality_latency, _recall_curve, _refusal_confusion), strict=True):
        fig = draw(plt, report)
        path = out_dir / name
        fig.savefig(path, dpi=110, bbox_inches="tight")
        plt.close(fig)
        paths.append(path)
    return paths


def _quality_latency(plt: Any, report: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for arm, block in report["arms"].items():
        x = block["latency"]["total_p50"]
        for key, marker in (("token_f1", "o"), ("rouge_l_recall", "s")):
            y = block["answer"].get(key)
            if x is not None and y is not None:
                ax.scatter([x], [y], marker=marker, label=f"{arm} {key}")
                ax.annotate(arm, (x, y), textcoords="offset points", xytext=(5, 5))
    ax.set_xlabel("total latency p50 (s)")
    ax.set_ylabel("answer quality")
    ax.set_ylim(0, 1)
    ax.set_title(f"Quality vs latency — {report['dataset']}")
    if ax.collections:
        ax.legend(fontsize=8)
    return fig


def _recall_curve(plt: Any, report: dict[str, Any]) -> Any:
    fig, ax = plt.subplots(figsize=(5.5, 4))
    for arm, curve in (report.get("retrieval_curve") or {}).items():
        ks = range(1, len(curve["recall"]) + 1)
        ax.plot(ks, [v if v is not None else float("nan") for v in curve["recall"]], marker="o",
                label=f"{arm} recall@k")
        ax.plot(ks, [v if v is not None else float("nan") for v in curve["hit"]], linestyle="--",
                label=f"{arm} hit@k")
    ax.set_xlabel("k (retrieved documents)")
    ax.set_ylabel("share")
    ax.set_ylim(0, 1.02)
    ax.set_title(f"Recall@k — {report['dataset']}")
    if ax.lines:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "no retrieval arm", ha="center", transform=ax.transAxes)
    return fig


def _refusal_confusion(plt: Any, report: dict[str, Any]) -> Any:
    arms = list(report["arms"])
    fig, axes = plt.subplots(1, max(1, len(arms)), figsize=(3.2 * max(1, len(arms)), 3.2), squeeze=False)
    for ax, arm in zip(axes[0], arms, strict=False):
        c = report["arms"][arm]["refusal"]["confusion"]
        grid = [[c["tp"], c["fn"]], [c["fp"], c["tn"]]]
        ax.imshow(grid, cmap="Blues")
        top = max(max(row) for row in grid) or 1
        for i in range(2):
            for j in range(2):
                ax.text(j, i, str(grid[i][j]), ha="center", va="center",
                        color="white" if grid[i][j] > top / 2 else "black")
        ax.set_xticks([0, 1], ["refused", "answered"])
        ax.set_yticks([0, 1], ["unanswerable", "answerable"])
        ax.set_title(arm)
    fig.suptitle(f"Refusal confusion — {report['dataset']}")
    fig.tight_layout()
    return fig
