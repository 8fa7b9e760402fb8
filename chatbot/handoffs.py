"""Hand-offs that reach a person: a customer's contact and the whole conversation, queued for the support
team and, when CHATBOT_HANDOFF_WEBHOOK_URL is set, POSTed as JSON to the helpdesk.

A hand-off is stored before it is sent, so a helpdesk that is down loses nothing: each delivery attempt is
recorded (`handoff_attempts`), a failure schedules the next attempt with exponential back-off, and
`deliver_due` (run by the service's background loop, and at start) sends what is due. The POST carries
`X-Chatbot-Signature: sha256=<hex HMAC-SHA256 of the body>` keyed with CHATBOT_HANDOFF_WEBHOOK_SECRET.

Contacts live in the `handoffs` table only: the answering code never reads it, so a contact never reaches
a prompt."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, func, insert, select, update

from chatbot import db
from chatbot.config import Settings

SIGNATURE_HEADER = "X-Chatbot-Signature"
MAX_BACKOFF_S = 3600.0
REASONS = ("declined", "asked", "topic")
# What the bot replies to "can I talk to someone?" and to a topic the team set to always hand off; the chat
# page shows the contact form under it (chatbot/ui/handoff_form.py), the CLI shows the support contact.
PERSON_REPLY = ("Of course. Leave your email address or phone number below and a person from our support team "
                "will get back to you; they will see this conversation. You can also reach them at {contact}.")
TOPIC_REPLY = ("Our support team handles this one in person. Leave your email address or phone number below and "
               "they will get back to you; they will see this conversation. You can also reach them at {contact}.")

_EMAIL = re.compile(r"^[^@\s]{1,64}@[^@\s]+\.[^@\s]{2,}$")
_PHONE = re.compile(r"^\+?[\d\s().-]{6,25}$")
_PERSON = re.compile(
    r"\b(talk|speak|chat|connect|put)\b.{0,25}\b(some\s?one|some\s?body|person|human|agent|people|representative|"
    r"operator|staff|support team|customer service)\b"
    r"|\b(real|live|actual)\s+(person|human|agent)\b"
    r"|\b(human|person|agent|representative|operator)\s+please\b"
    r"|^\s*(human|agent|representative|operator)\s*[.!?]*\s*$",
    re.IGNORECASE)


@dataclass(frozen=True)
class Handoff:
    id: int
    conversation_id: str
    created_at: datetime
    reason: str
    contact: str
    message: str
    status: str  # open | resolved
    delivery: str  # pending | delivered | failed | off
    attempts: int
    next_attempt_at: datetime | None = None
    delivered_at: datetime | None = None
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Attempt:
    at: datetime
    ok: bool
    status_code: int | None
    error: str


def asks_for_person(text: str) -> bool:
    """Whether a customer's message asks for a person rather than an answer.

    >>> [asks_for_person(t) for t in ("can I talk to someone?", "I want a real person", "agent",
    ...                                "How do I talk to my TV with voice control?", "How do I reset my hub?")]
    [True, True, True, False, False]
    """
    return bool(_PERSON.search(text))


def check_contact(contact: str) -> str:
    """An email address or a phone number, stripped; ValueError (a message for the customer) otherwise.

    >>> check_contact(" ana@example.com "), check_contact("+1 (800) 555-0199")
    ('ana@example.com', '+1 (800) 555-0199')
    """
    contact = contact.strip()
    if _EMAIL.match(contact) or (_PHONE.match(contact) and sum(c.isdigit() for c in contact) >= 6):
        return contact
    raise ValueError("Please leave an email address or a phone number.")


def sign(secret: str, body: bytes) -> str:
    """The signature header's value for a body.

    >>> sign("s3cret", b'{"a": 1}')[:19]
    'sha256=1a9fab6cd4b8'
    """
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify(secret: str, body: bytes, header: str) -> bool:
    """What the helpdesk checks: the header is the body's signature (constant-time comparison)."""
    return hmac.compare_digest(sign(secret, body), header or "")


