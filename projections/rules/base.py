"""What every rule shares: ledger positions, the configurable thresholds, and recording a violation.

:class:`RulesBase` is the base of the rule mixins (:mod:`~projections.rules.retention`,
:mod:`~projections.rules.access`, :mod:`~projections.rules.registry`,
:mod:`~projections.rules.operations`, :mod:`~projections.rules.duty`) that
:class:`projections.rules.Rules` combines. It holds the read models, the state kept in memory for
one batch (each mixin adds its own in :meth:`~RulesBase.begin` and writes it in
:meth:`~RulesBase.flush`), and :meth:`~RulesBase.violation`, which writes a violation row with the
rule id, severity and article of its entry in :mod:`projections.rules.catalog`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from projections.feed import AccessRow

if TYPE_CHECKING:
    import sqlite_utils

    from projections.rules.catalog import Rule
    from projections.tables import PendingAccess

HOUR_US = 3_600 * 1_000_000
DAY_US = 24 * HOUR_US


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The rules' configurable limits, with their documented defaults."""

    outage_us: int = 2 * HOUR_US
    """R9: a camera off line longer than this needs a ticket."""
    clock_tolerance_ms: int = 5_000
    """R11: clock corrections up to this (NTP) need no ticket."""
    bulk_factor: float = 5.0
    """R12: an hour with this many times the actor's usual hourly accesses is bulk access..."""
    bulk_minimum: int = 150
    """R12: ...if it also holds at least this many (above any patrol operator's normal pace)."""
    baseline_days: int = 30
    """R12: how far back the actor's usual pace is measured."""


@dataclass(frozen=True, slots=True)
class Position:
    """A ledger position: log origin and entry index."""

    origin: str
    idx: int


_FROM_RECORD = "\x00from the record"


class RulesBase:
    """The read models, the batch's state and the violation writer the rule mixins share."""

    db: sqlite_utils.Database
    thresholds: Thresholds
    pending: PendingAccess

    def begin(self) -> None:
        """Start a batch: forget the state of any batch that was rolled back."""
        self.pending.discard()
        self._cameras: dict[str, tuple[str | None, str | None]] = {}  # forgotten when one registers

    def flush(self) -> None:
        """Write the batch's access rows and the state held in memory."""
        self.pending.flush()

    def violation(
        self,
        *,
        rule: Rule,
        record: Mapping[str, Any] | AccessRow,
        explanation: str,
        evidence: list[Position],
        camera_id: str | None = None,
        system_id: str | None = None,
        actor_id: str | None = _FROM_RECORD,
    ) -> None:
        """Record one violation of ``rule`` (an entry of the catalog) with the positions of its evidence.

        The actor is the event's (``record``, or its access row), unless ``actor_id`` names
        another (``None``: no one is known).
        """
        if isinstance(record, AccessRow):
            actor, source, when = record.actor_id, record.source_system_id, record.occurred_at
        else:
            envelope = record["envelope"]
            actor, source, when = (
                envelope["actor"]["user_id"],
                envelope["source_system_id"],
                envelope["occurred_at"],
            )
        self.db.table("violations").insert(
            {
                "rule": rule.id,
                "severity": rule.severity,
                "article": rule.article,
                "actor_id": actor if actor_id == _FROM_RECORD else actor_id,
                "system_id": system_id or source,
                "camera_id": camera_id,
                "occurred_at": when,
                "explanation": explanation,
                "evidence": json.dumps([[p.origin, p.idx] for p in evidence]),
            }
        )

    def camera(self, camera_id: str) -> tuple[str | None, str | None]:
        """A registered camera's system and the day it went live (``None``, ``None``: not registered)."""
        known = self._cameras.get(camera_id)
        if known is None:
            row = self.db.execute(
                "SELECT system_id, went_live_on FROM cameras WHERE camera_id = ?", [camera_id]
            ).fetchone()
            known = self._cameras[camera_id] = (row[0], row[1]) if row else (None, None)
        return known

    def _forget_camera(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        self._cameras.pop(record["camera_id"], None)  # registered again: read it anew
