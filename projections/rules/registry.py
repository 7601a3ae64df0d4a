"""Detection rules about where cameras are registered.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R10    camera registered in a prohibited private space                     ZZ 8
       (:data:`PROHIBITED` location categories: hotel rooms, dormitories,
       bathing, toilets, changing, fitting and nursing rooms)
R16    a camera in use more than 30 days before its system was filed       ZZ 7, Nat. 14
       with the police (no filing: judged at the registration's own
       time), as a warning; judged again when the system is registered
       again
=====  ==================================================================  ==================
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from projections.rules.base import CHINA, Fact, Position, RulesBase, Subject
from projections.rules.catalog import R10, R16

FILING_DAYS = 30
"""A system is filed with the police within this many days of going live (ZZ 7)."""

PROHIBITED = frozenset(
    {"HOTEL_ROOM", "DORMITORY", "BATHING_ROOM", "TOILET", "CHANGING_ROOM", "FITTING_ROOM", "NURSING_ROOM"}
)


class RegistryRules(RulesBase):
    """R10 (see the module docstring)."""

    def _r10_private_space(self, at: Position, record: Mapping[str, Any]) -> None:
        if record["location_category"] not in PROHIBITED:
            return
        self.violation(
            rule=R10,
            record=record,
            system_id=record["system_id"],
            camera_id=record["camera_id"],
            explanation=f"Camera {record['camera_id']} at {record['location']} is registered in a "
            f"{record['location_category'].lower().replace('_', ' ')}, where cameras are prohibited "
            f"({R10.article}).",
            evidence=[at],
        )

    # -- R16 --------------------------------------------------------------------------------------

    def _r16_camera(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A camera registered: was it in use long before its system was filed."""
        self._judge_filing(record["camera_id"], None)

    def _r16_system(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """A system registered (again): judge every camera it has again."""
        fact = self.fact(at, record, f"the registration of system {record['system_id']}")
        cameras = self.db.execute(
            "SELECT camera_id FROM cameras WHERE system_id = ? ORDER BY camera_id", [record["system_id"]]
        ).fetchall()
        for (camera_id,) in cameras:
            self._judge_filing(camera_id, fact)

    def _judge_filing(self, camera_id: str, fact: Fact | None) -> None:
        row = self.db.execute(
            "SELECT c.system_id, c.went_live_on, c.registered_at, c.logged_at, c.origin, c.idx, s.filed_on, "
            "s.went_live_on, s.origin, s.idx, s.registered_at FROM cameras c "
            "LEFT JOIN systems s ON s.system_id = c.system_id WHERE c.camera_id = ?",
            [camera_id],
        ).fetchone()
        if row is None:
            return
        (
            system_id,
            live,
            registered,
            logged,
            origin,
            idx,
            filed,
            system_live,
            s_origin,
            s_idx,
            s_registered,
        ) = row
        at = Position(origin, idx)
        subject = Subject(at, registered, logged, f"camera {camera_id}'s registration")
        # Not the camera's registration event against the day it went live: a platform joining the
        # ledger registers cameras that went live years ago. The filing with the police is the record.
        faults = []
        in_use_from = live or system_live
        if in_use_from:  # its system's filing with the police
            went_live = date.fromisoformat(in_use_from)
            if filed:
                late_by = (date.fromisoformat(filed) - went_live).days
                how = f"its system {system_id} was filed {late_by} days after it went live ({in_use_from})"
            else:
                late_by = (_day_of(max(registered, s_registered or 0)) - went_live).days
                how = f"its system {system_id} was not filed {late_by} days after going live ({in_use_from})"
            if late_by > FILING_DAYS:
                faults.append(how)
        found = []
        if faults:
            evidence = [at] + ([Position(s_origin, s_idx)] if s_origin else [])
            found.append(
                self.verdict(
                    rule=R16,
                    record={"envelope": {"source_system_id": system_id, "occurred_at": registered}},
                    system_id=system_id,
                    camera_id=camera_id,
                    actor_id=None,
                    explanation=f"Camera {camera_id} was in use unregistered: {'; '.join(faults)}. Systems "
                    f"and their cameras are to be registered and filed within {FILING_DAYS} days of going "
                    f"live ({R16.article}).",
                    evidence=evidence,
                    subject=at,
                    logged_at=logged,
                )
            )
        self.settle(R16, subject, found, camera_id=camera_id, fact=fact)


def _day_of(us: int) -> date:
    """The calendar day (China time) of a time of the read models."""
    return datetime.fromtimestamp(us / 1e6, CHINA).date()
