"""The whole-file errors ingest raises: nothing has been written when they are raised."""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any

# The share of a file's rows that may be rejected before the whole batch is refused
# (issue 10 item 4): more than 1 % rejected writes nothing unless the caller accepts more.
DEFAULT_MAX_REJECT_SHARE = 0.01


class IngestError(Exception):
    """A whole-file problem: the message names the file, the column and what was expected.

    When it is raised nothing has been written to the store, not even an ingest_batches row.
    `file`, `column`, `expected` and `row` carry the same facts as fields (None when not
    known) for `cx ingest --json` and the Data page; `file` and `expected` are read from
    the message when the raiser did not pass them (messages are "<file>: ...; expected ...").
    """

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        column: str | None = None,
        expected: str | None = None,
        row: int | None = None,
    ) -> None:
        super().__init__(message)
        self.file = file
        self.column = column
        self.expected = expected if expected is not None else _expected_of(message)
        self.row = row

    @property
    def message(self) -> str:
        return str(self.args[0]) if self.args else ""

    def to_dict(self) -> dict[str, Any]:
        """The error as the JSON object `cx ingest --json` prints (row only when known)."""
        out: dict[str, Any] = {
            "error": self.message,
            "file": self.file,
            "column": self.column,
            "expected": self.expected,
        }
        if self.row is not None:
            out["row"] = self.row
        return out


def _expected_of(message: str) -> str | None:
    # Every whole-file message ends "...; expected <what>" or "... expected <what>".
    found = re.search(r"\bexpected\s+(.+)$", message, flags=re.S)
    return found.group(1).strip() if found else None


@dataclass(frozen=True)
class RejectGroup:
    """Rejected rows sharing one cause: the column(s) and the reason with values elided.

    `examples` are the first few data row numbers (1 = first row under the header).
    """

    column: str
    reason: str
    count: int
    examples: tuple[int, ...]

    def to_text(self) -> str:
        rows = ", ".join(str(r) for r in self.examples)
        noun = "row" if self.count == 1 else "rows"
        which = "row" if len(self.examples) == 1 else "rows"
        return f"{self.count:,} {noun}: {self.reason} (e.g. {which} {rows})"


class RejectShareExceeded(IngestError):
    """More of the file's rows were rejected than the accepted share: nothing was written.

    `share` = rejected / rows; `limit` the share that was accepted (max_reject_share);
    `groups` the rejected rows by cause, most frequent first. Re-run ingest_file with
    `max_reject_share` ≥ `share` to load the good rows anyway (the Data page asks first).
    """

    def __init__(
        self,
        *,
        file: str,
        share: float,
        limit: float,
        rows: int,
        rejected: int,
        groups: list[RejectGroup],
    ) -> None:
        self.share = share
        self.limit = limit
        self.rows = rows
        self.rejected = rejected
        self.groups = groups
        lines = [
            f"{file}: {rejected:,} of {rows:,} rows ({share:.1%}) would be rejected, more than "
            f"the accepted {limit:.1%}; nothing was loaded"
        ]
        lines += [f"  {g.to_text()}" for g in groups]
        lines.append(
            f"  fix the file or the mapping, or accept the share with --max-reject-share "
            f"{_share_text(share)}"
        )
        super().__init__(
            "\n".join(lines),
            file=file,
            column=", ".join(dict.fromkeys(g.column for g in groups)) or None,
            expected=f"at most {limit:.1%} of the rows rejected",
        )

    def to_dict(self) -> dict[str, Any]:
        out = super().to_dict()
        out.update(
            share=self.share,
            limit=self.limit,
            rows=self.rows,
            rejected=self.rejected,
            groups=[{**asdict(g), "examples": list(g.examples)} for g in self.groups],
        )
        return out


def accepted_share(share: float) -> float:
    """The smallest round share (4 decimals, rounded up, float noise rounded away first:
    0.07 stays 0.07) that accepts a batch which rejected `share` of its rows; 1/12 * 12 rows
    compares just over one row, hence up."""
    return min(1.0, math.ceil(round(share * 10_000, 6)) / 10_000)


def _share_text(share: float) -> str:
    return f"{accepted_share(share):g}"
