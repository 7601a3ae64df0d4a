"""Detection rules: each violation cites its article and the ledger entries that prove it.

Rules judge by the events' own times, never the wall clock, so replaying the ledger next year
finds the same violations. What each rule is, how grave and under which article, is one table:
:data:`~projections.rules.catalog.RULES`. The rules themselves, by concern:

=====================================  ==========================================================
module                                 rules
=====================================  ==========================================================
:mod:`~projections.rules.catalog`      every rule's id, severity, article and title
:mod:`~projections.rules.base`         ledger positions, thresholds, recording a violation
:mod:`~projections.rules.retention`    R1 deletions, R2 silent gaps, R3 retention policies
:mod:`~projections.rules.access`       R4 traces, R5 scope, R6 copies, R7 shares, R13 approvals
:mod:`~projections.rules.registry`     R10 cameras in private spaces
:mod:`~projections.rules.operations`   R8 work orders, R9 stops and outages, R11 records
:mod:`~projections.rules.duty`         R12 duty roster and bulk access
=====================================  ==========================================================

:class:`Rules` combines them and routes each projected event to the rules that judge its type.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

import sqlite_utils

from projections.feed import AccessRow
from projections.rules.access import COPIES, SHARES, VIEWS, AccessRules
from projections.rules.base import Position, Thresholds
from projections.rules.catalog import RULES, Rule
from projections.rules.duty import ON_DUTY, DutyRules
from projections.rules.operations import STOPS, TAMPERING, TICKETED, OperationsRules
from projections.rules.registry import PROHIBITED, RegistryRules
from projections.rules.retention import (
    DELETIONS,
    GAP_TOLERANCE_US,
    LEGAL_MINIMUM_DAYS,
    OUTAGE_EVENTS,
    RetentionRules,
)
from projections.tables import PendingAccess

__all__ = [
    "GAP_TOLERANCE_US",
    "LEGAL_MINIMUM_DAYS",
    "PROHIBITED",
    "RULES",
    "Position",
    "Rule",
    "Rules",
    "Thresholds",
]

Check = Callable[[Position, str, Mapping[str, Any]], None]
RowCheck = Callable[[AccessRow], None]


class Rules(RetentionRules, AccessRules, RegistryRules, OperationsRules, DutyRules):
    """Runs every rule on each projected event and records violations."""

    def __init__(
        self,
        db: sqlite_utils.Database,
        *,
        gap_tolerance_us: int = GAP_TOLERANCE_US,
        thresholds: Thresholds | None = None,
    ) -> None:
        self.db = db
        self.pending = PendingAccess(db)
        self.gap_tolerance_us = gap_tolerance_us
        self.thresholds = thresholds or Thresholds()
        self._clock_slack = min(self.thresholds.clock_ahead_us, self.thresholds.clock_behind_us)
        self._rules = self._dispatch()
        self._row_rules = self._row_dispatch()
        self.begin()

    def _row_dispatch(self) -> dict[str, tuple[RowCheck, ...]]:
        """Event type -> the rules that judge its access row, in a fixed order."""
        table: dict[str, list[RowCheck]] = {}

        def on(types: Iterable[str], check: RowCheck) -> None:
            for event_type in types:
                table.setdefault(event_type, []).append(check)

        on(DELETIONS, self.judge_deletion)
        on(VIEWS | SHARES, self._r4_trace)
        on(VIEWS | SHARES, self._r5_scope)
        on(COPIES, self._r6_watermark)
        on(SHARES, self._r7_desensitization)
        on(ON_DUTY, self._r12_duty)
        return {event_type: tuple(checks) for event_type, checks in table.items()}

    def _dispatch(self) -> dict[str, list[Check]]:
        """Event type -> the rules that judge its record (events other than access rows)."""
        table: dict[str, list[Check]] = {}

        def on(types: Iterable[str], check: Check) -> None:
            for event_type in types:
                table.setdefault(event_type, []).append(check)

        on(["DeletionOrdered", "LegalHoldPlaced", "LegalHoldReleased"], self._r1_late_evidence)
        on(["FootageInventoryReported"], lambda at, _, record: self._inventory_reported(at, record))
        on(OUTAGE_EVENTS, self._r2_outage_logged)
        on(["RetentionPolicySet", "SystemRegistered"], self._r3_retention)
        on(["CameraRegistered"], self._forget_camera)
        on(["RetentionPolicySet", "SystemRegistered", "CameraRegistered"], self._r1_late_evidence)
        on(["CameraRegistered"], lambda at, _, record: self._r10_private_space(at, record))
        on(["CameraRegistered"], self._r16_camera)
        on(["SystemRegistered"], self._r16_system)
        on(["AccessAuthorized"], lambda at, _, record: self._r13_self_approval(at, record))
        on(["AccessAuthorized", "ApplicationApproved", "ApplicationRejected"], self._r5_late_grant)
        on(TAMPERING, self._r8_camera_tampering)
        on(STOPS, self._r9_stopped)
        on(["DeviceStatusChanged", "FootageInventoryReported"], self._r9_outage)
        on(TICKETED, self._r11_records)
        on(["WorkOrderOpened", "WorkOrderClosed"], self._work_order_logged)
        on(["DutyShiftAssigned"], self._r12_late_shift)
        return table

    def access(self, row: AccessRow) -> None:
        """Every rule that can fire on an access row (its event's only row)."""
        for rule in self._row_rules.get(row.event_type, ()):
            rule(row)
        self._r11_sequence(row, row.source_system_id, row.source_seq, row.origin, row.idx)
        if abs(row.logged_at - row.occurred_at) > self._clock_slack:
            self._r15_clock(row, row.event_type, row.source_system_id, row.occurred_at)

    def check(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """Every rule that can fire on this event (any event but an access row)."""
        for rule in self._rules.get(event_type, ()):
            rule(at, event_type, record)
        envelope = record["envelope"]
        self._r11_sequence(record, envelope["source_system_id"], envelope["source_seq"], at.origin, at.idx)
        self._r15_clock(record, event_type, envelope["source_system_id"], envelope["occurred_at"])
