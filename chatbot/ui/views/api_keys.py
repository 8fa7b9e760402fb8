"""Admin: API keys for the HTTP API and the website widget: create (the key is shown once), list, revoke."""

from __future__ import annotations

import streamlit as st

from chatbot.ui.components import plain
from chatbot.ui.state import get_service, require_admin

service = get_service()
st.title("API keys")
if not require_admin():
    st.stop()

st.caption("Keys let a website widget, an app or a helpdesk use the HTTP API (`chatbot serve --api`). A *chat* key "
           "asks questions and rates answers: it sits in a web page, so anyone can read it; its rate limit and "
           "CHATBOT_API_ALLOWED_ORIGINS bound what it can do. An *admin* key also uploads, lists and deletes "
           "documents: keep it on servers. Only a hash of each key is stored.")

with st.form("create-key", clear_on_submit=True):
    name = st.text_input("Name", placeholder="help-centre widget")
    scope = st.radio("Scope", ["chat", "admin"], horizontal=True)
    rate = st.number_input("Requests per minute", min_value=1, max_value=100_000,
                           value=service.settings.api_key_rate_per_minute)
    if st.form_submit_button("Create key", type="primary"):
        try:
            key, record = service.create_api_key(name, scope, int(rate))
            st.session_state["new_key"] = (key, record.name)
        except ValueError as exc:
            st.error(str(exc))

if "new_key" in st.session_state:
    key, label = st.session_state["new_key"]
    st.success(f"Key for **{plain(label)}**: copy it now, it is not shown again.")
    st.code(key, language=None)
    st.code(f'<script src="https://YOUR-BOT-HOST/widget.js" data-key="{key}" defer></script>', language="html")
    if st.button("Done, hide it"):
        del st.session_state["new_key"]
        st.rerun()

keys = service.api_keys()
st.subheader(f"Keys ({sum(k.active for k in keys)} active)")
if not keys:
    st.info("No keys yet.")
for k in keys:
    columns = st.columns([3, 2, 1, 1, 2, 1])
    columns[0].markdown(f"**{plain(k.name)}**  \n`{k.prefix}…`")
    columns[1].write("revoked " + k.revoked_at.strftime("%Y-%m-%d") if k.revoked_at else "active")
    columns[2].write(k.scope)
    columns[3].write(f"{k.rate_per_minute}/min")
    columns[4].write("used " + k.last_used_at.strftime("%Y-%m-%d %H:%M") if k.last_used_at else "never used")
    if k.active and columns[5].button("Revoke", key=f"revoke-{k.id}"):
        service.revoke_api_key(k.id)
        st.rerun()
