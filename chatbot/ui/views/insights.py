"""Admin: what customers asked and where the bot failed (volume, shares, first-token wait per day), the gaps
(declined and rated-down questions by topic, largest first) with "Write the answer" and "Always hand off",
cited and never-cited documents, the conversation browser, curated answers, and the exports."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from chatbot.insights import filter_conversations
from chatbot.service import ServiceError
from chatbot.types import ARM_LABELS
from chatbot.ui.components import answer_markdown, plain
from chatbot.ui.state import get_service, require_admin

service = get_service()
st.title("Insights")
if not require_admin():
    st.stop()


def write_answer(question: str, key: str) -> None:
    """The fix in place: a curated answer to `question` (editable), indexed at once; or the topic handed off."""
    with st.form(f"curate-{key}"):
        asked = st.text_input("Question", value=question, key=f"curate-q-{key}")
        answer = st.text_area("The right answer", key=f"curate-a-{key}",
                              placeholder="Customers asking this in other words will get this answer, cited.")
        left, right = st.columns(2)
        save = left.form_submit_button("Write the answer", type="primary")
        handoff = right.form_submit_button("Always hand off this topic")
        if save or handoff:
            try:
                service.add_curated(asked, answer, "handoff" if handoff else "answer")
            except ServiceError as exc:
                st.error(str(exc))
            else:
                st.toast("Saved: the next customer asking this gets it." if save
                         else "This topic now goes to a person.")
                st.rerun()


days = st.segmented_control("Period", [1, 7, 30, 90], default=30, format_func=lambda d: f"{d} days",
                            key="insights-days") or 30
report = service.insights(days)
t, n = report.totals, max(1, report.questions)
cols = st.columns(5)
cols[0].metric("Questions", report.questions, help=f"in {report.conversations} conversations")
cols[1].metric("Answered", f"{(t['answered'] + t['curated']) / n:.0%}", help=f"{t['curated']} by curated answers")
cols[2].metric("Declined", f"{t['declined'] / n:.0%}")
cols[3].metric("Rated down", f"{t['rated_down'] / n:.0%}")
cols[4].metric("Handed off", t["handed_off"], help=f"{t['person']} asked for a person")

if report.daily:
    st.subheader("Per day")
    st.bar_chart({"day": [d.day for d in report.daily],
                  "answered": [d.answered for d in report.daily], "declined": [d.declined for d in report.daily],
                  "rated down": [d.rated_down for d in report.daily],
                  "handed off": [d.handed_off for d in report.daily]}, x="day", stack=False, height=240)
    waits = [d for d in report.daily if d.ttft_p50_s is not None]
    if waits:
        st.line_chart({"day": [d.day for d in waits], "first token p50 (s)": [d.ttft_p50_s for d in waits]},
                      x="day", height=180)

st.subheader("Gaps: what the bot could not answer")
st.caption("Declined and rated-down questions grouped by topic, largest first. Write the answer once: customers "
           "asking it in other words then get it, cited.")
if not report.gaps:
    st.info("No declined or rated-down questions in this period.")
for number, gap in enumerate(report.gaps[:30]):
    state = " · resolved" if gap.resolved_by else ""
    with st.expander(f"{gap.count}× ({gap.share:.1%}) {gap.representative}{state}", expanded=number < 3
                     and not gap.resolved_by, icon=":material/check_circle:" if gap.resolved_by else None):
        if gap.resolved_by:
            st.success(f"Answered by the curated answer to: {plain(gap.resolved_by)}")
        st.markdown("**Asked as**  \n" + "  \n".join(f"- {plain(q)}" for q in gap.examples))
        if gap.closest:
            st.caption("Closest documents: " + ", ".join(f"{plain(d['title'] or d['doc_id'])} ({d['count']})"
                                                         for d in gap.closest))
        if not gap.resolved_by:
            write_answer(gap.representative, f"gap-{number}")

left, right = st.columns(2)
with left:
    st.subheader("Most cited documents")
    st.dataframe([{"document": d.title, "citations": d.citations} for d in report.most_cited], hide_index=True,
                 width="stretch")
with right:
    st.subheader(f"Never cited ({len(report.never_cited)})")
    st.dataframe([{"document": d.title, "id": d.doc_id} for d in report.never_cited], hide_index=True,
                 width="stretch", height=240)

st.subheader("Conversations")
f1, f2, f3, f4, f5 = st.columns([1, 1, 1, 1, 2])
declined = f1.checkbox("Declined")
rated_down = f2.checkbox("Rated down")
handed_off = f3.checkbox("Handed off")
arm = f4.selectbox("Arm", ["", *ARM_LABELS], format_func=lambda a: ARM_LABELS.get(a, "any arm"))
text = f5.text_input("Search", placeholder="words in a question or answer")
found = filter_conversations(report.summaries, declined=declined, rated_down=rated_down, handed_off=handed_off,
                             arm=arm, text=text)
st.caption(f"{len(found)} of {report.conversations} conversations")
st.dataframe([{"started": s.started.strftime("%Y-%m-%d %H:%M"), "first question": s.first_question,
               "questions": s.questions, "declined": s.declined, "rated down": s.rated_down,
               "handed off": "yes" if s.handed_off else "", "comments": " | ".join(s.comments), "id": s.id}
              for s in found[:500]], hide_index=True, width="stretch", height=260)
chosen = st.selectbox("Open a conversation", [s.id for s in found[:500]], index=None,
                      format_func=lambda i: next(f"{s.started:%m-%d %H:%M} · {s.first_question[:80]}"
                                                 for s in found if s.id == i))
if chosen:
    recorded = service.conversation(chosen)
    for position, message in enumerate(recorded):
        with st.chat_message(message.role):
            if message.role == "user":
                st.markdown(plain(message.text))
                with st.popover("Write the answer"):
                    write_answer(message.text, f"msg-{chosen}-{position}")
            else:
                st.markdown(answer_markdown(message.text))
                where = ", ".join(s.get("title", "") for s in message.sources)
                st.caption(f"{'declined · ' if message.refused else ''}{message.mode} · {message.model}"
                           + (f" · sources: {plain(where)}" if where else ""))
    for comment in next(s.comments for s in found if s.id == chosen):
        st.info(f"Rating comment: {plain(comment)}")
    if st.button("Delete this conversation", icon=":material/delete:"):
        service.delete_conversation(chosen)
        st.toast("Conversation deleted, with its hand-offs and contacts.")
        st.rerun()

st.subheader("Curated answers")
curated = service.curated_answers()
if not curated:
    st.caption("None yet: write one from a gap or a conversation above.")
for item in curated:
    c1, c2 = st.columns([5, 1])
    c1.markdown(f"**{plain(item.question)}**  \n" + (plain(item.answer) if item.action == "answer"
                                                     else "_always handed off to a person_"))
    if c2.button("Delete", key=f"del-curated-{item.id}"):
        service.delete_curated(item.id)
        st.rerun()

st.subheader("Export")
st.caption("Conversations (one row per message) and hand-offs (with the contacts customers left: personal data).")
fmt = st.radio("Format", ["jsonl", "csv"], horizontal=True, key="export-format")
if st.button("Prepare export"):
    folder = Path(tempfile.mkdtemp(prefix="chatbot-export-"))
    conv, hand, _, _ = service.export_conversations(folder, fmt)
    st.session_state["export"] = [(p.name, p.read_bytes()) for p in (conv, hand)]
for name, data in st.session_state.get("export", []):
    st.download_button(f"Download {name}", data, file_name=name, key=f"download-{name}")
