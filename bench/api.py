"""The HTTP API under measurement (issue 29), in two parts, on the sample KB and the default answer model.

1. Load: the API server as its own process (`python -m chatbot.api`, default settings: 12 questions per minute
   per client, 4 answers in progress) and 20 clients on loopback asking streamed questions for 60 s, each with
   its own address (X-Forwarded-For, CHATBOT_TRUST_FORWARDED_FOR=true), retrying after Retry-After on 429/503.
   Bounded: no request starts after 60 s and each lasts at most --request-timeout; then the server is stopped.
   Reports every status (anything but 200, 429 and 503 is an error, as is a stream without `data: [DONE]`),
   p50/p95 of the wait for a response and, for answers, for the first word and the whole answer, and the
   server's memory (RSS) before and after.
2. First token: the same question answered in-process (`Service.stream`) and through the API (streamed, the
   first content delta) on one service, alternating, after one warm-up answer per question so that both read
   the prompt from llama.cpp's cache alike. On a shared CPU the model's own speed varies by more than the HTTP
   layer costs, so each API request also records the service's first token inside it: the client's wait minus
   that is exactly what the HTTP layer added (goal: under 50 ms).

    .venv/bin/python bench/api.py [--model packaged:qwen2.5-coder-1.5b-instruct] [--clients 20] [--seconds 60]

Models are linked from --home (default ~/.chatbot) into a temporary home. Prints the CPU beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import psutil
from generation import QUESTIONS  # bench/ is on sys.path when run as a script
from machine import cpu_name

from chatbot.config import PACKAGED_CHAT, Settings

ROOT = Path(__file__).resolve().parent.parent
MORE = ["How do I pair a new camera?", "What is the return window?", "Is there a student discount?",
        "How do I update the hub firmware?", "How do I cancel Brightline Plus?"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def pct(values: list[float], q: float) -> float | None:
    """The q-quantile (nearest rank), or None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))], 3)


def stream_question(client: httpx.Client, url: str, key: str, question: str, headers: dict[str, str] | None = None,
                    timeout: float = 180) -> dict:
    """One streamed question: status, seconds to the response, to the first content and to [DONE]."""
    start = time.perf_counter()
    out: dict = {"status": None, "response_s": None, "first_token_s": None, "total_s": None, "done": False,
                 "retry_after": None}
    body = {"model": "rag", "stream": True, "messages": [{"role": "user", "content": question}]}
    with client.stream("POST", url + "/v1/chat/completions", json=body, timeout=timeout,
                       headers={"Authorization": f"Bearer {key}", **(headers or {})}) as response:
        out["status"] = response.status_code
        out["response_s"] = time.perf_counter() - start
        if response.status_code != 200:
            response.read()
            out["retry_after"] = response.headers.get("retry-after")
            try:
                out["error"] = response.json()["error"]["code"]
            except (ValueError, KeyError, TypeError):
                out["error"] = "not an OpenAI-style JSON error: " + response.text[:200]
            return out
        for line in response.iter_lines():
            if not line.startswith("data: "):
                continue
            data = line[6:]
            if data == "[DONE]":
                out["done"] = True
                break
            chunk = json.loads(data)
            if "error" in chunk:
                out["error"] = chunk["error"]["code"]
                continue
            content = chunk["choices"][0]["delta"].get("content")
            if content and out["first_token_s"] is None:
                out["first_token_s"] = time.perf_counter() - start
        out["total_s"] = time.perf_counter() - start
    return out


