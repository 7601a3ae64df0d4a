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

from ledger.sources import LEDGER_SOURCE, REGISTRAR_SOURCE

if TYPE_CHECKING:
    import sqlite_utils

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


def _us(value: Any) -> int:
    return int(value.timestamp()) * 1_000_000 + int(value.microsecond)


class OperationsRules:
    """R8, R9, R11 and R12 (see the module docstring)."""

    db: sqlite_utils.Database
    thresholds: Thresholds

    def violation(
        self,
        *,
        rule: str,
        severity: str,
        article: str,
        record: Mapping[str, Any],
        explanation: str,
        evidence: list[Position],
        camera_id: str | None = None,
        system_id: str | None = None,
        actor_id: str | None = _FROM_RECORD,
    ) -> None:
        """Record one violation with the positions of its evidence.

        The actor is the event's, unless ``actor_id`` names another (``None``: no one is known).
        """
        envelope = record["envelope"]
        self.db.table("violations").insert(
            {
                "rule": rule,
                "severity": severity,
                "article": article,
                "actor_id": envelope["actor"]["user_id"] if actor_id == _FROM_RECORD else actor_id,
                "system_id": system_id or envelope["source_system_id"],
                "camera_id": camera_id,
                "occurred_at": _us(envelope["occurred_at"]),
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
        when = _us(record["envelope"]["occurred_at"])
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

    def _system_of(self, camera_id: str, record: Mapping[str, Any]) -> str:
        row = self.db.execute("SELECT system_id FROM cameras WHERE camera_id = ?", [camera_id]).fetchone()
        return str(row[0]) if row else str(record["envelope"]["source_system_id"])

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
        when = _us(record["envelope"]["occurred_at"])
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

    def _r11_sequence(self, at: Position, record: Mapping[str, Any]) -> None:
        """Every event of a source: its sequence number follows the last one, or events are missing."""
        envelope = record["envelope"]
        source, seq = envelope["source_system_id"], envelope["source_seq"]
        if source in UNSIGNED_SOURCES:
            return
        moved = self.db.execute(
            "UPDATE source_sequences SET last_seq = ?, origin = ?, idx = ? "
            "WHERE source_id = ? AND last_seq = ?",
            [seq, at.origin, at.idx, source, seq - 1],
        ).rowcount
        if moved:
            return
        row = self.db.execute(
            "SELECT last_seq, origin, idx FROM source_sequences WHERE source_id = ?", [source]
        ).fetchone()
        last = row[0] if row else 0
        if seq <= last:
            return  # a repeat or a late arrival: the ledger's dedupe and the verifier judge those
        self.db.execute(
            "INSERT INTO source_sequences (source_id, last_seq, origin, idx) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (source_id) DO UPDATE SET last_seq = excluded.last_seq, origin = excluded.origin, "
            "idx = excluded.idx",
            [source, seq, at.origin, at.idx],
        )
        if seq == last + 1:
            return
        count = seq - last - 1
        missing = f"Event {last + 1}" if count == 1 else f"Events {last + 1} to {seq - 1} ({count} events)"
        self.violation(
            rule="R11",
            severity="critical",
            article="ZZ 15(2)",
            record=record,
            system_id=source,
            actor_id=None,
            explanation=f"{missing} of {source} never reached the ledger: the source numbered them, but "
            f"the ledger holds {last or 'nothing'} and then {seq}. Operating records must not be deleted "
            "or withheld (ZZ 15(2)); a message the ledger rejected (see the rejected topic) also leaves "
            "a gap.",
            evidence=([Position(row[1], row[2])] if row else []) + [at],
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

    def _r12_duty(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        access = record.get("access") or record.get("deletion") or {}
        actor = record["envelope"]["actor"]
        if actor["kind"] != "PERSON" or access.get("outcome") != "ALLOWED":
            return
        when = _us(record["envelope"]["occurred_at"])
        user_id, camera_id = actor["user_id"], access.get("camera_id")
        on_duty = self.db.execute(
            "SELECT 1 FROM roster WHERE user_id = ? AND shift_start <= ? AND shift_end > ? LIMIT 1",
            [user_id, when, when],
        ).fetchone()
        if on_duty is None:
            unit_on_duty = self.db.execute(
                "SELECT 1 FROM roster WHERE unit = ? AND shift_start <= ? AND shift_end > ? LIMIT 1",
                [actor["unit"], when, when],
            ).fetchone()
            if unit_on_duty is not None:
                self.violation(
                    rule="R12",
                    severity="high",
                    article="ZZ 12(3)",
                    record=record,
                    camera_id=camera_id,
                    explanation=f"{event_type} of camera {camera_id} by {user_id} ({actor['name']}), who was "
                    f"not on duty: {actor['unit']}'s roster for that time does not name them. Only the staff "
                    "on watch may use the monitoring system (ZZ 12(3)).",
                    evidence=[at],
                )
        if event_type != "FootageDeleted":
            self._r12_bulk(at, event_type, record, when)

    def _r12_bulk(self, at: Position, event_type: str, record: Mapping[str, Any], when: int) -> None:

        user_id = record["envelope"]["actor"]["user_id"]
        hour = when // HOUR_US
        t = self.thresholds
        (recent,) = self.db.execute(  # this clock hour's count and the last one's, in one statement
            "INSERT INTO actor_hours (actor_id, hour, accesses, previous) VALUES (?, ?, 1, "
            "COALESCE((SELECT accesses FROM actor_hours WHERE actor_id = ? AND hour = ?), 0)) "
            "ON CONFLICT (actor_id, hour) DO UPDATE SET accesses = accesses + 1 "
            "RETURNING accesses + previous",
            [user_id, hour, user_id, hour - 1],
        ).fetchone()
        if recent < t.bulk_minimum:
            return  # neither this clock hour nor the one before it can hold the minimum
        rows = self.db.execute(
            "SELECT origin, idx FROM access WHERE actor_id = ? AND occurred_at > ? AND occurred_at <= ? "
            "AND outcome = 'ALLOWED' AND action NOT IN ('delete', 'overwrite', 'expire', 'format') "
            "ORDER BY occurred_at, id",
            [user_id, when - HOUR_US, when],
        ).fetchall()
        baseline = self.db.execute(
            "SELECT AVG(accesses) FROM actor_hours WHERE actor_id = ? AND hour >= ? AND hour < ?",
            [user_id, hour - t.baseline_days * 24, hour - 1],
        ).fetchone()[0]
        limit = max(t.bulk_minimum, t.bulk_factor * (baseline or 0))
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
            record=record,
            explanation=f"{user_id} ({record['envelope']['actor']['name']}) made {len(rows)} accesses within "
            f"one hour, against {usual}: bulk access far beyond the work's need (ZZ 16(3)); "
            f"the limit is {t.bulk_factor:g} times the usual pace and at least {t.bulk_minimum}.",
            evidence=[Position(origin, idx) for origin, idx in rows],
        )
