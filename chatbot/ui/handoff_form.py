"""The chat's hand-off form: after a decline, or when the customer asks for a person, they leave an email
address or phone number (and optionally a message) and the conversation goes to the support team's queue
(and to the helpdesk webhook when one is set). The contact goes to the service only: it is never shown back
in the chat nor put in a prompt."""

from __future__ import annotations

import streamlit as st

from chatbot.insights import PERSON_MODEL
from chatbot.service import Service, ServiceError
from chatbot.types import Answer


def handoff_form(service: Service, answer: Answer, conversation_id: str, key: str) -> None:
    """The form under one answer; once sent, a confirmation in its place."""
    sent: dict[str, bool] = st.session_state.setdefault("handoffs_sent", {})
    if sent.get(key):
        st.success("Thank you: our support team has this conversation and will get back to you.",
                   icon=":material/mark_email_read:")
        return
    reason = "declined" if answer.refused else "asked"
    if answer.refused and answer.model == PERSON_MODEL:  # a topic the team set to always hand off
        reason = "topic"
    elif service.wants_person(answer.question):
        reason = "asked"
    with st.form(f"handoff-{key}", border=True):
        st.markdown("**Talk to a person**: leave your email or phone and our support team will get back to you "
                    "with this conversation.")
        contact = st.text_input("Email or phone", key=f"handoff-contact-{key}", placeholder="you@example.com")
        message = st.text_area("Message (optional)", key=f"handoff-message-{key}", height=68)
        if st.form_submit_button("Send to the support team", icon=":material/support_agent:"):
            try:
                service.request_handoff(conversation_id, contact, message, reason)
            except ServiceError as exc:
                st.error(str(exc))
            else:
                sent[key] = True
                st.rerun()
