"""Detection rules about keeping footage: deletions, silent gaps, retention policies.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R1     footage deleted, overwritten, expired or formatted while younger    ZZ 12(5), 15(3)
       than its retention period (never less than 30 days) or under a
       legal hold, without a deletion order covering it; an order, hold,
       release, policy or registration issued before a deletion but
       logged after it makes the deletion judged again, so the verdict
       follows the events' times
R2     footage missing inside the retention window per the recorder's      ZZ 15(3)
       inventory, with no logged deletion or outage to explain it (a
       silent deletion); gaps shorter than ``gap_tolerance`` are ignored
R3     retention below 30 days, set by a policy or by a system's           ZZ 12(5)
       registration
=====  ==================================================================  ==================

The retention period in force for a camera at a time is the latest policy set for the camera
before then, else the latest set for its system, else the system's registered retention; a
deletion is judged against it, and never against less than :data:`LEGAL_MINIMUM_DAYS`. R1 keeps
one verdict per camera and deletion entry, replaced when a late order, hold or release changes it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from projections.feed import AccessRow
from projections.rules.base import CHINA, DAY_US, Fact, Position, RulesBase, Subject, iso
from projections.rules.catalog import R1, R2, R3
from projections.tables import DELETION_ACTIONS

LEGAL_MINIMUM_DAYS = 30
DELETIONS = frozenset({"FootageDeleted", "FootageOverwritten", "FootageExpired", "DiskFormatted"})
VERBS = {"FootageExpired": "expired", "FootageOverwritten": "overwritten", "DiskFormatted": "formatted"}
NOUNS = {
    "FootageDeleted": "deletion",
    "FootageExpired": "expiry",
    "FootageOverwritten": "overwriting",
    "DiskFormatted": "format",
}
_DELETIONS = (
    "SELECT origin, idx, event_type, camera_id, occurred_at, logged_at, footage_start, footage_end, "
    "deletion_order_id, outcome, actor_id, source_system_id FROM access"
)

GAP_TOLERANCE_US = 10 * 60 * 1_000_000
"""Default: missing footage shorter than 10 minutes is not reported as a silent deletion (R2)."""

# R2: what explains a camera's missing footage [start, end) at a time `when`
_OUTAGES_OVER = (
    'SELECT start, COALESCE("end", ?) FROM outages WHERE (camera_id = ? OR (camera_id IS NULL '
    'AND system_id = ?)) AND start < ? AND COALESCE("end", ?) > ?'
)
_DELETIONS_OVER = (
    "SELECT COALESCE(footage_start, 0), COALESCE(footage_end, occurred_at) FROM access "  # noqa: S608
    f"WHERE camera_id = ? AND {DELETION_ACTIONS} "
    "AND outcome = 'ALLOWED' AND occurred_at <= ? "
    "AND COALESCE(footage_start, 0) < ? AND COALESCE(footage_end, occurred_at) > ?"
)
_REPORTED_OVER = 'SELECT start, "end" FROM reported_gaps WHERE camera_id = ? AND start < ? AND "end" > ?'


def uncovered(left: list[tuple[int, int]], covered: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """The parts of the intervals ``left`` that no interval of ``covered`` overlaps, in order."""
    for cover_start, cover_end in covered:
        nxt = []
        for a, b in left:
            if cover_end <= a or cover_start >= b:
                nxt.append((a, b))
                continue
            if a < cover_start:
                nxt.append((a, cover_start))
            if cover_end < b:
                nxt.append((cover_end, b))
        left = nxt
    return left


@dataclass(frozen=True, slots=True)
class Deletion:
    """One camera's footage deleted (or attempted) by one ledger entry, as the access index holds it."""

    origin: str
    idx: int
    event_type: str
    camera_id: str
    occurred_at: int
    logged_at: int
    footage_start: int | None
    footage_end: int | None
    order_id: str | None
    outcome: str
    actor_id: str
    system_id: str

    @classmethod
    def of(cls, row: AccessRow) -> Deletion:
        """The deletion an access row records."""
        return cls(
            row.origin,
            row.idx,
            row.event_type,
            str(row.camera_id),
            row.occurred_at,
            row.logged_at,
            row.footage_start,
            row.footage_end,
            row.deletion_order_id,
            str(row.outcome),
            row.actor_id,
            row.source_system_id,
        )


