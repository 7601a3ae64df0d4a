"""From ledger entries to read-model rows (and, through :mod:`projections.rules`, violations).

:class:`Projector` applies one item of :mod:`projections.feed` (an event at its ledger
position; times are integer microseconds). It only writes rows; the
runner (:mod:`projections.runner`) owns transactions and positions. Applying the same events in
the same order always gives the same rows: times come from the events, never the wall clock.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlite_utils

from projections.feed import ACCESS_TYPES, AccessRow, Item, access_row
from projections.rules import Position, Rules
from projections.rules.base import fold

EPOCH = date(1970, 1, 1)
_row = tuple.__new__  # AccessRow._make without its length check: entries.access_row built the tuple
EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_OUTAGE_KEY = "kind = ? AND system_id = ? AND camera_id IS ?"


def micros(value: datetime | None) -> int | None:
    """A timestamp as the read models store it: integer microseconds since the epoch (UTC)."""
    if value is None:
        return None
    return (value - EPOCH_UTC) // timedelta(microseconds=1)


def _day(days: int | None) -> str | None:
    """An Avro ``date`` (days since 1970-01-01) as ISO 8601."""
    return (EPOCH + timedelta(days=days)).isoformat() if days is not None else None


class Projector:
    """Writes the rows one event implies, then runs the rules on it.

    Access rows wait in :class:`projections.tables.PendingAccess` and are written once per batch
    (or before a rule reads them); :meth:`begin` and :meth:`finish` bracket each batch.
    """

    def __init__(self, db: sqlite_utils.Database, *, rules: Rules | None = None) -> None:
        self.db = db
        self.rules = rules or Rules(db)
        self.pending = self.rules.pending
        self._statements: dict[tuple[str, tuple[str, ...], tuple[str, ...], str | None], str] = {}
        self._handlers: dict[str, Callable[[Position, Mapping[str, Any]], None]] = {}
        self._people: dict[str, tuple[int, str, str]] = {}  # this batch: actor -> (when, name, unit)

    def _write(
        self, table: str, row: Mapping[str, Any], *, pk: tuple[str, ...] = (), newer: str | None = None
    ) -> None:
        """Insert ``row`` (upsert on ``pk``; with ``newer``, only over a row older by that column).

        The statement is prepared once per table and columns.

        Rebuilding projects every event of the ledger: sqlite-utils' per-call introspection cost
        more than the write itself, so the hot path uses the connection directly.
        """
        columns = tuple(row)
        key = (table, columns, pk, newer)
        sql = self._statements.get(key)
        if sql is None:
            names = ", ".join(f'"{c}"' for c in columns)
            sql = f'INSERT INTO "{table}" ({names}) VALUES ({", ".join("?" * len(columns))})'  # noqa: S608 - names are this module's own
            if pk:
                updates = ", ".join(f'"{c}" = excluded."{c}"' for c in columns if c not in pk)
                sql += f" ON CONFLICT ({', '.join(pk)}) DO UPDATE SET {updates}"
                if newer:
                    sql += f' WHERE excluded."{newer}" >= "{table}"."{newer}"'

            self._statements[key] = sql
        self.db.conn.execute(sql, tuple(row.values()))

    def begin(self) -> None:
        """Start a batch: forget any state of a batch that was rolled back."""
        self.rules.begin()
        self._people.clear()

    def finish(self) -> None:
        """End a batch: write what waits in memory (before the position is written)."""
        self.rules.flush()
        if self._people:
            self.db.conn.executemany(
                "INSERT INTO people (actor_id, name, unit, id_key, name_key, seen_at) "
                "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (actor_id) DO UPDATE SET name = excluded.name, "
                "unit = excluded.unit, name_key = excluded.name_key, seen_at = excluded.seen_at "
                "WHERE (excluded.seen_at, excluded.name) > (people.seen_at, people.name)",
                [
                    (who, name, unit, fold(who), fold(name), when)
                    for who, (when, name, unit) in self._people.items()
                ],
            )
            self._people.clear()

    def apply(self, item: Item) -> None:
        """Project one item of :mod:`projections.feed` (an event at its ledger position)."""
        event_type, origin, idx, logged_at, payload = item
        self.rules.logged_at = logged_at
        if event_type in ACCESS_TYPES:
            row = _row(AccessRow, payload)
            self.pending.add(row)
            self._person(row.actor_id, row.occurred_at, row.actor_name, row.unit)
            self.rules.access(row)
            return
        position = self.rules.current = Position(origin, idx)
        handler = self._handlers.get(event_type)
        if handler is None:
            handler = self._handlers[event_type] = getattr(self, f"_on_{event_type}", lambda *_: None)
        handler(position, payload)
        self._act(position, event_type, payload)
        self.rules.check(position, event_type, payload)

    def _person(self, user_id: str, when: int, name: str, unit: str) -> None:
        """A person as an event names them: the latest name by the events' own time is kept."""
        known = self._people.get(user_id)
        if known is None or (when, name) > known[:2]:
            self._people[user_id] = (when, name, unit)

    def _act(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """What a person did besides acting on footage: one row of ``acts``."""
        envelope = record["envelope"]
        actor = envelope["actor"]
        if actor["kind"] != "PERSON":
            return
        self._person(actor["user_id"], envelope["occurred_at"], actor["name"], actor["unit"])
        detail = {k: v for k, v in record.items() if k != "envelope" and v is not None}
        self.db.conn.execute(
            "INSERT INTO acts (actor_id, occurred_at, logged_at, event_type, camera_id, case_number, detail, "
            "source_system_id, event_id, origin, idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                actor["user_id"],
                envelope["occurred_at"],
                self.rules.logged_at,
                event_type,
                record.get("camera_id"),
                record.get("case_number"),
                json.dumps(detail, ensure_ascii=False, default=str),
                envelope["source_system_id"],
                envelope["event_id"],
                at.origin,
                at.idx,
            ],
        )

    def _on_DiskFormatted(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        for camera_id in record["camera_ids"]:
            row = AccessRow._make(
                access_row(
                    at.origin,
                    at.idx,
                    "DiskFormatted",
                    logged_at=self.rules.logged_at,
                    action="format",
                    record=record,
                    context={},
                    camera_id=camera_id,
                )
            )
            self.pending.add(row)
            self.rules.judge_deletion(row)

    # -- registry ---------------------------------------------------------------------------------

    def _on_SystemRegistered(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._write(
            "systems",
            {
                "system_id": record["system_id"],
                "name": record["name"],
                "owner": record["owner"],
                "manager": record["manager"],
                "filing_number": record.get("filing_number"),
                "filed_on": _day(record.get("filed_on")),
                "went_live_on": _day(record.get("went_live_on")),
                "retention_days": record["retention_days"],
                "registered_at": record["envelope"]["occurred_at"],
                "origin": at.origin,
                "idx": at.idx,
            },
            pk=("system_id",),
            newer="registered_at",  # the latest registration by its own time, whichever came first
        )

    def _on_CameraRegistered(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._write(
            "cameras",
            {
                "camera_id": record["camera_id"],
                "system_id": record["system_id"],
                "name": record["name"],
                "location": record["location"],
                "location_category": record["location_category"],
                "notice_sign": int(record["notice_sign"]),
                "went_live_on": _day(record.get("went_live_on")),
                "registered_at": record["envelope"]["occurred_at"],
                "logged_at": self.rules.logged_at,
                "name_key": fold(f"{record['name']} {record['location']}"),
                "origin": at.origin,
                "idx": at.idx,
            },
            pk=("camera_id",),
            newer="registered_at",
        )

    def _on_SourceKeyRegistered(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        key_id = "+".join(record["public_key"].split("+")[:2])
        self._write(
            "source_keys",
            {
                "key_id": key_id,
                "system_id": record["system_id"],
                "revoked": 0,
                "origin": at.origin,
                "idx": at.idx,
            },
            pk=("key_id",),
        )
        if record.get("replaces_key_id"):
            self.db.execute(
                "UPDATE source_keys SET revoked = 1 WHERE key_id = ?", [record["replaces_key_id"]]
            )

    def _on_SourceKeyRevoked(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self.db.execute("UPDATE source_keys SET revoked = 1 WHERE key_id = ?", [record["key_id"]])

    # -- retention --------------------------------------------------------------------------------

    def _on_RetentionPolicySet(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        envelope = record["envelope"]
        self._write(
            "policies",
            {
                "system_id": record["system_id"],
                "camera_id": record.get("camera_id"),
                "retention_days": record["retention_days"],
                "set_at": envelope["occurred_at"],
                "actor_id": envelope["actor"]["user_id"],
                "origin": at.origin,
                "idx": at.idx,
            },
        )

    def _on_LegalHoldPlaced(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        # A release logged before the placement (arrival order is the platform's) still ends it.
        release = self.db.execute(
            "SELECT released_at, origin, idx FROM hold_releases WHERE hold_id = ?", [record["hold_id"]]
        ).fetchone() or (None, None, None)
        self._write(
            "holds",
            {
                "hold_id": record["hold_id"],
                "camera_id": record["camera_id"],
                "footage_start": record["footage_start"],
                "footage_end": record["footage_end"],
                "case_number": record.get("case_number"),
                "placed_at": record["envelope"]["occurred_at"],
                "released_at": release[0],
                "origin": at.origin,
                "idx": at.idx,
                "release_origin": release[1],
                "release_idx": release[2],
            },
            pk=("hold_id", "camera_id"),
        )

    def _on_LegalHoldReleased(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        # The earliest release (by its own time) stands, whichever reached the ledger first.
        when, hold_id = record["envelope"]["occurred_at"], record["hold_id"]
        self.db.execute(
            "INSERT INTO hold_releases (hold_id, released_at, origin, idx) VALUES (?, ?, ?, ?) "
            "ON CONFLICT (hold_id) DO UPDATE SET released_at = excluded.released_at, "
            "origin = excluded.origin, idx = excluded.idx WHERE excluded.released_at < released_at",
            [hold_id, when, at.origin, at.idx],
        )
        self.db.execute(
            "UPDATE holds SET released_at = ?, release_origin = ?, release_idx = ? "
            "WHERE hold_id = ? AND (released_at IS NULL OR released_at > ?)",
            [when, at.origin, at.idx, hold_id, when],
        )

    def _on_FootageInventoryReported(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        gaps = [[g["start"], g["end"]] for g in record.get("gaps", [])]
        self._write(
            "inventory",
            {
                "camera_id": record["camera_id"],
                "reported_at": record["envelope"]["occurred_at"],
                "earliest": record["earliest_available"],
                "latest": record["latest_available"],
                "gaps": json.dumps(gaps),
                "logged_at": self.rules.logged_at,
                "actor_id": record["envelope"]["actor"]["user_id"],
                "source_id": record["envelope"]["source_system_id"],
                "origin": at.origin,
                "idx": at.idx,
            },
        )

    # -- outages ---------------------------------------------------------------------------------

    def _open_outage(self, at: Position, record: Mapping[str, Any], kind: str, camera_id: str | None) -> None:
        """An outage starts, unless one is under way then; it ends at the first end logged after it.

        Either may reach the ledger first (arrival order is the platforms'): the outage is the
        same.
        """
        system_id = record.get("system_id") or record["envelope"]["source_system_id"]
        when = record["envelope"]["occurred_at"]
        key = [kind, system_id, camera_id]
        under_way = self.db.execute(
            f'SELECT id FROM outages WHERE {_OUTAGE_KEY} AND start <= ? AND ("end" IS NULL OR "end" > ?)',  # noqa: S608
            [*key, when, when],
        ).fetchone()
        if under_way is not None:
            return
        end = self.db.execute(
            f"SELECT at, origin, idx FROM outage_ends WHERE {_OUTAGE_KEY} AND at > ? ORDER BY at LIMIT 1",  # noqa: S608
            [*key, when],
        ).fetchone() or (None, None, None)
        self._write(
            "outages",
            {
                "kind": kind,
                "system_id": system_id,
                "camera_id": camera_id,
                "start": when,
                "end": end[0],
                "ticket_id": record.get("ticket_id"),
                "origin": at.origin,
                "idx": at.idx,
                "end_origin": end[1],
                "end_idx": end[2],
                "logged_at": self.rules.logged_at,
            },
        )

    def _close_outage(
        self, at: Position, record: Mapping[str, Any], kind: str, camera_id: str | None
    ) -> None:
        """The outage under way ends (the latest that started before, open or ending later)."""
        system_id = record.get("system_id") or record["envelope"]["source_system_id"]
        when = record["envelope"]["occurred_at"]
        key = [kind, system_id, camera_id]
        self.db.execute(
            "INSERT INTO outage_ends (kind, system_id, camera_id, at, origin, idx) VALUES (?, ?, ?, ?, ?, ?)",
            [*key, when, at.origin, at.idx],
        )
        ending = (
            f'SELECT id FROM outages WHERE {_OUTAGE_KEY} AND start < ? AND ("end" IS NULL OR "end" > ?) '  # noqa: S608
            "ORDER BY start DESC LIMIT 1"
        )
        self.db.execute(
            f'UPDATE outages SET "end" = ?, end_origin = ?, end_idx = ? WHERE id = ({ending})',  # noqa: S608
            [when, at.origin, at.idx, *key, when, when],
        )

    def _on_DeviceStatusChanged(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        if record["status"] == "ON":
            self._close_outage(at, record, "device", record["camera_id"])
        else:
            self._open_outage(at, record, "device", record["camera_id"])

    def _on_RecordingStopped(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._open_outage(at, record, "recording", record["camera_id"])

    def _on_RecordingStarted(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._close_outage(at, record, "recording", record["camera_id"])

    def _on_SystemStopped(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._open_outage(at, record, "system", None)

    def _on_SystemStarted(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._close_outage(at, record, "system", None)

    # -- authorization ----------------------------------------------------------------------------

    def _on_DeletionOrdered(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._write(
            "deletion_orders",
            {
                "order_id": record["order_id"],
                "camera_id": record["camera_id"],
                "footage_start": record["footage_start"],
                "footage_end": record["footage_end"],
                "approver_id": record["approver_user_id"],
                "legal_basis": record["legal_basis"],
                "reason": record["reason"],
                "ordered_at": record["envelope"]["occurred_at"],
                "origin": at.origin,
                "idx": at.idx,
            },
            pk=("order_id", "camera_id"),
        )

    def _on_AccessAuthorized(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._write(
            "authorizations",
            {
                "authorization_id": record["authorization_id"],
                "grantee_id": record["grantee_user_id"],
                "requester_id": record["requester_user_id"],
                "approver_id": record["approver_user_id"],
                "case_number": record.get("case_number"),
                "legal_basis": record["legal_basis"],
                "camera_ids": json.dumps(record["camera_ids"]),
                "footage_start": record["footage_start"],
                "footage_end": record["footage_end"],
                "expires_at": record["expires_at"],
                "granted_at": record["envelope"]["occurred_at"],
                "origin": at.origin,
                "idx": at.idx,
            },
            pk=("authorization_id",),
        )

    def _on_ApplicationFiled(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        # A decision logged before the filing (arrival order is the platform's) keeps its status.
        self.db.execute(
            "INSERT INTO applications (application_id, status, applicant_name, category, filed_at, origin, "
            "idx) VALUES (?, 'filed', ?, ?, ?, ?, ?) ON CONFLICT (application_id) DO UPDATE SET "
            "applicant_name = excluded.applicant_name, category = excluded.category, "
            "filed_at = excluded.filed_at, origin = excluded.origin, idx = excluded.idx",
            [
                record["application_id"],
                record["applicant_name"],
                record["missing_person_category"],
                record["envelope"]["occurred_at"],
                at.origin,
                at.idx,
            ],
        )

    def _decide_application(self, record: Mapping[str, Any], decision: dict[str, Any]) -> None:
        """The latest decision on an application (by its own time) stands, whichever was logged first."""
        row = {
            "application_id": record["application_id"],
            **decision,
            "decided_at": record["envelope"]["occurred_at"],
        }
        names = ", ".join(row)
        updates = ", ".join(f"{c} = excluded.{c}" for c in row if c != "application_id")
        self.db.execute(
            f"INSERT INTO applications ({names}) VALUES ({', '.join('?' * len(row))}) "  # noqa: S608 - own names
            f"ON CONFLICT (application_id) DO UPDATE SET {updates} "
            "WHERE applications.decided_at IS NULL OR excluded.decided_at >= applications.decided_at",
            list(row.values()),
        )

    def _on_ApplicationApproved(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._decide_application(
            record,
            {
                "status": "approved",
                "approver_id": record["approver_user_id"],
                "handler_id": record["handler_user_id"],
                "camera_ids": json.dumps(record["camera_ids"]),
                "footage_start": record["footage_start"],
                "footage_end": record["footage_end"],
                "expires_at": record["expires_at"],
            },
        )

    def _on_ApplicationRejected(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._decide_application(
            record,
            {
                "status": "rejected",
                "approver_id": None,
                "handler_id": None,
                "camera_ids": None,
                "footage_start": None,
                "footage_end": None,
                "expires_at": None,
            },
        )

    def _on_WorkOrderOpened(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        # A closing logged before the opening (arrival order is the platform's) keeps its time.
        self.db.execute(
            "INSERT INTO work_orders (work_order_id, kind, system_id, camera_ids, reason, opened_at, origin, "
            "idx) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (work_order_id) DO UPDATE SET "
            "kind = excluded.kind, system_id = excluded.system_id, camera_ids = excluded.camera_ids, "
            "reason = excluded.reason, opened_at = excluded.opened_at, origin = excluded.origin, "
            "idx = excluded.idx",
            [
                record["work_order_id"],
                record["kind"],
                record.get("system_id"),
                json.dumps(record.get("camera_ids", [])),
                record["reason"],
                record["envelope"]["occurred_at"],
                at.origin,
                at.idx,
            ],
        )

    def _on_WorkOrderClosed(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self.db.execute(
            "INSERT INTO work_orders (work_order_id, closed_at) VALUES (?, ?) ON CONFLICT (work_order_id) "
            "DO UPDATE SET closed_at = excluded.closed_at",
            [record["work_order_id"], record["envelope"]["occurred_at"]],
        )

    def _on_DutyShiftAssigned(self, at: Position, record: Mapping[str, Any]) -> None:  # noqa: N802
        self._write(
            "roster",
            {
                "user_id": record["user_id"],
                "unit": record["unit"],
                "post": record["post"],
                "shift_start": record["shift_start"],
                "shift_end": record["shift_end"],
                "origin": at.origin,
                "idx": at.idx,
            },
        )
