"""End to end in a real browser: headless Chromium (Debian's package) driven by Playwright against
`chatbot serve` on loopback: chat with sources, upload as admin and ask about it, then side by side
(the small packaged model registered as the fine-tuned one). Screenshots go to test-artifacts/."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
import urllib.request

import pytest

from tests.conftest import ROOT, make_settings
from tests.documents import LANTERN
from tests.servers import free_port
from tests.test_compare import register_small_model

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"
WARRANTY = b"# Garden Hose Warranty\n\n## Length\n\nThe GH-77 garden hose carries a 9-year warranty.\n"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")]


@pytest.fixture
def app_url(tmp_path):
    kb = tmp_path / "kb"
    kb.mkdir()
    (kb / "lantern.md").write_bytes(LANTERN)
    settings = make_settings(tmp_path / "home", kb_dir=kb)
    register_small_model(settings)  # an active fine-tuned model makes the side-by-side mode available
    port = free_port()
    env = {**os.environ, "CHATBOT_HOME": str(settings.home), "CHATBOT_KB_DIR": str(kb),
           "CHATBOT_CHAT_MODEL": settings.chat_model, "CHATBOT_MAX_NEW_TOKENS": "24",
           "CHATBOT_VERIFY_ANSWERS": str(settings.verify_answers), "CHATBOT_ANSWER_STYLE": settings.answer_style,
           "CHATBOT_ADMIN_OPEN": "true"}  # the upload below goes through the admin page without signing in
    log = open(tmp_path / "serve.log", "wb")
    proc = subprocess.Popen([sys.executable, "-m", "chatbot.cli", "serve", "--port", str(port), "--address",
                             "127.0.0.1"], env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 240
    while True:
        try:
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail("app did not start: " + (tmp_path / "serve.log").read_text()[-3000:])
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
    log.close()


def ask(page, question: str, answers_before: int, new_answers: int = 1) -> None:
    """Ask, and wait until the page shows `new_answers` more answers' figures ("first token ...")."""
    page.get_by_placeholder("Ask a question").fill(question, timeout=600_000)  # waits for an answer in progress
    page.keyboard.press("Enter")
    page.wait_for_function(
        f"document.body.innerText.split('first token').length > {answers_before + new_answers}", timeout=600_000)


# innerText of the top-level columns of the last chat message (the arms; not the columns nested in them).
LAST_TURN_COLUMNS = """() => {
  const turns = document.querySelectorAll('[data-testid="stChatMessage"]');
  const turn = turns[turns.length - 1];
  return [...turn.querySelectorAll('[data-testid="stColumn"]')]
    .filter(column => !column.parentElement.closest('[data-testid="stColumn"]'))
    .map(column => column.innerText);
}"""


def open_sources(page, title: str) -> None:
    """Expand the last answer's sources panel until `title` shows. The app reruns once more after streaming
    an answer, which can collapse a panel opened a moment too early, so try a few times."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(6):
        try:
            page.get_by_text(title).first.wait_for(timeout=3_000)
            return
        except PlaywrightTimeout:
            page.get_by_text("Sources (").last.click()
    page.get_by_text(title).first.wait_for(timeout=10_000)


def index_upload(page, done_text: str) -> None:
    """Press "Index uploaded files" once the upload has reached the server (the button can be pressed
    before the browser finished sending the file; then the app has nothing to index yet)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(10):
        button = page.get_by_role("button", name="Index uploaded files")
        if button.count():
            button.click()
        try:
            page.get_by_text(done_text).first.wait_for(timeout=6_000)
            return
        except PlaywrightTimeout:
            continue
    page.get_by_text(done_text).first.wait_for(timeout=10_000)


def test_chat_and_upload_in_a_real_browser(app_url, tmp_path):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    upload = tmp_path / "garden-hose.md"
    upload.write_bytes(WARRANTY)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=[
            "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
            "--disable-component-update", "--disable-sync"])
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(app_url, timeout=300_000)
        page.get_by_placeholder("Ask a question").wait_for(timeout=300_000)

        ask(page, "How big is the SL-300 battery?", 0)
        open_sources(page, "Solar Lantern SL-300")
        page.screenshot(path=str(ARTIFACTS / "browser-chat.png"), full_page=True)

        # While an answer is written the chat box is disabled; a question typed meanwhile waits for it
        # (Playwright's fill waits until the box is enabled again), and neither turn is lost.
        page.get_by_placeholder("Ask a question").fill("How many hours of light does the SL-300 give?")
        page.keyboard.press("Enter")
        page.wait_for_function("() => document.querySelector('textarea').disabled", timeout=60_000)
        ask(page, "How big is the SL-300 battery?", 2)
        bubbles = page.locator('[data-testid="stChatMessage"]').all_inner_texts()
        assert len(bubbles) == 6 and "hours of light" in bubbles[2], bubbles

        page.get_by_role("link", name="Documents").click()
        page.locator("input[type=file]").set_input_files(str(upload))
        index_upload(page, "(id garden-hose)")
        assert "Indexed garden-hose.md" in page.inner_text("body")
        page.screenshot(path=str(ARTIFACTS / "browser-upload.png"), full_page=True)

        page.get_by_role("link", name="Chat").click()
        ask(page, "How long is the warranty on the GH-77 garden hose?", 3)
        open_sources(page, "Garden Hose Warranty")
        page.screenshot(path=str(ARTIFACTS / "browser-upload-answer.png"), full_page=True)

        page.locator('[data-testid="stSidebar"]').get_by_text("Side by side").click()
        page.get_by_text("Arms").first.wait_for(timeout=30_000)
        ask(page, "How big is the SL-300 battery?", 4, new_answers=3)  # the default arms: RAG, fine-tuned, hybrid
        columns = page.evaluate(LAST_TURN_COLUMNS)
        assert len(columns) >= 2, columns
        for text in columns:
            assert re.search(r"first token \d+\.\d+s · total \d+\.\d+s", text), text
        labels = [text.splitlines()[0] for text in columns]
        assert labels[:3] == ["RAG", "Fine-tuned", "Hybrid"][:len(labels)], labels
        page.screenshot(path=str(ARTIFACTS / "browser-side-by-side.png"), full_page=True)
        browser.close()
