"""From the event store's notification log to the items the projector applies.

A batch is read from the notification log (entries only,
:meth:`~ledger.ingest.store.LedgerStore.entry_notifications`), each stored entry is unwrapped and its
body decoded *without* Avro's logical types
(:meth:`ledger.wire.avro.SchemaRegistry.plain`): times are integer microseconds since the epoch (UTC),
dates days since 1970-01-01, UUIDs strings — what the read models store, at no cost of building a
``datetime`` per field.

An item is ``(event_type, origin, idx, logged_at, payload)``: ``logged_at`` is the time the entry
reached the ledger (its ``ingested_at_us``, which the log's signed checkpoints bound), the
other time every row carries beside the event's own. For the events that act on footage of one
camera (views, copies, exports, downloads, shares, releases, deletions, overwrites, expiries —
nineteen in twenty events) the payload is already the :class:`AccessRow` the access index stores
and the rules read; for every other event it is the decoded record. Items are plain tuples, dicts,
strings and integers, so a batch crosses a process boundary with :mod:`marshal`
(:mod:`projections.prefetch`) several times faster than it decodes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ledger.errors import LedgerError, ProjectionError
from ledger.ingest.store import LedgerStore
from ledger.wire.avro import SchemaRegistry, split_signed
from ledger.wire.format import StoredEntry

ACTIONS = {
    "FootageCopied": "copy",
    "FootageExported": "export",
    "FootageDownloaded": "download",
    "FootageShared": "share",
    "FootageReleased": "release",
    "FootageDeleted": "delete",
    "FootageOverwritten": "overwrite",
    "FootageExpired": "expire",
}
ACCESS_TYPES = frozenset({*ACTIONS, "FootageViewed"})
"""The event types whose payload is an :class:`AccessRow` (a disk format, naming many cameras, is not)."""


class AccessRow(NamedTuple):
    """One action on one camera's footage: the ``access`` table's columns, then two the rules read."""

    origin: str
    idx: int
    event_id: str
    event_type: str
    action: str
    occurred_at: int
    logged_at: int
    source_system_id: str
    actor_id: str
    actor_name: str
    unit: str
    role: str
    workstation: str | None
    ip: str | None
    camera_id: str | None
    footage_start: int | None
    footage_end: int | None
    reason: str | None
    legal_basis: str | None
    case_number: str | None
    authorization_id: str | None
    application_id: str | None
    deletion_order_id: str | None
    outcome: str | None
    watermark_id: str | None
    file_hash: str | None
    destination: str | None
    desensitization_profile: str | None
    actor_kind: str
    source_seq: int


ACCESS_COLUMNS = AccessRow._fields[:-2]
"""The ``access`` table's columns, in :class:`AccessRow` order (``row[:STORED]`` is what is stored)."""
STORED = len(ACCESS_COLUMNS)

Item = tuple[str, str, int, int, Any]


def access_row(
    origin: str,
    idx: int,
    event_type: str,
    *,
    logged_at: int,
    action: str,
    record: Mapping[str, Any],
    context: Mapping[str, Any],
    camera_id: str | None,
    shared: dict[Any, Any] | None = None,
) -> tuple[Any, ...]:
    """The :class:`AccessRow` fields of one event on ``camera_id`` (``context``: its access or deletion part).

    A plain tuple: what crosses to the projector's process (:mod:`projections.prefetch`). The
    strings that repeat from row to row (who, where, why) are taken from ``shared``, one object
    per distinct value in a batch: :mod:`marshal` then writes each once, the projector gets one
    object for them, and SQLite encodes each once.
    """
    envelope = record["envelope"]
    actor = envelope["actor"]
    get, also = context.get, record.get
    one = (shared if shared is not None else {}).setdefault
    source, user, name, unit = (
        envelope["source_system_id"],
        actor["user_id"],
        actor["name"],
        actor["unit"],
    )
    role, workstation, ip, kind = actor["role"], actor.get("workstation"), actor.get("ip"), actor["kind"]
    reason = get("reason") or also("reason")
    outcome = get("outcome") or also("outcome")
    return (
        origin,
        idx,
        envelope["event_id"],
        event_type,
        action,
        envelope["occurred_at"],
        logged_at,
        one(source, source),
        one(user, user),
        one(name, name),
        one(unit, unit),
        one(role, role),
        one(workstation, workstation),
        one(ip, ip),
        one(camera_id, camera_id),
        get("footage_start") or also("footage_start"),
        get("footage_end") or also("footage_end"),
        one(reason, reason),
        get("legal_basis"),
        get("case_number"),
        get("authorization_id"),
        get("application_id"),
        get("deletion_order_id") or also("deletion_order_id"),
        one(outcome, outcome),
        also("watermark_id"),
        also("file_hash"),
        also("destination") or also("recipient") or also("channel"),
        also("desensitization_profile"),
        one(kind, kind),
        envelope["source_seq"],
    )


def item_of(
    origin: str,
    idx: int,
    logged_at: int,
    event_type: str,
    record: dict[str, Any],
    *,
    shared: dict[Any, Any] | None = None,
) -> Item:
    """The projector's item for one decoded event (``shared``: see :func:`access_row`)."""
    if event_type not in ACCESS_TYPES:
        return (event_type, origin, idx, logged_at, record)
    if event_type == "FootageViewed":
        action = "view_live" if record["mode"] == "LIVE" else "playback"
    else:
        action = ACTIONS[event_type]
    context = record.get("access") or record.get("deletion") or {}
    return (
        event_type,
        origin,
        idx,
        logged_at,
        access_row(
            origin,
            idx,
            event_type,
            logged_at=logged_at,
            action=action,
            record=record,
            context=context,
            camera_id=context.get("camera_id"),
            shared=shared,
        ),
    )


@dataclass(frozen=True, slots=True)
class Batch:
    """Items of consecutive notifications, and the id of the last notification read."""

    last: int
    items: list[Item]


def read_batch(store: LedgerStore, registry: SchemaRegistry, start: int, limit: int) -> Batch | None:
    """The entries after notification ``start`` (at most ``limit``), or ``None`` if there are none.

    ``registry`` is a :meth:`~ledger.wire.avro.SchemaRegistry.plain` registry. An entry that does not
    decode stops the projection with :class:`ProjectionError` naming it: ingest stored only
    events that decoded, so the store itself is damaged (the offline verifier locates it).
    """
    notifications = store.entry_notifications(start, limit)
    if not notifications:
        return None
    items = []
    decode, entry_of, logged_at_of = registry.decode, StoredEntry.entry_of, StoredEntry.ingested_at_of
    origins: dict[str, str] = {}
    shared: dict[Any, Any] = {}
    for _, stream, idx, state in notifications:
        origin = origins.get(stream)
        if origin is None:
            origin = origins[stream] = stream.removeprefix("log:")
        try:
            schema, body, _ = split_signed(entry_of(idx, state))
            event_type, record = decode(schema, body)
        except LedgerError as exc:
            raise ProjectionError(f"{origin} entry {idx} does not decode: {exc}") from exc
        items.append(item_of(origin, idx, logged_at_of(state), event_type.name, record, shared=shared))
    return Batch(notifications[-1][0], items)
