"""First start on a machine where the app never ran: no ~/.chatbot, or a CHATBOT_HOME whose folder does
not exist yet. Every other test starts from a temporary folder that already exists, which hid a crash
(the start-up manifest count opened the SQLite file before its folder was made)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot.config import PACKAGED_SMALL_CHAT
from tests.servers import free_port, running

pytestmark = pytest.mark.slow  # starts the server and the CLI in subprocesses

BIN = Path(sys.executable).parent


def fresh_env(user_home: Path, **chatbot: str) -> dict[str, str]:
    """The environment of a new user: HOME is an empty folder, no CHATBOT_* setting but those given."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env["HOME"] = str(user_home)
    env.update({f"CHATBOT_{k.upper()}": v for k, v in chatbot.items()})
    return env


def test_serve_starts_with_an_empty_home(tmp_path: Path) -> None:
    """`chatbot serve` with HOME pointing at an empty folder indexes the sample KB into ~/.chatbot and
    answers the health check."""
    home = tmp_path / "user"
    home.mkdir()
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "returns.md").write_text("# Returns\n\nYou can return an item within 30 days of delivery.\n")
    port = free_port()
    env = fresh_env(home, kb_dir=str(kb), chat_model=PACKAGED_SMALL_CHAT, max_new_tokens="8")
    command = [str(BIN / "chatbot"), "serve", "--port", str(port), "--address", "127.0.0.1"]
    with running(command, f"http://127.0.0.1:{port}/_stcore/health", tmp_path / "serve.log", timeout=300,
                 env=env):
        pass
    assert (home / ".chatbot" / "chatbot.db").is_file()
    assert "returns.md" in (tmp_path / "serve.log").read_text()


def test_commands_with_a_home_that_does_not_exist(tmp_path: Path) -> None:
    """Reading and admin commands create CHATBOT_HOME (and its parents) instead of failing."""
    home = tmp_path / "not" / "yet" / "there"
    env = fresh_env(tmp_path, home=str(home))
    for args in (["db", "upgrade"], ["docs", "list", "--json"], ["models", "list", "--json"]):
        done = subprocess.run([str(BIN / "chatbot"), *args], env=env, capture_output=True, text=True,
                              timeout=300)
        assert done.returncode == 0, (args, done.stderr[-2000:])
        if "--json" in args:
            assert json.loads(done.stdout) == []
    assert (home / "chatbot.db").is_file()
