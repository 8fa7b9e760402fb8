"""Make the README's screenshot, docs/screenshot.png: the app on the sample knowledge base with default settings
(the real default answer model), asked a question the sample KB answers, photographed in headless Chromium once
the answer and its figures ("first token …") are shown and its sources panel is open.

    .venv/bin/python docs/make_screenshot.py                         # ~1-3 minutes on an idle 2-core CPU
    .venv/bin/python docs/make_screenshot.py --models-from ~/.chatbot/models   # reuse assembled models
    .venv/bin/python docs/make_screenshot.py --question "..." --out /tmp/shot.png

`chatbot serve` runs in a fresh temporary CHATBOT_HOME (the first start assembles the packaged models there,
unless --models-from links them, and indexes knowledge_base/), with every other CHATBOT_* variable of the caller's
environment removed so the picture shows the defaults (--model overrides the answer model). The server is stopped
at the end, whatever happens. When the bot hands off instead of answering, the picture goes to
`<out>-handoff.png` for inspection, docs/screenshot.png is left as it was, and the exit code is 1.
Needs Playwright (the test extra) and Debian's chromium (/usr/bin/chromium), as tests/test_browser.py does.
Run it on an idle machine: the first-token figure in the picture is the machine's.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshot.png"
# knowledge_base/troubleshooting/error-code-reference.md: "E-104 Hub offline — The Hub's LED ring turns solid
# amber. Check your internet, restart the Hub (unplug for 10 seconds) and connect it with Ethernet if possible."
QUESTION = "My hub shows error E-104. How do I fix it?"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
HANDOFF_MARK = "Want a person to help?"  # chatbot/ui/components.py:render_handoff


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def chromium() -> str:
    path = shutil.which("chromium") or shutil.which("chromium-browser") or "/usr/bin/chromium"
    if not Path(path).exists():
        sys.exit("Debian's chromium is not installed (apt-get install chromium)")
    return path


def server_env(home: Path, model: str | None) -> dict[str, str]:
    """The caller's environment without its CHATBOT_* settings: the app's defaults, in a fresh home."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CHATBOT_")}
    env.update({"CHATBOT_HOME": str(home), "CHATBOT_KB_DIR": str(ROOT / "knowledge_base")})
    if model:
        env["CHATBOT_CHAT_MODEL"] = model
    return env


def start_server(home: Path, port: int, model: str | None, log_path: Path) -> subprocess.Popen:
    """`chatbot serve` in its own process group (stopped as a group at the end), cwd in the temporary home so
    that no `.env` file of the repository changes the defaults."""
    log = open(log_path, "wb")
    return subprocess.Popen([sys.executable, "-m", "chatbot.cli", "serve", "--port", str(port),
                             "--address", "127.0.0.1"], env=server_env(home, model), cwd=home,
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def stop_server(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)


def wait_healthy(url: str, proc: subprocess.Popen, log_path: Path, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError):
            with urllib.request.urlopen(url + "/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        if proc.poll() is not None:
            raise RuntimeError("chatbot serve exited:\n" + log_path.read_text(errors="replace")[-3000:])
        if time.monotonic() > deadline:
            raise RuntimeError(f"chatbot serve not healthy after {timeout_s:.0f} s:\n"
                               + log_path.read_text(errors="replace")[-3000:])
        time.sleep(0.5)


def open_sources(page) -> None:
    """Expand the last answer's sources panel. The app reruns once more after an answer, which can collapse a
    panel opened a moment too early, so try a few times (as tests/test_browser.py does)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    for _ in range(6):
        page.get_by_text("Sources (").last.click()
        try:
            page.get_by_text("relevance ").last.wait_for(state="visible", timeout=3_000)
            page.wait_for_timeout(1_500)  # let a late rerun settle, then check it is still open
            if page.get_by_text("relevance ").last.is_visible():
                return
        except PlaywrightTimeout:
            continue
    page.get_by_text("relevance ").last.wait_for(state="visible", timeout=10_000)


def photograph(url: str, question: str, out: Path, answer_timeout_s: float, width: int, height: int) -> bool:
    """Ask `question` and save the picture; False (picture beside `out`) when the bot handed off."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium(), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": height})
            page.goto(url, timeout=answer_timeout_s * 1000)
            box = page.get_by_placeholder("Ask a question")
            box.wait_for(timeout=answer_timeout_s * 1000)  # the models load at the first session
            box.fill(question)
            page.keyboard.press("Enter")
            # render_meta's caption ("… first token 1.23s · total …") is drawn once the answer is complete
            page.wait_for_function("document.body.innerText.includes('first token')",
                                   timeout=answer_timeout_s * 1000)
            handed_off = HANDOFF_MARK in page.inner_text("body")
            if not handed_off:
                open_sources(page)
            page.wait_for_timeout(500)
            target = out if not handed_off else out.with_name(out.stem + "-handoff.png")
            target.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(target), full_page=True)
            print(f"saved {target}")
            return not handed_off
        finally:
            browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Make docs/screenshot.png: a good answer on the default model.")
    parser.add_argument("--question", default=QUESTION, help=f"what to ask (default: {QUESTION!r})")
    parser.add_argument("--out", type=Path, default=OUT, help="where to save the PNG (default: docs/screenshot.png)")
    parser.add_argument("--model", default=None, help="CHATBOT_CHAT_MODEL for the server (default: the app's default)")
    parser.add_argument("--models-from", type=Path, default=None, metavar="DIR",
                        help="link this models folder (e.g. ~/.chatbot/models) into the temporary home instead of "
                             "assembling the packaged models there")
    parser.add_argument("--port", type=int, default=0, help="port for the app (default: a free one)")
    parser.add_argument("--start-timeout", type=float, default=600, help="seconds for the server to come up")
    parser.add_argument("--answer-timeout", type=float, default=900,
                        help="seconds for the page to load the models and for the answer")
    parser.add_argument("--size", default="1280x900", help="browser viewport, WIDTHxHEIGHT (default 1280x900)")
    parser.add_argument("--keep-home", action="store_true", help="keep the temporary home (printed) for inspection")
    args = parser.parse_args(argv)
    width, height = (int(n) for n in args.size.lower().split("x"))

    home = Path(tempfile.mkdtemp(prefix="chatbot-screenshot-"))
    if args.models_from:
        (home / "models").symlink_to(args.models_from.expanduser().resolve(), target_is_directory=True)
    port = args.port or free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = home / "serve.log"
    proc = start_server(home, port, args.model, log_path)
    previous = signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally below on kill
    try:
        print(f"chatbot serve on {url}, home {home} (log: {log_path})", flush=True)
        wait_healthy(url, proc, log_path, args.start_timeout)
        good = photograph(url, args.question, args.out.resolve(), args.answer_timeout, width, height)
        if not good:
            print("the bot handed off instead of answering: docs/screenshot.png left as it was", file=sys.stderr)
        return 0 if good else 1
    finally:
        stop_server(proc)
        signal.signal(signal.SIGTERM, previous)
        if args.keep_home:
            print(f"kept {home}")
        else:
            if args.models_from:
                (home / "models").unlink(missing_ok=True)  # the link only, never the linked models
            shutil.rmtree(home, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
