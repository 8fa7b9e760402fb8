"""The support team's pages with AppTest: a customer session can read neither the Insights nor the Hand-offs
page without the admin password; a customer asking for a person leaves an email and the hand-off is in the
queue; the Insights page shows a declined question under gaps and writes its answer."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from streamlit.testing.v1 import AppTest

from chatbot import db
from tests.conftest import ROOT, app_environment
from tests.documents import LANTERN

pytestmark = pytest.mark.slow  # the app's pages load the real models

APP = str(ROOT / "chatbot" / "ui" / "app.py")


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "team-secret")
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN}) as settings:
        yield settings


def texts(at: AppTest) -> str:
    parts = [m.value for m in at.markdown] + [c.value for c in at.caption] + [s.value for s in at.subheader]
    parts += [e.label for e in at.expander] + [s.value for s in at.success] + [s.value for s in at.info]
    return "\n".join(str(p) for p in parts).replace("\\", "")


def sign_in(at: AppTest) -> None:
    [field] = [t for t in at.text_input if t.label == "Admin password"]
    field.set_value("team-secret")
    [button] = [b for b in at.button if b.label == "Sign in"]
    button.click().run()


def test_customer_reaches_a_person_and_the_queue_and_insights_are_admin_only(app_env):
    at = AppTest.from_file(APP, default_timeout=300).run()
    at.chat_input[0].set_value("Can I talk to someone?").run()
    assert not at.exception
    assert "support team" in texts(at)
    [contact] = [t for t in at.text_input if t.label == "Email or phone"]
    contact.set_value("ana@example.com")
    [send] = [b for b in at.button if b.label == "Send to the support team"]
    send.click().run()
    assert not at.exception
    assert "has this conversation" in texts(at)

    at.chat_input[0].set_value("What is the capital of Australia?").run()  # declined: a gap

    for page in ("views/handoffs.py", "views/insights.py"):
        at.switch_page(page).run()
        assert not at.exception
        shown = texts(at)
        assert "ana@example.com" not in shown and "Gaps" not in shown and "capital" not in shown
        assert [t for t in at.text_input if t.label == "Admin password"]

    at.switch_page("views/handoffs.py").run()
    sign_in(at)
    shown = texts(at)
    assert "ana@example.com" in shown and "Can I talk to someone?" in shown and "asked" in shown

    at.switch_page("views/insights.py").run()
    assert not at.exception
    shown = texts(at)
    assert "Gaps: what the bot could not answer" in shown and "What is the capital of Australia?" in shown
    [answer] = [t for t in at.text_area if t.label == "The right answer"][:1]
    answer.set_value("Canberra is the capital of Australia.")
    [write] = [b for b in at.button if b.label == "Write the answer"][:1]
    write.click().run()
    assert not at.exception
    assert "resolved" in texts(at)
    engine = db.open_database(app_env.effective_database_url)
    with engine.connect() as conn:
        assert "curated" in conn.execute(select(db.documents.c.doc_type)).scalars().all()
