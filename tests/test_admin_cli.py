"""Admin CLI actions need the admin password when one is set (the admin pages' rule); when it is unset the
password is the generated one in CHATBOT_HOME, and a caller who can read it (the installation's owner) passes;
CHATBOT_ADMIN_OPEN opens them to everyone."""

from __future__ import annotations

import json
import os

import pytest
from pydantic import SecretStr

from chatbot import admin
from chatbot.cli import main
from chatbot.service import make_service
from tests.conftest import make_settings

DOC = b"# Returns\n\nReturn items within 30 days."


@pytest.fixture
def home(tmp_path, monkeypatch, embeddings):
    """A home with one indexed document, configured through the environment like production."""
    settings = make_settings(tmp_path / "home")
    service = make_service(settings, embeddings=embeddings)
    assert service.ingest_bytes("returns.md", DOC).status == "indexed"
    service.engine.dispose()
    monkeypatch.setenv("CHATBOT_HOME", str(settings.home))
    monkeypatch.setenv("CHATBOT_KB_DIR", str(settings.kb_dir))
    for name in ("CHATBOT_ADMIN_PASSWORD", "CHATBOT_ADMIN_TOKEN", "CHATBOT_DATABASE_URL", "CHATBOT_ADMIN_OPEN"):
        monkeypatch.delenv(name, raising=False)
    return settings


def doc_ids(capsys) -> list[str]:
    capsys.readouterr()
    assert main(["docs", "list", "--json"]) == 0  # not an admin action
    return [d["doc_id"] for d in json.loads(capsys.readouterr().out)]


def test_docs_delete_needs_the_admin_password_when_one_is_set(home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "s3cret-pw")
    assert main(["docs", "delete", "returns"]) == 2
    err = capsys.readouterr().err
    assert "admin action" in err and admin.TOKEN_ENV in err
    assert doc_ids(capsys) == ["returns"]

    monkeypatch.setenv("CHATBOT_ADMIN_TOKEN", "wrong")
    assert main(["docs", "delete", "returns"]) == 2
    assert "wrong admin password" in capsys.readouterr().err
    assert doc_ids(capsys) == ["returns"]

    monkeypatch.setenv("CHATBOT_ADMIN_TOKEN", "s3cret-pw")
    assert main(["docs", "delete", "returns"]) == 0
    assert "deleted returns" in capsys.readouterr().out
    assert doc_ids(capsys) == []


def test_password_file_and_other_admin_commands(home, monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "s3cret-pw")
    out = tmp_path / "export"
    for argv in (["feedback", "export", "--out", str(out)], ["models", "use", "nothing"],
                 ["models", "delete", "nothing"], ["ingest", str(tmp_path)], ["finetune", "--max-steps", "1"],
                 ["eval", "--dataset", str(tmp_path)]):
        assert main(argv) == 2, argv
        assert "CHATBOT_ADMIN_TOKEN" in capsys.readouterr().err
    assert not out.exists()
    password_file = tmp_path / "admin-password"
    password_file.write_text("s3cret-pw\n")
    assert main(["feedback", "export", "--out", str(out), "--password-file", str(password_file)]) == 0
    assert (out / "sft.jsonl").is_file()
    assert main(["models", "use", "nothing", "--password-file", str(tmp_path / "missing")]) == 2
    assert "cannot read the password file" in capsys.readouterr().err


def test_the_owner_passes_with_the_generated_password_and_prompt_on_a_terminal(home, capsys):
    assert main(["docs", "delete", "no-such-doc"]) == 1  # allowed (reads HOME/admin-password): just not found
    assert "no document" in capsys.readouterr().err
    assert admin.password_path(home).is_file()
    (home.home / admin.PASSWORD_FILE).chmod(0o000)  # someone who cannot read it is not the owner (unless root)
    try:
        if os.geteuid() != 0:
            with pytest.raises(admin.AdminRefused, match="cannot read"):
                admin.authorize(home, environ={}, interactive=False)
    finally:
        (home.home / admin.PASSWORD_FILE).chmod(0o600)
    admin.authorize(home.model_copy(update={"admin_open": True}), environ={}, interactive=False)
    settings = home.model_copy(update={"admin_password": SecretStr("s3cret-pw")})
    admin.authorize(settings, environ={}, interactive=True, ask=lambda prompt: "s3cret-pw")
    with pytest.raises(admin.AdminRefused, match="wrong admin password"):
        admin.authorize(settings, environ={}, interactive=True, ask=lambda prompt: "guess")
    with pytest.raises(admin.AdminRefused, match="CHATBOT_ADMIN_TOKEN"):
        admin.authorize(settings, environ={}, interactive=False)


@pytest.mark.slow  # the app warms the real models
def test_admin_page_asks_for_the_same_password(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest

    from tests.conftest import ROOT, app_environment

    monkeypatch.setenv("CHATBOT_ADMIN_PASSWORD", "s3cret-pw")
    with app_environment(tmp_path, monkeypatch, {"returns.md": DOC}):
        at = AppTest.from_file(str(ROOT / "chatbot" / "ui" / "app.py"), default_timeout=300).run()
        at.switch_page("views/documents.py").run()
        assert not at.get("file_uploader")
        at.text_input[0].input("guess")
        at.button[0].click().run()
        assert any("Wrong password" in e.value for e in at.error)
        at.text_input[0].input("s3cret-pw")
        at.button[0].click().run()
        assert at.get("file_uploader") and not at.exception