def load(home: Path, model: str, clients: int, seconds: float, request_timeout: float) -> dict:
    """Part 1: the API server in its own process under `clients` concurrent clients for `seconds`."""
    from chatbot.apikeys import create
    from chatbot.db import open_database

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {**os.environ, "CHATBOT_HOME": str(home), "CHATBOT_CHAT_MODEL": model, "CHATBOT_TRUST_FORWARDED_FOR": "true",
           "CHATBOT_KB_DIR": str(ROOT / "knowledge_base")}
    log = open(home / "api.log", "wb")
    server = subprocess.Popen([sys.executable, "-m", "chatbot.api", "--port", str(port)], env=env, cwd=ROOT,
                              stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 600
        while True:
            try:
                if httpx.get(url + "/ready", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit("the API server did not start: " + (home / "api.log").read_text()[-2000:])
            time.sleep(0.5)
        engine = open_database(Settings(home=home).effective_database_url)
        key, _ = create(engine, "bench", "chat", 100_000)  # the per-client limit is the one under test
        engine.dispose()
        process = psutil.Process(server.pid)
        rss_before = process.memory_info().rss / 2**20
        results: list[dict] = []
        lock = threading.Lock()
        end = time.monotonic() + seconds
        questions = QUESTIONS + MORE

        def client_loop(n: int) -> None:
            with httpx.Client() as client:
                asked = 0
                while time.monotonic() < end:
                    question = questions[(n + asked) % len(questions)]
                    asked += 1
                    try:
                        result = stream_question(client, url, key, question, {"X-Forwarded-For": f"10.0.0.{n + 1}"},
                                                 request_timeout)
                    except httpx.HTTPError as exc:
                        result = {"status": "transport error", "error": repr(exc)}
                    with lock:
                        results.append(result)
                    pause = 1.0  # a customer reads the answer (or the "busy" note) before asking again
                    if result.get("retry_after"):
                        pause = max(pause, float(result["retry_after"]))
                    time.sleep(max(0.0, min(pause, end - time.monotonic())))

        started = time.monotonic()
        threads = [threading.Thread(target=client_loop, args=(n,)) for n in range(clients)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        took = time.monotonic() - started
        rss_after = process.memory_info().rss / 2**20
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()
    statuses = Counter(str(r["status"]) for r in results)
    errors = [r for r in results if r["status"] not in (200, 429, 503) or (r["status"] == 200 and not r["done"])
              or (r["status"] != 200 and "error" in r and str(r["error"]).startswith("not an OpenAI"))]
    answered = [r for r in results if r["status"] == 200 and r["done"]]
    return {
        "clients": clients, "seconds": seconds, "wall_s": round(took, 1), "requests": len(results),
        "statuses": dict(statuses), "errors": len(errors), "error_examples": errors[:3],
        "answers": len(answered), "answers_per_min": round(len(answered) / took * 60, 1),
        "response_wait_p50_s": pct([r["response_s"] for r in results if r.get("response_s") is not None], 0.5),
        "response_wait_p95_s": pct([r["response_s"] for r in results if r.get("response_s") is not None], 0.95),
        "answer_first_token_p50_s": pct([r["first_token_s"] for r in answered if r["first_token_s"]], 0.5),
        "answer_first_token_p95_s": pct([r["first_token_s"] for r in answered if r["first_token_s"]], 0.95),
        "answer_total_p50_s": pct([r["total_s"] for r in answered], 0.5),
        "answer_total_p95_s": pct([r["total_s"] for r in answered], 0.95),
        "refused_429_wait_p50_s": pct([r["response_s"] for r in results if r["status"] == 429], 0.5),
        "busy_503_wait_p50_s": pct([r["response_s"] for r in results if r["status"] == 503], 0.5),
        "server_rss_mb_before": round(rss_before), "server_rss_mb_after": round(rss_after),
    }


def first_token(home: Path, model: str, questions: int, repeats: int) -> dict:
    """Part 2: in-process vs API first token for the same questions on one service."""
    import uvicorn

    from chatbot.api import create_app
    from chatbot.service import make_service

    settings = Settings(home=home, chat_model=model, kb_dir=ROOT / "knowledge_base")
    service = make_service(settings)
    service.ensure_sample_kb()
    service.warm()
    key, _ = service.create_api_key("bench", "chat", 100_000)
    app = create_app(service)
    app.state.limits.per_minute = 100_000
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    url = f"http://127.0.0.1:{port}"

    # The service's own first token inside each API request: the request's wait minus this is exactly what the
    # HTTP layer added (routing, key check, JSON, SSE, loopback), whatever the model's speed at that moment.
    marks: list[float] = []
    stream_inner = service.stream

    def stream_timed(*args, **kwargs):
        called = time.perf_counter()
        first = True
        for event in stream_inner(*args, **kwargs):
            if first and event.kind == "token" and event.token:
                marks.append(time.perf_counter() - called)
                first = False
            yield event

    def in_process(question: str) -> float:
        start = time.perf_counter()
        events = service.stream(question)
        first = None
        for event in events:
            if event.kind == "token" and event.token and first is None:
                first = time.perf_counter() - start
        return first if first is not None else float("nan")

    rows = []
    try:
        with httpx.Client() as client:
            for question in (QUESTIONS + MORE)[:questions]:
                in_process(question)  # warm-up: the prompt is in llama.cpp's cache for both ways below
                local, remote = [], []
                added = []
                for _ in range(repeats):
                    local.append(in_process(question))
                    service.stream = stream_timed
                    marks.clear()
                    result = stream_question(client, url, key, question)
                    service.stream = stream_inner
                    remote.append(result["first_token_s"] or float("nan"))
                    added.append((remote[-1] - marks[0]) * 1000 if marks else float("nan"))
                rows.append({"question": question, "in_process_s": [round(x, 4) for x in local],
                             "api_s": [round(x, 4) for x in remote],
                             "api_minus_in_process_ms": round((statistics.median(remote) - statistics.median(local))
                                                              * 1000, 1),
                             "http_layer_ms": [round(x, 1) for x in added]})
    finally:
        server.should_exit = True
        thread.join(timeout=10)
    overheads = [r["api_minus_in_process_ms"] for r in rows]
    added = [x for r in rows for x in r["http_layer_ms"]]
    return {"questions": rows, "overhead_median_ms": round(statistics.median(overheads), 1),
            "overhead_max_ms": max(overheads), "http_layer_median_ms": round(statistics.median(added), 1),
            "http_layer_max_ms": round(max(added), 1),
            "in_process_first_token_p50_s": round(statistics.median(x for r in rows for x in r["in_process_s"]), 3),
            "api_first_token_p50_s": round(statistics.median(x for r in rows for x in r["api_s"]), 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", default=PACKAGED_CHAT)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--request-timeout", type=float, default=180)
    parser.add_argument("--questions", type=int, default=3, help="questions in the first-token comparison")
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--home", default=None, help="CHATBOT_HOME holding converted models (default ~/.chatbot)")
    args = parser.parse_args(argv)
    models = (Settings() if args.home is None else Settings(home=Path(args.home))).models_dir.resolve()
    print(f"CPU: {cpu_name()}; load average {os.getloadavg()[0]:.2f}; model {args.model}", flush=True)
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        (home / "models").symlink_to(models, target_is_directory=True)
        loaded = load(home, args.model, args.clients, args.seconds, args.request_timeout)
        print(json.dumps({"load": loaded}, indent=2), flush=True)
        compared = first_token(home, args.model, args.questions, args.repeats)
        print(json.dumps({"first_token": compared}, indent=2), flush=True)
    ok = loaded["errors"] == 0
    print(f"\nCPU: {cpu_name()}")
    print(f"load: {loaded['requests']} requests from {args.clients} clients in {loaded['wall_s']} s: "
          f"{loaded['statuses']}; errors other than 429/503: {loaded['errors']}"
          f"{'' if ok else ' (FAIL)'}")
    print(f"  answers {loaded['answers']} ({loaded['answers_per_min']}/min), first token p50/p95 "
          f"{loaded['answer_first_token_p50_s']}/{loaded['answer_first_token_p95_s']} s, whole answer p50/p95 "
          f"{loaded['answer_total_p50_s']}/{loaded['answer_total_p95_s']} s; any response p50/p95 "
          f"{loaded['response_wait_p50_s']}/{loaded['response_wait_p95_s']} s")
    print(f"  server memory {loaded['server_rss_mb_before']} MB before, {loaded['server_rss_mb_after']} MB after")
    print(f"first token: in-process p50 {compared['in_process_first_token_p50_s']} s, through the API p50 "
          f"{compared['api_first_token_p50_s']} s (alternating runs: API - in-process median "
          f"{compared['overhead_median_ms']} ms, worst question {compared['overhead_max_ms']} ms)")
    print(f"  added by the HTTP layer within each API request (its wait minus the service's own first token): "
          f"median {compared['http_layer_median_ms']} ms, worst {compared['http_layer_max_ms']} ms (goal < 50 ms)")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
