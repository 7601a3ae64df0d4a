"""What the ``liuhen`` command prints: lines, tables, JSON and CSV, with times in China time.

Text that comes from events (names, reasons, destinations) is written by the people the ledger
judges, so nothing from an event reaches the terminal as it is: control characters (escape
sequences, carriage returns, bidirectional overrides) are shown escaped, and CSV cells that a
spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``) are neutralized with a leading
apostrophe. JSON escapes by itself.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8), "+08:00")
"""China Standard Time: how liuhen shows times."""

TIME_COLUMNS = frozenset(
    {"occurred_at", "footage_start", "footage_end", "set_at", "granted_at", "expires_at", "filed_at",
     "decided_at", "placed_at", "released_at", "ordered_at", "opened_at", "closed_at", "shift_start",
     "shift_end", "ingested_at", "logged_at", "registered_at"}
)  # fmt: skip
"""Columns of the read models that hold microseconds since the epoch."""

_UNSAFE = {
    **{code: f"\\x{code:02x}" for code in [*range(0x20), 0x7F]},
    **{code: f"\\u{code:04x}" for code in range(0x80, 0xA0)},
    # bidirectional overrides and isolates reorder what a terminal shows (CVE-2021-42574)
    **{code: f"\\u{code:04x}" for code in [*range(0x202A, 0x202F), *range(0x2066, 0x206A), 0x200E, 0x200F]},
}
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def clean(text: str) -> str:
    """``text`` safe to print on a terminal: control and bidirectional characters escaped."""
    return text.translate(_UNSAFE)


def out(text: str) -> None:
    """One line (or block) of the command's answer, on stdout."""
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


def note(text: str) -> None:
    """Progress and remarks, on stderr (the answer on stdout stays parseable)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


def show_time(us: int | None) -> str:
    """Microseconds since the epoch as ISO 8601 in China time (``-`` for none)."""
    if us is None:
        return "-"
    return datetime.fromtimestamp(us / 1e6, UTC).astimezone(CST).isoformat(timespec="seconds")


def positions(evidence: Iterable[Sequence[Any]]) -> str:
    """Ledger positions as ``origin#index``, separated by ``;``."""
    return ";".join(f"{origin}#{index}" for origin, index in evidence)


def shown(row: Mapping[str, Any]) -> dict[str, Any]:
    """A read-model row with its times in ISO 8601 (+08:00)."""
    return {k: show_time(v) if k in TIME_COLUMNS and isinstance(v, int) else v for k, v in row.items()}


def emit_json(rows: Any) -> None:
    """The answer as JSON (times already converted by the caller)."""
    out(json.dumps(rows, indent=2, ensure_ascii=False))


def csv_cell(value: Any) -> Any:
    """One CSV cell: lists of positions joined, text escaped and never a formula."""
    if value is None:
        return ""
    if isinstance(value, list):
        return positions(value)
    if not isinstance(value, str):
        return value
    text = value.translate({k: v for k, v in _UNSAFE.items() if k not in (0x0A, 0x0D, 0x09)})
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def emit_csv(rows: Sequence[Mapping[str, Any]], columns: Sequence[str]) -> None:
    """The answer as CSV: a header row first (also when there are no rows), then one row each."""
    writer = csv.writer(sys.stdout, lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([csv_cell(row.get(column)) for column in columns])
    sys.stdout.flush()


def emit_table(rows: Sequence[Mapping[str, Any]], headings: Sequence[tuple[str, str]]) -> None:
    """The answer for people: one line of headings, one line a row, text escaped."""
    out("  ".join(title for _, title in headings))
    for row in rows:
        cells = [row.get(key) for key, _ in headings]
        out("  ".join("-" if cell is None else clean(str(cell)) for cell in cells))
