"""`python -m chatbot.api --port 8000 [--address 127.0.0.1] [--no-index]`: serve the HTTP API (what
`chatbot api` and `chatbot serve --api` run)."""

from __future__ import annotations

import argparse
import os
import sys

from chatbot.api.server import serve


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m chatbot.api", description="Serve the chatbot's HTTP API.")
    parser.add_argument("--port", type=int, default=8000)
    parser.add_argument("--address", default="127.0.0.1")
    parser.add_argument("--no-index", action="store_true", help="don't index the sample knowledge base")
    parser.add_argument("--quiet-admin", action="store_true", help="don't print the admin rule (the app did)")
    args = parser.parse_args(argv)
    for name, value in {"TOKENIZERS_PARALLELISM": "false", "HF_HUB_DISABLE_PROGRESS_BARS": "1",
                        "TRANSFORMERS_VERBOSITY": "error", "ANONYMIZED_TELEMETRY": "False"}.items():
        os.environ.setdefault(name, value)
    serve(host=args.address, port=args.port, index=not args.no_index, announce=not args.quiet_admin)
    return 0


if __name__ == "__main__":
    sys.exit(main())
