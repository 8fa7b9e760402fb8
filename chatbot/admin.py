"""The admin credential: who may use the admin pages, the admin commands (ingest, delete, train, evaluate,
export feedback, API keys) and the HTTP API's admin scope.

Secure by default. The password is CHATBOT_ADMIN_PASSWORD when it is set. When it is unset, the first
start generates a random one into HOME/admin-password (owner-only, 0600) and prints it once with where it
is kept, as Jupyter does with its token; the admin pages ask for it. Opening admin to everyone takes an
explicit CHATBOT_ADMIN_OPEN=true (development, tests).

A CLI caller presents CHATBOT_ADMIN_PASSWORD with `--password-file FILE`, in the environment variable
CHATBOT_ADMIN_TOKEN, or at a prompt on an interactive terminal; otherwise the action is refused (exit code 2)
before it changes anything. With a generated password, a caller who can read HOME/admin-password is the
owner of the installation (they could read the database too) and passes without presenting it."""

from __future__ import annotations

import argparse
import functools
import getpass
import hmac
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from pathlib import Path

from pydantic import SecretStr

from chatbot.config import Settings

TOKEN_ENV = "CHATBOT_ADMIN_TOKEN"
PASSWORD_FILE = "admin-password"  # in CHATBOT_HOME: the generated password, owner-only
WRONG_PASSWORD_DELAY_S = 2.0
REFUSAL = (f"this is an admin action and CHATBOT_ADMIN_PASSWORD is set: present the admin password in "
           f"the environment variable {TOKEN_ENV}, with --password-file FILE, or type it at the prompt "
           f"of an interactive terminal")


class AdminRefused(PermissionError):
    """The caller did not present the admin password; the message is for the user."""


def matches(secret: SecretStr, presented: str) -> bool:
    """Constant-time comparison of a presented password with the configured one."""
    return hmac.compare_digest(presented.encode(), secret.get_secret_value().encode())


def password_path(settings: Settings) -> Path:
    """Where a generated admin password is kept."""
    return settings.home / PASSWORD_FILE


def generated_password(settings: Settings, create: bool = True) -> tuple[SecretStr | None, bool]:
    """(the generated admin password, whether this call created it). Created once, atomically and owner-only
    (replicas sharing a home agree on one); None when there is none and `create` is false."""
    path = password_path(settings)
    created = False
    if create and not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".admin-password-")  # mkstemp makes it 0600
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                out.write(secrets.token_urlsafe(18) + "\n")
            os.link(tmp, path)  # fails if another process created it meanwhile: theirs is kept
            created = True
        except FileExistsError:
            pass
        finally:
            os.unlink(tmp)
    try:
        text = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        return None, False
    return (SecretStr(text) if text else None), created


def admin_secret(settings: Settings, create: bool = True) -> SecretStr | None:
    """The password admin needs: CHATBOT_ADMIN_PASSWORD; else, unless CHATBOT_ADMIN_OPEN, the generated one
    (made now if there is none and `create`). None means admin is open to everyone."""
    if settings.admin_password is not None:
        return settings.admin_password
    if settings.admin_open:
        return None
    secret, _ = generated_password(settings, create)
    if secret is None:
        raise AdminRefused(f"no admin password yet: start the server once (it creates {password_path(settings)}) "
                           "or set CHATBOT_ADMIN_PASSWORD")
    return secret


def start_message(settings: Settings) -> str:
    """What a server prints at start about admin access: a generated password in full the first time only,
    then where it is kept."""
    if settings.admin_password is not None:
        return "Admin pages and admin API: protected by CHATBOT_ADMIN_PASSWORD."
    if settings.admin_open:
        return ("WARNING: CHATBOT_ADMIN_OPEN=true: the admin pages and the admin API are open to anyone who "
                "reaches this server (they can delete documents, upload, train). Development only.")
    secret, created = generated_password(settings)
    path = password_path(settings)
    if created and secret is not None:
        return (f"Admin password (generated, shown once): {secret.get_secret_value()}\n"
                f"  kept owner-only in {path}; set CHATBOT_ADMIN_PASSWORD to choose your own.")
    return f"Admin password: the generated one kept in {path} (or set CHATBOT_ADMIN_PASSWORD)."


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
    """Raise AdminRefused unless admin is open (CHATBOT_ADMIN_OPEN), the caller presents the right password,
    or the password is the generated one and the caller can read its file (the installation's owner)."""
    if settings.admin_password is None:
        if settings.admin_open:
            return
        try:
            admin_secret(settings)  # read (or made) here: whoever can read HOME/admin-password owns the install
            return
        except PermissionError as exc:
            raise AdminRefused(f"cannot read {password_path(settings)}: run as the user who owns CHATBOT_HOME, "
                               "or set CHATBOT_ADMIN_PASSWORD and present it") from exc
    secret = settings.admin_password
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
