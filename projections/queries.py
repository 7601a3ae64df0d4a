"""The investigators' questions, answered from the read models.

* :func:`who` — everyone who viewed, copied, exported, shared or deleted footage of a camera
  overlapping a footage window, and when they did it;
* :func:`actor` — everything one person did in a period; :func:`actor_page` the same a page at a
  time (a patrol operator's month is ten thousand video-wall views: an investigator reads the first
  page at once, and the next ones as they ask);
* :func:`case` — everything done under one case, document or application number;
* :func:`violations` — findings of the rules, with the ledger positions of their evidence.

Times in and out are microseconds since the epoch (UTC); the CLI converts to and from ISO 8601
with the +08:00 offset. Every row has two: the event's own (``occurred_at``, as its source
dated it) and the time its entry reached the ledger (``logged_at``, which the log's signed
checkpoints bound); a window selects by the event's own time.

An answer means what it says: a camera, person or case the read models have never seen raises
:class:`~ledger.errors.NotFound` (a typo is not "nobody looked"), and a window that ends before
it starts is a :class:`~ledger.errors.UsageError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from ledger.errors import NotFound, UsageError
from projections.rules.catalog import RULES

RULE_IDS = tuple(sorted({rule.id for rule in RULES}, key=lambda rule_id: int(rule_id[1:])))
SEVERITIES = tuple(
    severity
    for severity in ("critical", "high", "medium", "warning")
    if any(r.severity == severity for r in RULES)
)

ACCESS_COLUMNS = (
    "occurred_at, logged_at, action, actor_id, actor_name, unit, role, camera_id, footage_start, "
    "footage_end, reason, legal_basis, case_number, authorization_id, application_id, deletion_order_id, "
    "outcome, watermark_id, destination, desensitization_profile, source_system_id, event_type, event_id, "
    "origin, idx"
)


def _rows(db: sqlite_utils.Database, sql: str, params: list[Any]) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _exists(db: sqlite_utils.Database, checks: list[tuple[str, str]]) -> bool:
    """Whether any ``(table, column)`` holds the value given with each check."""
    return any(db.execute(sql, [value]).fetchone() for sql, value in checks)


def _window(start: int, end: int) -> None:
    if end <= start:
        raise UsageError("the window's end (--to) is not after its start (--from)")


def check_camera(db: sqlite_utils.Database, camera_id: str) -> None:
    """Raise :class:`NotFound` unless the camera is registered or its footage was ever acted on."""
    if not _exists(
        db,
        [
            ("SELECT 1 FROM cameras WHERE camera_id = ?", camera_id),
            ("SELECT 1 FROM access WHERE camera_id = ? LIMIT 1", camera_id),
        ],
    ):
        raise NotFound(f"camera {camera_id} is unknown: no registration and no access to its footage")


def check_actor(db: sqlite_utils.Database, user_id: str) -> None:
    """Raise :class:`NotFound` unless the person acted on footage or was on a duty roster."""
    if not _exists(
        db,
        [
            ("SELECT 1 FROM access WHERE actor_id = ? LIMIT 1", user_id),
            ("SELECT 1 FROM roster WHERE user_id = ? LIMIT 1", user_id),
        ],
    ):
        raise NotFound(f"person {user_id} is unknown: no action on footage and no duty shift")


def check_case(db: sqlite_utils.Database, number: str) -> None:
    """Raise :class:`NotFound` unless some authorization, application or access names the number."""
    if not _exists(
        db,
        [
            ("SELECT 1 FROM authorizations WHERE case_number = ? LIMIT 1", number),
            ("SELECT 1 FROM applications WHERE application_id = ?", number),
            ("SELECT 1 FROM access WHERE case_number = ? LIMIT 1", number),
            ("SELECT 1 FROM access WHERE application_id = ? LIMIT 1", number),
        ],
    ):
        raise NotFound(f"case, document or application {number} is unknown: nothing in the ledger names it")


def longest_footage(db: sqlite_utils.Database, camera_id: str) -> int:
    """The longest footage window any access of the camera covered (bounds the window query)."""
    row = db.execute(
        "SELECT MAX(footage_end - footage_start) FROM access WHERE camera_id = ?", [camera_id]
    ).fetchone()
    return int(row[0] or 0)


def who(db: sqlite_utils.Database, camera_id: str, start: int, end: int) -> list[dict[str, Any]]:
    """Every action on footage of ``camera_id`` overlapping ``[start, end)``, oldest action first."""
    _window(start, end)
    check_camera(db, camera_id)
    # footage_start >= start - longest keeps the index range tight: nothing longer exists. A disk
    # format has no window: it destroyed everything recorded before it, so it overlaps any window
    # that starts before the format.
    return _rows(
        db,
        f"SELECT {ACCESS_COLUMNS} FROM access WHERE camera_id = ? AND footage_start < ? "  # noqa: S608
        "AND footage_start >= ? AND footage_end > ? "
        f"UNION ALL SELECT {ACCESS_COLUMNS} FROM access WHERE camera_id = ? AND footage_start IS NULL "
        "AND action = 'format' AND occurred_at > ? ORDER BY occurred_at, idx",
        [camera_id, end, start - longest_footage(db, camera_id), start, camera_id, start],
    )


_ACTOR = "FROM access WHERE actor_id = ? AND occurred_at >= ? AND occurred_at < ?"
_ACTOR_ORDER = "ORDER BY occurred_at, idx, id"  # the actor index's order: a page is one range of it


def actor(db: sqlite_utils.Database, user_id: str, start: int, end: int) -> list[dict[str, Any]]:
    """Everything ``user_id`` did on footage in ``[start, end)`` of the events' time."""
    _window(start, end)
    check_actor(db, user_id)
    return _rows(db, f"SELECT {ACCESS_COLUMNS} {_ACTOR} {_ACTOR_ORDER}", [user_id, start, end])


