"""The support team's commands (all admin: they read customers' conversations or change answers).

    chatbot insights [--days 30] [--json] [--conversations]
    chatbot curated add --question "Can I pay by cheque?" --answer "No: cards and PayPal." [--json]
    chatbot curated add --question "I want to cancel my contract" --handoff     # this topic always hands off
    chatbot curated list [--json] ; chatbot curated delete ID
    chatbot handoffs list [--status open|resolved|all] [--json] ; handoffs show ID ; handoffs resolve ID
    chatbot handoffs deliver                      # send the due hand-offs to the webhook now
    chatbot conversations delete ID ; conversations purge ; conversations export --out DIR [--format csv]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from chatbot import admin


def _service():
    from chatbot.config import Settings
    from chatbot.service import make_service

    return make_service(Settings())


def cmd_insights(args: argparse.Namespace) -> int:
    report = _service().insights(args.days)
    if args.json:
        print(json.dumps(report.to_dict(conversations=args.conversations), indent=2, ensure_ascii=False))
        return 0
    t, n = report.totals, report.questions or 1
    print(f"last {report.days} days: {report.questions} questions in {report.conversations} conversations; "
          f"answered {t['answered'] + t['curated']} ({(t['answered'] + t['curated']) / n:.0%}), declined "
          f"{t['declined']} ({t['declined'] / n:.0%}), rated down {t['rated_down']} ({t['rated_down'] / n:.0%}), "
          f"handed off {t['handed_off']}, asked for a person {t['person']}")
    for day in report.daily:
        wait = f"{day.ttft_p50_s:.2f}s" if day.ttft_p50_s is not None else "-"
        print(f"  {day.day}  {day.questions:>5} questions  {day.declined:>4} declined  {day.rated_down:>4} rated down"
              f"  {day.handed_off:>3} handed off  first token p50 {wait}")
    print(f"gaps ({len(report.gaps)} topics, largest first):")
    for number, gap in enumerate(report.gaps[:args.top], start=1):
        state = f"  [resolved by: {gap.resolved_by}]" if gap.resolved_by else ""
        closest = ", ".join(d["title"] or d["doc_id"] for d in gap.closest) or "-"
        print(f"{number:>3}. {gap.count:>4} ({gap.share:.1%})  {gap.representative}{state}\n       closest: {closest}")
    print("most cited: " + (", ".join(f"{d.title} ({d.citations})" for d in report.most_cited) or "-"))
    print(f"never cited ({len(report.never_cited)}): " + ", ".join(d.title for d in report.never_cited[:20]))
    return 0


def cmd_curated_add(args: argparse.Namespace) -> int:
    from chatbot.types import ServiceError

    if not args.handoff and not args.answer:
        print("error: give --answer TEXT, or --handoff for a topic that always goes to a person", file=sys.stderr)
        return 2
    try:
        item = _service().add_curated(args.question, args.answer or "", "handoff" if args.handoff else "answer")
    except ServiceError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(item.to_dict(), indent=2, ensure_ascii=False))
    else:
        what = f"indexed as document {item.doc_id}" if item.doc_id else "always hands off"
        print(f"curated {item.id}: {item.question!r} ({what})")
    return 0


def cmd_curated_list(args: argparse.Namespace) -> int:
    items = _service().curated_answers()
    if args.json:
        print(json.dumps([c.to_dict() for c in items], indent=2, ensure_ascii=False))
        return 0
    for c in items:
        print(f"{c.id:>4}  {c.action:<7}  {c.question}  ->  {(c.answer or '(a person)')[:80]}")
    print(f"{len(items)} curated")
    return 0


def cmd_curated_delete(args: argparse.Namespace) -> int:
    if _service().delete_curated(args.id):
        print(f"deleted curated {args.id}")
        return 0
    print(f"no curated answer {args.id}", file=sys.stderr)
    return 1


def cmd_handoffs_list(args: argparse.Namespace) -> int:
    items = _service().handoffs(None if args.status == "all" else args.status)
    if args.json:
        print(json.dumps([{**h.__dict__, **{k: v.isoformat() for k, v in h.__dict__.items() if hasattr(v, "isoformat")}}
                          for h in items], indent=2, ensure_ascii=False))
        return 0
    for h in items:
        print(f"{h.id:>5}  {h.created_at:%Y-%m-%d %H:%M}  {h.status:<8} delivery {h.delivery:<9} "
              f"({h.attempts} attempts)  {h.reason:<8} {h.contact}  conversation {h.conversation_id}")
    print(f"{len(items)} hand-offs")
    return 0


def cmd_handoffs_show(args: argparse.Namespace) -> int:
    service = _service()
    try:
        print(json.dumps({**service.handoff_payload(args.id),
                          "attempts": [{"at": a.at.isoformat(), "ok": a.ok, "status_code": a.status_code,
                                        "error": a.error} for a in service.handoff_attempts(args.id)]},
                         indent=2, ensure_ascii=False))
    except KeyError:
        print(f"no hand-off {args.id}", file=sys.stderr)
        return 1
    return 0


def cmd_handoffs_resolve(args: argparse.Namespace) -> int:
    if _service().set_handoff_status(args.id, "open" if args.reopen else "resolved"):
        print(f"hand-off {args.id} {'reopened' if args.reopen else 'resolved'}")
        return 0
    print(f"no hand-off {args.id}", file=sys.stderr)
    return 1


def cmd_handoffs_deliver(args: argparse.Namespace) -> int:
    service = _service()
    if not service.settings.handoff_webhook_url:
        print("error: CHATBOT_HANDOFF_WEBHOOK_URL is not set: hand-offs wait in the queue only", file=sys.stderr)
        return 2
    sent, failed = service.deliver_handoffs()
    print(f"delivered {sent}, failed {failed} (failures are retried with back-off)")
    return 1 if failed else 0


def cmd_conversations_delete(args: argparse.Namespace) -> int:
    if _service().delete_conversation(args.id):
        print(f"deleted conversation {args.id} with its hand-offs")
        return 0
    print(f"no conversation {args.id!r}", file=sys.stderr)
    return 1


def cmd_conversations_purge(args: argparse.Namespace) -> int:
    service = _service()
    if not service.settings.retain_days:
        print("CHATBOT_RETAIN_DAYS is not set: nothing to purge", file=sys.stderr)
        return 0
    print(f"deleted {service.purge_conversations()} conversations older than {service.settings.retain_days} days")
    return 0


def cmd_conversations_export(args: argparse.Namespace) -> int:
    conv, hand, n_conv, n_hand = _service().export_conversations(Path(args.out), args.format)
    print(f"wrote {n_conv} messages to {conv} and {n_hand} hand-offs to {hand} (they hold personal data)")
    return 0


def add_parsers(sub) -> None:
    """Register the support team's subcommands on the `chatbot` parser."""
    p = sub.add_parser("insights", help="what customers asked, gaps, hand-offs (admin)")
    p.add_argument("--days", type=int, default=30)
    p.add_argument("--top", type=int, default=20, help="gaps listed (text output)")
    p.add_argument("--json", action="store_true")
    p.add_argument("--conversations", action="store_true", help="with --json: include every conversation's summary")
    admin.admin_command(p, cmd_insights)

    cur = sub.add_parser("curated", help="curated answers (admin)").add_subparsers(dest="action", required=True)
    p = cur.add_parser("add", help="answer a question once; similar questions get this answer, cited")
    p.add_argument("--question", required=True)
    p.add_argument("--answer", default="")
    p.add_argument("--handoff", action="store_true", help="no answer: this topic always goes to a person")
    p.add_argument("--json", action="store_true")
    admin.admin_command(p, cmd_curated_add)
    p = cur.add_parser("list")
    p.add_argument("--json", action="store_true")
    admin.admin_command(p, cmd_curated_list)
    p = cur.add_parser("delete")
    p.add_argument("id", type=int)
    admin.admin_command(p, cmd_curated_delete)

    hand = sub.add_parser("handoffs", help="the hand-off queue (admin)").add_subparsers(dest="action", required=True)
    p = hand.add_parser("list")
    p.add_argument("--status", choices=("open", "resolved", "all"), default="open")
    p.add_argument("--json", action="store_true")
    admin.admin_command(p, cmd_handoffs_list)
    p = hand.add_parser("show", help="the hand-off as the helpdesk receives it, with its delivery attempts")
    p.add_argument("id", type=int)
    admin.admin_command(p, cmd_handoffs_show)
    p = hand.add_parser("resolve")
    p.add_argument("id", type=int)
    p.add_argument("--reopen", action="store_true")
    admin.admin_command(p, cmd_handoffs_resolve)
    p = hand.add_parser("deliver", help="send the due hand-offs to CHATBOT_HANDOFF_WEBHOOK_URL now")
    admin.admin_command(p, cmd_handoffs_deliver)

    conv = sub.add_parser("conversations", help="delete, purge or export conversations (admin)").add_subparsers(
        dest="action", required=True)
    p = conv.add_parser("delete", help="delete one conversation with its hand-offs and contacts")
    p.add_argument("id")
    admin.admin_command(p, cmd_conversations_delete)
    p = conv.add_parser("purge", help="delete conversations older than CHATBOT_RETAIN_DAYS")
    admin.admin_command(p, cmd_conversations_purge)
    p = conv.add_parser("export", help="conversations and hand-offs as JSONL or CSV")
    p.add_argument("--out", default="conversations-export")
    p.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    admin.admin_command(p, cmd_conversations_export)
