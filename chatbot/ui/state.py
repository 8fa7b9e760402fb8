"""The one cached service shared by every browser session, and per-session state helpers."""

from __future__ import annotations

import time

import streamlit as st

from chatbot import admin
from chatbot.config import Settings
from chatbot.ratelimit import LoginThrottle, QuestionLimits
from chatbot.service import Service, make_service


@st.cache_resource(show_spinner=False)
def get_service() -> Service:
    """Built once per server process: models load and warm here, not per rerun or per session."""
    service = make_service(Settings())
    service.ensure_sample_kb()
    service.warm()
    service.start_background()  # hand-offs pending delivery (also those stored before a restart), retention
    return service


@st.cache_resource(show_spinner=False)
def question_limits() -> QuestionLimits:
    """Kept by the server process, not the session: a reload or a new tab does not reset them."""
    settings = get_service().settings
    return QuestionLimits(settings.questions_per_minute, settings.max_active_answers)


@st.cache_resource(show_spinner=False)
def login_throttle() -> LoginThrottle:
    return LoginThrottle()


def client_key() -> str:
    """Who is asking, for the limits: the connection's address ("local" for localhost), or behind a trusted
    reverse proxy (CHATBOT_TRUST_FORWARDED_FOR) the first address of its X-Forwarded-For header."""
    if get_service().settings.trust_forwarded_for:
        forwarded = (st.context.headers.get("X-Forwarded-For") or "").split(",")[0].strip()
        if forwarded:
            return forwarded
    address = st.context.ip_address
    return address if isinstance(address, str) and address else "local"


def require_admin() -> bool:
    """Gate an admin page behind the admin password (CHATBOT_ADMIN_PASSWORD, else the one generated into
    HOME/admin-password: chatbot/admin.py); open only with CHATBOT_ADMIN_OPEN. Wrong passwords make the
    client (and, past a limit, everyone) wait longer before the next try."""
    settings = get_service().settings
    secret = admin.admin_secret(settings)
    if secret is None:
        st.sidebar.caption("⚠️ Admin pages are open to everyone (CHATBOT_ADMIN_OPEN): development only.")
        return True
    if st.session_state.get("is_admin"):
        return True
    throttle, client = login_throttle(), client_key()
    if settings.admin_password is None:
        st.caption("The admin password was generated at the first start: the server printed it, and keeps it in "
                   f"CHATBOT_HOME/{admin.PASSWORD_FILE} (or set CHATBOT_ADMIN_PASSWORD).")
    with st.form("admin-login"):
        password = st.text_input("Admin password", type="password")
        if st.form_submit_button("Sign in"):
            wait = throttle.wait(client, time.time())
            if wait > 0:
                st.error(f"Too many wrong passwords: try again in {wait:.0f} s.")
            elif password and admin.matches(secret, password):
                throttle.succeeded(client)
                st.session_state["is_admin"] = True
                st.rerun()
            else:
                throttle.failed(client, time.time())
                st.error("Wrong password.")
    return False
