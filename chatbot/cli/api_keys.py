"""`chatbot keys create|list|revoke` (admin) and `chatbot api` (serve the HTTP API, chatbot/api/).

    chatbot keys create "help-centre widget" --scope chat --rate 30   # prints the key once
    chatbot keys list [--json]
    chatbot keys revoke ID_OR_PREFIX
    chatbot api --port 8000 [--address 0.0.0.0]
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from chatbot import admin
from chatbot.apikeys import SCOPES
from chatbot.config import Settings


def _service():
    from chatbot.service import make_service

    return make_service(Settings())


def cmd_keys_create(args: argparse.Namespace) -> int:
    try:
        key, record = _service().create_api_key(args.name, args.scope, args.rate)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps({"key": key, **record.to_dict()}, indent=2))
    else:
        print(key)
        print(f"created key {record.id} ({record.prefix}…, scope {record.scope}, {record.rate_per_minute}/min): "
              "this is the only time it is shown", file=sys.stderr)
    return 0


def cmd_keys_list(args: argparse.Namespace) -> int:
    keys = _service().api_keys(include_revoked=not args.active)
    if args.json:
        print(json.dumps([k.to_dict() for k in keys], indent=2))
        return 0
    for k in keys:
        state = f"revoked {k.revoked_at:%Y-%m-%d}" if k.revoked_at else "active"
        used = f"{k.last_used_at:%Y-%m-%d %H:%M}" if k.last_used_at else "never"
        print(f"{k.id:>4}  {k.prefix}…  {k.scope:<5}  {k.rate_per_minute:>4}/min  {state:<18} used {used:<16} {k.name}")
    print(f"{len(keys)} keys")
    return 0


def cmd_keys_revoke(args: argparse.Namespace) -> int:
    try:
        key = _service().revoke_api_key(args.key)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if key is None:
        print(f"no active key with id or prefix {args.key!r}", file=sys.stderr)
        return 1
    print(f"revoked key {key.id} ({key.prefix}…, {key.name})")
    return 0


def api_command(address: str, port: int, index: bool = True, announce: bool = True) -> list[str]:
    """The command that serves the API (chatbot/api/__main__.py): the CLI starts it rather than importing the
    API package, which sits beside the CLI in the layers."""
    return [sys.executable, "-m", "chatbot.api", "--port", str(port), "--address", address,
            *([] if index else ["--no-index"]), *([] if announce else ["--quiet-admin"])]


def cmd_api(args: argparse.Namespace) -> int:
    Settings()  # a malformed CHATBOT_* setting is reported here, as for every command
    command = api_command(args.address, args.port, not args.no_index)
    os.execv(command[0], command)  # this process becomes the server: stopping it stops the server
    return 0  # pragma: no cover - execv does not return


def add_parser(sub: argparse._SubParsersAction) -> None:
    keys = sub.add_parser("keys", help="API keys: create, list, revoke (admin)").add_subparsers(dest="action",
                                                                                               required=True)
    p = keys.add_parser("create", help="create a key and print it (shown once)")
    p.add_argument("name", help="who uses it, e.g. 'help-centre widget'")
    p.add_argument("--scope", choices=SCOPES, default="chat",
                   help="chat: questions and ratings (safe in a web page); admin: also documents")
    p.add_argument("--rate", type=int, default=None,
                   help="requests per minute (default CHATBOT_API_KEY_RATE_PER_MINUTE)")
    p.add_argument("--json", action="store_true")
    admin.admin_command(p, cmd_keys_create)
    p = keys.add_parser("list", help="list keys (never the keys themselves)")
    p.add_argument("--active", action="store_true", help="leave out revoked keys")
    p.add_argument("--json", action="store_true")
    admin.admin_command(p, cmd_keys_list)
    p = keys.add_parser("revoke", help="revoke a key by id or prefix")
    p.add_argument("key", metavar="ID_OR_PREFIX")
    admin.admin_command(p, cmd_keys_revoke)

    p = sub.add_parser("api", help="serve the HTTP API (OpenAI-compatible chat completions, widget.js)")
    p.add_argument("--port", type=int, default=8000)
    p.add_argument("--address", default="127.0.0.1")
    p.add_argument("--no-index", action="store_true", help="don't index the sample knowledge base")
    p.set_defaults(func=cmd_api)
