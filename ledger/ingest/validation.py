"""What an event must mean before it enters the ledger, beyond what its schema says.

:func:`validate` rejects what no compliant platform can produce (a camera id that is not a GB/T
28181 id, footage that ends before it starts, a ledger-only event published by a source); it does
not judge compliance: an access without a reason is a violation for the projections to find, not
bad input.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ledger.errors import InvalidField

_CAMERA_ID = re.compile(r"^\d{20}$")


def _check_window(record: Mapping[str, Any], start: str, end: str, where: str) -> None:
    begin, finish = record.get(start), record.get(end)
    if begin is not None and finish is not None and finish < begin:
        raise InvalidField(f"{where}{end} {finish.isoformat()} is before {start} {begin.isoformat()}")


def _check_camera(camera_id: Any, where: str) -> None:
    if camera_id is not None and not _CAMERA_ID.match(camera_id):
        raise InvalidField(f"{where} {camera_id!r} is not a 20-digit GB/T 28181 id")


def validate(event_type: str, family: str, record: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidField` if a decoded event makes no sense.

    Checks what no compliant platform can produce; it does not judge compliance (an access
    without a reason is a violation for the projections to find, not bad input).
    """
    envelope = record["envelope"]
    if envelope["source_seq"] < 1:
        raise InvalidField(f"envelope.source_seq is {envelope['source_seq']}; sequences start at 1")
    if not envelope["source_system_id"]:
        raise InvalidField("envelope.source_system_id is empty")
    actor = envelope["actor"]
    if actor["kind"] == "PERSON" and not actor["user_id"]:
        raise InvalidField("envelope.actor.user_id is empty for a PERSON actor")
    if family == "ledger":
        raise InvalidField(f"{event_type} is written by the ledger itself and cannot be published")
    for part in ("access", "deletion"):
        if part in record:
            _check_window(record[part], "footage_start", "footage_end", f"{part}.")
            _check_camera(record[part]["camera_id"], f"{part}.camera_id")
    _check_window(record, "footage_start", "footage_end", "")
    _check_window(record, "shift_start", "shift_end", "")
    _check_window(record, "earliest_available", "latest_available", "")
    for gap in record.get("gaps", ()):
        _check_window(gap, "start", "end", "gaps[].")
    _check_camera(record.get("camera_id"), "camera_id")
    for camera_id in record.get("camera_ids", ()):
        _check_camera(camera_id, "camera_ids[]")
    days = record.get("retention_days")
    if days is not None and days < 1:
        raise InvalidField(f"retention_days is {days}; a retention period is at least one day")
