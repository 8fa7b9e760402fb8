"""A real `chatbot ingest` process interrupted mid-run (Ctrl-C, then SIGKILL): a re-run completes the store
with no duplicate or orphan chunks, and the document list equals a clean ingest's."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from chatbot.service import make_service
from tests.conftest import ROOT, make_settings

pytestmark = pytest.mark.slow  # kills and reruns ingestion subprocesses


def write_kb(folder, n: int = 14) -> None:
    folder.mkdir()
    for i in range(n):
        sections = "\n\n".join(f"## Topic {i}.{j}\n\n" + f"Fact {i}.{j}: item {i} needs setting {j}. " * 30
                               for j in range(4))
        (folder / f"doc-{i:02d}.md").write_text(f"# Document {i}\n\n{sections}\n")


def cli(home, *args, wait: bool = True, stderr=subprocess.DEVNULL):
    # Small embedding batches: results, and so the kills below, come a few documents at a time.
    env = {**os.environ, "CHATBOT_HOME": str(home), "CHATBOT_INGEST_BATCH_CHUNKS": "16"}
    command = [sys.executable, "-m", "chatbot.cli", *args]
    if not wait:
        # SIGINT restored to its default: a shell starts background jobs (as CI may run us) with it ignored,
        # and Python then installs no KeyboardInterrupt handler.
        return subprocess.Popen(command, env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=stderr,
                                preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    return subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)


def state(home, embeddings):
    service = make_service(make_settings(home), embeddings=embeddings)
    docs = sorted((d.doc_id, d.chunks, d.sha256) for d in service.documents())
    ids = service.store.collection.get(include=[])["ids"]
    return docs, sorted(ids)


def test_killed_ingest_is_completed_by_a_rerun(tmp_path, embeddings):
    kb = tmp_path / "kb"
    write_kb(kb)
    clean, crashed = tmp_path / "clean", tmp_path / "crashed"
    make_settings(clean), make_settings(crashed)
    assert cli(clean, "ingest", str(kb)).returncode == 0

    for attempt, sig in enumerate([signal.SIGINT, signal.SIGKILL]):  # at different points of the run
        log = tmp_path / f"stderr-{attempt}.txt"
        with log.open("w") as err:
            proc = cli(crashed, "ingest", str(kb), wait=False, stderr=err)
            lines = 0
            deadline = time.monotonic() + 300
            while lines < 3 + attempt * 5 and time.monotonic() < deadline:  # let it index a few documents
                if proc.stdout.readline():
                    lines += 1
            time.sleep(0.3)
            os.kill(proc.pid, sig)
            code = proc.wait(timeout=120)
        if sig == signal.SIGINT:  # Ctrl-C: a clear message, not a traceback
            assert code == 130, log.read_text()
            assert "run the same command again to resume" in log.read_text()
            assert "Traceback" not in log.read_text()
    rerun = cli(crashed, "ingest", str(kb))
    assert rerun.returncode == 0, rerun.stdout
    clean_docs, clean_ids = state(clean, embeddings)
    crashed_docs, crashed_ids = state(crashed, embeddings)
    assert crashed_docs == clean_docs
    assert crashed_ids == clean_ids  # same chunks: no duplicates, no orphans
    assert len(crashed_ids) == sum(chunks for _, chunks, _ in crashed_docs)
    listed = json.loads(cli(crashed, "docs", "list", "--json").stdout)
    assert [d["doc_id"] for d in listed] == [d["doc_id"] for d in json.loads(cli(clean, "docs", "list",
                                                                                  "--json").stdout)]
