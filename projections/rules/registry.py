"""Detection rules about where cameras are registered.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R10    camera registered in a prohibited private space                     ZZ 8
       (:data:`PROHIBITED` location categories: hotel rooms, dormitories,
       bathing, toilets, changing, fitting and nursing rooms)
=====  ==================================================================  ==================
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.rules.base import Position, RulesBase
from projections.rules.catalog import R10

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
