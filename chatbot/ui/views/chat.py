"""Customer chat: streamed, cited answers in one of four modes. The conversation is kept per session for
display, and each turn is recorded under the session's conversation id by the service."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Iterator

import streamlit as st

from chatbot.rag.answer import clean_question
from chatbot.service import ServiceError
from chatbot.types import ARM_LABELS, ARMS, Answer, StreamEvent, Turn
from chatbot.ui.components import (
    answer_markdown,
    plain,
    render_handoff,
    render_meta,
    render_sources,
)
from chatbot.ui.handoff_form import handoff_form
from chatbot.ui.state import client_key, get_service, question_limits

log = logging.getLogger(__name__)
APOLOGY = "Sorry, something went wrong on our side while answering, and I could not finish."
BUSY = ("Our assistant is busy answering other customers right now: please ask again in a minute, or contact "
        "our support team.")

service = get_service()
messages: list[dict] = st.session_state.setdefault("messages", [])
feedback_ids: dict[str, int] = st.session_state.setdefault("feedback_ids", {})
st.session_state.setdefault("conversation_id", uuid.uuid4().hex)
active = service.active_model()

with st.sidebar:
    st.subheader("Answer mode")
    modes = ["rag"] + (["finetuned", "hybrid", "compare"] if active else [])
    labels = {**ARM_LABELS, "compare": "Side by side"}
    mode = st.radio("Mode", modes, format_func=labels.__getitem__, key="mode", label_visibility="collapsed")
    arms = ["rag"]
    if mode == "compare":
        arms = st.multiselect("Arms", list(ARMS), default=["rag", "finetuned", "hybrid"],
                              format_func=ARM_LABELS.__getitem__, max_selections=3) or ["rag"]
    elif mode != "rag":
        arms = [mode]
    if not active:
        st.caption("Fine-tuned, hybrid and side-by-side modes appear once a fine-tuned model is active "
                   "(Admin › Models).")
    if st.button("New conversation", width="stretch"):
        messages.clear()
        st.session_state["conversation_id"] = uuid.uuid4().hex
        st.rerun()
    st.caption(f"{len(service.documents())} help-centre documents indexed")

st.title("How can we help?")


def save_rating(key: str, answer: Answer, comparison_id: str | None) -> None:
    thumbs = st.session_state.get(f"thumbs-{key}")
    rating = {0: -1, 1: 1}.get(thumbs, 0)
    comment = st.session_state.get(f"comment-{key}", "")
    feedback_ids[key] = service.rate(answer, rating, comment, comparison_id)


def prefer(key: str, answer: Answer, comparison_id: str) -> None:
    if key not in feedback_ids:
        feedback_ids[key] = service.rate(answer, 0, "", comparison_id)
    service.prefer(comparison_id, feedback_ids[key])
    st.session_state[f"preferred-{comparison_id}"] = key


def render_answer(answer: Answer, key: str, comparison_id: str | None = None) -> None:
    """One answer with its sources, figures, hand-off and feedback controls."""
    st.markdown(answer_markdown(answer.text))
    render_sources(answer.sources)
    render_meta(answer)
    if answer.refused:
        render_handoff(service.settings.support_contact)
    if answer.refused or service.wants_person(answer.question):
        handoff_form(service, answer, st.session_state["conversation_id"], key)
    left, right = st.columns([1, 3])
    with left:
        st.feedback("thumbs", key=f"thumbs-{key}", on_change=save_rating, args=(key, answer, comparison_id))
    with right:
        st.text_input("Comment", key=f"comment-{key}", placeholder="Optional comment, then rate",
                      label_visibility="collapsed")
    if comparison_id:
        chosen = st.session_state.get(f"preferred-{comparison_id}") == key
        st.button("✓ Better answer" if chosen else "This one is better", key=f"better-{key}",
                  on_click=prefer, args=(key, answer, comparison_id), disabled=chosen)


def render_turn(message: dict) -> None:
    if message.get("notice"):
        st.warning(message["notice"])
        render_handoff(service.settings.support_contact)
        return
    answers: list[Answer] = message["answers"]
    if len(answers) == 1:
        render_answer(answers[0], message["id"])
        return
    for column, answer in zip(st.columns(len(answers)), answers, strict=True):
        with column:
            st.markdown(f"**{ARM_LABELS.get(answer.mode, answer.mode)}**")
            render_answer(answer, f"{message['id']}-{answer.mode}", message["id"])


def draw_stream(events: Iterator[StreamEvent], question: str, arm: str) -> Answer | str:
    """Draw one arm's streamed answer into the current container; returns the final Answer, or the notice
    to show instead when there is none. A "reset" event (the answer is written again from the whole
    documents) clears what was shown so far. A failure the service did not foresee (a model server down, a
    store error) gives the customer an apology and the hand-off; the traceback goes to the server log only."""
    placeholder = st.empty()
    shown = ""
    try:
        for event in events:
            if event.kind == "token":
                shown += plain(event.token)
                placeholder.markdown(shown + " ▌")
            elif event.kind == "reset":
                shown = ""
                placeholder.markdown("_Reading the whole documents once more…_")
            elif event.kind == "status" and not shown:
                placeholder.markdown(f"_{plain(event.token)}_")
            elif event.kind == "done":
                placeholder.empty()
                return event.answer
    except ServiceError as exc:
        return str(exc)
    except Exception:
        log.exception("answering %r in mode %s failed", question[:200], arm)
    return APOLOGY


def answer_pending(question: str) -> None:
    """Answer the question waiting in the session (kept there until answered, so a rerun in the middle
    of an answer, e.g. a click elsewhere, answers it again instead of losing it); the service records the
    turn. Side by side, each arm streams into its own column."""
    history = [Turn(m["role"], m["content"]) for m in messages]
    with st.chat_message("user"):
        st.markdown(plain(question))
    answers: list[Answer] = []
    notice = BUSY
    with st.chat_message("assistant"), question_limits().answering() as admitted:
        columns = st.columns(len(arms)) if len(arms) > 1 else [st.container()]
        streams = service.stream_compare(question, arms, history, st.session_state["conversation_id"],
                                         groundedness=len(arms) > 1) if admitted else ()
        for n, (arm, events) in enumerate(streams):  # to the end: the service records the turn after the last
            with columns[n]:
                if len(arms) > 1:
                    st.markdown(f"**{ARM_LABELS[arm]}**")
                answer = draw_stream(events, question, arm)
                if isinstance(answer, str):
                    notice = answer
                else:
                    answers.append(answer)
    st.session_state.pop("pending", None)
    messages.append({"role": "user", "content": question})
    if answers:
        messages.append({"role": "assistant", "content": answers[0].text, "answers": answers,
                         "id": uuid.uuid4().hex[:12]})
    else:  # kept in the conversation shown, not in the recorded one (it holds answers only)
        messages.append({"role": "assistant", "content": notice, "notice": notice, "id": uuid.uuid4().hex[:12]})
    st.rerun()  # re-render through render_turn, with feedback controls and the chat box enabled


for message in messages:
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            st.markdown(plain(message["content"]))
        else:
            render_turn(message)

pending = st.session_state.get("pending")
question = st.chat_input("Ask a question about your order, account or devices", disabled=pending is not None)
if pending is None and question is not None:
    question = clean_question(question, service.settings.max_question_chars)
    if not question:
        st.info("Please type a question.")
        st.stop()
    allowed, wait = question_limits().allow(client_key(), time.time())
    if not allowed:
        st.warning(f"You're asking very fast: please wait {wait:.0f} s before the next question.")
        st.stop()
    st.session_state["pending"] = question
    st.rerun()  # so that the chat box is disabled while the answer is written
if pending is not None:
    answer_pending(pending)
