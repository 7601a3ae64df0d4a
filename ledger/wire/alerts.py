"""The alerts liuhen publishes: one ``liuhen.ViolationAlert`` per violation found, changed or cleared.

An alert is the Avro binary encoding of ``schemas/liuhen.ViolationAlert.avsc`` (no container,
no framing), sent to the alerts topic (``liuhen.violations``) with the header
:data:`ALERT_HEADER` holding its ``alert_id``. Consumers decode it with the schema file alone
(:func:`decode_alert`, or any Avro library); times are microseconds since the epoch, UTC.

``alert_id`` is ``<generation>:<n>``: the read models' generation (a rebuild starts another)
and the alert's number in it, counted in publishing order. The publisher resumes after the
last alert the topic holds, so each change is published once.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from fastavro import parse_schema, schemaless_reader, schemaless_writer

from ledger.wire.avro import load_schema_file

ALERT_HEADER = "liuhen-alert"
"""The Kafka header carrying an alert's ``alert_id``."""
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@cache
def alert_schema() -> Any:
    """The parsed ``liuhen.ViolationAlert`` schema."""
    from schemas import SCHEMA_DIR  # noqa: PLC0415 - keeps this importable from a bare checkout

    return parse_schema(load_schema_file(SCHEMA_DIR / "liuhen.ViolationAlert.avsc"))


def alert_id(generation: int, number: int) -> str:
    """The id of the ``number``-th alert of a read-model ``generation``."""
    return f"{generation}:{number}"


def parse_alert_id(text: str) -> tuple[int, int] | None:
    """``(generation, number)`` of an alert id, or ``None`` if it is not one."""
    generation, _, number = text.partition(":")
    if not (generation.isdigit() and number.isdigit()):
        return None
    return int(generation), int(number)


def _time(us: int | None) -> datetime | None:
    return None if us is None else _EPOCH + timedelta(microseconds=us)


def encode_alert(alert_id: str, change: str, violation: Mapping[str, Any]) -> bytes:
    """The alert of one violation row (as the read models' outbox holds it) and what changed."""
    late = violation.get("cleared_late")
    record = {
        "alert_id": alert_id,
        "change": change,
        "violation_id": violation["violation_id"],
        "rule": violation["rule"],
        "severity": violation["severity"],
        "article": violation["article"],
        "actor_id": violation.get("actor_id"),
        "system_id": violation.get("system_id"),
        "camera_id": violation.get("camera_id"),
        "occurred_at": _time(violation["occurred_at"]),
        "logged_at": _time(violation.get("logged_at")),
        "explanation": violation["explanation"],
        "evidence": [{"origin": origin, "index": index} for origin, index in violation["evidence"]],
        "cleared_late_by": {"origin": late[0], "index": late[1]} if late else None,
    }
    out = io.BytesIO()
    schemaless_writer(out, alert_schema(), record)
    return out.getvalue()


def decode_alert(data: bytes) -> dict[str, Any]:
    """An alert's record (times as aware UTC datetimes)."""
    record = schemaless_reader(io.BytesIO(data), alert_schema(), None)
    if not isinstance(record, dict):
        raise TypeError("a liuhen.ViolationAlert decodes to a record")
    return record
