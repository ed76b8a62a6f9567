"""A file's personal data made safe by its mapping plan, before anything reads its values.

Applies the plan's decisions (which columns are dropped, hashed, or free text to mask) with
the tools of metrics.ingest.pii; kept apart from pii.py because the plan is made in
mapping.py, which itself asks pii.py how to classify headers and values.
"""

from __future__ import annotations

import polars as pl

from metrics.ingest.mapping import Plan
from metrics.ingest.pii import PiiKey, hash_columns, mask_text

DROPPED_VALUE = "(dropped)"
HASH_PLACEHOLDER = "(hashed on load)"


def protect_frame(frame: pl.DataFrame, plan: Plan, key: PiiKey | None) -> pl.DataFrame:
    """One (chunk of a) file with personal data made safe before anything reads its values.

    Dropped columns keep only "(dropped)" where a value was (so a row with just a name is
    still a row, not a blank one), hashed columns become their HMAC (or a placeholder when
    `key` is None, for a preview), and single stray values of personal-data shape in the
    columns bound for `extras` and in free-text comments are masked (mask_text). Call it per
    chunk: it is row-wise.
    """
    present = set(frame.columns)
    dropped = [c for c in plan.dropped if c in present]
    hashed = {c: plan.pii_kind.get(c, "generic") for c in plan.hashed if c in present}
    exprs = [
        pl.when(pl.col(c).cast(pl.String).str.strip_chars().str.len_bytes() > 0)
        .then(pl.lit(DROPPED_VALUE))
        .alias(c)
        for c in dropped
    ]
    if key is None:
        exprs += [
            pl.when(pl.col(c).is_not_null()).then(pl.lit(HASH_PLACEHOLDER)).alias(c) for c in hashed
        ]
    out = frame.with_columns(exprs) if exprs else frame
    if key is not None and hashed:
        out = hash_columns(out, hashed, key)
    texts = [c for c in plan.extras if c not in plan.keep]
    texts += [src for canon, src in plan.columns.items() if canon == "comment"]
    texts = [c for c in texts if c in present and out[c].dtype == pl.String]
    if texts:
        out = out.with_columns(mask_text(out[c]).alias(c) for c in texts)
    return out
