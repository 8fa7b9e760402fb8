"""The one cached service shared by every browser session, and per-session state helpers."""

from __future__ import annotations

import streamlit as st

from chatbot import admin
from chatbot.config import Settings
from chatbot.service import Service, make_service


@st.cache_resource(show_spinner=False)
def get_service() -> Service:
    """Built once per server process: models load and warm here, not per rerun or per session."""
    service = make_service(Settings())
    service.ensure_sample_kb()
    service.warm()
    return service


def require_admin() -> bool:
    """Gate an admin page behind the admin password when one is configured."""
    secret = get_service().settings.admin_password
    if secret is None:
        st.sidebar.caption("⚠️ Admin pages are open: set CHATBOT_ADMIN_PASSWORD to protect them.")
        return True
    if st.session_state.get("is_admin"):
        return True
    with st.form("admin-login"):
        password = st.text_input("Admin password", type="password")
        if st.form_submit_button("Sign in"):
            if admin.matches(secret, password):
                st.session_state["is_admin"] = True
                st.rerun()
            st.error("Wrong password.")
    return False
