"""The Streamlit app driven with AppTest: ask -> streamed answer with sources; upload -> listed."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import ROOT, app_environment
from tests.documents import LANTERN

pytestmark = pytest.mark.slow  # the app's pages on the real models

APP = str(ROOT / "chatbot" / "ui" / "app.py")


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    """A fresh home with a one-document sample KB, configured through the environment like production."""
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN}) as settings:
        yield settings


def all_text(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption]
    return "\n".join(str(p) for p in parts).replace("\\", "")  # undo markdown escaping


def test_ask_gives_an_answer_with_sources(app_env):
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception
    at.chat_input[0].set_value("How big is the SL-300 battery?").run()
    assert not at.exception
    assistant = [m for m in at.chat_message if m.name == "assistant"]
    assert len(assistant) == 1
    text = all_text(at)
    assert "Sources (1)" in [e.label for e in at.expander]
    assert "Solar Lantern SL-300" in text  # the source title in the sources panel
    assert "first token" in text
    # The conversation is kept: a second question adds a second exchange.
    at.chat_input[0].set_value("What is the capital of Australia?").run()
    assert len([m for m in at.chat_message if m.name == "assistant"]) == 2
    assert "support team" in all_text(at)


def test_upload_lists_the_document_and_refuses_bad_files(app_env):
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.switch_page("views/documents.py").run()
    assert not at.exception
    uploader = at.get("file_uploader")[0]
    uploader.set_value([("returns.md", b"# Returns\n\nReturn items within 30 days.", "text/markdown"),
                        ("broken.pdf", b"%PDF-1.4 broken", "application/pdf")]).run()
    at.button[0].click().run()
    assert not at.exception
    assert any("broken.pdf" in e.value and "corrupt" in e.value for e in at.error)
    assert any("returns.md" in s.value for s in at.success)
    table = at.dataframe[0].value
    assert set(table["id"]) == {"lantern", "returns"}