def backoff_s(attempts: int, base_s: float) -> float:
    """Wait after the `attempts`-th failed attempt: doubled each time, at most an hour.

    >>> [backoff_s(n, 30) for n in (1, 2, 3)], backoff_s(20, 30)
    ([30.0, 60.0, 120.0], 3600.0)
    """
    return float(min(MAX_BACKOFF_S, base_s * 2 ** max(0, attempts - 1)))


# --- the queue ---------------------------------------------------------------------------------------------
def create(engine: Engine, settings: Settings, conversation_id: str, contact: str, message: str = "",
           reason: str = "declined") -> int:
    """Store a hand-off (to be delivered at once when a webhook is set); returns its id. The conversation's
    row is created if the customer asked before any answer was recorded."""
    contact = check_contact(contact)
    if reason not in REASONS:
        raise ValueError(f"reason must be one of {REASONS}")
    at = db.now()
    with engine.begin() as conn:
        if conn.execute(select(db.conversations.c.id).where(db.conversations.c.id == conversation_id)).first() is None:
            conn.execute(insert(db.conversations).values(id=conversation_id, created_at=at))
        result = conn.execute(insert(db.handoffs).values(
            conversation_id=conversation_id, created_at=at, reason=reason, contact=contact[:300],
            message=message.strip()[:4000], status="open", resolved_at=None,
            delivery="pending" if settings.handoff_webhook_url else "off", attempts=0,
            next_attempt_at=at if settings.handoff_webhook_url else None, delivered_at=None))
        return int(result.inserted_primary_key[0])


def listing(engine: Engine, status: str | None = None) -> list[Handoff]:
    """Hand-offs, newest first; `status` open | resolved | None (all)."""
    query = select(db.handoffs).order_by(db.handoffs.c.id.desc())
    if status:
        query = query.where(db.handoffs.c.status == status)
    with engine.connect() as conn:
        return [_handoff(r) for r in conn.execute(query).all()]


def get(engine: Engine, handoff_id: int) -> Handoff | None:
    with engine.connect() as conn:
        row = conn.execute(select(db.handoffs).where(db.handoffs.c.id == handoff_id)).first()
    return _handoff(row) if row else None


def attempts(engine: Engine, handoff_id: int) -> list[Attempt]:
    with engine.connect() as conn:
        rows = conn.execute(select(db.handoff_attempts).where(db.handoff_attempts.c.handoff_id == handoff_id)
                            .order_by(db.handoff_attempts.c.id)).all()
    return [Attempt(r.at, bool(r.ok), r.status_code, r.error) for r in rows]


def set_status(engine: Engine, handoff_id: int, status: str) -> bool:
    """Mark a hand-off open or resolved; False when there is no such hand-off."""
    if status not in ("open", "resolved"):
        raise ValueError("status is open or resolved")
    with engine.begin() as conn:
        result = conn.execute(update(db.handoffs).where(db.handoffs.c.id == handoff_id).values(
            status=status, resolved_at=db.now() if status == "resolved" else None))
    return result.rowcount > 0


def retry_now(engine: Engine, handoff_id: int) -> None:
    """Make a pending or failed hand-off due now (the queue page's "Send again")."""
    with engine.begin() as conn:
        conn.execute(update(db.handoffs).where(db.handoffs.c.id == handoff_id, db.handoffs.c.delivery != "delivered")
                     .values(delivery="pending", next_attempt_at=db.now()))


def open_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(db.handoffs).where(db.handoffs.c.status == "open")
                            ).scalar_one()


def payload(engine: Engine, handoff_id: int) -> dict:
    """What the helpdesk receives: the contact, the customer's message and the whole conversation with the
    sources the bot saw for each answer."""
    handoff = get(engine, handoff_id)
    if handoff is None:
        raise KeyError(handoff_id)
    with engine.connect() as conn:
        rows = conn.execute(select(db.messages).where(db.messages.c.conversation_id == handoff.conversation_id)
                            .order_by(db.messages.c.id)).all()
    return {
        "handoff_id": handoff.id,
        "conversation_id": handoff.conversation_id,
        "created_at": handoff.created_at.isoformat(),
        "reason": handoff.reason,
        "contact": handoff.contact,
        "message": handoff.message,
        "conversation": [{"role": r.role, "text": r.text, "at": r.created_at.isoformat(),
                          **({"declined": bool(r.refused), "mode": r.mode, "sources": json.loads(r.sources)}
                             if r.role == "assistant" else {})} for r in rows],
    }


