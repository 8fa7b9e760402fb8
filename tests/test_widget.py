"""The website widget in a real browser: a static page served from another origin (another port) embeds
widget.js with one script tag; a question typed with the keyboard is answered (streamed) with a numbered
source link, rated, then a hand-off, also at phone size. The API runs on the fake models (tests/fakes.py).
Screenshots go to test-artifacts/."""

from __future__ import annotations

import contextlib
import functools
import http.server
import shutil
import threading

import pytest
from sqlalchemy import select

from chatbot import db
from chatbot.service import make_service
from tests.api_server import api_server
from tests.conftest import ROOT, make_settings
from tests.documents import LANTERN_PRICED
from tests.servers import free_port

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = ROOT / "test-artifacts"

pytestmark = [pytest.mark.slow,
              pytest.mark.skipif(CHROMIUM is None, reason="Debian's chromium is not installed (.ci/run installs it)")]

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>Brightline shop</title>
<style>* {{ color: red !important; font-size: 40px !important; }} button {{ display: none !important; }}</style>
</head><body><h1>Brightline shop</h1><p>A page whose CSS tries to break everything.</p>
<script src="{api}/widget.js" data-key="{key}" data-title="Brightline help" defer></script>
</body></html>"""


@contextlib.contextmanager
def static_site(folder) -> str:
    port = free_port()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(folder))
    handler.log_message = lambda *args: None
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.shutdown()
        server.server_close()


def test_the_widget_on_another_origin_answers_with_a_source_link(tmp_path, echo_model, hashed_embeddings):
    from playwright.sync_api import sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    site_folder = tmp_path / "site"
    site_folder.mkdir()
    with static_site(site_folder) as site:
        settings = make_settings(tmp_path / "home", api_allowed_origins=[site], questions_per_minute=100)
        service = make_service(settings, chat_model=echo_model, embeddings=hashed_embeddings)
        service.ingest_bytes("lantern.md", LANTERN_PRICED)
        key, _ = service.create_api_key("shop widget", "chat", 100)
        with api_server(service) as api:
            assert site.rsplit(":", 1)[1] != api.rsplit(":", 1)[1]  # another origin
            (site_folder / "index.html").write_text(PAGE.format(api=api, key=key))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=[
                    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                    "--disable-background-networking", "--disable-component-update", "--disable-sync"])
                page = browser.new_page(viewport={"width": 1280, "height": 800})
                errors: list[str] = []
                page.on("pageerror", lambda exc: errors.append(str(exc)))
                page.goto(site + "/index.html")
                launcher = page.get_by_role("button", name="Open support chat")  # Playwright pierces shadow DOM
                launcher.focus()
                page.keyboard.press("Enter")  # keyboard only
                box = page.get_by_placeholder("Ask a question")
                box.wait_for(timeout=10_000)
                assert page.evaluate("document.activeElement.tagName") == "DIV"  # focus is inside the widget's host
                page.keyboard.type("SL-300 lantern battery mAh")
                page.keyboard.press("Enter")
                source = page.get_by_role("link", name="[1] Solar Lantern SL-300 › Battery")
                source.wait_for(timeout=20_000)
                assert source.get_attribute("href") == api + "/v1/articles/lantern#battery"
                assert source.get_attribute("target") == "_blank"
                answer = page.locator("[data-support-chat]").evaluate(
                    "host => host.shadowRoot.querySelector('.msg.bot .text').textContent")
                assert answer.startswith("Echo:"), answer
                page.get_by_role("button", name="Helpful", exact=True).click()
                page.wait_for_function("() => document.querySelector('[data-support-chat]').shadowRoot"
                                       ".querySelector('[aria-label=Helpful]').getAttribute('aria-pressed') === 'true'")
                page.screenshot(path=str(ARTIFACTS / "widget-answer.png"))
                # the page's CSS does not reach the widget (shadow DOM): its buttons are visible, not red 40px text
                style = page.locator("[data-support-chat]").evaluate(
                    "host => getComputedStyle(host.shadowRoot.querySelector('.send')).display")
                assert style != "none"

                page.set_viewport_size({"width": 375, "height": 667})  # a phone; a new visit, a new conversation
                page.reload()
                page.get_by_role("button", name="Open support chat").click()
                box.fill("Qzv wibble frob?")
                page.keyboard.press("Enter")
                page.get_by_text("Our support team can help with this").wait_for(timeout=20_000)
                assert page.get_by_text("Contact: " + settings.support_contact).is_visible()
                width = page.locator("[data-support-chat]").evaluate(
                    "host => host.shadowRoot.querySelector('.panel').getBoundingClientRect().width")
                assert width <= 375
                page.screenshot(path=str(ARTIFACTS / "widget-phone-handoff.png"))
                page.keyboard.press("Escape")  # closes the panel, focus back on the launcher
                assert page.get_by_role("button", name="Open support chat").is_visible()
                browser.close()
                assert errors == []
    with service.engine.connect() as conn:  # the thumbs up reached the database
        assert [r.rating for r in conn.execute(select(db.feedback)).all()] == [1]
