"""The app as a customer meets it: `chatbot serve` from launch to a chat box that answers, in a real
browser (headless Chromium), and the server's peak memory after a conversation.

    .venv/bin/python bench/app_start.py --json
    .venv/bin/python bench/app_start.py --side-by-side --json   # also loads the active fine-tuned model

Two starts on one temporary home (models linked from --home, so converted and fine-tuned models and the
active choice are the user's): the first indexes the sample knowledge base, the second finds it indexed
(an ordinary restart). Each is timed from process launch to the chat input being shown, which is when
the models are loaded and warm (`chatbot/ui/state.py:get_service`). Then one question is asked (RAG, or
side by side: RAG, fine-tuned, hybrid) and the server's peak resident memory (VmHWM) is read.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from chatbot.config import Settings

ROOT = Path(__file__).resolve().parent.parent
REFERENCE = {"start_to_ready_s": 15.0, "peak_rss_mb": 2500.0}  # issue 6's targets


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def peak_rss_mb(pid: int) -> float:
    """VmHWM of a process: the most resident memory it has held."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def start(home: Path, port: int, log: Path) -> tuple[subprocess.Popen, float]:
    env = {**os.environ, "CHATBOT_HOME": str(home), "CHATBOT_KB_DIR": str(ROOT / "knowledge_base")}
    launched = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "chatbot.cli", "serve", "--port", str(port), "--address",
                             "127.0.0.1"], env=env, cwd=ROOT, stdout=log.open("ab"), stderr=subprocess.STDOUT)
    while True:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return proc, launched
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit("the app did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.1)


def run_once(browser, home: Path, log: Path, ask: str | None, side_by_side: bool) -> dict:
    port = free_port()
    proc, launched = start(home, port, log)
    try:
        serving = time.perf_counter() - launched
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"http://127.0.0.1:{port}", timeout=600_000)
        page.get_by_placeholder("Ask a question").wait_for(timeout=600_000)
        row = {"server_up_s": round(serving, 2), "start_to_ready_s": round(time.perf_counter() - launched, 2)}
        if ask:
            answers = 1
            if side_by_side:
                page.locator('[data-testid="stSidebar"]').get_by_text("Side by side").click()
                page.get_by_text("Arms").first.wait_for(timeout=30_000)
                answers = 3
            asked = time.perf_counter()
            page.get_by_placeholder("Ask a question").fill(ask)
            page.keyboard.press("Enter")
            page.wait_for_function(f"document.body.innerText.split('first token').length > {answers}",
                                   timeout=900_000)
            row["answer_s"] = round(time.perf_counter() - asked, 2)
        row["peak_rss_mb"] = round(peak_rss_mb(proc.pid), 1)
        page.close()
        return row
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--home", default=None, help="CHATBOT_HOME whose models/ is used (default ~/.chatbot)")
    parser.add_argument("--question", default="How long is the warranty on the Hub Pro?")
    parser.add_argument("--side-by-side", action="store_true", help="ask RAG, fine-tuned and hybrid")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        raise SystemExit("needs Chromium (apt-get install chromium)")
    models = (Settings() if args.home is None else Settings(home=Path(args.home))).models_dir.resolve()
    models.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, sync_playwright() as p:
        home, log = Path(tmp) / "home", Path(tmp) / "serve.log"
        home.mkdir()
        (home / "models").symlink_to(models, target_is_directory=True)
        browser = p.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        first = run_once(browser, home, log, None, False)
        restart = run_once(browser, home, log, args.question, args.side_by_side)
        browser.close()
    result = {"first_start": first, "restart": restart, "side_by_side": args.side_by_side,
              "load_average": [round(x, 2) for x in os.getloadavg()], "reference": REFERENCE}
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{'figure':<34}{'first start':>14}{'restart':>10}{'target':>10}")
        print(f"{'launch to chat box ready (s)':<34}{first['start_to_ready_s']:>14}{restart['start_to_ready_s']:>10}"
              f"{REFERENCE['start_to_ready_s']:>10}")
        print(f"{'server answering health (s)':<34}{first['server_up_s']:>14}{restart['server_up_s']:>10}")
        print(f"{'first answer in the browser (s)':<34}{'':>14}{restart.get('answer_s', ''):>10}")
        print(f"{'peak RSS (MB)':<34}{first['peak_rss_mb']:>14}{restart['peak_rss_mb']:>10}"
              f"{REFERENCE['peak_rss_mb']:>10}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