@dataclass(frozen=True)
class Page:
    """Some rows of an answer, how many it has in all, and where the next page starts."""

    rows: list[dict[str, Any]]
    total: int
    after: str | None
    """Pass as ``after`` for the next page; ``None``: this was the last."""


def actor_page(
    db: sqlite_utils.Database, user_id: str, start: int, end: int, *, limit: int, after: str | None = None
) -> Page:
    """At most ``limit`` rows of :func:`actor`'s answer, from the start or after a cursor.

    Rows come in the actor index's order (time, entry index, row id), so each page is one range
    of the index; the cursor names the last row given.
    """
    if limit < 1:
        raise UsageError(f"a page holds at least one row, not {limit}")
    _window(start, end)
    check_actor(db, user_id)
    where = _ACTOR
    params: list[Any] = [user_id, start, end]
    (total,) = db.execute(f"SELECT COUNT(*) {where}", params).fetchone()
    if after is not None:
        try:
            cursor = [int(part) for part in after.split(".")]
        except ValueError:
            cursor = []
        if len(cursor) != 3:
            raise UsageError(f"{after!r} is not a page cursor: pass the one the previous page gave")
        where += " AND (occurred_at, idx, id) > (?, ?, ?)"
        params += cursor
    found = _rows(
        db,
        f"SELECT {ACCESS_COLUMNS}, id AS row_id {where} {_ACTOR_ORDER} LIMIT ?",
        [*params, limit + 1],
    )
    more = len(found) > limit
    rows = found[:limit]
    ids = [row.pop("row_id") for row in rows]
    return Page(rows, total, f"{rows[-1]['occurred_at']}.{rows[-1]['idx']}.{ids[-1]}" if more else None)


def case(db: sqlite_utils.Database, number: str) -> dict[str, list[dict[str, Any]]]:
    """Authorizations, applications and every action under one case or application number."""
    check_case(db, number)
    actions = _rows(
        db,
        f"SELECT {ACCESS_COLUMNS} FROM access WHERE case_number = ? "  # noqa: S608
        "UNION SELECT " + ACCESS_COLUMNS + " FROM access WHERE application_id = ? "
        "UNION SELECT " + ACCESS_COLUMNS + " FROM access WHERE authorization_id IN "
        "(SELECT authorization_id FROM authorizations WHERE case_number = ?) ORDER BY occurred_at, idx",
        [number, number, number],
    )
    return {
        "authorizations": _rows(db, "SELECT * FROM authorizations WHERE case_number = ?", [number]),
        "applications": _rows(db, "SELECT * FROM applications WHERE application_id = ?", [number]),
        "actions": actions,
    }


def violations(
    db: sqlite_utils.Database,
    *,
    rule: str | None = None,
    severity: str | None = None,
    since: int | None = None,
) -> list[dict[str, Any]]:
    """Violations, newest first, optionally of one rule (``r1`` or ``R1``), one severity, or since a time."""
    if rule is not None:
        rule = rule.strip().upper()
        if rule not in RULE_IDS:
            raise UsageError(f"{rule!r} is not a rule: the rules are {', '.join(RULE_IDS)}")
    if severity is not None:
        severity = severity.strip().lower()
        if severity not in SEVERITIES:
            raise UsageError(f"{severity!r} is not a severity: {', '.join(SEVERITIES)}")
    clauses: list[str] = []
    params: list[Any] = []
    for column, value in (("rule", rule), ("severity", severity)):
        if value is not None:
            clauses.append(f"{column} = ?")
            params.append(value)
    if since is not None:
        clauses.append("occurred_at >= ?")
        params.append(since)
    where = f"WHERE {' AND '.join(clauses)}" if clauses else ""
    rows = _rows(db, f"SELECT * FROM violations {where} ORDER BY occurred_at DESC, id DESC", params)  # noqa: S608
    for row in rows:
        row["evidence"] = json.loads(row["evidence"])
        row["cleared_late"] = json.loads(row["cleared_late"]) if row["cleared_late"] else None
    return rows