# --- delivery ----------------------------------------------------------------------------------------------
Post = Callable[[str, bytes, dict[str, str]], int]
"""post(url, body, headers) -> HTTP status; raises OSError when the helpdesk cannot be reached."""


def http_post(url: str, body: bytes, headers: dict[str, str], timeout_s: float = 10.0) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout_s) as response:  # noqa: S310 - the admin's URL
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def deliver(engine: Engine, settings: Settings, handoff_id: int, post: Post = http_post) -> bool:
    """One delivery attempt, recorded; on failure the next is scheduled (or the hand-off marked failed after
    CHATBOT_HANDOFF_MAX_ATTEMPTS). Returns whether the helpdesk accepted it (2xx)."""
    url = settings.handoff_webhook_url
    if not url:
        return False
    body = json.dumps(payload(engine, handoff_id), ensure_ascii=False).encode()
    headers = {"Content-Type": "application/json", "User-Agent": "support-chatbot"}
    if settings.handoff_webhook_secret is not None:
        headers[SIGNATURE_HEADER] = sign(settings.handoff_webhook_secret.get_secret_value(), body)
    code: int | None = None
    error = ""
    try:
        code = post(url, body, headers)
        ok = 200 <= code < 300
        error = "" if ok else f"HTTP {code}"
    except (OSError, ValueError) as exc:  # refused, timed out, DNS, malformed URL
        ok = False
        error = f"{type(exc).__name__}: {getattr(exc, 'reason', None) or exc}"[:500]
    at = db.now()
    with engine.begin() as conn:
        n = conn.execute(select(db.handoffs.c.attempts).where(db.handoffs.c.id == handoff_id)).scalar_one() + 1
        conn.execute(insert(db.handoff_attempts).values(handoff_id=handoff_id, at=at, ok=ok, status_code=code,
                                                        error=error))
        if ok:
            values = dict(delivery="delivered", delivered_at=at, next_attempt_at=None)
        elif n >= settings.handoff_max_attempts:
            values = dict(delivery="failed", next_attempt_at=None)
        else:
            values = dict(delivery="pending",
                          next_attempt_at=at + timedelta(seconds=backoff_s(n, settings.handoff_retry_s)))
        conn.execute(update(db.handoffs).where(db.handoffs.c.id == handoff_id).values(attempts=n, **values))
    return ok


def due(engine: Engine, now: datetime | None = None) -> list[int]:
    """Ids of hand-offs waiting for delivery whose next attempt is due, oldest first."""
    now = now or db.now()
    with engine.connect() as conn:
        rows = conn.execute(select(db.handoffs.c.id, db.handoffs.c.next_attempt_at)
                            .where(db.handoffs.c.delivery == "pending").order_by(db.handoffs.c.id)).all()
    return [r.id for r in rows if r.next_attempt_at is None or _aware(r.next_attempt_at) <= now]


def deliver_due(engine: Engine, settings: Settings, post: Post = http_post) -> tuple[int, int]:
    """Attempt every due delivery; (delivered, failed attempts)."""
    sent = failed = 0
    for handoff_id in due(engine):
        if deliver(engine, settings, handoff_id, post):
            sent += 1
        else:
            failed += 1
    return sent, failed


def _aware(at: datetime) -> datetime:
    """SQLite gives naive datetimes back: they were stored in UTC."""
    from datetime import UTC

    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _handoff(row) -> Handoff:
    return Handoff(id=row.id, conversation_id=row.conversation_id, created_at=_aware(row.created_at),
                   reason=row.reason, contact=row.contact, message=row.message, status=row.status,
                   delivery=row.delivery, attempts=row.attempts,
                   next_attempt_at=_aware(row.next_attempt_at) if row.next_attempt_at else None,
                   delivered_at=_aware(row.delivered_at) if row.delivered_at else None,
                   resolved_at=_aware(row.resolved_at) if row.resolved_at else None)
