"""Detection rules about how the system is run: work orders, outages, records, duty.

Mixed into :class:`projections.rules.Rules`; like every rule they judge by the events' own times.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R8     a camera's direction, PTZ preset or home position changed, or an     ZZ 15(7)
       occlusion or tamper alarm, with no open work order covering the
       camera (the one cited, or any open for it at the time)
R9     a system or a camera's recording stopped with no ticket              ZZ 15(6)
R9     a camera off line longer than ``outage_us`` with no ticket open at    ZZ 12(1)
       any time during the outage (judged when it comes back, or at the
       camera's next inventory report if it is still off)
R11    a gap in a source's sequence numbers (events that never reached      ZZ 15(2)
       the ledger); a log cleared, software changed, or the clock moved
       by more than ``clock_tolerance_ms`` with no ticket
R12    footage accessed or deleted by someone not on duty while their        ZZ 12(3)
       unit's roster covers that time (a unit with no roster is not judged)
R12    in any hour, more views, copies, exports or shares than               ZZ 16(3)
       ``bulk_factor`` times the actor's hourly average over the previous
       30 days and at least ``bulk_minimum``
=====  ==================================================================  ==================

A *ticket* is a work order (``WorkOrderOpened``) of the system open at the time: for the camera,
or for the whole system (no cameras named); a system-wide event needs a system-wide work order.
A ticket id the ledger does not hold, or one that was closed, is named in the explanation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.wire.keyring import LEDGER_SOURCE, REGISTRAR_SOURCE
from projections.feed import AccessRow

if TYPE_CHECKING:
    import sqlite_utils

    from projections.tables import PendingAccess

HOUR_US = 3_600 * 1_000_000
DAY_US = 24 * HOUR_US
TAMPER_ALARMS = frozenset({"OCCLUSION", "TAMPER"})
UNSIGNED_SOURCES = frozenset({LEDGER_SOURCE, REGISTRAR_SOURCE})


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


_FROM_RECORD = "\x00from the record"


@dataclass(frozen=True, slots=True)
class Position:
    """A ledger position: log origin and entry index."""

    origin: str
    idx: int


class OperationsRules:
    """R8, R9, R11 and R12 (see the module docstring).

    R11 and R12 look at every event: the state they keep (each source's last sequence number,
    each person's accesses per hour, the shift that covers a person's last access) is held in
    memory for one batch and written by :meth:`flush` before the batch's position is.
    """

    db: sqlite_utils.Database
    thresholds: Thresholds
    pending: PendingAccess

    def begin(self) -> None:
        """Start a batch: forget the state of any batch that was rolled back."""
        self.pending.discard()
        self._sequences: dict[str, tuple[int, str | None, int | None]] = {}
        self._hours: dict[tuple[str, int], list[int]] = {}  # counted this batch: written by flush()
        self._read_hours: dict[tuple[str, int], list[int] | None] = {}  # as the table holds them
        self._baselines: dict[str, tuple[int, float | None]] = {}  # actor -> (hour, its baseline)
        self._shifts: dict[tuple[str, str], tuple[int, int]] = {}
        self._cameras: dict[str, tuple[str | None, str | None]] = {}  # forgotten when one registers

    def flush(self) -> None:
        """Write the batch's access rows and the state held in memory."""
        self.pending.flush()
        if self._sequences:
            self.db.conn.executemany(
                "INSERT INTO source_sequences (source_id, last_seq, origin, idx) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (source_id) DO UPDATE SET last_seq = excluded.last_seq, "
                "origin = excluded.origin, idx = excluded.idx",
                [(source, *state) for source, state in self._sequences.items() if state[1] is not None],
            )
        if self._hours:
            self.db.conn.executemany(
                "INSERT INTO actor_hours (actor_id, hour, accesses, previous) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (actor_id, hour) DO UPDATE SET accesses = excluded.accesses",
                [(actor, hour, *counts) for (actor, hour), counts in self._hours.items()],
            )

    def violation(
        self,
        *,
        rule: str,
        severity: str,
        article: str,
        record: Mapping[str, Any] | AccessRow,
        explanation: str,
        evidence: list[Position],
        camera_id: str | None = None,
        system_id: str | None = None,
        actor_id: str | None = _FROM_RECORD,
    ) -> None:
        """Record one violation with the positions of its evidence.

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
                "rule": rule,
                "severity": severity,
                "article": article,
                "actor_id": actor if actor_id == _FROM_RECORD else actor_id,
                "system_id": system_id or source,
                "camera_id": camera_id,
                "occurred_at": when,
                "explanation": explanation,
                "evidence": json.dumps([[p.origin, p.idx] for p in evidence]),
            }
        )

    def _unticketed(
        self,
        at: Position,
        record: Mapping[str, Any],
        *,
        rule: str,
        severity: str,
        article: str,
        what: str,
        law: str,
        system_id: str,
        camera_id: str | None,
        cited: str | None,
    ) -> None:
        """A violation of ``rule`` unless a work order for the system (or camera) was open then.

        The explanation says ``what`` happened, what ticket is missing, and what the ``law`` says.
        """
        when = record["envelope"]["occurred_at"]
        ticket, missing = self._ticket(system_id, camera_id, cited, when, when)
        if ticket is not None:
            return
        self.violation(
            rule=rule,
            severity=severity,
            article=article,
            record=record,
            system_id=system_id,
            camera_id=camera_id,
            explanation=f"{what} with {missing}: {law} ({article}).",
            evidence=[at],
        )

    # -- tickets ---------------------------------------------------------------------------------

    def camera(self, camera_id: str) -> tuple[str | None, str | None]:
        """A registered camera's system and the day it went live (``None``, ``None``: not registered)."""
        known = self._cameras.get(camera_id)
        if known is None:
            row = self.db.execute(
                "SELECT system_id, went_live_on FROM cameras WHERE camera_id = ?", [camera_id]
            ).fetchone()
            known = self._cameras[camera_id] = (row[0], row[1]) if row else (None, None)
        return known

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
            rule="R8",
            severity="high",
            article="ZZ 15(7)",
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
            rule="R9",
            severity="high",
            article="ZZ 15(6)",
            what=what,
            law="a system may not be interrupted or stopped without cause",
            system_id=system_id,
            camera_id=camera_id,
            cited=record.get("ticket_id"),
        )

    def _r9_outage(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A camera's device outage: judged when it ends, or at an inventory report while it lasts."""
        ended = event_type == "DeviceStatusChanged"
        if ended and record["status"] != "ON":
            return
        camera_id = record["camera_id"]
        when = record["envelope"]["occurred_at"]
        if ended:
            row = self.db.execute(
                'SELECT id, start, "end", ticket_id, origin, idx, flagged, system_id FROM outages '
                "WHERE kind = 'device' AND end_origin = ? AND end_idx = ?",
                [at.origin, at.idx],
            ).fetchone()
        else:
            row = self.db.execute(
                'SELECT id, start, "end", ticket_id, origin, idx, flagged, system_id FROM outages '
                "WHERE kind = 'device' AND camera_id = ? AND \"end\" IS NULL AND start < ?",
                [camera_id, when - self.thresholds.outage_us],
            ).fetchone()
        if row is None:
            return
        outage_id, start, end, ticket_id, origin, idx, flagged, system_id = row
        end = end if end is not None else when
        if flagged or end - start <= self.thresholds.outage_us:
            return
        cited = ticket_id or (record.get("ticket_id") if ended else None)
        ticket, missing = self._ticket(system_id, camera_id, cited, start, end)
        if ticket is not None:
            return
        self.db.execute("UPDATE outages SET flagged = 1 WHERE id = ?", [outage_id])
        hours = (end - start) / HOUR_US
        state = "was off line for" if ended else "has been off line for"
        self.violation(
            rule="R9",
            severity="medium",
            article="ZZ 12(1)",
            record=record,
            system_id=system_id,
            camera_id=camera_id,
            actor_id=None,
            explanation=f"Camera {camera_id} {state} {hours:.1f} hours with {missing}: outages must be "
            f"repaired promptly, under a maintenance ticket (ZZ 12(1)); the limit is "
            f"{self.thresholds.outage_us / HOUR_US:g} hours.",
            evidence=[Position(origin, idx), at],
        )

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
            rule="R11",
            severity="critical",
            article="ZZ 15(2)",
            record=subject,
            system_id=source,
            actor_id=None,
            explanation=f"{missing} of {source} never reached the ledger: the source numbered them, but "
            f"the ledger holds {last_seq or 'nothing'} and then {seq}. Operating records must not be deleted "
            "or withheld (ZZ 15(2)); a message the ledger rejected (see the rejected topic) also leaves "
            "a gap.",
            evidence=[*before, Position(origin, idx)],
        )

    def _r11_records(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        system_id = record["system_id"]
        if event_type == "LogCleared":
            what, severity = f"System {system_id}'s {record['log_name']} log was cleared", "critical"
        elif event_type == "SoftwareChanged":
            change = f"{record.get('from_version') or '?'} to {record['to_version']}"
            what, severity = f"System {system_id}'s {record['component']} was changed from {change}", "high"
        else:
            if abs(record["delta_ms"]) <= self.thresholds.clock_tolerance_ms:
                return
            what = f"System {system_id}'s clock was moved by {record['delta_ms'] / 1000:+.1f} s"
            severity = "high"
        self._unticketed(
            at,
            record,
            rule="R11",
            severity=severity,
            article="ZZ 15(2)",
            what=what,
            law="programs and operating records may not be deleted or modified",
            system_id=system_id,
            camera_id=None,
            cited=record.get("ticket_id"),
        )

    # -- R12 --------------------------------------------------------------------------------------

    def _on_duty(self, column: str, key: str, when: int) -> bool:
        """Whether a roster shift of the person (``column`` ``user_id``) or unit covers ``when``."""
        shift = self._shifts.get((column, key))
        if shift is not None and shift[0] <= when < shift[1]:
            return True  # shifts are only ever added: one that covered an access still does
        found = self.db.execute(
            f"SELECT shift_start, shift_end FROM roster WHERE {column} = ? AND shift_start <= ? "  # noqa: S608
            "AND shift_end > ? ORDER BY shift_start DESC LIMIT 1",
            [key, when, when],
        ).fetchone()
        if found is None:
            return False
        self._shifts[column, key] = (found[0], found[1])
        return True

    def _r12_duty(self, row: AccessRow) -> None:
        if row.actor_kind != "PERSON" or row.outcome != "ALLOWED":
            return
        when, user_id, camera_id = row.occurred_at, row.actor_id, row.camera_id
        if not self._on_duty("user_id", user_id, when) and self._on_duty("unit", row.unit, when):
            self.violation(
                rule="R12",
                severity="high",
                article="ZZ 12(3)",
                record=row,
                camera_id=camera_id,
                explanation=f"{row.event_type} of camera {camera_id} by {user_id} ({row.actor_name}), "
                f"who was not on duty: {row.unit}'s roster for that time does not name them. Only the staff "
                "on watch may use the monitoring system (ZZ 12(3)).",
                evidence=[Position(row.origin, row.idx)],
            )
        if row.event_type != "FootageDeleted":
            self._r12_bulk(row)

    def _hour(self, user_id: str, hour: int) -> list[int] | None:
        """``[accesses, previous]`` of the person's clock hour, or ``None`` if none was counted."""
        key = (user_id, hour)
        counts = self._hours.get(key)
        if counts is None:
            if key not in self._read_hours:
                found = self.db.execute(
                    "SELECT accesses, previous FROM actor_hours WHERE actor_id = ? AND hour = ?",
                    [user_id, hour],
                ).fetchone()
                self._read_hours[key] = [found[0], found[1]] if found else None
            counts = self._read_hours[key]
        return counts

    def _baseline(self, user_id: str, hour: int) -> float | None:
        """The person's average accesses per counted hour over the ``baseline_days`` before ``hour - 1``."""
        cached = self._baselines.get(user_id)
        if cached is not None and cached[0] == hour:
            return cached[1]
        self.flush()  # the hours counted so far
        days = self.thresholds.baseline_days
        (average,) = self.db.execute(
            "SELECT AVG(accesses) FROM actor_hours WHERE actor_id = ? AND hour >= ? AND hour < ?",
            [user_id, hour - days * 24, hour - 1],
        ).fetchone()
        baseline = None if average is None else float(average)
        self._baselines[user_id] = (hour, baseline)
        return baseline

    def _r12_bulk(self, row: AccessRow) -> None:
        user_id, when = row.actor_id, row.occurred_at
        hour = when // HOUR_US
        t = self.thresholds
        counts = self._hour(user_id, hour)
        if counts is None:  # the hour's first access: the hour before's count is its "previous"
            before = self._hour(user_id, hour - 1)
            counts = [0, before[0] if before else 0]
        self._hours[user_id, hour] = counts
        counts[0] += 1
        cached = self._baselines.get(user_id)
        if cached is not None and hour < cached[0] - 1:
            del self._baselines[user_id]  # a late access, inside the cached baseline's 30 days
        if counts[0] + counts[1] < t.bulk_minimum:
            return  # neither this clock hour nor the one before it can hold the minimum
        baseline = self._baseline(user_id, hour)
        limit = max(t.bulk_minimum, t.bulk_factor * (baseline or 0))
        before = self._hour(user_id, hour - 1)
        if counts[0] + (before[0] if before else 0) < limit:
            return  # the last hour's accesses lie in this clock hour and the one before
        self.flush()  # the query below reads the access rows written so far
        rows = self.db.execute(
            "SELECT origin, idx FROM access WHERE actor_id = ? AND occurred_at > ? AND occurred_at <= ? "
            "AND outcome = 'ALLOWED' AND action NOT IN ('delete', 'overwrite', 'expire', 'format') "
            "ORDER BY occurred_at, id",
            [user_id, when - HOUR_US, when],
        ).fetchall()
        if len(rows) < limit:
            return
        already = self.db.execute(
            "SELECT 1 FROM violations WHERE rule = 'R12' AND actor_id = ? AND occurred_at > ? "
            "AND explanation LIKE '%accesses within one hour%' LIMIT 1",
            [user_id, when - HOUR_US],
        ).fetchone()
        if already:
            return
        usual = f"their usual {baseline:.1f} an hour" if baseline else "none in the 30 days before"
        self.violation(
            rule="R12",
            severity="high",
            article="ZZ 16(3)",
            record=row,
            explanation=f"{user_id} ({row.actor_name}) made {len(rows)} accesses within "
            f"one hour, against {usual}: bulk access far beyond the work's need (ZZ 16(3)); "
            f"the limit is {t.bulk_factor:g} times the usual pace and at least {t.bulk_minimum}.",
            evidence=[Position(origin, idx) for origin, idx in rows],
        )
