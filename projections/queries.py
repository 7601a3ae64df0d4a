"""The investigators' questions, answered from the read models.

* :func:`who` — everyone who viewed, copied, exported, shared or deleted footage of a camera
  overlapping a footage window, and when they did it (or everyone who acted on the camera's
  footage during a window, whatever footage it was);
* :func:`actor` — everything one person (and any look-alike id) did in a period: on footage, and
  every other act (configuration, retention, orders, approvals, keys, work orders);
  :func:`actor_page` the same a page at a time (a patrol operator's month is ten thousand
  video-wall views: an investigator reads the first page at once, and the next ones as they ask);
* :func:`case` — everything done under one case, authorization, application, deletion-order or
  legal-hold number, with the grants, orders and holds it names;
* :func:`find` — people and cameras by (part of) a name, id or place, compared folded;
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
from projections.rules.base import fold
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


def actor_ids(db: sqlite_utils.Database, user_id: str) -> list[str]:
    """The ids the ledger knows ``user_id`` by: itself and every look-alike (same :func:`fold` key).

    Raise :class:`NotFound` unless the person acted or was on a duty roster.
    """
    ids = {row[0] for row in db.execute("SELECT actor_id FROM people WHERE id_key = ?", [fold(user_id)])}
    if not ids and not _exists(db, [("SELECT 1 FROM roster WHERE user_id = ? LIMIT 1", user_id)]):
        raise NotFound(f"person {user_id} is unknown: no action on footage, no other act and no duty shift")
    return sorted(ids | {user_id})


def check_actor(db: sqlite_utils.Database, user_id: str) -> None:
    """Raise :class:`NotFound` unless the person acted or was on a duty roster."""
    actor_ids(db, user_id)


def check_case(db: sqlite_utils.Database, number: str) -> None:
    """Raise :class:`NotFound` unless some grant, order, hold, application or access names the number."""
    if not _exists(
        db,
        [
            ("SELECT 1 FROM authorizations WHERE case_number = ? LIMIT 1", number),
            ("SELECT 1 FROM authorizations WHERE authorization_id = ?", number),
            ("SELECT 1 FROM applications WHERE application_id = ?", number),
            ("SELECT 1 FROM deletion_orders WHERE order_id = ? LIMIT 1", number),
            ("SELECT 1 FROM holds WHERE hold_id = ? LIMIT 1", number),
            ("SELECT 1 FROM holds WHERE case_number = ? LIMIT 1", number),
            ("SELECT 1 FROM access WHERE case_number = ? LIMIT 1", number),
            ("SELECT 1 FROM access WHERE application_id = ? LIMIT 1", number),
        ],
    ):
        raise NotFound(
            f"case, document or application {number} is unknown: nothing in the ledger names it "
            "(no authorization, deletion order, legal hold, application or access)"
        )


def longest_footage(db: sqlite_utils.Database, camera_id: str) -> int:
    """The longest footage window any access of the camera covered (bounds the window query)."""
    row = db.execute(
        "SELECT MAX(footage_end - footage_start) FROM access WHERE camera_id = ?", [camera_id]
    ).fetchone()
    return int(row[0] or 0)


def who(
    db: sqlite_utils.Database, camera_id: str, start: int, end: int, *, accessed: bool = False
) -> list[dict[str, Any]]:
    """Every action on footage of ``camera_id`` overlapping ``[start, end)``, oldest action first.

    ``accessed``: every action taken *during* ``[start, end)``, whatever footage it was on (who
    looked at the camera during the incident).
    """
    _window(start, end)
    check_camera(db, camera_id)
    if accessed:
        return _rows(
            db,
            f"SELECT {ACCESS_COLUMNS} FROM access WHERE camera_id = ? AND occurred_at >= ? "  # noqa: S608
            "AND occurred_at < ? ORDER BY occurred_at, idx",
            [camera_id, start, end],
        )
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


def find(db: sqlite_utils.Database, text: str) -> dict[str, list[dict[str, Any]]]:
    """People and cameras whose id, name (or camera location) holds ``text``, compared :func:`fold`-ed.

    A look-alike of an id (full-width digits, a zero-width space, another case) finds it.
    """
    key = fold(text)
    if not key:
        raise UsageError("say what to look for: part of a name, an id or a place")
    like = "%" + key.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    return {
        "people": _rows(
            db,
            "SELECT actor_id, name, unit FROM people WHERE id_key = ? OR name_key LIKE ? ESCAPE '\\' "
            "ORDER BY actor_id LIMIT 200",
            [key, like],
        ),
        "cameras": _rows(
            db,
            "SELECT camera_id, system_id, name, location FROM cameras WHERE camera_id = ? "
            "OR name_key LIKE ? ESCAPE '\\' ORDER BY camera_id LIMIT 200",
            [key, like],
        ),
    }


_ACTOR = "FROM access WHERE actor_id IN ({ids}) AND occurred_at >= ? AND occurred_at < ?"
_ACTOR_ORDER = "ORDER BY occurred_at, idx, id"  # the actor index's order: a page is one range of it


def _in(ids: list[str]) -> str:
    return ", ".join("?" * len(ids))


def actor(db: sqlite_utils.Database, user_id: str, start: int, end: int) -> list[dict[str, Any]]:
    """Everything ``user_id`` (or a look-alike id) did in ``[start, end)``: footage, then other acts."""
    _window(start, end)
    ids = actor_ids(db, user_id)
    where = _ACTOR.format(ids=_in(ids))
    return _rows(db, f"SELECT {ACCESS_COLUMNS} {where} {_ACTOR_ORDER}", [*ids, start, end]) + acts(
        db, ids, start, end
    )


ACT_COLUMNS = (
    "occurred_at, logged_at, event_type AS action, actor_id, camera_id, detail AS reason, case_number, "
    "source_system_id, event_type, event_id, origin, idx"
)


def acts(db: sqlite_utils.Database, ids: list[str], start: int, end: int) -> list[dict[str, Any]]:
    """What the people ``ids`` did besides acting on footage, in ``[start, end)``, in the access rows' shape.

    ``action`` is the event type; ``reason`` the event's fields as JSON.
    """
    found = _rows(
        db,
        f"SELECT {ACT_COLUMNS} FROM acts WHERE actor_id IN ({_in(ids)}) "  # noqa: S608
        "AND occurred_at >= ? AND occurred_at < ? ORDER BY occurred_at, idx",
        [*ids, start, end],
    )
    sql = f"SELECT actor_id, name FROM people WHERE actor_id IN ({_in(ids)})"  # noqa: S608
    names = dict(db.execute(sql, ids).fetchall())
    for row in found:
        row["actor_name"] = names.get(row["actor_id"])
    return found


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
    of the index; the cursor names the last row given. The person's other acts (few: their
    configuration, orders, approvals) come with the last page.
    """
    if limit < 1:
        raise UsageError(f"a page holds at least one row, not {limit}")
    _window(start, end)
    ids = actor_ids(db, user_id)
    where = _ACTOR.format(ids=_in(ids))
    params: list[Any] = [*ids, start, end]
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
    row_ids = [row.pop("row_id") for row in rows]
    others = acts(db, ids, start, end)
    if not more:  # the other acts come with the last page
        rows += others
    following = f"{rows[-1]['occurred_at']}.{rows[-1]['idx']}.{row_ids[-1]}" if more else None
    return Page(rows, total + len(others), following)


