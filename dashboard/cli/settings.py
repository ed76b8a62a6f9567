"""`cx settings`: the settings a manager can change (`get`, `set KEY VALUE`), and `show`: where
the personal-data key is, its fingerprint, and the store's."""

from __future__ import annotations

import argparse
import stat
import sys
from typing import Any

from dashboard.cli.common import (
    CliError,
    add_db_option,
    add_json_option,
    open_cli_store,
    print_json,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "settings",
        help="show where the personal-data key is kept (never the key itself)",
        description=(
            "Personal data (e-mail, phone) is stored as HMAC-SHA256 with a key kept outside "
            "the store: $CX_PII_KEY, else the file $CX_PII_KEY_FILE, else "
            "$XDG_CONFIG_HOME/cx-console/pii.key (~/.config/...), created with mode 0600 on "
            "the first ingest that needs it. Every machine that loads into one store needs "
            "the same key, or its hashes will not join."
        ),
    )
    sub = p.add_subparsers(dest="settings_command", metavar="SUBCOMMAND")
    show = sub.add_parser("show", help="print the personal-data key settings (default)")
    for parser in (p, show):
        add_db_option(parser)
        add_json_option(parser)
        parser.set_defaults(func=run)
    get = sub.add_parser(
        "get",
        help="print the settings a manager can change (or one of them)",
        description="Print every setting with its value in force, default and meaning, or one.",
    )
    get.add_argument("key", nargs="?", default=None, metavar="KEY", help="e.g. ui.currency")
    put = sub.add_parser(
        "set",
        help="change one setting: cx settings set KEY VALUE",
        description=(
            "Change one setting; the value is checked first and nothing is written when it is "
            "bad. Keys: kpi.ces_reading, kpi.fcr_window_days, kpi.sl_phone_s, kpi.sl_chat_s, "
            "kpi.min_n, clv.margin, ui.currency, business.time_zone, ui.language."
        ),
    )
    put.add_argument("key", metavar="KEY")
    put.add_argument("value", metavar="VALUE")
    for parser, func in ((get, run_get), (put, run_set)):
        add_db_option(parser)
        add_json_option(parser)
        parser.set_defaults(func=func)


def run_get(args: argparse.Namespace) -> int:
    from metrics.settings import SETTINGS, settings_frame_rows

    if args.key is not None and args.key not in SETTINGS:
        raise CliError(f"unknown setting {args.key!r}; valid keys: {', '.join(SETTINGS)}")
    with open_cli_store(args, write=False) as store:
        rows = settings_frame_rows(store)
    if args.key is not None:
        rows = [r for r in rows if r["key"] == args.key]
    if args.json:
        print_json(rows[0] if args.key is not None else rows)
        return 0
    if args.key is not None:
        print(rows[0]["value"])
        return 0
    width = max(len(r["key"]) for r in rows)
    for r in rows:
        note = "" if r["value"] == r["default"] else f"  (default {r['default']})"
        print(f"{r['key'].ljust(width)}  {r['value']}{note}")
        print(f"{' ' * width}  {r['help']}")
    return 0


def run_set(args: argparse.Namespace) -> int:
    from metrics.settings import SettingError, set_setting

    with open_cli_store(args, write=True) as store:
        try:
            value = set_setting(store, args.key, args.value)
        except SettingError as exc:
            raise CliError(str(exc)) from None
    if args.json:
        print_json({"key": args.key, "value": value})
    else:
        print(f"{args.key} = {value}")
    return 0


def collect(db: Any = None) -> dict[str, Any]:
    """The settings as a dict: key source, file, mode, fingerprint, and the store's fingerprint."""
    from metrics.ingest.pii import KEY_ENV, PiiKeyError, key_file_path, load_key, store_key_id
    from metrics.store import default_db_path, open_store

    path = key_file_path()
    out: dict[str, Any] = {
        "pii_key_source": None,
        "pii_key_file": str(path),
        "pii_key_file_exists": path.exists(),
        "pii_key_file_mode": None,
        "pii_key_id": None,
        "pii_key_problem": None,
        "store": None,
        "store_pii_key_id": None,
        "store_problem": None,
    }
    if path.exists():
        out["pii_key_file_mode"] = f"{stat.S_IMODE(path.stat().st_mode):04o}"
    try:
        key = load_key(create=False)
    except PiiKeyError as exc:
        out["pii_key_problem"] = str(exc)
    else:
        if key is not None:
            out["pii_key_source"] = key.source
            out["pii_key_id"] = key.key_id
        else:
            out["pii_key_problem"] = (
                f"no key yet: it is created at {path} on the first ingest with personal data "
                f"(or set {KEY_ENV})"
            )
    store_path = db or default_db_path()
    out["store"] = str(store_path)
    if store_path.exists():
        try:
            with open_store(store_path, read_only=True) as store:
                out["store_pii_key_id"] = store_key_id(store.cursor())
        except Exception as exc:  # a busy, locked or foreign file: say so, do not fail
            out["store_problem"] = str(exc).splitlines()[0]
    else:
        out["store_problem"] = "no store at this path"
    return out


def run(args: argparse.Namespace) -> int:
    info = collect(args.db)
    if args.json:
        print_json(info)
        return 0
    lines = [
        f"personal-data key: {info['pii_key_source'] or 'none yet'}",
        f"  key file: {info['pii_key_file']}"
        + (f" (mode {info['pii_key_file_mode']})" if info["pii_key_file_mode"] else " (absent)"),
        f"  key id: {info['pii_key_id'] or '-'}",
    ]
    if info["pii_key_problem"]:
        lines.append(f"  note: {info['pii_key_problem']}")
    lines.append(f"store: {info['store']}")
    lines.append(f"  hashed with key id: {info['store_pii_key_id'] or '- (no personal data yet)'}")
    if info["store_problem"]:
        lines.append(f"  note: {info['store_problem']}")
    elif info["store_pii_key_id"] and info["pii_key_id"] not in (None, info["store_pii_key_id"]):
        lines.append("  warning: the current key is not the store's; ingest will refuse it")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0
