"""The admin credential on command-line admin actions (ingest, delete, train, evaluate, export feedback).

The rule is the admin pages' rule: when CHATBOT_ADMIN_PASSWORD is set the caller must present it;
when it is unset admin actions are open (development). A CLI caller presents it with
`--password-file FILE`, in the environment variable CHATBOT_ADMIN_TOKEN, or, on an interactive terminal,
at a prompt; otherwise the action is refused (exit code 2) before it changes anything."""

from __future__ import annotations

import argparse
import functools
import getpass
import hmac
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import SecretStr

from chatbot.config import Settings

TOKEN_ENV = "CHATBOT_ADMIN_TOKEN"
WRONG_PASSWORD_DELAY_S = 2.0
REFUSAL = (f"this is an admin action and CHATBOT_ADMIN_PASSWORD is set: present the admin password in "
           f"the environment variable {TOKEN_ENV}, with --password-file FILE, or type it at the prompt "
           f"of an interactive terminal")


class AdminRefused(PermissionError):
    """The caller did not present the admin password; the message is for the user."""


def matches(secret: SecretStr, presented: str) -> bool:
    """Constant-time comparison of a presented password with the configured one."""
    return hmac.compare_digest(presented.encode(), secret.get_secret_value().encode())


def presented_password(password_file: str | Path | None, environ: Mapping[str, str], interactive: bool,
                       ask: Callable[[str], str] = getpass.getpass) -> str | None:
    """The password the caller presents: the file's first line, else the environment variable, else a
    prompt when interactive; None when there is none."""
    if password_file is not None:
        try:
            text = Path(password_file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise AdminRefused(f"cannot read the password file {str(password_file)!r}: "
                               f"{getattr(exc, 'strerror', None) or exc}") from exc
        return text.splitlines()[0] if text else ""
    if environ.get(TOKEN_ENV):
        return environ[TOKEN_ENV]
    if interactive:
        return ask("Admin password: ")
    return None


def authorize(settings: Settings, password_file: str | Path | None = None,
              environ: Mapping[str, str] = os.environ, interactive: bool | None = None,
              ask: Callable[[str], str] = getpass.getpass) -> None:
    """Raise AdminRefused unless admin actions are open or the caller presents the right password."""
    secret = settings.admin_password
    if secret is None:
        return
    if interactive is None:
        interactive = sys.stdin is not None and sys.stdin.isatty()
    presented = presented_password(password_file, environ, interactive, ask)
    if presented is None:
        raise AdminRefused(REFUSAL)
    if not presented or not matches(secret, presented):
        time.sleep(WRONG_PASSWORD_DELAY_S)  # guessing from a script costs time
        raise AdminRefused("wrong admin password")


def admin_command(parser: argparse.ArgumentParser, command: Callable[[argparse.Namespace], int]) -> None:
    """Make `command` the parser's action behind the admin check, with a `--password-file` option."""
    parser.add_argument("--password-file", metavar="FILE", default=None,
                        help=f"file holding the admin password (or set {TOKEN_ENV})")
    parser.set_defaults(func=_guarded(command))


def _guarded(command: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Wrap a CLI command: check the admin credential first; refused means exit code 2, nothing done."""

    @functools.wraps(command)
    def run(args: argparse.Namespace) -> int:
        try:
            authorize(Settings(), getattr(args, "password_file", None))
        except AdminRefused as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return command(args)

    return run
