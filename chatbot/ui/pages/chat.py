"""Customer chat: streamed, cited answers; the conversation is kept per browser session."""

from __future__ import annotations

import streamlit as st

from chatbot.service import ServiceError
from chatbot.types import Turn
from chatbot.ui.components import answer_markdown, plain, render_handoff, render_meta, render_sources
from chatbot.ui.state import get_service

service = get_service()
st.title("💬 How can we help?")
messages: list[dict] = st.session_state.setdefault("messages", [])

with st.sidebar:
    st.subheader("Conversation")
    if st.button("New conversation", use_container_width=True):
        messages.clear()
        st.rerun()
    st.caption(f"{len(service.documents())} help-centre documents indexed")

for message in messages:
    with st.chat_message(message["role"]):
        if message["role"] == "user":
            st.markdown(plain(message["content"]))
            continue
        answer = message["answer"]
        st.markdown(answer_markdown(answer.text))
        render_sources(answer.sources)
        render_meta(answer)
        if answer.refused:
            render_handoff(service.settings.support_contact)

question = st.chat_input("Ask a question about your order, account or devices")
if question:
    history = [Turn(m["role"], m["content"] if m["role"] == "user" else m["answer"].text) for m in messages]
    messages.append({"role": "user", "content": question})
    with st.chat_message("user"):
        st.markdown(plain(question))
    with st.chat_message("assistant"):
        final: dict = {}

        def tokens():
            for event in service.stream(question, history=history, mode="rag"):
                if event.kind == "token":
                    yield plain(event.token)
                elif event.kind == "done":
                    final["answer"] = event.answer

        placeholder = st.empty()
        try:
            with placeholder.container():
                st.write_stream(tokens())
        except ServiceError as exc:
            placeholder.error(str(exc))
            messages.pop()
        else:
            answer = final["answer"]
            placeholder.markdown(answer_markdown(answer.text))
            render_sources(answer.sources)
            render_meta(answer)
            if answer.refused:
                render_handoff(service.settings.support_contact)
            messages.append({"role": "assistant", "content": answer.text, "answer": answer})