def case(db: sqlite_utils.Database, number: str) -> dict[str, list[dict[str, Any]]]:
    """Everything under one case, authorization, application, deletion-order or hold number.

    The grants, applications, deletion orders and legal holds it names, and every action under it.
    """
    check_case(db, number)
    actions = _rows(
        db,
        f"SELECT {ACCESS_COLUMNS} FROM access WHERE case_number = ? "  # noqa: S608
        "UNION SELECT " + ACCESS_COLUMNS + " FROM access WHERE application_id = ? "
        "UNION SELECT " + ACCESS_COLUMNS + " FROM access WHERE authorization_id = ? "
        "UNION SELECT " + ACCESS_COLUMNS + " FROM access WHERE deletion_order_id = ? "
        "UNION SELECT " + ACCESS_COLUMNS + " FROM access WHERE authorization_id IN "
        "(SELECT authorization_id FROM authorizations WHERE case_number = ?) ORDER BY occurred_at, idx",
        [number] * 5,
    )
    return {
        "authorizations": _rows(
            db,
            "SELECT * FROM authorizations WHERE case_number = ? UNION "
            "SELECT * FROM authorizations WHERE authorization_id = ?",
            [number, number],
        ),
        "applications": _rows(db, "SELECT * FROM applications WHERE application_id = ?", [number]),
        "deletion_orders": _rows(db, "SELECT * FROM deletion_orders WHERE order_id = ?", [number]),
        "holds": _rows(
            db,
            "SELECT * FROM holds WHERE case_number = ? UNION SELECT * FROM holds WHERE hold_id = ?",
            [number, number],
        ),
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
