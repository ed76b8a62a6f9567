"""Cost of the audit trail: a target write with its audit entry against the same write without.

Both run in this process on fresh stores on disk, alternating rounds, so the ratio is what
the permission check and the extra INSERT in the write's transaction add. Also times the
router's gate (config, Host check, proxy identity and role map) per page run.

    .venv/bin/python benchmarks/audit.py [--writes 200] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from dashboard.auth import AuthConfig, host_problem, resolve_actor  # noqa: E402
from metrics.auth import Actor  # noqa: E402
from metrics.store import open_store  # noqa: E402
from metrics.targets import set_target  # noqa: E402

ADMIN = Actor("bench", "admin", "cli")


def _plain_write(store, kpi: str, value: float) -> None:
    # What set_target did before the audit trail: the same upsert, no check, no entry.
    with store.write() as cur:
        cur.execute(
            "INSERT INTO targets (kpi, band, scope_dim, scope_value, target, source, updated_at) "
            "VALUES (?, '', '', '', ?, ?, current_timestamp) "
            "ON CONFLICT (kpi, band, scope_dim, scope_value) DO UPDATE SET "
            "target = excluded.target, source = excluded.source, updated_at = excluded.updated_at",
            [kpi, float(value), "bench"],
        )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--writes", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=5)
    args = ap.parse_args()
    plain, audited = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(args.rounds):
            for label, out in (("plain", plain), ("audited", audited)):
                with open_store(Path(tmp) / f"{label}{r}.duckdb") as store:
                    t = time.perf_counter()
                    for i in range(args.writes):
                        value = 0.5 + (i % 40) / 100
                        if label == "plain":
                            _plain_write(store, "fcr", value)
                        else:
                            set_target(store, "fcr", value, "bench", actor=ADMIN)
                    out.append((time.perf_counter() - t) / args.writes)
    p, a = statistics.median(plain), statistics.median(audited)
    print(f"target write, no audit   {p * 1e3:8.3f} ms/write (median of {args.rounds} rounds)")
    print(f"target write + audit     {a * 1e3:8.3f} ms/write")
    print(f"ratio audited / plain    {a / p:8.2f}")

    env = {"CX_AUTH": "proxy", "CX_TRUSTED_PROXY": "127.0.0.1", "CX_ROLE_MAP": "g=analyst"}
    headers = {"Host": "cx.example.se", "X-Forwarded-User": "ann", "X-Forwarded-Groups": "g"}
    os.environ["CX_ROLE_MAP"] = env["CX_ROLE_MAP"]  # the role map is read from the process
    n = 20_000
    t = time.perf_counter()
    for _ in range(n):
        config = AuthConfig.from_env(env)
        host_problem(headers["Host"], config, server_address="127.0.0.1", server_port=8501)
        resolve_actor(config, headers=headers, remote_ip=None, user=None, store=None)
    print(f"gate (proxy mode, env map) {(time.perf_counter() - t) / n * 1e6:6.1f} µs/page run")


if __name__ == "__main__":
    main()
