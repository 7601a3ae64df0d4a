"""Detection rules about how systems are run: work orders, outages, operating records.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R8     a camera's direction, PTZ preset or home position changed, or an    ZZ 15(7)
       occlusion or tamper alarm, with no open work order covering the
       camera (the one cited, or any open for it at the time)
R9     a system or a camera's recording stopped with no ticket             ZZ 15(6)
R9     a camera off line longer than ``outage_us`` with no ticket open at  ZZ 12(1)
       any time during the outage (judged when it comes back, or at the
       camera's next inventory report if it is still off)
R11    a gap in a source's sequence numbers (events that never reached     ZZ 15(2)
       the ledger); a log cleared, software changed, or the clock moved
       by more than ``clock_tolerance_ms`` with no ticket
R15    an event dated more than ``clock_ahead_us`` after it reached the     ZZ 15(2)
       ledger (a source clock ahead; access events: once a source and
       hour of ledger time)
R15    an event that reached the ledger more than ``clock_behind_us``       ZZ 15(2), 16
       after its own time (backdated, or withheld that long)
=====  ==================================================================  ==================

A *ticket* is a work order (``WorkOrderOpened``) of the system open at the time: for the camera,
or for the whole system (no cameras named); a system-wide event needs a system-wide work order.
A ticket id the ledger does not hold, or one that was closed, is named in the explanation. The
limits are :class:`~projections.rules.base.Thresholds`.

R11 looks at every event: each source's last sequence number is held in memory for one batch and
written by :meth:`OperationsRules.flush` before the batch's position is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import astuple, dataclass
from typing import Any

from ledger.wire.keyring import LEDGER_SOURCE, REGISTRAR_SOURCE
from projections.feed import AccessRow
from projections.rules.base import HOUR_US, Fact, Position, RulesBase, Subject, iso
from projections.rules.base import span_text as _span
from projections.rules.catalog import (
    R8,
    R9_OUTAGE,
    R9_STOPPED,
    R11_CHANGED,
    R11_LOST,
    R15_AHEAD,
    R15_BEHIND,
    RULES,
    Rule,
)

TAMPERING = frozenset({"CameraDirectionChanged", "CameraTamperAlarm"})
TAMPER_ALARMS = frozenset({"OCCLUSION", "TAMPER"})
STOPS = frozenset({"SystemStopped", "RecordingStopped"})
TICKETED = frozenset({"LogCleared", "SoftwareChanged", "ClockChanged"})
UNSIGNED_SOURCES = frozenset({LEDGER_SOURCE, REGISTRAR_SOURCE})
_OUTAGE = (
    'SELECT id, start, "end", ticket_id, origin, idx, flagged, system_id, end_origin, end_idx, logged_at'
)


@dataclass(frozen=True, slots=True)
class TicketCheck:
    """An act that needs an open work order (a ticket): what :meth:`OperationsRules._judge_ticket` judges."""

    origin: str
    idx: int
    facet: int
    """The index of its rule in :data:`~projections.rules.catalog.RULES`."""
    system_id: str
    camera_id: str | None
    cited: str | None
    occurred_at: int
    logged_at: int
    what: str
    law: str
    actor_id: str
    source_id: str


class OperationsRules(RulesBase):
    """R8, R9 and R11 (see the module docstring)."""

    def begin(self) -> None:
        """Start a batch: forget the state of any batch that was rolled back."""
        super().begin()
        self._sequences: dict[str, tuple[int, str | None, int | None]] = {}
        self._clock_faults: dict[tuple[str, str], int | None] = {}  # (source, kind) -> last hour flagged

    def flush(self) -> None:
        """Write the batch's access rows and the state held in memory."""
        super().flush()
        if self._sequences:
            self.db.conn.executemany(
                "INSERT INTO source_sequences (source_id, last_seq, origin, idx) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id) DO UPDATE SET last_seq = excluded.last_seq, "
                "origin = excluded.origin, idx = excluded.idx",
                [(source, *state) for source, state in self._sequences.items() if state[1] is not None],
            )
        if self._clock_faults:
            self.db.conn.executemany(
                "INSERT INTO clock_faults (source_id, kind, hour) VALUES (?, ?, ?) "
                "ON CONFLICT (source_id, kind) DO UPDATE SET hour = excluded.hour",
                [(*key, hour) for key, hour in self._clock_faults.items() if hour is not None],
            )

    # -- tickets ---------------------------------------------------------------------------------

    def _unticketed(
        self,
        at: Position,
        record: Mapping[str, Any],
        *,
        rule: Rule,
        what: str,
        law: str,
        system_id: str,
        camera_id: str | None,
        cited: str | None,
    ) -> None:
        """A violation of ``rule`` unless a work order for the system (or camera) was open then.

        The explanation says ``what`` happened, what ticket is missing, and what the ``law`` says.
        The check is kept (``ticket_checks``): a work order logged later judges it again.
        """
        envelope = record["envelope"]
        check = TicketCheck(
            at.origin,
            at.idx,
            RULES.index(rule),
            system_id,
            camera_id,
            cited,
            envelope["occurred_at"],
            self.logged_at,
            what,
            law,
            envelope["actor"]["user_id"],
            envelope["source_system_id"],
        )
        self.db.execute(
            f"INSERT INTO ticket_checks ({', '.join(TicketCheck.__dataclass_fields__)}) "  # noqa: S608
            f"VALUES ({', '.join('?' * len(TicketCheck.__dataclass_fields__))})",
            astuple(check),
        )
        self._judge_ticket(check, None)

    def _judge_ticket(self, check: TicketCheck, fact: Fact | None) -> None:
        """The verdict on one act that needs a ticket (again, if ``fact`` is a work order logged later)."""
        rule = RULES[check.facet]
        ticket, missing = self._ticket(
            check.system_id, check.camera_id, check.cited, check.occurred_at, check.occurred_at
        )
        found = []
        if ticket is None:
            envelope = {
                "actor": {"user_id": check.actor_id},
                "source_system_id": check.source_id,
                "occurred_at": check.occurred_at,
            }
            at = Position(check.origin, check.idx)
            found.append(
                self.verdict(
                    rule=rule,
                    record={"envelope": envelope},
                    system_id=check.system_id,
                    camera_id=check.camera_id,
                    explanation=f"{check.what} with {missing}: {check.law} ({rule.article}).",
                    evidence=[at],
                    subject=at,
                    logged_at=check.logged_at,
                )
            )
        what = check.what[:1].lower() + check.what[1:]
        subject = Subject(
            Position(check.origin, check.idx), check.occurred_at, check.logged_at, f"what happened ({what})"
        )
        self.judged(rule, subject, found, camera_id=check.camera_id, fact=fact)

    def _work_order_logged(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A work order opened or closed: judge again the acts it may cover, or no longer covers."""
        order_id = record["work_order_id"]
        row = self.db.execute(
            "SELECT system_id, opened_at, closed_at FROM work_orders WHERE work_order_id = ?", [order_id]
        ).fetchone()
        if row is None:
            return  # closed, never opened: nothing it could cover
        system_id, opened, closed = row
        if event_type == "WorkOrderOpened":
            window, what = (opened, closed if closed is not None else 2**62), f"work order {order_id}"
        else:
            window, what = (closed, 2**62), f"the closing of work order {order_id}"
        fact = self.fact(at, record, what)
        rows = self.db.execute(
            f"SELECT {', '.join(TicketCheck.__dataclass_fields__)} FROM ticket_checks "  # noqa: S608
            "WHERE (system_id = ? OR cited = ?) AND occurred_at >= ? AND occurred_at <= ? ORDER BY id",
            [system_id, order_id, *window],
        ).fetchall()
        for check in rows:
            self._judge_ticket(TicketCheck(*check), fact)
        outages = self.db.execute(
            f"{_OUTAGE}, camera_id FROM outages WHERE kind = 'device' AND system_id = ? "
            'AND start <= ? AND COALESCE("end", ?) >= ? ORDER BY id',
            [system_id, window[1], 2**62, window[0]],
        ).fetchall()
        for outage in outages:
            if outage[2] is not None:  # as it ended
                self._judge_outage(outage[:-1], Position(outage[8], outage[9]), outage[2], outage[3], fact)
            elif (seen := self._first_inventory(outage[-1], outage[1])) is not None:  # as an inventory saw it
                self._judge_outage(outage[:-1], seen[1], seen[0], outage[3], fact)

    def _system_of(self, camera_id: str, record: Mapping[str, Any]) -> str:
        return self.camera(camera_id)[0] or str(record["envelope"]["source_system_id"])

    def _ticket(
        self, system_id: str, camera_id: str | None, cited: str | None, start: int, end: int
    ) -> tuple[Position | None, str]:
        """A work order covering the system (and camera) open at some time in ``[start, end]``.

        Returns its position, or ``None`` and what is wrong, for the explanation.
        """
        rows = self.db.execute(
            "SELECT work_order_id, system_id, camera_ids, opened_at, closed_at, origin, idx FROM work_orders "
            "WHERE (work_order_id = ? OR system_id = ?) AND opened_at <= ? "
            "AND (closed_at IS NULL OR closed_at >= ?) ORDER BY work_order_id = ? DESC, opened_at",
            [cited, system_id, end, start, cited],
        ).fetchall()
        for order_id, order_system, cameras, _, _, origin, idx in rows:
            covered = json.loads(cameras or "[]")
            # A work order for the whole system covers each camera; one for cameras covers only them.
            if order_system == system_id and (not covered or camera_id in covered):
                return Position(origin, idx), ""
            if order_id == cited:
                return None, f"work order {cited} cited, which is not for {camera_id or system_id}"
        if cited:
            known = self.db.execute(
                "SELECT opened_at, closed_at FROM work_orders WHERE work_order_id = ?", [cited]
            ).fetchone()
            if known is None:
                return None, f"work order {cited} cited, which the ledger does not hold"
            return None, f"work order {cited} cited, which was not open at the time"
        return None, "no work order open for it"

    # -- R8 ---------------------------------------------------------------------------------------

    def _r8_camera_tampering(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        camera_id = record["camera_id"]
        if event_type == "CameraTamperAlarm":
            if record["alarm"] not in TAMPER_ALARMS:
                return
            what = f"Camera {camera_id} raised a {record['alarm'].lower()} alarm"
        else:
            what = f"Camera {camera_id}'s {record['change'].lower().replace('_', ' ')} was changed"
        self._unticketed(
            at,
            record,
            rule=R8,
            what=what,
            law="no one may block a camera or change its direction outside maintenance under a work order",
            system_id=self._system_of(camera_id, record),
            camera_id=camera_id,
            cited=record.get("work_order_id"),
        )

    # -- R9 ---------------------------------------------------------------------------------------

    def _r9_stopped(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        camera_id = record.get("camera_id")
        if event_type == "SystemStopped":
            system_id, what = record["system_id"], f"System {record['system_id']} was stopped"
        else:
            system_id = self._system_of(str(camera_id), record)
            what = f"Recording of camera {camera_id} was stopped"
        self._unticketed(
            at,
            record,
            rule=R9_STOPPED,
            what=what,
            law="a system may not be interrupted or stopped without cause",
            system_id=system_id,
            camera_id=camera_id,
            cited=record.get("ticket_id"),
        )

    def _r9_outage(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A camera's device outage: judged when it ends, or at an inventory report while it lasts.

        An end logged before its start (arrival order is the platform's) is judged with the start.
        """
        device = event_type == "DeviceStatusChanged"
        camera_id = record["camera_id"]
        when = record["envelope"]["occurred_at"]
        if device and record["status"] == "ON":
            where, args = "end_origin = ? AND end_idx = ?", [at.origin, at.idx]
        elif device:
            where, args = "origin = ? AND idx = ?", [at.origin, at.idx]
        else:
            where = 'camera_id = ? AND "end" IS NULL AND start < ?'
            args = [camera_id, when - self.thresholds.outage_us]
        row = self.db.execute(f"{_OUTAGE} FROM outages WHERE kind = 'device' AND {where}", args).fetchone()
        if row is None:
            return
        start, end, ticket_id, flagged = row[1], row[2], row[3], row[6]
        ended = end is not None
        if device and not ended and record["status"] != "ON":
            # A start logged after an inventory that the outage, under way, should have been judged at.
            seen = self._first_inventory(camera_id, start)
            if seen is None:
                return
            when, at = seen
        if flagged and not ended:
            return  # judged at an earlier inventory while it lasted
        cited = ticket_id or (record.get("ticket_id") if device else None)
        # An end that reached the ledger after an inventory judged the outage under way: as it was.
        fact = self.fact(at, record, f"the end of camera {camera_id}'s outage") if flagged else None
        self._judge_outage(row, at, when, cited, fact)

    def _first_inventory(self, camera_id: str, start: int) -> tuple[int, Position] | None:
        """The first inventory of a camera off line since ``start`` that finds it off for too long."""
        seen = self.db.execute(
            "SELECT reported_at, origin, idx FROM inventory WHERE camera_id = ? AND reported_at > ? "
            "ORDER BY reported_at LIMIT 1",
            [camera_id, start + self.thresholds.outage_us],
        ).fetchone()
        return None if seen is None else (seen[0], Position(seen[1], seen[2]))

    def _judge_outage(
        self, row: tuple[Any, ...], at: Position, when: int, cited: str | None, fact: Fact | None
    ) -> None:
        """R9 on one device outage: as it ended, or as it was at ``when`` (an inventory ``at``)."""
        outage_id, start, end, _, origin, idx, _, system_id, end_origin, end_idx, logged = row
        camera_id = self.db.execute("SELECT camera_id FROM outages WHERE id = ?", [outage_id]).fetchone()[0]
        ended = end is not None
        end = end if ended else when
        verdicts = []
        ticket, missing = self._ticket(system_id, camera_id, cited, start, end)
        if end - start > self.thresholds.outage_us and ticket is None:
            hours = (end - start) / HOUR_US
            state = "was off line for" if ended else "has been off line for"
            off = Position(origin, idx)
            verdicts.append(
                self.verdict(
                    rule=R9_OUTAGE,
                    record={"envelope": {"source_system_id": system_id, "occurred_at": end}},
                    system_id=system_id,
                    camera_id=camera_id,
                    actor_id=None,
                    explanation=f"Camera {camera_id} {state} {hours:.1f} hours with {missing}: outages must "
                    f"be repaired promptly, under a maintenance ticket ({R9_OUTAGE.article}); the limit is "
                    f"{self.thresholds.outage_us / HOUR_US:g} hours.",
                    evidence=[off, Position(end_origin, end_idx) if ended else at],
                    subject=off,
                    logged_at=logged,
                )
            )
            self.db.execute("UPDATE outages SET flagged = 1 WHERE id = ?", [outage_id])
        subject = Subject(Position(origin, idx), start, logged, f"camera {camera_id}'s outage")
        self.settle(R9_OUTAGE, subject, verdicts, camera_id=camera_id, fact=fact)

    # -- R11 --------------------------------------------------------------------------------------

    def _r11_sequence(
        self, subject: Mapping[str, Any] | AccessRow, source: str, seq: int, origin: str, idx: int
    ) -> None:
        """Every event of a source: its sequence number follows the last one, or events are missing."""
        if source in UNSIGNED_SOURCES:
            return
        last = self._sequences.get(source)
        if last is None:
            row = self.db.execute(
                "SELECT last_seq, origin, idx FROM source_sequences WHERE source_id = ?", [source]
            ).fetchone()
            last = self._sequences[source] = (row[0], row[1], row[2]) if row else (0, None, None)
        last_seq, last_origin, last_idx = last
        if seq <= last_seq:
            return  # a repeat or a late arrival: the ledger's dedupe and the verifier judge those
        self._sequences[source] = (seq, origin, idx)
        if seq == last_seq + 1:
            return
        count = seq - last_seq - 1
        missing = (
            f"Event {last_seq + 1}" if count == 1 else f"Events {last_seq + 1} to {seq - 1} ({count} events)"
        )
        before = [Position(last_origin, last_idx)] if last_origin is not None and last_idx is not None else []
        self.violation(
            rule=R11_LOST,
            record=subject,
            system_id=source,
            actor_id=None,
            explanation=f"{missing} of {source} never reached the ledger: the source numbered them, but "
            f"the ledger holds {last_seq or 'nothing'} and then {seq}. Operating records must not be deleted "
            f"or withheld ({R11_LOST.article}); a message the ledger rejected (see the rejected "
            "topic) also leaves a gap.",
            evidence=[*before, Position(origin, idx)],
            dated=self.logged_at,  # the gap has no time of its own: when the ledger saw it
        )

    # -- R15 --------------------------------------------------------------------------------------

    def _r15_clock(
        self, subject: Mapping[str, Any] | AccessRow, event_type: str, source: str, when: int
    ) -> None:
        """An event dated far from the time it reached the ledger (ahead of it, or long before it).

        Access events (millions a day) are flagged once per source and hour of ledger time, as a
        wrong source clock makes every event of the hour wrong; every other event, each time.
        """
        logged = self.logged_at
        t = self.thresholds
        if when - logged > t.clock_ahead_us:
            rule, kind, delta, tolerance = R15_AHEAD, "ahead", when - logged, t.clock_ahead_us
        elif logged - when > t.clock_behind_us:
            rule, kind, delta, tolerance = R15_BEHIND, "behind", logged - when, t.clock_behind_us
        else:
            return
        if source in UNSIGNED_SOURCES:
            return
        note = ""
        if isinstance(subject, AccessRow):
            hour = logged // HOUR_US
            key = (source, kind)
            if key not in self._clock_faults:
                found = self.db.execute(
                    "SELECT hour FROM clock_faults WHERE source_id = ? AND kind = ?", list(key)
                ).fetchone()
                self._clock_faults[key] = found[0] if found else None
            if self._clock_faults[key] == hour:
                return
            self._clock_faults[key] = hour
            note = (
                f" It is the first such access event of {source} in this hour of ledger time; the "
                "others show both times."
            )
        if kind == "ahead":
            what = (
                f"it is dated {_span(delta)} after it reached the ledger ({iso(logged)}), beyond the "
                f"{_span(tolerance)} tolerance: the source's clock is ahead, or the time is made up"
            )
        else:
            what = (
                f"it reached the ledger ({iso(logged)}) {_span(delta)} after its own time, beyond the "
                f"{_span(tolerance)} tolerance: it was backdated, or withheld from the ledger that long"
            )
        self.violation(
            rule=rule,
            record=subject,
            system_id=source,
            camera_id=subject.camera_id if isinstance(subject, AccessRow) else subject.get("camera_id"),
            explanation=f"{event_type} of {source} dated {iso(when)}: {what}. Operating records must be "
            f"kept as they happen ({rule.article}).{note}",
            evidence=[
                Position(subject.origin, subject.idx) if isinstance(subject, AccessRow) else self.current
            ],
            dated=logged,
        )

    def _r11_records(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        system_id = record["system_id"]
        if event_type == "LogCleared":
            what, rule = f"System {system_id}'s {record['log_name']} log was cleared", R11_LOST
        elif event_type == "SoftwareChanged":
            change = f"{record.get('from_version') or '?'} to {record['to_version']}"
            what, rule = f"System {system_id}'s {record['component']} was changed from {change}", R11_CHANGED
        else:
            if abs(record["delta_ms"]) <= self.thresholds.clock_tolerance_ms:
                return
            what = f"System {system_id}'s clock was moved by {record['delta_ms'] / 1000:+.1f} s"
            rule = R11_CHANGED
        self._unticketed(
            at,
            record,
            rule=rule,
            what=what,
            law="programs and operating records may not be deleted or modified",
            system_id=system_id,
            camera_id=None,
            cited=record.get("ticket_id"),
        )
