"""The read models' outbox of alerts: violations found, changed or cleared, in the order they were.

Triggers on ``violations`` (:mod:`projections.tables`) write each change to ``alerts`` in the
projection's own transaction, so an alert exists exactly when its change does. The publisher
(:mod:`ledger.app.alerts`) reads them in order (:func:`pending`), publishes them, and then
:func:`forget` s them.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlite_utils

from projections import tables


@dataclass(frozen=True, slots=True)
class Alert:
    """One change of a violation, waiting to be published: its number, kind and the violation."""

    number: int
    change: str
    violation: dict[str, Any]


def pending(db: sqlite_utils.Database, after: int, limit: int = 500) -> list[Alert]:
    """The alerts after number ``after``, oldest first (at most ``limit``)."""
    rows = db.execute(
        "SELECT id, change, body FROM alerts WHERE id > ? ORDER BY id LIMIT ?", [after, limit]
    ).fetchall()
    return [Alert(number, change, json.loads(body)) for number, change, body in rows]


def forget(db: sqlite_utils.Database, up_to: int) -> None:
    """Drop the alerts up to number ``up_to``: they are published."""
    with db.atomic():
        db.execute("DELETE FROM alerts WHERE id <= ?", [up_to])


def generation(db: sqlite_utils.Database) -> int:
    """The read models' generation: the first part of their alerts' ids."""
    return tables.generation(db)
