"""`chatbot` command line: one subcommand per user action, each calling one service method.

    chatbot ingest knowledge_base/ new-doc.pdf
    chatbot docs list --json
    chatbot docs delete refund-policy
    chatbot ask "How long do refunds take?" --json
    chatbot ask "and how do I track it?" --conversation ID
    chatbot compare "Can I return a used camera?" --arms rag,finetuned,hybrid --json
    chatbot finetune --preset quick ; chatbot models list --json
    chatbot eval --dataset ../shared/eval/emanual_smarttv --arms rag --limit 50
    chatbot feedback export --out exports/
    chatbot db upgrade
    chatbot serve [--api 8000]
    chatbot keys create NAME --scope chat ; chatbot keys list ; chatbot keys revoke ID
    chatbot api --port 8000

Admin actions (ingest, docs delete, finetune, models use/delete, eval, feedback export, keys) need the admin
password when CHATBOT_ADMIN_PASSWORD is set: CHATBOT_ADMIN_TOKEN, --password-file FILE, or a prompt; with the
generated password (chatbot/admin.py) the user who can read it in CHATBOT_HOME passes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import os
import sys
from pathlib import Path

from chatbot import admin
from chatbot.cli import api_keys as api_cli
from chatbot.cli import evaluation as eval_cli
from chatbot.cli import finetune as finetune_cli
from chatbot.cli import support as support_cli
from chatbot.config import Settings
from chatbot.types import ARMS


def _service(settings: Settings | None = None):
    from chatbot.service import make_service

    return make_service(settings or Settings())


def cmd_ingest(args: argparse.Namespace) -> int:
    """Index files and folders with a progress bar (stderr); one line per file (stdout), then a summary.
    Interrupted (Ctrl-C), it says how far it got: the same command resumes, documents already indexed are
    skipped unread by the embedder."""
    import resource
    import time
    from collections import Counter

    from tqdm import tqdm

    from chatbot.ingest.pipeline import expand_paths

    service = _service()
    files = list(expand_paths(args.paths))
    counts: Counter[str] = Counter()
    chunks, started = 0, time.perf_counter()
    bar = tqdm(total=len(files), unit="file", file=sys.stderr, disable=args.quiet or len(files) < 2,
               dynamic_ncols=True)
    try:
        for result in service.ingest_paths(files):
            bar.write(result.line(), file=sys.stdout)
            sys.stdout.flush()  # one line per file as it is done, also into a pipe
            counts[result.status] += 1
            chunks += result.chunks if result.status in ("indexed", "updated") else 0
            bar.update()
            bar.set_postfix_str(f"{chunks} chunks", refresh=False)
    except KeyboardInterrupt:
        bar.close()
        print(f"interrupted after {bar.n} of {len(files)} files; run the same command again to resume "
              "(what is indexed stays indexed and is skipped)", file=sys.stderr)
        return 130
    bar.close()
    took = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    summary = ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "no files"
    print(f"{summary}; {chunks} chunks embedded in {took:.1f} s ({chunks / took:.1f} chunks/s); "
          f"peak memory {peak:.0f} MB", file=sys.stderr)
    return 1 if counts["refused"] else 0


def cmd_docs_list(args: argparse.Namespace) -> int:
    docs = _service().documents()
    if args.json:
        print(json.dumps([d.to_dict() for d in docs], indent=2))
    else:
        for d in docs:
            print(f"{d.doc_id:<40} {d.chunks:>4} chunks  {d.indexed_at}  {d.title}")
        print(f"{len(docs)} documents")
    return 0


def cmd_docs_delete(args: argparse.Namespace) -> int:
    if _service().delete_document(args.doc_id):
        print(f"deleted {args.doc_id}")
        return 0
    print(f"no document with id {args.doc_id!r}", file=sys.stderr)
    return 1


def cmd_ask(args: argparse.Namespace) -> int:
    from chatbot import conversations
    from chatbot.types import ServiceError

    service = _service()
    if not service.documents():  # the service's own database connection, not a second one
        print("note: the knowledge base is empty, so every question is declined: index documents with "
              "`chatbot ingest PATH` (`chatbot serve` indexes the sample knowledge base on first start)",
              file=sys.stderr)
    try:
        conversation_id = conversations.check_id(args.conversation) if args.conversation else conversations.new_id()
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    history = service.history(conversation_id) if args.conversation else []
    try:
        if args.json:
            answer = service.ask(args.question, history, mode=args.mode, conversation_id=conversation_id)
            print(json.dumps({**answer.to_dict(), "conversation_id": conversation_id}, indent=2))
            return 0
        answer = None
        for event in service.stream(args.question, history, mode=args.mode, conversation_id=conversation_id):
            if event.kind == "token":
                print(event.token, end="", flush=True)
            elif event.kind == "reset":
                print("\n(reading the whole documents once more...)", flush=True)
            elif event.kind == "status":
                print(f"({event.token})", file=sys.stderr, flush=True)
            elif event.kind == "done":
                answer = event.answer
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    assert answer is not None
    print("\n")
    if answer.refused:  # the streamed text may be the model's own decline: show the hand-off itself
        print(answer.text + "\n")
        print("(declined: not in the knowledge base)")
    if answer.standalone_question and answer.standalone_question != answer.question:
        print(f"(read as: {answer.standalone_question})")
    for n, s in enumerate(answer.sources, start=1):
        print(f"[{n}] {s.title}{' > ' + s.section if s.section else ''}  ({s.source}, score {s.score:.2f})")
    print(f"-- {answer.model}, {answer.mode}, first token {answer.ttft_s:.2f}s, total {answer.latency_s:.2f}s")
    print(f"-- conversation {conversation_id} (continue it with --conversation {conversation_id})")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    from chatbot.types import ServiceError

    arms = [a.strip() for a in args.arms.split(",") if a.strip()]
    try:
        comparison = _service().compare(args.question, arms)
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(comparison.to_dict(), indent=2))
        return 0
    for answer in comparison.answers:
        grounded = "" if answer.groundedness is None else f", {answer.groundedness:.0%} supported by the KB"
        print(f"== {answer.mode} ({answer.model}): {answer.latency_s:.2f}s, first token {answer.ttft_s:.2f}s"
              f"{grounded}\n{answer.text}\n")
    return 0


def cmd_feedback_export(args: argparse.Namespace) -> int:
    sft, prefs, n_sft, n_prefs = _service().export_feedback(Path(args.out))
    print(f"wrote {n_sft} SFT rows to {sft} and {n_prefs} preference pairs to {prefs}")
    return 0


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from chatbot import migrations
    from chatbot.db import open_database

    settings = Settings()
    settings.home.mkdir(parents=True, exist_ok=True)
    engine = open_database(settings.effective_database_url)  # upgrades
    with engine.connect() as conn:
        revision = migrations.current(conn)
    print(f"database {engine.url.render_as_string(hide_password=True)} is at revision {revision} (newest)")
    engine.dispose()
    return 0


def _has_documents(settings: Settings) -> bool:
    """Whether the manifest lists any document: a database query, without loading any model."""
    from sqlalchemy import func, select

    from chatbot import db

    engine = db.open_database(settings.effective_database_url)
    try:
        with engine.connect() as conn:
            return bool(conn.execute(select(func.count()).select_from(db.documents)).scalar_one())
    finally:
        engine.dispose()


def cmd_serve(args: argparse.Namespace) -> int:
    settings = Settings()
    # First start: index the sample KB here, printing what was indexed. Later starts skip straight to the
    # server (loading the models twice would add seconds); the app repairs the store when it loads.
    if not args.no_index and not _has_documents(settings):
        service = _service(settings)
        results = service.ensure_sample_kb()
        if results:
            print(f"Indexed the sample knowledge base from {settings.kb_dir}:")
            for r in results:
                print("  " + r.line())
        del service
    print(admin.start_message(settings), flush=True)  # the first start generates the admin password
    if args.api is not None:
        _start_api_beside(args.address, args.api)
    app = Path(__file__).parent.parent / "ui" / "app.py"
    # Streamlit refuses larger uploads at its endpoint, before they fill memory: the app's own limit
    upload_mb = str(max(1, math.ceil(settings.max_upload_mb)))
    command = [sys.executable, "-m", "streamlit", "run", str(app), "--server.port", str(args.port),
               "--server.maxUploadSize", upload_mb, "--client.showErrorDetails", "none",
               "--server.address", args.address, "--server.headless", "true",
               "--browser.gatherUsageStats", "false"]
    # Replace this process with Streamlit, so that stopping `chatbot serve` stops the server too.
    os.execv(sys.executable, command)
    return 0  # pragma: no cover - execv does not return


def _start_api_beside(address: str, port: int) -> None:
    """`chatbot serve --api PORT`: the HTTP API (chatbot/api/) in a child process that the kernel stops when
    this process (Streamlit, after execv) ends. The GGUF weights are memory-mapped, so the two processes share
    them in the page cache."""
    import ctypes
    import signal
    import subprocess

    def die_with_parent() -> None:  # Linux: PR_SET_PDEATHSIG
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)

    subprocess.Popen(api_cli.api_command(address, port, index=False, announce=False), preexec_fn=die_with_parent)
    print(f"HTTP API starting on http://{address}:{port}/v1 (widget: /widget.js)", flush=True)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="chatbot", description="Self-hosted customer-support chatbot.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", help="index files or folders (admin)")
    p.add_argument("paths", nargs="+")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    admin.admin_command(p, cmd_ingest)

    docs = sub.add_parser("docs", help="list or delete indexed documents").add_subparsers(dest="action",
                                                                                          required=True)
    p = docs.add_parser("list")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_docs_list)
    p = docs.add_parser("delete", help="delete a document (admin)")
    p.add_argument("doc_id")
    admin.admin_command(p, cmd_docs_delete)

    p = sub.add_parser("ask", help="answer one question")
    p.add_argument("question")
    p.add_argument("--mode", default="rag", choices=ARMS)
    p.add_argument("--conversation", metavar="ID", default=None,
                   help="continue this conversation: earlier turns are read to understand a follow-up "
                   "(every answer prints the id of its conversation)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_ask)

    p = sub.add_parser("compare", help="answer one question with several arms side by side")
    p.add_argument("question")
    p.add_argument("--arms", default="rag,finetuned,hybrid", help=f"comma-separated: {','.join(ARMS)}")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_compare)

    fb = sub.add_parser("feedback", help="export answer ratings").add_subparsers(dest="action", required=True)
    p = fb.add_parser("export", help="write sft.jsonl and preferences.jsonl (admin)")
    p.add_argument("--out", default="feedback-export", help="output folder (default ./feedback-export)")
    admin.admin_command(p, cmd_feedback_export)

    finetune_cli.add_parser(sub)
    eval_cli.add_parser(sub)
    support_cli.add_parsers(sub)
    api_cli.add_parser(sub)

    database = sub.add_parser("db", help="database maintenance").add_subparsers(dest="action", required=True)
    p = database.add_parser("upgrade", help="apply pending migrations (every start does this too)")
    p.set_defaults(func=cmd_db_upgrade)

    p = sub.add_parser("serve", help="index the sample KB if the store is empty, then start the web app")
    p.add_argument("--port", type=int, default=8501)
    p.add_argument("--address", default="0.0.0.0")
    p.add_argument("--no-index", action="store_true", help="don't index the sample knowledge base")
    p.add_argument("--api", type=int, nargs="?", const=8000, default=None, metavar="PORT",
                   help="also serve the HTTP API and widget on PORT (default 8000), same address")
    p.set_defaults(func=cmd_serve)
    return parser


def main(argv: list[str] | None = None) -> int:
    from pydantic import ValidationError

    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(levelname)s %(name)s: %(message)s")
    quiet_libraries()
    try:
        return args.func(args)
    except ValidationError as exc:  # a CHATBOT_* setting out of range or malformed: say which, no traceback
        for error in exc.errors():
            name = "CHATBOT_" + "_".join(str(p) for p in error["loc"]).upper()
            print(f"error: {name}: {error['msg'].removeprefix('Value error, ')}", file=sys.stderr)
        return 2


def quiet_libraries() -> None:
    """Progress bars and advisory warnings from model libraries drown the CLI's own output."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("ANONYMIZED_TELEMETRY", "False")
