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
R17    footage an inventory shows kept past twice its retention period     Nat. 17
       (and at least 30 days past it), with no legal hold on it: the
       first inventory to show it, as a warning
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
from projections.rules.catalog import R1, R2, R3, R17
from projections.tables import DELETION_ACTIONS

LEGAL_MINIMUM_DAYS = 30
OUTAGE_EVENTS = frozenset(
    {"DeviceStatusChanged", "RecordingStopped", "RecordingStarted", "SystemStopped", "SystemStarted"}
)
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
_REPORTED_OVER = (
    'SELECT start, "end" FROM reported_gaps WHERE camera_id = ? AND start < ? AND "end" > ? '
    "AND reported_at < ?"
)
_INVENTORY = (
    "SELECT origin, idx, camera_id, reported_at, logged_at, earliest, gaps, actor_id, source_id "
    "FROM inventory"
)


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
class Inventory:
    """One camera's inventory: what its recorder held at ``reported_at``, as the inventory table has it."""

    origin: str
    idx: int
    camera_id: str
    reported_at: int
    logged_at: int
    earliest: int
    gaps: list[tuple[int, int]]
    actor_id: str
    source_id: str


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
        """R1 on one camera's deletion (an access row of a deletion, expiry, overwrite or format).

        A deletion dated before an inventory that showed its footage missing explains that gap:
        the inventory is judged again (R2).
        """
        d = Deletion.of(row)
        self._judge_r1(d)
        if d.outcome != "ALLOWED":
            return
        window = (d.footage_start or 0, d.footage_end or d.occurred_at)
        if self.db.execute(
            'SELECT 1 FROM reported_gaps WHERE camera_id = ? AND start < ? AND "end" > ? '
            "AND reported_at >= ? LIMIT 1",
            [d.camera_id, window[1], window[0], d.occurred_at],
        ).fetchone():
            self.pending.flush()
            fact = Fact(
                Position(d.origin, d.idx),
                d.occurred_at,
                d.logged_at,
                f"the {NOUNS[d.event_type]} of camera {d.camera_id}'s footage",
                d.actor_id,
                d.system_id,
            )
            self._r2_late_explanation(fact, d.camera_id, d.system_id, explains=window)

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
            where = "WHERE deletion_order_id = ?"  # those it covers, and those that cite it in vain
            args = [record["order_id"]]
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
        if event_type in {"RetentionPolicySet", "SystemRegistered", "CameraRegistered"}:
            # the retention in force, so the window R2 and R17 judge an inventory in
            scope = where.replace("occurred_at", "reported_at")
            self._rejudge_inventories(f"{_INVENTORY} {scope}", args, fact)
        elif event_type == "LegalHoldPlaced":  # R17: footage kept under a hold has its purpose
            self._rejudge_inventories(
                f"{_INVENTORY} WHERE camera_id = ? AND reported_at >= ?", [record["camera_id"], when], fact
            )
        elif event_type == "LegalHoldReleased":
            self._rejudge_inventories(
                f"{_INVENTORY} WHERE camera_id IN (SELECT camera_id FROM holds WHERE hold_id = ?) "  # noqa: S608
                "AND reported_at >= ?",
                [record["hold_id"], when],
                fact,
            )

    def _judge_r1(self, d: Deletion, fact: Fact | None = None) -> None:
        """Write the R1 verdict on one camera's deletion (again, if ``fact`` was logged after it)."""
        verdict = self._r1_verdict(d) if d.outcome == "ALLOWED" else None
        what = f"the {NOUNS[d.event_type]} of camera {d.camera_id}'s footage"
        subject = Subject(Position(d.origin, d.idx), d.occurred_at, d.logged_at, what)
        self.judged(R1, subject, [verdict] if verdict else [], camera_id=d.camera_id, fact=fact)

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
            (_REPORTED_OVER, [camera_id, end, start, when]),
        ):
            left = uncovered(left, [(int(a), int(b)) for a, b in self.db.execute(sql, args).fetchall()])
            if not left:
                break
        return left

    def _inventory_reported(self, at: Position, record: Mapping[str, Any]) -> None:
        """R2 and R17 on a camera's inventory, then on its later ones (by their own times), if any.

        A later inventory leaves out what an earlier one reported: one logged out of order makes
        the later ones be judged again, so the verdicts follow the inventories' own times.
        """
        envelope = record["envelope"]
        camera_id, when = record["camera_id"], envelope["occurred_at"]
        self._judge_inventory(
            Inventory(
                at.origin,
                at.idx,
                camera_id,
                when,
                self.logged_at,
                record["earliest_available"] or 0,
                [(g["start"] or 0, g["end"] or 0) for g in record.get("gaps", ())],
                envelope["actor"]["user_id"],
                envelope["source_system_id"],
            ),
            None,
        )
        self._rejudge_inventories(f"{_INVENTORY} WHERE camera_id = ? AND reported_at > ?", [camera_id, when])

    def _rejudge_inventories(self, sql: str, args: list[Any], fact: Fact | None = None) -> None:
        """Judge again the inventories ``sql`` selects, in the order of their own times."""
        for row in self.db.execute(f"{sql} ORDER BY reported_at, id", args).fetchall():
            origin, idx, camera_id, when, logged, earliest, gaps, actor, source = row
            gaps = [(int(a), int(b)) for a, b in json.loads(gaps)]
            self._judge_inventory(
                Inventory(origin, idx, camera_id, when, logged, earliest or 0, gaps, actor, source), fact
            )

    def _r2_late_explanation(
        self,
        fact: Fact,
        camera_id: str | None,
        system_id: str,
        *,
        explains: tuple[int, int] | None = None,
        ends: int | None = None,
    ) -> None:
        """An outage or a deletion was logged: judge again the inventories it touches.

        Those that reported a silent gap in the footage it ``explains``; and, for an outage that
        ``ends`` at a time, those dated after it (judged while the outage was still open).
        """
        cameras = (
            "camera_id = ?"
            if camera_id
            else "camera_id IN (SELECT camera_id FROM cameras WHERE system_id = ?)"
        )
        key = camera_id or system_id
        if explains is not None:
            self._rejudge_inventories(
                f"{_INVENTORY} WHERE id IN (SELECT inventory_id FROM reported_gaps WHERE {cameras} "  # noqa: S608
                'AND start < ? AND "end" > ?)',
                [key, explains[1], explains[0]],
                fact,
            )
        if ends is not None:
            self._rejudge_inventories(f"{_INVENTORY} WHERE {cameras} AND reported_at > ?", [key, ends], fact)

    def _r2_outage_logged(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """An outage began or ended (see :meth:`_r2_late_explanation`)."""
        camera_id = record.get("camera_id")
        system_id = record.get("system_id") or record["envelope"]["source_system_id"]
        when = record["envelope"]["occurred_at"]
        ending = event_type in {"RecordingStarted", "SystemStarted"} or (
            event_type == "DeviceStatusChanged" and record["status"] == "ON"
        )
        what = f"the record of {'the end of ' if ending else ''}an outage of {camera_id or system_id}"
        fact = self.fact(at, record, what)
        if ending:
            self._r2_late_explanation(fact, camera_id, system_id, ends=when)
        else:
            self._r2_late_explanation(fact, camera_id, system_id, explains=(when, 2**62))

    def _judge_inventory(self, inv: Inventory, fact: Fact | None) -> None:
        """R2 (silent gaps not reported by an earlier inventory) and R17 (footage kept far too long)."""
        camera_id, when = inv.camera_id, inv.reported_at
        days, policy = self.retention(camera_id, when)
        threshold = max(days, LEGAL_MINIMUM_DAYS)
        window_start = when - threshold * DAY_US
        live = self.camera(camera_id)[1]
        if live:
            went_live = datetime.fromisoformat(live).replace(tzinfo=CHINA)
            window_start = max(window_start, int(went_live.timestamp()) * 1_000_000)
        missing = []
        if inv.earliest > window_start:
            missing.append((window_start, inv.earliest))
        for gap_start, gap_end in inv.gaps:
            start, end = max(gap_start, window_start), min(gap_end, when)
            if end > start:
                missing.append((start, end))
        (inventory_id,) = self.db.execute(
            "SELECT id FROM inventory WHERE origin = ? AND idx = ?", [inv.origin, inv.idx]
        ).fetchone()
        self.db.execute("DELETE FROM reported_gaps WHERE inventory_id = ?", [inventory_id])
        envelope = {
            "actor": {"user_id": inv.actor_id},
            "source_system_id": inv.source_id,
            "occurred_at": when,
        }
        record = {"envelope": envelope}
        subject = Subject(
            Position(inv.origin, inv.idx), when, inv.logged_at, f"camera {camera_id}'s inventory"
        )
        found = []
        for start, end in missing:
            for silent_start, silent_end in self._unexplained(camera_id, start, end, when):
                if silent_end - silent_start < self.gap_tolerance_us:
                    continue
                self.db.execute(
                    'INSERT INTO reported_gaps (camera_id, start, "end", reported_at, inventory_id) '
                    "VALUES (?, ?, ?, ?, ?)",
                    [camera_id, silent_start, silent_end, when, inventory_id],
                )
                hours = (silent_end - silent_start) / 3_600_000_000
                found.append(
                    self.verdict(
                        rule=R2,
                        record=record,
                        camera_id=camera_id,
                        explanation=(
                            f"Camera {camera_id}'s recorder no longer holds {hours:.1f} hours of footage "
                            f"from {iso(silent_start)} to {iso(silent_end)}, inside its {threshold}-day "
                            "retention period, and the ledger records no deletion, expiry, format or outage "
                            f"that explains it: a silent deletion of original footage ({R2.article})."
                        ),
                        evidence=[subject.at] + ([policy] if policy else []),
                        subject=subject.at,
                        logged_at=inv.logged_at,
                    )
                )
        self.settle(R2, subject, found, camera_id=camera_id, fact=fact)
        # footage is kept as long as the retention in force when it was recorded, if that was longer
        recorded_under = self.retention(camera_id, inv.earliest)[0] if inv.earliest else 0
        kept = self._r17_kept(inv, max(threshold, recorded_under), record, subject)
        self.settle(R17, subject, kept, camera_id=camera_id, fact=fact)

    def _overkept(self, camera_id: str, when: int, earliest: int | None, threshold: int) -> bool:
        """Whether footage from ``earliest`` is kept at ``when`` far past the retention, with no hold."""
        limit = max(2 * threshold, threshold + LEGAL_MINIMUM_DAYS) * DAY_US
        if not earliest or when - earliest <= limit:
            return False
        hold = self.db.execute(
            "SELECT 1 FROM holds WHERE camera_id = ? AND footage_start < ? AND footage_end > ? "
            "AND placed_at <= ? AND (released_at IS NULL OR released_at > ?) LIMIT 1",
            [camera_id, when - threshold * DAY_US, earliest, when, when],
        ).fetchone()
        return hold is None

    def _r17_kept(
        self, inv: Inventory, threshold: int, record: Mapping[str, Any], subject: Subject
    ) -> list[dict[str, Any]]:
        """R17: the first inventory to show footage kept past the limit, with no hold on it."""
        when, camera_id = inv.reported_at, inv.camera_id
        if not self._overkept(camera_id, when, inv.earliest, threshold):
            return []
        before = self.db.execute(
            "SELECT reported_at, earliest FROM inventory WHERE camera_id = ? AND reported_at < ? "
            "ORDER BY reported_at DESC LIMIT 1",
            [camera_id, when],
        ).fetchone()
        if before is not None and self._overkept(camera_id, before[0], before[1], threshold):
            return []  # the inventory before showed it already
        age = (when - inv.earliest) / DAY_US
        return [
            self.verdict(
                rule=R17,
                record=record,
                camera_id=camera_id,
                explanation=(
                    f"Camera {camera_id}'s recorder still holds footage from {iso(inv.earliest)}, "
                    f"{age:.0f} days old, far past its {threshold}-day retention period, with no legal hold "
                    f"on it: footage is to be deleted once its purpose is met ({R17.article})."
                ),
                evidence=[subject.at],
                subject=subject.at,
                logged_at=inv.logged_at,
            )
        ]

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
