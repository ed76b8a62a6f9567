"""`cx followups list|done|history`: detractors to call back, and the audited marks."""

from __future__ import annotations

import argparse

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "followups",
        help="detractors to follow up (NPS 0-6, CSAT 1-2) and marking them done",
        description="The follow-up list of detractors, oldest first, with the contact's "
        "channel, issue and team. Marks are kept: marking again adds to the history.",
    )
    sub = p.add_subparsers(dest="followups_command", metavar="SUBCOMMAND")
    ls = sub.add_parser("list", help="detractor answers, oldest first")
    add_db_option(ls)
    add_json_option(ls)
    ls.add_argument("--status", choices=("open", "done", "all"), default="open")
    ls.add_argument("--limit", type=int, default=50, help="at most this many rows (default 50)")
    ls.set_defaults(func=run_list)
    done = sub.add_parser("done", help="mark one answer as followed up")
    add_db_option(done)
    add_json_option(done)
    done.add_argument("response_id", metavar="RESPONSE_ID")
    done.add_argument("--by", required=True, metavar="NAME", help="who followed up")
    done.add_argument("--note", default="", metavar="TEXT", help="what was agreed")
    done.set_defaults(func=run_done)
    hist = sub.add_parser("history", help="every mark of one answer (audit trail)")
    add_db_option(hist)
    add_json_option(hist)
    hist.add_argument("response_id", metavar="RESPONSE_ID")
    hist.set_defaults(func=run_history)
    p.set_defaults(func=lambda args: (p.print_help(), 2)[1])


def _open(args: argparse.Namespace, *, write: bool = False):
    return open_cli_store(args, write=write)


def _one_line(text: object) -> str:
    # Comments are customers' own words: shown as plain text on one line, nothing rendered.
    return "" if text is None else " ".join(str(text).split())


def run_list(args: argparse.Namespace) -> int:
    from metrics.followups import FollowupError, detractor_counts, detractors

    try:
        with _open(args) as store:
            rows = detractors(store, status=args.status, limit=args.limit)
            counts = detractor_counts(store)
    except FollowupError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json({"counts": counts, "rows": rows.to_dicts()})
        return 0
    print(
        f"{counts['open']:,} of {counts['total']:,} detractor answers not followed up yet; "
        f"showing {rows.height:,} ({args.status}), oldest first"
    )
    for r in rows.iter_rows(named=True):
        where = " / ".join(str(r[k] or "—") for k in ("channel", "issue_type", "team"))
        print(f"  {r['response_id']}  {r['answered_at']:%Y-%m-%d}  {r['reason']:<14} {where}")
        if r["comment"]:
            print(f"      “{_one_line(r['comment'])}”")
        if r["followed_up_by"]:
            print(
                f"      followed up by {r['followed_up_by']} on "
                f"{r['followed_up_at']:%Y-%m-%d %H:%M}: {_one_line(r['note'])}"
            )
    return 0


def run_done(args: argparse.Namespace) -> int:
    from metrics.followups import FollowupError, mark_done

    try:
        with _open(args, write=True) as store:
            mark = mark_done(store, args.response_id, by=args.by, note=args.note)
    except FollowupError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json(mark)
        return 0
    kept = f" ({mark['previous_marks']} earlier mark(s) kept)" if mark["previous_marks"] else ""
    print(
        f"{mark['response_id']} followed up by {mark['followed_up_by']} at "
        f"{mark['followed_up_at']:%Y-%m-%d %H:%M} UTC{kept}"
    )
    return 0


def run_history(args: argparse.Namespace) -> int:
    from metrics.followups import history

    with _open(args) as store:
        rows = history(store, args.response_id)
    if args.json:
        print_json(rows.to_dicts())
        return 0
    if rows.height == 0:
        print(f"{args.response_id}: never followed up")
    for r in rows.iter_rows(named=True):
        print(
            f"  #{r['followup_id']} {r['followed_up_at']:%Y-%m-%d %H:%M} "
            f"{r['followed_up_by']}: {_one_line(r['note'])}"
        )
    return 0
