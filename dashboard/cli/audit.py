"""`cx audit`: who changed what and when, newest first (the store's audit log)."""

from __future__ import annotations

import argparse
import sys

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "audit",
        help="who changed what and when (every write: ingest, undo, experiments, targets, ...)",
        description="The audit log, newest first: every write to the store with who made it "
        "(signed-in user or operating-system user for cx), their role, where the identity "
        "came from (local, cli, proxy, oidc), the action, its target and the details. "
        "Filter with --action, --actor or --target (a target prefix: 'experiment:' lists "
        "every experiment change, 'experiment:ID' one experiment's).",
    )
    add_db_option(p)
    add_json_option(p)
    p.add_argument(
        "--limit", type=_positive, default=50, metavar="N", help="at most N entries (default 50)"
    )
    p.add_argument(
        "--action", default=None, help="only this action (e.g. ingest, experiment.decide)"
    )
    p.add_argument("--actor", default=None, metavar="NAME", help="only this person")
    p.add_argument("--target", default=None, help="only this target or target prefix")
    p.set_defaults(func=run)


def _one_line(text: object) -> str:
    # Details hold people's text (notes, learnings): one line, nothing interpreted.
    return " ".join(str(text).split())


def run(args: argparse.Namespace) -> int:
    import json

    from metrics.audit import ACTIONS, entries

    if args.action and args.action not in ACTIONS:
        raise CliError(f"--action {args.action!r}: expected one of {', '.join(ACTIONS)}")
    with open_cli_store(args, write=False) as store:
        rows = entries(
            store, limit=args.limit, action=args.action, actor=args.actor, target=args.target
        )
    if args.json:
        out = []
        for row in rows.iter_rows(named=True):
            row["details"] = json.loads(row["details"]) if row["details"] else {}
            out.append(row)
        print_json(out)
        return 0
    if rows.is_empty():
        sys.stdout.write(
            "no audit entries"
            + (" match" if args.action or args.actor or args.target else "")
            + "\n"
        )
        return 0
    lines = []
    for r in rows.iter_rows(named=True):
        lines.append(
            f"{r['logged_at']:%Y-%m-%d %H:%M:%S} UTC  {r['actor']} ({r['role']}, {r['source']})  "
            f"{r['action']}  {r['target']}  {_one_line(r['details'])}"
        )
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
