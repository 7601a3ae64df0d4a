"""Detection rules about who may use footage when: the duty roster, and bulk access.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R12    footage accessed or deleted by someone not on duty while their      ZZ 12(3)
       unit's roster covers that time (units with no roster: not judged);
       a shift logged after accesses in it judges them again
R12    in any hour, more views, copies, exports or shares than             ZZ 16(3)
       ``bulk_factor`` times the actor's hourly average over the previous
       30 days and at least ``bulk_minimum``
=====  ==================================================================  ==================

R12 looks at every access by a person: the state it keeps (each person's accesses per hour, their
usual pace, the shift that covers a person's last access) is held in memory for one batch and
written by :meth:`DutyRules.flush` before the batch's position is. The limits are
:class:`~projections.rules.base.Thresholds`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.feed import ACCESS_COLUMNS, AccessRow
from projections.rules.access import SHARES, VIEWS
from projections.rules.base import HOUR_US, Position, RulesBase, Subject
from projections.rules.catalog import R12_BULK, R12_OFF_DUTY

ON_DUTY = VIEWS | SHARES | {"FootageDeleted"}
_BULK = "accesses within one hour"
"""The words of a bulk access's explanation that tell it from an access off duty (same rule id)."""


class DutyRules(RulesBase):
    """R12 (see the module docstring)."""

    def begin(self) -> None:
        """Start a batch: forget the state of any batch that was rolled back."""
        super().begin()
        self._hours: dict[tuple[str, int], list[int]] = {}  # counted this batch: written by flush()
        self._read_hours: dict[tuple[str, int], list[int] | None] = {}  # as the table holds them
        self._baselines: dict[str, tuple[int, float | None]] = {}  # actor -> (hour, its baseline)
        self._shifts: dict[tuple[str, str], tuple[int, int]] = {}
        self._flagged: dict[str, int | None] = {}  # actor -> time of their latest bulk access found
        self._units: set[tuple[str, int, str]] = set()  # (unit, hour, actor) of accesses judged

    def flush(self) -> None:
        """Write the batch's access rows and the state held in memory."""
        super().flush()
        if self._hours:
            self.db.conn.executemany(
                "INSERT INTO actor_hours (actor_id, hour, accesses, previous) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (actor_id, hour) DO UPDATE SET accesses = excluded.accesses",
                [(actor, hour, *counts) for (actor, hour), counts in self._hours.items()],
            )
        if self._units:
            self.db.conn.executemany(
                "INSERT OR IGNORE INTO unit_hours (unit, hour, actor_id) VALUES (?, ?, ?)", self._units
            )
            self._units.clear()

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
        self._units.add((row.unit, row.occurred_at // HOUR_US, row.actor_id))
        verdict = self._off_duty(row)
        if verdict is not None:
            self.db.table("violations").insert(verdict)
        if row.event_type != "FootageDeleted":
            self._r12_bulk(row)

    def _off_duty(self, row: AccessRow) -> dict[str, Any] | None:
        """The R12 verdict on an access by someone their unit's roster does not name, or ``None``."""
        when, user_id, camera_id = row.occurred_at, row.actor_id, row.camera_id
        if self._on_duty("user_id", user_id, when) or not self._on_duty("unit", row.unit, when):
            return None
        return self.verdict(
            rule=R12_OFF_DUTY,
            record=row,
            camera_id=camera_id,
            explanation=f"{row.event_type} of camera {camera_id} by {user_id} ({row.actor_name}), "
            f"who was not on duty: {row.unit}'s roster for that time does not name them. Only the staff "
            f"on watch may use the monitoring system ({R12_OFF_DUTY.article}).",
            evidence=[Position(row.origin, row.idx)],
        )

    def _r12_late_shift(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A duty shift was logged: judge again the accesses in it by its person and their unit."""
        start, end, unit = record["shift_start"], record["shift_end"], record["unit"]
        self.flush()
        self._shifts.clear()
        actors = {record["user_id"]} | {
            actor
            for (actor,) in self.db.execute(
                "SELECT actor_id FROM unit_hours WHERE unit = ? AND hour >= ? AND hour <= ?",
                [unit, start // HOUR_US, end // HOUR_US],
            ).fetchall()
        }
        fact = self.fact(at, record, f"the duty shift of {record['user_id']} ({unit})")
        for actor in sorted(actors):
            rows = self.db.execute(
                f"SELECT {', '.join(ACCESS_COLUMNS)}, 'PERSON', 0 FROM access WHERE actor_id = ? "  # noqa: S608
                "AND occurred_at >= ? AND occurred_at < ? AND outcome = 'ALLOWED' ORDER BY occurred_at, id",
                [actor, start, end],
            ).fetchall()
            for found in rows:
                row = AccessRow._make(found)
                if row.event_type not in ON_DUTY:
                    continue
                verdict = self._off_duty(row)
                what = f"{row.actor_id}'s {row.event_type} of camera {row.camera_id}"
                subject = Subject(Position(row.origin, row.idx), row.occurred_at, row.logged_at, what)
                self.settle(
                    R12_OFF_DUTY, subject, [verdict] if verdict else [], camera_id=row.camera_id, fact=fact
                )

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

    def _latest_bulk(self, user_id: str) -> int | None:
        """When the person's latest bulk access found so far happened (None: never).

        Read once a batch, then kept: without it, every access of a burst past the limit would
        read the whole last hour of the person's accesses again.
        """
        if user_id not in self._flagged:
            (latest,) = self.db.execute(
                "SELECT MAX(occurred_at) FROM violations "
                "WHERE rule = ? AND actor_id = ? AND explanation LIKE ?",
                [R12_BULK.id, user_id, f"%{_BULK}%"],
            ).fetchone()
            self._flagged[user_id] = latest
        return self._flagged[user_id]

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
        flagged = self._latest_bulk(user_id)
        if flagged is not None and flagged > when - HOUR_US:
            return  # the hour before this access already holds a bulk access of theirs: one is enough
        self.flush()  # the query below reads the access rows written so far
        rows = self.db.execute(
            "SELECT origin, idx FROM access WHERE actor_id = ? AND occurred_at > ? AND occurred_at <= ? "
            "AND outcome = 'ALLOWED' AND action NOT IN ('delete', 'overwrite', 'expire', 'format') "
            "ORDER BY occurred_at, id",
            [user_id, when - HOUR_US, when],
        ).fetchall()
        if len(rows) < limit:
            return
        self._flagged[user_id] = when if flagged is None else max(when, flagged)
        usual = f"their usual {baseline:.1f} an hour" if baseline else "none in the 30 days before"
        self.violation(
            rule=R12_BULK,
            record=row,
            explanation=f"{user_id} ({row.actor_name}) made {len(rows)} {_BULK}, "
            f"against {usual}: bulk access far beyond the work's need ({R12_BULK.article}); "
            f"the limit is {t.bulk_factor:g} times the usual pace and at least {t.bulk_minimum}.",
            evidence=[Position(origin, idx) for origin, idx in rows],
        )
