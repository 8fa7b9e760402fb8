"""Admin: upload documents (with per-file results), list what is indexed, delete a document."""

from __future__ import annotations

import math

import streamlit as st

from chatbot.ingest.detect import SUPPORTED
from chatbot.ui.components import plain
from chatbot.ui.state import get_service, require_admin

service = get_service()
st.title("Knowledge base")
if not require_admin():
    st.stop()

st.subheader("Upload documents")
st.caption(f"Markdown, text, PDF, HTML, DOCX, CSV tables and JSONL FAQ files (a CSV with question/answer "
           f"columns is read as an FAQ; every table row keeps its column names). "
           f"Up to {service.settings.max_upload_mb:g} MB each.")
uploads = st.file_uploader("Documents", accept_multiple_files=True, key=f"upload-{st.session_state.get('up', 0)}",
                           type=[ext.lstrip(".") for ext in SUPPORTED.split()],
                           max_upload_size=max(1, math.ceil(service.settings.max_upload_mb)))
if uploads and st.button("Index uploaded files", type="primary"):
    progress = st.progress(0.0, text="Indexing…")
    results = []
    for number, upload in enumerate(uploads, start=1):
        progress.progress((number - 1) / len(uploads), text=f"Indexing {upload.name}…")
        results.append(service.ingest_bytes(upload.name, upload.getvalue()))
    progress.progress(1.0, text="Done")
    st.session_state["last_results"] = results
    st.session_state["up"] = st.session_state.get("up", 0) + 1  # clears the uploader
    st.rerun()

for result in st.session_state.get("last_results", []):
    if result.status == "refused":
        st.error(f"Refused **{plain(result.path)}**: {plain(result.reason)}")
    else:
        st.success(f"{result.status.capitalize()} **{plain(result.path)}**: {result.chunks} chunks "
                   f"(id `{result.doc_id}`)")

st.subheader("Indexed documents")
docs = service.documents()
if not docs:
    st.info("No documents yet. Upload some above.")
else:
    st.dataframe(
        [{"id": d.doc_id, "title": d.title, "type": d.doc_type, "chunks": d.chunks, "indexed": d.indexed_at,
          "source": d.source} for d in docs],
        hide_index=True,
        width="stretch",
    )
    st.caption(f"{len(docs)} documents · {sum(d.chunks for d in docs)} chunks · KB version "
               f"{service.kb_version()}")
    with st.form("delete-doc"):
        doomed = st.selectbox("Delete a document", [d.doc_id for d in docs],
                              format_func=lambda i: next(f"{d.title} ({i})" for d in docs if d.doc_id == i))
        if st.form_submit_button("Delete"):
            service.delete_document(doomed)
            st.session_state["last_results"] = []
            st.toast(f"Deleted {doomed}")
            st.rerun()
