"""Streamlit entry point: `streamlit run chatbot/ui/app.py` (or `chatbot serve`)."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from chatbot.ui.state import get_service

# Not "pages/": Streamlit lists a folder of that name as its own navigation (file names, "app" among them)
# until st.navigation runs, i.e. for the whole first start while the models load.
PAGES = Path(__file__).parent / "views"

st.set_page_config(page_title="Support chat", page_icon=":material/support_agent:", layout="wide")

with st.spinner("Starting up: loading the models (first start only)…"):
    get_service()

navigation = st.navigation(
    {
        "Support": [st.Page(PAGES / "chat.py", title="Chat", icon=":material/chat:", default=True)],
        "Admin": [
            st.Page(PAGES / "documents.py", title="Documents", icon=":material/library_books:"),
            st.Page(PAGES / "models.py", title="Models", icon=":material/model_training:"),
            st.Page(PAGES / "evaluation.py", title="Evaluation", icon=":material/monitoring:"),
            st.Page(PAGES / "api_keys.py", title="API keys", icon=":material/key:"),
            st.Page(PAGES / "insights.py", title="Insights", icon=":material/insights:"),
            st.Page(PAGES / "handoffs.py", title="Hand-offs", icon=":material/support_agent:"),
        ],
    }
)
navigation.run()
