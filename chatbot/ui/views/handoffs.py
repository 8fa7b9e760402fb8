"""Admin: the hand-off queue. Each hand-off shows the contact the customer left, their message, the whole
conversation with the sources the bot saw, and every delivery attempt to the helpdesk webhook."""

from __future__ import annotations

import streamlit as st

from chatbot.ui.components import answer_markdown, plain
from chatbot.ui.state import get_service, require_admin

service = get_service()
st.title("Hand-offs")
if not require_admin():
    st.stop()

if service.settings.handoff_webhook_url:
    st.caption("Each hand-off is stored, then POSTed to the helpdesk (CHATBOT_HANDOFF_WEBHOOK_URL) and retried "
               "with back-off until it is accepted.")
else:
    st.caption("No helpdesk webhook is set (CHATBOT_HANDOFF_WEBHOOK_URL): hand-offs wait here.")

status = st.segmented_control("Show", ["open", "resolved", "all"], default="open", key="handoff-status") or "open"
items = service.handoffs(None if status == "all" else status)
if not items:
    st.info("No hand-offs." if status == "all" else f"No {status} hand-offs.")
DELIVERY = {"delivered": "✅ delivered", "pending": "⏳ sending", "failed": "❌ failed", "off": "queue only"}
for item in items:
    title = (f"#{item.id} · {item.created_at:%Y-%m-%d %H:%M} · {item.contact} · {item.reason} · "
             f"{DELIVERY.get(item.delivery, item.delivery)} ({item.attempts} attempts)")
    with st.expander(title, expanded=len(items) <= 3):
        if item.message:
            st.markdown(f"**Message:** {plain(item.message)}")
        for message in service.conversation(item.conversation_id):
            with st.chat_message(message.role):
                st.markdown(answer_markdown(message.text) if message.role == "assistant" else plain(message.text))
                if message.sources:
                    st.caption("Sources the bot saw: " + "; ".join(
                        plain(s.get("title", "") + (f" › {s['section']}" if s.get("section") else ""))
                        for s in message.sources))
        attempts = service.handoff_attempts(item.id)
        if attempts:
            st.dataframe([{"at": a.at.strftime("%Y-%m-%d %H:%M:%S"), "ok": a.ok, "HTTP": a.status_code,
                           "error": a.error} for a in attempts], hide_index=True, width="stretch")
        if item.next_attempt_at and item.delivery == "pending":
            st.caption(f"Next attempt at {item.next_attempt_at:%H:%M:%S} UTC")
        c1, c2 = st.columns(2)
        if item.status == "open":
            if c1.button("Mark resolved", key=f"resolve-{item.id}", type="primary"):
                service.set_handoff_status(item.id, "resolved")
                st.rerun()
        elif c1.button("Reopen", key=f"reopen-{item.id}"):
            service.set_handoff_status(item.id, "open")
            st.rerun()
        if service.settings.handoff_webhook_url and item.delivery != "delivered" \
                and c2.button("Send again now", key=f"resend-{item.id}"):
            service.send_handoff_again(item.id)
            st.rerun()
