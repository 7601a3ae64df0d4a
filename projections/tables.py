"""The read models' tables and indexes (SQLite, through sqlite-utils).

Times are integers: microseconds since the Unix epoch, UTC (the events' own times). Every row
names the ledger entry it came from (``origin``, ``idx``) so an investigator can export exactly
that evidence with its inclusion proof.

* ``access`` — every action on footage: view (live/playback), copy, export, download, share,
  release, and deletion, overwrite, expiry and format. Queried by camera and footage window, by
  actor and time, by case, application or authorization.
* ``people`` — everyone who acted, with the folded keys (:func:`~projections.rules.base.fold`)
  their id and name are searched by; ``acts`` — what people did besides acting on footage
  (configuration, retention, orders, approvals, keys, work orders, duty): one row an event.
* ``systems``, ``cameras``, ``source_keys`` — the registry.
* ``policies``, ``holds``, ``inventory``, ``deletion_orders`` — retention; ``outages`` (camera
  off or video lost, recording or system stopped, until it came back) and ``reported_gaps`` (silent
  gaps already reported, so a daily inventory does not report one twice).
* ``authorizations``, ``applications``, ``work_orders``, ``roster`` — what permits what.
* ``source_sequences`` (each source's last sequence number), ``clock_faults`` (the last hour of
  ledger time a source's access events were found dated far from it) and ``actor_hours`` (accesses
  per actor and clock hour, and in the hour before) — the state rules R11, R15 and R12 keep.
* Access rows are written a batch at a time (:class:`PendingAccess`).
* ``violations`` — findings of the rules (:mod:`projections.rules`), each with its evidence.
* Indexes: ``indexes`` serve the projector's and the rules' lookups (and the ``actor`` query); a
  ``partial_indexes`` entry covers only the rows its WHERE term selects (a camera's few deletions
  among its views, the few rows that name a case); ``query_indexes`` serve only the
  investigators' queries, so a rebuild builds them once, at the end.
* ``alerts`` — the outbox of violations found, changed or cleared, filled by triggers on
  ``violations`` in the batch's own transaction, emptied by the alert publisher
  (:mod:`ledger.app.alerts`). Findings made while catching up from empty read models (the first
  run, a rebuild) are not alerted: ``alerting`` in ``_position`` turns on once caught up.
* ``_position`` — the last notification of the event store applied, written in the same
  transaction as the rows, so a crash never applies an event twice or skips one; and the version
  of these tables: read models of another version are dropped and replayed from the ledger.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlite_utils

from projections.feed import ACCESS_COLUMNS, STORED, AccessRow

POSITION_TABLE = "_position"
SCHEMA_VERSION = 10
"""Raise when a table or a rule changes: older read models are then rebuilt from the ledger."""

DELETION_ACTIONS = "(action = 'delete' OR action = 'overwrite' OR action = 'expire' OR action = 'format')"
"""The access rows that destroyed footage. Rules look a camera's deletions up with this very term:
SQLite uses a partial index only for a query that repeats its WHERE term (it does no algebra).
Not ``action IN (...)``: SQLite builds a constant IN list's lookup table again for every row an
``executemany`` inserts, which cost ~2 µs of the ~8 µs an access row takes to insert."""

TABLES: dict[str, dict[str, Any]] = {
    "access": {
        "columns": {
            "id": int,
            "origin": str,
            "idx": int,
            "event_id": str,
            "event_type": str,
            "action": str,
            "occurred_at": int,
            "logged_at": int,
            "source_system_id": str,
            "actor_id": str,
            "actor_name": str,
            "unit": str,
            "role": str,
            "workstation": str,
            "ip": str,
            "camera_id": str,
            "footage_start": int,
            "footage_end": int,
            "reason": str,
            "legal_basis": str,
            "case_number": str,
            "authorization_id": str,
            "application_id": str,
            "deletion_order_id": str,
            "outcome": str,
            "watermark_id": str,
            "file_hash": str,
            "destination": str,
            "desensitization_profile": str,
        },
        "pk": "id",
        "indexes": [
            ["actor_id", "occurred_at", "idx"],  # the actor query, in its order; R12
        ],
        "partial_indexes": {
            # R1, R2: a camera's deletions, indexed apart from its millions of views
            "idx_access_deletions": (["camera_id", "action", "occurred_at"], DELETION_ACTIONS),
            # case: the ~1% of rows that name a case, application or authorization (any comparison
            # with the column implies IS NOT NULL, so SQLite uses these for '=' and 'IN' alike)
            "idx_access_case_number": (["case_number"], "case_number IS NOT NULL"),
            "idx_access_application_id": (["application_id"], "application_id IS NOT NULL"),
            "idx_access_authorization_id": (["authorization_id"], "authorization_id IS NOT NULL"),
            "idx_access_deletion_order_id": (["deletion_order_id"], "deletion_order_id IS NOT NULL"),
        },
        "query_indexes": [
            # who: footage_end too, so the longest window of a camera is read from the index alone
            ["camera_id", "footage_start", "footage_end"],
            ["camera_id", "occurred_at"],  # who --accessed: by the time of access
        ],
    },
    "people": {
        "columns": {
            "actor_id": str,
            "name": str,
            "unit": str,
            "id_key": str,
            "name_key": str,
            "seen_at": int,
        },
        "pk": "actor_id",
        "indexes": [["id_key"]],
    },
    "acts": {
        "columns": {
            "id": int,
            "actor_id": str,
            "occurred_at": int,
            "logged_at": int,
            "event_type": str,
            "camera_id": str,
            "case_number": str,
            "detail": str,
            "source_system_id": str,
            "event_id": str,
            "origin": str,
            "idx": int,
        },
        "pk": "id",
        "indexes": [["actor_id", "occurred_at"]],
    },
    "systems": {
        "columns": {
            "system_id": str,
            "name": str,
            "owner": str,
            "manager": str,
            "filing_number": str,
            "filed_on": str,
            "went_live_on": str,
            "retention_days": int,
            "registered_at": int,
            "origin": str,
            "idx": int,
        },
        "pk": "system_id",
        "indexes": [],
    },
    "cameras": {
        "columns": {
            "camera_id": str,
            "system_id": str,
            "name": str,
            "location": str,
            "location_category": str,
            "notice_sign": int,
            "went_live_on": str,
            "registered_at": int,
            "logged_at": int,
            "name_key": str,
            "origin": str,
            "idx": int,
        },
        "pk": "camera_id",
        "indexes": [["system_id"]],
    },
    "source_keys": {
        "columns": {"key_id": str, "system_id": str, "revoked": int, "origin": str, "idx": int},
        "pk": "key_id",
        "indexes": [],
    },
    "policies": {
        "columns": {
            "id": int,
            "system_id": str,
            "camera_id": str,
            "retention_days": int,
            "set_at": int,
            "actor_id": str,
            "origin": str,
            "idx": int,
        },
        "pk": "id",
        "indexes": [["system_id", "camera_id", "set_at"], ["camera_id", "set_at"]],
    },
    "holds": {
        "columns": {
            "hold_id": str,
            "camera_id": str,
            "footage_start": int,
            "footage_end": int,
            "case_number": str,
            "placed_at": int,
            "released_at": int,
            "origin": str,
            "idx": int,
            "release_origin": str,
            "release_idx": int,
        },
        "pk": ("hold_id", "camera_id"),
        "indexes": [["camera_id"]],
    },
    "hold_releases": {
        "columns": {"hold_id": str, "released_at": int, "origin": str, "idx": int},
        "pk": "hold_id",
        "indexes": [],
    },
    "inventory": {
        "columns": {
            "id": int,
            "camera_id": str,
            "reported_at": int,
            "earliest": int,
            "latest": int,
            "gaps": str,
            "logged_at": int,
            "actor_id": str,
            "source_id": str,
            "origin": str,
            "idx": int,
        },
        "pk": "id",
        "indexes": [["camera_id", "reported_at"], ["origin", "idx"]],
    },
    "outages": {
        "columns": {
            "id": int,
            "kind": str,
            "system_id": str,
            "camera_id": str,
            "start": int,
            "end": int,
            "ticket_id": str,
            "origin": str,
            "idx": int,
            "end_origin": str,
            "end_idx": int,
            "flagged": int,
            "logged_at": int,
        },
        "pk": "id",
        "indexes": [
            ["camera_id", "start"],
            ["system_id", "start"],
            ["origin", "idx"],
            ["end_origin", "end_idx"],
        ],
    },
    "outage_ends": {
        "columns": {"kind": str, "system_id": str, "camera_id": str, "at": int, "origin": str, "idx": int},
        "pk": ("kind", "system_id", "camera_id", "at", "origin", "idx"),
        "indexes": [],
    },
    "reported_gaps": {
        "columns": {
            "id": int,
            "camera_id": str,
            "start": int,
            "end": int,
            "reported_at": int,
            "inventory_id": int,
        },
        "pk": "id",
        "indexes": [["camera_id", "start"], ["inventory_id"]],
    },
    "deletion_orders": {
        "columns": {
            "order_id": str,
            "camera_id": str,
            "footage_start": int,
            "footage_end": int,
            "approver_id": str,
            "legal_basis": str,
            "reason": str,
            "ordered_at": int,
            "origin": str,
            "idx": int,
        },
        "pk": ("order_id", "camera_id"),
        "indexes": [["camera_id"]],
    },
    "authorizations": {
        "columns": {
            "authorization_id": str,
            "grantee_id": str,
            "requester_id": str,
            "approver_id": str,
            "case_number": str,
            "legal_basis": str,
            "camera_ids": str,
            "footage_start": int,
            "footage_end": int,
            "expires_at": int,
            "granted_at": int,
            "origin": str,
            "idx": int,
        },
        "pk": "authorization_id",
        "indexes": [["case_number"]],
    },
    "applications": {
        "columns": {
            "application_id": str,
            "status": str,
            "applicant_name": str,
            "category": str,
            "approver_id": str,
            "handler_id": str,
            "camera_ids": str,
            "footage_start": int,
            "footage_end": int,
            "expires_at": int,
            "filed_at": int,
            "decided_at": int,
            "origin": str,
            "idx": int,
        },
        "pk": "application_id",
        "indexes": [],
    },
    "work_orders": {
        "columns": {
            "work_order_id": str,
            "kind": str,
            "system_id": str,
            "camera_ids": str,
            "reason": str,
            "opened_at": int,
            "closed_at": int,
            "origin": str,
            "idx": int,
        },
        "pk": "work_order_id",
        "indexes": [["system_id", "opened_at"]],
    },
    "ticket_checks": {
        "columns": {
            "id": int,
            "origin": str,
            "idx": int,
            "facet": int,
            "system_id": str,
            "camera_id": str,
            "cited": str,
            "occurred_at": int,
            "logged_at": int,
            "what": str,
            "law": str,
            "actor_id": str,
            "source_id": str,
        },
        "pk": "id",
        "indexes": [["system_id", "occurred_at"], ["cited"]],
    },
    "roster": {
        "columns": {
            "id": int,
            "user_id": str,
            "unit": str,
            "post": str,
            "shift_start": int,
            "shift_end": int,
            "origin": str,
            "idx": int,
        },
        "pk": "id",
        "indexes": [["user_id", "shift_start", "shift_end"], ["unit", "shift_start", "shift_end"]],
    },
    "source_sequences": {
        "columns": {"source_id": str, "last_seq": int, "origin": str, "idx": int},
        "pk": "source_id",
        "indexes": [],
    },
    "clock_faults": {
        "columns": {"source_id": str, "kind": str, "hour": int},
        "pk": ("source_id", "kind"),
        "indexes": [],
    },
    "unit_hours": {
        "columns": {"unit": str, "hour": int, "actor_id": str},
        "pk": ("unit", "hour", "actor_id"),
        "indexes": [],
    },
    "actor_hours": {
        "columns": {"actor_id": str, "hour": int, "accesses": int, "previous": int},
        "pk": ("actor_id", "hour"),
        "indexes": [],
    },
    "alerts": {
        "columns": {"id": int, "change": str, "violation_id": int, "body": str},
        "pk": "id",
        "indexes": [],
    },
    "violations": {
        "columns": {
            "id": int,
            "rule": str,
            "severity": str,
            "article": str,
            "actor_id": str,
            "system_id": str,
            "camera_id": str,
            "occurred_at": int,
            "logged_at": int,
            "explanation": str,
            "evidence": str,
            "subject_origin": str,
            "subject_idx": int,
            "cleared_late": str,
        },
        "pk": "id",
        "indexes": [
            ["rule", "occurred_at"],
            ["occurred_at"],
            ["actor_id"],
            ["subject_origin", "subject_idx"],
        ],
    },
}


class PendingAccess:
    """Access rows waiting to be written, in one ``executemany`` per batch.

    Nineteen events in twenty are one access row: written one statement each, binding and
    dispatch cost as much as the insert. Rows are written in the order they were added, so ids
    are those a row-at-a-time writer would give; whoever reads ``access`` calls :meth:`flush` first.
    """

    INSERT = (
        f"INSERT INTO access ({', '.join(ACCESS_COLUMNS)}) "  # noqa: S608 - constant
        f"VALUES ({', '.join('?' * len(ACCESS_COLUMNS))})"
    )

    def __init__(self, db: sqlite_utils.Database) -> None:
        self.db = db
        self.rows: list[tuple[Any, ...]] = []

    def add(self, row: AccessRow) -> None:
        """Queue one row."""
        self.rows.append(row[:STORED])

    def flush(self) -> None:
        """Write the queued rows."""
        if self.rows:
            self.db.conn.executemany(self.INSERT, self.rows)
            self.rows.clear()

    def discard(self) -> None:
        """Forget the queued rows (their batch was rolled back)."""
        self.rows.clear()


def create(db: sqlite_utils.Database, *, query_indexes: bool = True) -> None:
    """Create every table and index that does not exist yet (all of them, if of another version).

    ``query_indexes=False`` leaves out the indexes that only the investigators' queries read (a
    table's ``query_indexes``): a rebuild creates them with :func:`create_query_indexes` once it has
    caught up, as one sort each rather than millions of scattered inserts.
    """
    if db.table(POSITION_TABLE).exists() and version(db) != SCHEMA_VERSION:
        drop(db)
    for name, spec in TABLES.items():
        table = db.table(name)
        if not table.exists() and name == "alerts":
            # AUTOINCREMENT: the publisher empties the outbox; a number must never come back
            db.execute(
                "CREATE TABLE alerts (id INTEGER PRIMARY KEY AUTOINCREMENT, change TEXT, "
                "violation_id INTEGER, body TEXT)"
            )
        if not table.exists():
            table.create(spec["columns"], pk=spec["pk"])
            for columns in spec["indexes"] + (spec.get("query_indexes", []) if query_indexes else []):
                table.create_index(columns)
            for index, (columns, where) in spec.get("partial_indexes", {}).items():
                db.execute(f"CREATE INDEX {index} ON {name} ({', '.join(columns)}) WHERE {where}")
    if not db.table(POSITION_TABLE).exists():
        db.table(POSITION_TABLE).create({"name": str, "notification_id": int}, pk="name")
        db.execute(f"INSERT INTO {POSITION_TABLE} VALUES ('ledger', 0)")  # noqa: S608 - constant
        db.execute(f"INSERT INTO {POSITION_TABLE} VALUES ('schema-version', ?)", [SCHEMA_VERSION])  # noqa: S608
        db.execute(f"INSERT INTO {POSITION_TABLE} VALUES ('alerting', 0)")  # noqa: S608 - constant
        generation = secrets.randbits(62)  # names this generation's alerts: a rebuild starts another
        db.execute(f"INSERT INTO {POSITION_TABLE} VALUES ('generation', ?)", [generation])  # noqa: S608
    for change, row, event in (
        ("NEW", "NEW", "INSERT"),
        ("CHANGED", "NEW", "UPDATE"),
        ("CLEARED", "OLD", "DELETE"),
    ):
        db.execute(_ALERT_TRIGGER.format(change=change, row=row, event=event))


_ALERT_TRIGGER = """
CREATE TRIGGER IF NOT EXISTS alert_{change} AFTER {event} ON violations
WHEN (SELECT notification_id FROM _position WHERE name = 'alerting') = 1
BEGIN
  INSERT INTO alerts (change, violation_id, body) VALUES ('{change}', {row}.id, json_object(
    'violation_id', {row}.id, 'rule', {row}.rule, 'severity', {row}.severity, 'article', {row}.article,
    'actor_id', {row}.actor_id, 'system_id', {row}.system_id, 'camera_id', {row}.camera_id,
    'occurred_at', {row}.occurred_at, 'logged_at', {row}.logged_at, 'explanation', {row}.explanation,
    'evidence', json({row}.evidence), 'cleared_late', json({row}.cleared_late)));
