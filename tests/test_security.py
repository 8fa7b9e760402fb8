"""Hostile customers and careless operators, in the app (AppTest) and the CLI: limits a reload cannot
reset, throttled admin sign-in, an empty password refused, no traceback for customers, no lost turn."""

from __future__ import annotations

import pytest
from streamlit.testing.v1 import AppTest

from chatbot import admin
from chatbot.cli import main
from tests.conftest import ROOT, app_environment
from tests.documents import LANTERN_PRICED

APP = str(ROOT / "chatbot" / "ui" / "app.py")


@pytest.fixture
def app_env(tmp_path, monkeypatch):
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN_PRICED}) as settings:
        yield settings


def started() -> AppTest:
    """A new browser session (a reload or a new tab is one): its own session state, the same server."""
    at = AppTest.from_file(APP, default_timeout=300).run()
    assert not at.exception
    return at


def assistant_turns(at: AppTest) -> int:
    return len([m for m in at.chat_message if m.name == "assistant"])


@pytest.mark.slow  # the app's pages on the real models
def test_the_question_rate_limit_survives_a_reload(app_env, monkeypatch):
    monkeypatch.setenv("CHATBOT_QUESTIONS_PER_MINUTE", "1")
    at = started()
    at.chat_input[0].set_value("How big is the SL-300 battery?").run()
    assert assistant_turns(at) == 1
    reloaded = started()
    reloaded.chat_input[0].set_value("How much does the SL-300 cost?").run()
    assert any("asking very fast" in w.value for w in reloaded.warning)
    assert assistant_turns(reloaded) == 0


@pytest.mark.slow  # the app's pages on the real models
def test_a_huge_message_then_a_follow_up_answers_without_a_traceback(app_env):
    at = started()
    at.chat_input[0].set_value("How big is the SL-300 battery? " + "x" * 100_000).run()
    assert not at.exception and assistant_turns(at) == 1
    at.chat_input[0].set_value("and how much does that cost?").run()
    assert not at.exception and assistant_turns(at) == 2
    user_bubbles = [m for m in at.chat_message if m.name == "user"]
    assert all(len(m.markdown[0].value) <= 2100 for m in user_bubbles)  # shown as the bot read it: cut


@pytest.mark.slow  # the app's pages on the real models
def test_control_characters_and_blank_messages(app_env):
    at = started()
    at.chat_input[0].set_value("   \n\t ").run()
    assert not at.chat_message and any("type a question" in i.value for i in at.info)
    at.chat_input[0].set_value("How big is the \x1b[31mSL-300\u202e battery?").run()
    shown = [m for m in at.chat_message if m.name == "user"][0].markdown[0].value
    assert "\x1b" not in shown and "\u202e" not in shown


@pytest.mark.slow  # the app's pages on the real models
def test_a_failure_while_answering_shows_an_apology_and_the_hand_off_not_internals(app_env, monkeypatch):
    from chatbot.service import Service

    def broken(self, *args, **kwargs):
        raise RuntimeError("model server at /srv/secret/path is down")
        yield  # pragma: no cover - a generator that fails on its first step

    at = started()
    monkeypatch.setattr(Service, "stream", broken)
    at.chat_input[0].set_value("How big is the SL-300 battery?").run()
    assert not at.exception
    assert any("something went wrong" in w.value for w in at.warning)
    assert any("support team" in i.value for i in at.info)
    page = "\n".join(str(e.value) for e in [*at.markdown, *at.warning, *at.info, *at.error])
    assert "/srv/secret" not in page and "RuntimeError" not in page
    assert assistant_turns(at) == 1 and not at.chat_input[0].disabled  # the question and the apology stay
    monkeypatch.undo()
    at.chat_input[0].set_value("How big is the SL-300 battery?").run()  # the next question is answered
    assert assistant_turns(at) == 2 and "5200" in "\n".join(m.value for m in at.markdown)


@pytest.mark.slow  # the app's pages on the real models
def test_a_question_whose_answer_was_interrupted_is_answered_not_lost(app_env):
    """A rerun in the middle of an answer (another widget, a second message) leaves the question pending:
    the next run answers it, with the chat box disabled meanwhile."""
    at = started()
    at.session_state["pending"] = "How big is the SL-300 battery?"
    at.run()
    assert not at.exception and assistant_turns(at) == 1
    assert [m.markdown[0].value for m in at.chat_message if m.name == "user"] == ["How big is the SL\\-300 battery?"]
    assert "pending" not in at.session_state and not at.chat_input[0].disabled


@pytest.mark.slow  # the app's pages on the real models
def test_a_busy_server_says_so_and_leaves_the_chat_box_usable(app_env, monkeypatch):
    from chatbot.ui import state

    monkeypatch.setenv("CHATBOT_MAX_ACTIVE_ANSWERS", "1")
    at = started()
    with state.question_limits().answering() as admitted:  # another customer's answer holds the one place
        assert admitted
        at.chat_input[0].set_value("How big is the SL-300 battery?").run()
    assert not at.exception and any("busy" in w.value for w in at.warning)
    assert not at.chat_input[0].disabled and "pending" not in at.session_state
    at.chat_input[0].set_value("How big is the SL-300 battery?").run()  # the place is free again
    assert "5200" in "\n".join(m.value for m in at.markdown)


@pytest.mark.slow  # the app's pages on the real models
def test_admin_sign_in_is_throttled_across_reloads(tmp_path, monkeypatch):
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "s3cret-pw")
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN_PRICED}):
        at = started()
        at.switch_page("views/documents.py").run()
        for _ in range(4):
            at.text_input[0].input("guess")
            at.button[0].click().run()
        assert any("Wrong password" in e.value for e in at.error)
        reloaded = started()
        reloaded.switch_page("views/documents.py").run()
        reloaded.text_input[0].input("s3cret-pw")  # even the right one waits now
        reloaded.button[0].click().run()
        assert any("Too many wrong passwords" in e.value for e in reloaded.error)
        assert not reloaded.get("file_uploader")


def test_an_empty_admin_password_is_a_configuration_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "  ")
    assert main(["docs", "list"]) == 2
    assert "CHATBOT_ADMIN_PASSWORD: set but empty" in capsys.readouterr().err


def test_an_empty_password_file_does_not_pass(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("CHATBOT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "s3cret-pw")
    monkeypatch.delenv("CHATBOT_ADMIN_TOKEN", raising=False)
    slept: list[float] = []
    monkeypatch.setattr(admin.time, "sleep", slept.append)
    empty = tmp_path / "empty"
    empty.write_text("")
    assert main(["docs", "delete", "x", "--password-file", str(empty)]) == 2
    assert "wrong admin password" in capsys.readouterr().err
    assert slept == [admin.WRONG_PASSWORD_DELAY_S]  # a wrong guess costs time


@pytest.mark.slow  # the app's pages on the real models
def test_uploads_are_capped_at_the_app_limit_by_streamlit_itself(tmp_path, monkeypatch):
    import tomllib

    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["maxUploadSize"] == 20 and config["client"]["showErrorDetails"] == "none"
    monkeypatch.setenv("CHATBOT_MAX_UPLOAD_MB", "3")
    with app_environment(tmp_path, monkeypatch, {"lantern.md": LANTERN_PRICED}):
        at = started()
        at.switch_page("views/documents.py").run()
        assert at.get("file_uploader")[0].proto.max_upload_size_mb == 3
        assert any("Up to 3 MB each" in c.value for c in at.caption)
