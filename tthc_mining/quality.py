"""Data-quality accounting: every input row is either used or counted here by reason."""
from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
import pandas as pd

#: action taken for the rows of an issue
DROPPED, REPAIRED, FLAGGED = "dropped", "repaired", "flagged"

MAX_EXAMPLES = 5


@dataclass
class QualityIssue:
    reason: str            # machine key, e.g. "missing_case_id"
    action: str            # dropped | repaired | flagged
    count: int
    examples: list[int]    # example 1-based data-row numbers in the source
    column: str | None = None
    detail: str | None = None


@dataclass
class QualityReport:
    """What happened to every row read.

    Invariant: ``rows_read == rows_used + rows_dropped``. Repaired and flagged rows are used rows
    (they are counted in ``issues`` too, but not subtracted).
    """

    source: str = "<data>"
    rows_read: int = 0
    issues: list[QualityIssue] = field(default_factory=list)
    #: how the source was read (encoding, separator, header row, column mapping, time formats)
    meta: dict = field(default_factory=dict)

    def add(self, reason: str, rows: Iterable[int] | np.ndarray, *, action: str = DROPPED,
            column: str | None = None, detail: str | None = None) -> None:
        rows = np.asarray(list(rows) if not isinstance(rows, (np.ndarray, pd.Index, pd.Series))
                          else rows)
        n = int(rows.size)
        if n == 0:
            return
        examples = [int(r) for r in np.sort(rows.astype(np.int64))[:MAX_EXAMPLES]]
        for issue in self.issues:  # merge with an existing issue of the same key
            if (issue.reason, issue.action, issue.column) == (reason, action, column):
                issue.count += n
                issue.examples = sorted(set(issue.examples) | set(examples))[:MAX_EXAMPLES]
                return
        self.issues.append(QualityIssue(reason, action, n, examples, column, detail))

    @property
    def rows_dropped(self) -> int:
        return sum(i.count for i in self.issues if i.action == DROPPED)

    @property
    def rows_used(self) -> int:
        return self.rows_read - self.rows_dropped

    def count(self, reason: str) -> int:
        return sum(i.count for i in self.issues if i.reason == reason)

    def to_frame(self) -> pd.DataFrame:
        cols = ["reason", "action", "count", "examples", "column", "detail"]
        return pd.DataFrame([i.__dict__ for i in self.issues], columns=cols)

    def to_dict(self) -> dict:
        return {"source": self.source, "rows_read": self.rows_read, "rows_used": self.rows_used,
                "rows_dropped": self.rows_dropped,
                "issues": [dict(i.__dict__) for i in self.issues], "meta": self.meta}

    def to_json(self, **kw) -> str:
        return json.dumps(self.to_dict(), ensure_ascii=False, **kw)

    def _repr_html_(self) -> str:
        head = (f"<p><b>{html.escape(str(self.source))}</b>: {self.rows_read:,} rows read, "
                f"{self.rows_used:,} used, {self.rows_dropped:,} dropped</p>")
        if not self.issues:
            return head + "<p>No data-quality issues.</p>"
        return head + self.to_frame().to_html(escape=True, index=False)

    def __str__(self) -> str:
        lines = [f"{self.source}: {self.rows_read} rows read, {self.rows_used} used, "
                 f"{self.rows_dropped} dropped"]
        for i in self.issues:
            col = f" [{i.column}]" if i.column else ""
            lines.append(f"  {i.action:9s} {i.count:8d}  {i.reason}{col}  e.g. rows {i.examples}"
                         + (f" — {i.detail}" if i.detail else ""))
        return "\n".join(lines)
