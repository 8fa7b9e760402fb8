"""Admin: the latest evaluation reports (figures per arm, charts, each question's answers next to the
reference) and a button to evaluate the live knowledge base."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from chatbot.evaluation.report import arm_figure
from chatbot.service import ServiceError
from chatbot.types import ARM_LABELS
from chatbot.ui.components import plain, render_job_history
from chatbot.ui.state import get_service, require_admin

service = get_service()
st.title("Evaluation")
if not require_admin():
    st.stop()

# (title, report section: "" for the arm's top level, figures)
FIGURES = [("Retrieval", "retrieval", ["recall@1", "recall@5", "recall@10", "mrr@10"]),
           ("Answer", "answer", ["token_f1", "rouge_l", "rouge_l_recall", "bleu"]),
           ("Refusal", "refusal", ["precision", "recall", "f1"]),
           ("Latency", "latency", ["ttft_p50", "ttft_p95", "total_p50", "total_p95", "tokens_per_s"]),
           ("Loops (share of answers repeating a 4-gram 3+ times; repetitive: compression ratio over 2.4)", "",
            ["repeat_share", "repetitive_share"])]
CHARTS = [("quality_latency.png", "Quality vs latency"), ("recall_at_k.png", "Recall@k"),
          ("refusal_confusion.png", "Refusal confusion")]


@st.fragment(run_every=3.0)
def evaluation_status() -> None:
    job = service.evaluation
    if job is None:
        return
    if job.running:
        st.progress(job.fraction, text=f"{job.phase or 'starting'}: {job.done} of {job.total or '…'}")
    elif job.status == "failed":
        st.error(f"Evaluation failed: {plain(job.error)}")
    else:
        st.success(f"Evaluation finished: {plain(Path(job.out_dir).name)}")


with st.expander("Run an evaluation", expanded=not service.evaluation_reports()):
    with st.form("evaluate"):
        source = st.radio("Questions", ["live", "dataset"], horizontal=True, format_func={
            "live": "From the live knowledge base (held out from fine-tuning)",
            "dataset": "A dataset folder (corpus.jsonl + questions.jsonl)"}.__getitem__)
        folder = st.text_input("Dataset folder (for a dataset)")
        arms_available = ["rag", "base"] + (["finetuned", "hybrid"] if service.active_model() else [])
        arms = st.multiselect("Arms", arms_available, default=arms_available[:1], format_func=ARM_LABELS.get)
        limit = st.number_input("Questions (0 = all)", min_value=0, value=20, step=10)
        go = st.form_submit_button("Start evaluation", type="primary",
                                   disabled=bool(service.evaluation and service.evaluation.running))
    if go:
        dataset = Path(folder).expanduser() if source == "dataset" else None
        if dataset is not None and not (dataset / "questions.jsonl").is_file():
            st.error("That folder has no questions.jsonl.")
        else:
            try:
                service.start_evaluation(arms or ["rag"], dataset=dataset, limit=int(limit) or None)
            except ServiceError as exc:
                st.error(str(exc))
            else:
                st.rerun()  # the run's progress and past-runs row show from the top
evaluation_status()
render_job_history(service.recent_jobs(kind="evaluation"))

reports = service.evaluation_reports()
if not reports:
    st.info("No evaluation yet. Run one above, or from the command line: `chatbot eval --dataset DIR --out "
            f"{service.evaluations_dir}/my-run`.")
    st.stop()

chosen = st.selectbox("Report", reports, format_func=lambda p: p.name)
report, results = service.evaluation_report(chosen)
st.caption(f"Dataset {plain(str(report.get('dataset')))} · {report.get('n')} questions")
for title, section, keys in FIGURES:
    rows = [{"arm": ARM_LABELS.get(arm, arm), **{k: arm_figure(figures, section, k) for k in keys}}
            for arm, figures in report["arms"].items()]
    st.markdown(f"**{title}**")
    st.dataframe(rows, hide_index=True, width="stretch")
for arm, figures in report["arms"].items():
    if best := (figures.get("refusal") or {}).get("threshold"):
        st.caption(f"{ARM_LABELS.get(arm, arm)}: declining by retrieval similarity alone would have scored best "
                   f"at CHATBOT_MIN_RELEVANCE={best['min_relevance']} (refusal F1 {best['f1']:.2f}; now "
                   f"{service.settings.min_relevance}). Chosen on these questions, so optimistic: confirm it on "
                   "other questions before setting it.")
for skipped in report.get("skipped") or []:
    st.caption(f"Skipped: {plain(str(skipped))}")

columns = st.columns(len(CHARTS))
for column, (name, title) in zip(columns, CHARTS, strict=True):
    if (chosen / name).is_file():
        column.image(str(chosen / name), caption=title)

st.subheader("Question by question")
if results:
    number = st.number_input("Question", min_value=1, max_value=len(results), value=1)
    item = results[int(number) - 1]
    st.markdown(f"**{plain(item['question'])}**")
    st.caption(f"answerable: {item.get('answerable')} · gold: {plain(', '.join(item.get('gold_ids') or []))}")
    st.markdown("Reference: " + plain(item.get("reference") or "(none: the bot should decline)"))
    arms = item.get("arms", {})
    for column, (arm, result) in zip(st.columns(max(1, len(arms))), arms.items(), strict=False):
        with column:
            st.markdown(f"**{ARM_LABELS.get(arm, arm)}**" + (" · declined" if result.get("refused") else ""))
            st.markdown(plain(result.get("answer", "")))
            scores = result.get("scores") or {}
            st.caption(" · ".join(f"{k} {v:.2f}" for k, v in scores.items()
                                  if k in ("token_f1", "rouge_l", "recall@5") and isinstance(v, int | float)))
