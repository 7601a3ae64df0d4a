"""What every planted scene is built with: :class:`Planted`, :class:`Scene` and the :class:`Planter`.

A scene is a function of the :class:`Planter` (see :mod:`ledger.simulate.scenes.retention`,
:mod:`~ledger.simulate.scenes.access` and :mod:`~ledger.simulate.scenes.operations`): it picks
its system, people and cameras when it is made, and returns a :class:`Scene`, which builds the
events at the times it is given and the :class:`Planted` records of what they plant.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Literal

from ledger.simulate.city import Camera, Operator
from ledger.simulate.context import SimEvent, SystemContext, whole_second, work_orders

_TRAFFIC, _METRO, _HOSPITAL = "zz-traffic-police", "zz-metro", "zz-central-hospital"


@dataclass(frozen=True, slots=True)
class Planted:
    """One planted violation (a row the rules must write) or near-miss (an event that must not).

    ``camera_id``, ``actor_id`` and ``occurred_at`` are those of the violation row: the event's
    camera (``None`` for R13, whose row names no camera), its actor's user id, and its time.
    """

    rule: str
    kind: Literal["violation", "near-miss"]
    description: str
    event_type: str
    source_id: str
    occurred_at: datetime
    camera_id: str | None
    actor_id: str | None
    """``None`` where the row names no one (a gap in a source's sequence numbers)."""

    @classmethod
    def of(
        cls,
        rule: str,
        kind: Literal["violation", "near-miss"],
        description: str,
        event: SimEvent,
        camera_id: str | None,
    ) -> Planted:
        """What ``event`` plants: its row names its type, source, time and actor, and ``camera_id``.

        ``description`` is a sentence without its full stop.
        """
        return cls(
            rule,
            kind,
            description + ".",
            event.event_type,
            event.source_id,
            event.occurred_at,
            camera_id,
            event.actor["user_id"],
        )


Built = tuple[list[SimEvent], list[Planted]]
"""A scene's events, in time order, and what they plant."""


@dataclass(frozen=True, slots=True)
class Scene:
    """A planted scene, its system, people and cameras chosen, waiting for its times."""

    steps: int
    """How many times the scene needs (one per event, or the start and end of a burst)."""
    build: Callable[[list[datetime]], Built]
    """The scene's events and what they plant, given ``steps`` increasing whole-second times."""


def who(person: Operator) -> str:
    """A person as the descriptions of planted scenes name them: role, name and user id."""
    return f"{person.role} {person.name} ({person.user_id})"


def past_window(
    rng: random.Random, at: datetime, low_days: float, high_days: float, minutes: float
) -> tuple[datetime, datetime]:
    """A whole-second footage window of about ``minutes`` ending ``low_days``-``high_days`` before ``at``."""
    end = whole_second(at - timedelta(days=rng.uniform(low_days, high_days)))
    return end - timedelta(minutes=round(minutes * rng.uniform(0.5, 1.5))), end


class Planter:
    """Picks people and cameras of each system for the scenes, so that they never spoil each other.

    ``traffic``, ``metro`` and ``hospital`` are the three systems' contexts (another system of the
    run stands in for a missing one); ``day`` is the China date of the day shift the scenes happen
    in; ``busy`` the cameras with an outage around it, whose footage no scene accesses.
    """

    def __init__(self, ctxs: Sequence[SystemContext], *, day: date, busy: set[str]) -> None:
        by_id = {ctx.system.system_id: ctx for ctx in ctxs}
        self.traffic, self.metro, self.hospital = (
            by_id.get(system_id, ctxs[n % len(ctxs)])
            for n, system_id in enumerate((_TRAFFIC, _METRO, _HOSPITAL))
        )
        self.day, self.busy = day, busy
        self.deleting: set[str] = set()
        """Cameras a scene took for itself (it deletes their footage, or operates them): others avoid them."""

    def rng(self, ctx: SystemContext, name: str) -> random.Random:
        """The random stream of one scene."""
        return ctx.rng("plant", self.day, name)

    def person(self, ctx: SystemContext, rng: random.Random, role: str) -> Operator:
        """Someone of ``role`` on the day shift."""
        return rng.choice(ctx.on_duty(role, self.day, False))

    def deleted(
        self, ctx: SystemContext, rng: random.Random, count: int = 1, *, shortest: bool = False
    ) -> list[Camera]:
        """Cameras whose footage a scene deletes: never one another scene deletes.

        ``shortest``: of those with the system's shortest retention period, if any is left.
        """
        pool = [c for c in ctx.cams if c.camera_id not in self.deleting]
        if shortest:
            days = min(ctx.retention.values())
            pool = [c for c in pool if ctx.retention[c.camera_id] == days] or pool
        if len(pool) < count:
            raise ValueError(f"system {ctx.system.system_id} has too few cameras to plant violations")
        cams = rng.sample(pool, count)
        self.deleting.update(c.camera_id for c in cams)
        return cams

    def accessed(self, ctx: SystemContext, rng: random.Random, count: int = 1) -> list[Camera]:
        """Cameras whose footage a scene views, exports or shares: recorded, and deleted by no scene."""
        kept = [c for c in ctx.cams if c.camera_id not in self.deleting]
        recorded = [c for c in kept if c.camera_id not in self.busy]
        pool = next((p for p in (recorded, kept) if len(p) >= count), list(ctx.cams))
        return rng.sample(pool, count)

    def unworked(self, ctx: SystemContext, rng: random.Random) -> Camera:
        """A camera no other scene uses and no work order of the day covers (it would explain the scene)."""
        worked = {camera_id for order in work_orders(ctx, self.day) for camera_id in order.camera_ids}
        pool = [c for c in ctx.cams if c.camera_id not in self.deleting | worked]
        if not pool:
            raise ValueError(f"system {ctx.system.system_id} has too few cameras to plant violations")
        cam = rng.choice(pool)
        self.deleting.add(cam.camera_id)
        return cam
