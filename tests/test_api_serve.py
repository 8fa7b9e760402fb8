"""`chatbot serve --api` (what `make run` runs) on a fresh home with the small real model: the app and the
API come up together, the first start prints the generated admin password once and keeps it owner-only, the
admin API is closed, the real `openai` client gets a cited answer from the real model, and stopping the app
stops the API."""

from __future__ import annotations

import os
import stat
import sys
import time
import urllib.request
from pathlib import Path

import httpx
import pytest

from chatbot import admin, apikeys
from chatbot.db import open_database
from tests.conftest import make_settings
from tests.documents import LANTERN
from tests.servers import free_port, running

pytestmark = pytest.mark.slow  # starts the app and the API in subprocesses on the small real model


def test_serve_with_api_on_a_fresh_home(tmp_path: Path) -> None:
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "lantern.md").write_bytes(LANTERN)
    settings = make_settings(tmp_path / "home", kb_dir=kb)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update({"CHATBOT_HOME": str(settings.home), "CHATBOT_KB_DIR": str(kb),
                "CHATBOT_CHAT_MODEL": settings.chat_model, "CHATBOT_MAX_NEW_TOKENS": "24",
                "CHATBOT_VERIFY_ANSWERS": "false", "CHATBOT_ANSWER_STYLE": "free"})
    app_port, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    log = tmp_path / "serve.log"
    command = [sys.executable, "-m", "chatbot.cli", "serve", "--port", str(app_port), "--address", "127.0.0.1",
               "--api", str(api_port)]
    with running(command, api + "/ready", log, timeout=300, env=env):
        with urllib.request.urlopen(f"http://127.0.0.1:{app_port}/_stcore/health", timeout=60) as response:
            assert response.status == 200  # the app too
        path = admin.password_path(settings)
        secret = path.read_text().strip()
        printed = log.read_text()
        assert f"Admin password (generated, shown once): {secret}" in printed and str(path) in printed
        assert printed.count(secret) == 1 and stat.S_IMODE(path.stat().st_mode) == 0o600
        assert httpx.get(api + "/v1/documents").status_code == 401  # no open admin API
        engine = open_database(settings.effective_database_url)
        key, _ = apikeys.create(engine, "test", "chat", 100)
        engine.dispose()

        from openai import OpenAI

        client = OpenAI(base_url=api + "/v1", api_key=key, max_retries=0, timeout=300)
        reply = client.chat.completions.create(
            model="rag", messages=[{"role": "user", "content": "How big is the SL-300 lantern battery?"}])
        message = reply.choices[0].message
        assert message.content and isinstance(message.handoff, bool)
        assert message.citations and message.citations[0]["document"] == "lantern"
        chunks = list(client.chat.completions.create(
            model="rag", stream=True, messages=[{"role": "user", "content": "How big is the SL-300 lantern battery?"}]))
        assert chunks[-1].citations and "".join(c.choices[0].delta.content or "" for c in chunks)
    deadline = time.monotonic() + 20  # the API process ends with the app
    while time.monotonic() < deadline:
        try:
            httpx.get(api + "/health", timeout=1)
        except httpx.TransportError:
            break
        time.sleep(0.5)
    else:
        pytest.fail("the API outlived the app")