END
"""


def alerting(db: sqlite_utils.Database, on: bool) -> None:
    """Turn alerts on (caught up) or off (catching up from empty read models)."""
    db.execute(f"UPDATE {POSITION_TABLE} SET notification_id = ? WHERE name = 'alerting'", [int(on)])  # noqa: S608


def generation(db: sqlite_utils.Database) -> int:
    """The generation of these read models: the first part of their alerts' ids."""
    row = db.execute(f"SELECT notification_id FROM {POSITION_TABLE} WHERE name = 'generation'").fetchone()  # noqa: S608
    return int(row[0])


def version(db: sqlite_utils.Database) -> int | None:
    """The version of the read models in ``db`` (None: it holds none)."""
    if not db.table(POSITION_TABLE).exists():
        return None
    row = db.execute(
        f"SELECT notification_id FROM {POSITION_TABLE} WHERE name = 'schema-version'"  # noqa: S608 - constant
    ).fetchone()
    return None if row is None else int(row[0])


def create_query_indexes(db: sqlite_utils.Database) -> None:
    """Create the indexes only queries read, where they are missing (after a rebuild).

    Each is one sort of the table. (SQLite's sorter could use helper threads, ``PRAGMA threads``,
    but each holds its own page-cache-sized buffer: +64 MiB of memory a thread for ~20% less time.)
    """
    for name, spec in TABLES.items():
        for columns in spec.get("query_indexes", []):
            db.table(name).create_index(columns, if_not_exists=True)


def drop(db: sqlite_utils.Database) -> None:
    """Drop every read model (for a rebuild from the ledger)."""
    for name in [*TABLES, POSITION_TABLE]:
        if db.table(name).exists():
            db.table(name).drop()