def _fact_name(event_type: str, record: Mapping[str, Any]) -> str:
    """How an explanation names a fact that makes R1 judge deletions again."""
    if event_type == "DeletionOrdered":
        return f"deletion order {record['order_id']}"
    if event_type == "LegalHoldPlaced":
        return f"legal hold {record['hold_id']}"
    if event_type == "LegalHoldReleased":
        return f"the release of legal hold {record['hold_id']}"
    if event_type == "RetentionPolicySet":
        camera = record.get("camera_id")
        scope = f"camera {camera}" if camera else f"system {record['system_id']}"
        return f"the {record['retention_days']}-day retention policy of {scope}"
    if event_type == "SystemRegistered":
        return f"the registration of system {record['system_id']}"
    return f"the registration of camera {record['camera_id']}"


class RetentionRules(RulesBase):
    """R1, R2 and R3 (see the module docstring)."""

    gap_tolerance_us: int

    def retention(self, camera_id: str, when: int) -> tuple[int, Position | None]:
        """Retention days in force for a camera at ``when``, and the entry that set them."""
        system_id = self.camera(camera_id)[0]
        row = (
            self.db.execute(  # the camera's own policy counts even if the camera was never registered
                "SELECT retention_days, origin, idx FROM policies WHERE camera_id = ? AND set_at <= ? "
                "ORDER BY set_at DESC, id DESC LIMIT 1",
                [camera_id, when],
            ).fetchone()
            or self.db.execute(
                "SELECT retention_days, origin, idx FROM policies WHERE system_id = ? AND camera_id IS NULL "
                "AND set_at <= ? ORDER BY set_at DESC, id DESC LIMIT 1",
                [system_id, when],
            ).fetchone()
        )
        if row:
            return int(row[0]), Position(row[1], row[2])
        system = self.db.execute(
            "SELECT retention_days, origin, idx FROM systems WHERE system_id = ?", [system_id]
        ).fetchone()
        if system:
            return int(system[0]), Position(system[1], system[2])
        return LEGAL_MINIMUM_DAYS, None

    # -- R1 -----------------------------------------------------------------------------------

    def judge_deletion(self, row: AccessRow) -> None:
        """R1 on one camera's deletion (an access row of a deletion, expiry, overwrite or format)."""
        self._judge_r1(Deletion.of(row))

    def _r1_late_evidence(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """Judge again the deletions a late fact touches.

        The fact (an order, hold, release, policy, or a system's or camera's registration) was
        issued before deletions but logged after them.
        """
        when = record["envelope"]["occurred_at"]
        fact = self.fact(at, record, _fact_name(event_type, record))
        self.pending.flush()
        in_system = "camera_id IN (SELECT camera_id FROM cameras WHERE system_id = ?)"
        if event_type == "RetentionPolicySet" and record.get("camera_id"):
            where = "WHERE camera_id = ? AND occurred_at >= ?"
            args: list[Any] = [record["camera_id"], when]
        elif event_type == "RetentionPolicySet":
            where = f"WHERE {in_system} AND occurred_at >= ?"
            args = [record["system_id"], when]
        elif event_type == "SystemRegistered":  # its registered retention, for every camera it has
            where = f"WHERE {in_system}"
            args = [record["system_id"]]
        elif event_type == "CameraRegistered":  # the system, so the retention, its deletions fall under
            where = "WHERE camera_id = ?"
            args = [record["camera_id"]]
        elif event_type == "DeletionOrdered":
            where = "WHERE camera_id = ? AND deletion_order_id = ? AND occurred_at >= ?"
            args = [record["camera_id"], record["order_id"], when]
        elif event_type == "LegalHoldPlaced":
            where = (
                "WHERE camera_id = ? AND occurred_at >= ? AND COALESCE(footage_start, 0) < ? "
                "AND COALESCE(footage_end, occurred_at) > ?"
            )
            args = [record["camera_id"], when, record["footage_end"], record["footage_start"]]
        else:  # LegalHoldReleased
            where = "WHERE camera_id IN (SELECT camera_id FROM holds WHERE hold_id = ?) AND occurred_at >= ?"
            args = [record["hold_id"], when]
        deletions = self.db.execute(
            f"{_DELETIONS} {where} AND {DELETION_ACTIONS} AND outcome = 'ALLOWED' ORDER BY id",
            args,
        ).fetchall()
        for row in deletions:
            self._judge_r1(Deletion(*row), fact)

    def _judge_r1(self, d: Deletion, fact: Fact | None = None) -> None:
        """Write the R1 verdict on one camera's deletion (again, if ``fact`` was logged after it)."""
        verdict = self._r1_verdict(d) if d.outcome == "ALLOWED" else None
        if fact is None and verdict is None:
            return  # judged the first time, lawful: nothing to write or replace
        if fact is None:
            assert verdict is not None
            self.db.table("violations").insert(verdict)
            return
        what = f"the {NOUNS[d.event_type]} of camera {d.camera_id}'s footage"
        subject = Subject(Position(d.origin, d.idx), d.occurred_at, d.logged_at, what)
        self.settle(R1, subject, [verdict] if verdict else [], camera_id=d.camera_id, fact=fact)

    def _r1_verdict(self, d: Deletion) -> dict[str, Any] | None:
        """The R1 violation row of one camera's deletion, or ``None`` if it was lawful."""
        when, camera_id, order_id = d.occurred_at, d.camera_id, d.order_id
        windowed = d.footage_start is not None
        start = d.footage_start or 0
        end = d.footage_end or when  # a format destroys everything up to now
        days, policy = self.retention(camera_id, when)
        threshold = max(days, LEGAL_MINIMUM_DAYS)
        young = end > when - threshold * DAY_US
        hold = self.db.execute(
            "SELECT hold_id, origin, idx FROM holds WHERE camera_id = ? AND footage_start < ? "
            "AND footage_end > ? AND placed_at <= ? AND (released_at IS NULL OR released_at > ?) LIMIT 1",
            [camera_id, end, start, when, when],
        ).fetchone()
        if not young and hold is None:
            return None
        order = cited = None
        if order_id:
            # The order must cover what the deletion destroys of the protected footage: its window;
            # for a format (no window), everything the retention period still protects, to now.
            cover = (start, end) if windowed else (when - threshold * DAY_US, when)
            order = self.db.execute(
                "SELECT origin, idx FROM deletion_orders WHERE order_id = ? AND camera_id = ? "
                "AND ordered_at <= ? AND footage_start <= ? AND footage_end >= ?",
                [order_id, camera_id, when, *cover],
            ).fetchone()
            if order is not None:
                return None
            cited = self.db.execute(
                "SELECT origin, idx FROM deletion_orders WHERE order_id = ? "
                "ORDER BY camera_id = ? DESC LIMIT 1",
                [order_id, camera_id],
            ).fetchone()
        evidence = (
            [Position(d.origin, d.idx)]
            + ([policy] if policy and young else [])
            + ([Position(hold[1], hold[2])] if hold else [])
            + ([Position(cited[0], cited[1])] if cited else [])
        )
        why = []
        if young:
            age = (when - end) / DAY_US
            why.append(
                f"the footage was {max(age, 0):.1f} days old, inside its {threshold}-day retention period"
                + (f" (the system's own policy said {days})" if days < LEGAL_MINIMUM_DAYS else "")
            )
        if hold:
            why.append(f"it was under legal hold {hold[0]}")
        missing = "no deletion order was cited"
        if order_id:
            missing = f"deletion order {order_id} does not cover it"
        verb = VERBS.get(d.event_type, "deleted")
        return {
            "rule": R1.id,
            "severity": R1.severity,
            "article": R1.article,
            "actor_id": d.actor_id,
            "system_id": d.system_id,
            "camera_id": camera_id,
            "occurred_at": when,
            "logged_at": d.logged_at,
            "explanation": (
                f"Footage of camera {camera_id} was {verb} although "
                f"{' and '.join(why)}, and {missing}: footage must be kept at least 30 days, and never "
                f"deleted inside its retention period or under a legal hold ({R1.article})."
            ),
            "evidence": json.dumps([[p.origin, p.idx] for p in evidence]),
            "subject_origin": d.origin,
            "subject_idx": d.idx,
        }

    # -- R2 -----------------------------------------------------------------------------------

    def _unexplained(self, camera_id: str, start: int, end: int, when: int) -> list[tuple[int, int]]:
        """What the ledger does not explain of the camera's footage missing at ``when``.

        The parts of ``[start, end)`` that no outage, deletion, expiry or format explains and R2
        has not reported yet. Each kind of explanation is read only while something is left
        unexplained: the daily inventory lists every gap of the retention period again.
        """
        system_id = self.camera(camera_id)[0]
        self.pending.flush()
        left = [(start, end)]
        for sql, args in (
            (_OUTAGES_OVER, [when, camera_id, system_id, end, when, start]),
            (_DELETIONS_OVER, [camera_id, when, end, start]),
            (_REPORTED_OVER, [camera_id, end, start]),
        ):
            left = uncovered(left, [(int(a), int(b)) for a, b in self.db.execute(sql, args).fetchall()])
            if not left:
                break
        return left

    def _r2_silent_gap(self, at: Position, record: Mapping[str, Any]) -> None:
        camera_id = record["camera_id"]
        when = record["envelope"]["occurred_at"]
        days, policy = self.retention(camera_id, when)
        threshold = max(days, LEGAL_MINIMUM_DAYS)
        window_start = when - threshold * DAY_US
        live = self.camera(camera_id)[1]
        if live:
            went_live = datetime.fromisoformat(live).replace(tzinfo=CHINA)
            window_start = max(window_start, int(went_live.timestamp()) * 1_000_000)
        missing = []
        earliest = record["earliest_available"] or 0
        if earliest > window_start:
            missing.append((window_start, earliest))
        for gap in record.get("gaps", ()):
            start, end = max(gap["start"] or 0, window_start), min(gap["end"] or 0, when)
            if end > start:
                missing.append((start, end))
        for start, end in missing:
            for silent_start, silent_end in self._unexplained(camera_id, start, end, when):
                if silent_end - silent_start < self.gap_tolerance_us:
                    continue
                self.db.table("reported_gaps").insert(
                    {"camera_id": camera_id, "start": silent_start, "end": silent_end}, replace=True
                )
                hours = (silent_end - silent_start) / 3_600_000_000
                self.violation(
                    rule=R2,
                    record=record,
                    camera_id=camera_id,
                    explanation=(
                        f"Camera {camera_id}'s recorder no longer holds {hours:.1f} hours of footage from "
                        f"{iso(silent_start)} to {iso(silent_end)}, inside its {threshold}-day retention "
                        "period, and the ledger records no deletion, expiry, format or outage that explains "
                        f"it: a silent deletion of original footage ({R2.article})."
                    ),
                    evidence=[at] + ([policy] if policy else []),
                )

    # -- R3 -----------------------------------------------------------------------------------

    def _r3_retention(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A retention policy, or a system's registration, that keeps footage less than 30 days."""
        days = record["retention_days"]
        if days >= LEGAL_MINIMUM_DAYS:
            return
        scope = (
            f"camera {record['camera_id']}" if record.get("camera_id") else f"system {record['system_id']}"
        )
        how = "was registered with" if event_type == "SystemRegistered" else "was set to"
        self.violation(
            rule=R3,
            record=record,
            system_id=record["system_id"],
            camera_id=record.get("camera_id"),
            explanation=f"Retention for {scope} {how} {days} days; the regulation requires at least 30 "
            f"({R3.article}).",
            evidence=[at],
        )
