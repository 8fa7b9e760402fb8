"""Admin: fine-tune a support model in the background, watch its loss, pick the active model, and see
which models are stale because documents changed after they were trained."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from chatbot.service import ServiceError
from chatbot.ui.components import plain, render_job_history
from chatbot.ui.state import get_service, require_admin

service = get_service()
st.title("Fine-tuned models")
if not require_admin():
    st.stop()


@st.fragment(run_every=2.0)
def training_status() -> None:
    job = service.training
    if job is None:
        return
    st.subheader(f"Training ({job.preset} preset)")
    if job.running:
        if job.phase == "pairs":
            share = job.pairs_done / job.pairs_total if job.pairs_total else 0.0
            st.progress(share, text=f"Writing question/answer pairs from the documents: chunk {job.pairs_done} "
                                    f"of {job.pairs_total or '…'} (written once per chunk, then reused)")
        else:
            st.progress(job.fraction, text=f"Step {job.step} of {job.total or '…'}")
        if st.button("Cancel training"):
            job.cancel.set()
    elif job.status == "done":
        st.success(f"Trained **{plain(job.result.name)}** in {job.result.duration_s:.0f}s "
                   f"(validation loss {job.result.val_loss or float('nan'):.3f}).")
    elif job.status == "cancelled":
        st.warning("Training was cancelled; nothing was saved.")
    else:
        st.error(f"Training failed: {plain(job.error)}")
    if job.losses:
        st.line_chart({"training loss": [loss for _, loss in job.losses]}, x_label="step", y_label="loss")


st.subheader("Train a model")
st.caption("Trains on the historical tickets plus question/answer pairs derived from the indexed documents. "
           "`quick` fine-tunes SmolLM2-135M (minutes on a CPU); `standard` adds LoRA to the default chat model.")
with st.form("train"):
    preset = st.radio("Preset", ["quick", "standard"], horizontal=True)
    name = st.text_input("Name (optional)")
    upload = st.file_uploader("Tickets CSV/JSONL (optional; default: the knowledge base's tickets.jsonl)",
                              type=["csv", "jsonl"])
    start = st.form_submit_button("Start training", type="primary",
                                  disabled=bool(service.training and service.training.running))
if start:
    tickets = None
    if upload is not None:
        folder = Path(tempfile.mkdtemp(prefix="tickets-", dir=service.settings.home))
        tickets = folder / ("tickets" + Path(upload.name).suffix.lower())
        tickets.write_bytes(upload.getvalue())
    try:
        service.start_training(preset, tickets=tickets, name=name.strip() or None)
    except ServiceError as exc:
        st.error(str(exc))
    else:
        st.rerun()  # draw the form again with its button disabled while the job runs
training_status()
render_job_history(service.recent_jobs(kind="training"))

st.subheader("Trained models")
records = service.models()
active = service.active_model()
if not records:
    st.info("No fine-tuned model yet.")
for record in reversed(records):
    changed, changes = service.staleness(record)
    with st.container(border=True):
        is_active = active is not None and active.name == record.name
        st.markdown(f"**{plain(record.name)}**" + (" · active" if is_active else ""))
        st.caption(f"{record.base_model} · {record.method} · trained {record.trained_at} in "
                   f"{record.duration_s:.0f}s · train loss {record.train_loss or 0:.3f} · "
                   f"validation loss {record.val_loss or 0:.3f}")
        if record.figures:
            f = record.figures
            st.caption(f"{f.get('train_rows', '?')} training rows ({f.get('pairs', {}).get('kept', 0)} written "
                       f"question/answer pairs), {f.get('steps', '?')} steps (stopped: {f.get('stopped', '?')}), "
                       f"peak memory {f.get('peak_rss_mb', '?')} MB · {record.arms_note()}")
            if reader := f.get("reader"):
                st.caption(f"The hybrid arm reads documents with a model of its own, trained on "
                           f"{reader.get('train_rows', '?')} RAG-prompt rows in {reader.get('steps', '?')} steps "
                           f"(stopped: {reader.get('stopped', '?')}); the rows above train the closed-book model.")
        if changed:
            st.warning(f"Trained on KB version {record.kb_version}; {changed} document"
                       f"{'s' if changed != 1 else ''} changed since "
                       f"({', '.join(plain(d) for d, _ in changes[:5])}{'…' if changed > 5 else ''}). "
                       "Retrain to include them.", icon=":material/update:")
        else:
            st.caption(f"Up to date with the knowledge base (version {record.kb_version}).")
        use, delete, retrain = st.columns(3)
        if use.button("Use this model", key=f"use-{record.name}", disabled=is_active):
            service.use_model(record.name)
            st.rerun()
        if delete.button("Delete", key=f"del-{record.name}"):
            service.delete_model(record.name)
            st.rerun()
        if changed and retrain.button("Retrain", key=f"retrain-{record.name}",
                                      disabled=bool(service.training and service.training.running)):
            service.start_training(str(record.hyperparams.get("preset", "quick")))
            st.rerun()
