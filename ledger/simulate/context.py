"""What the lawful traffic (:mod:`ledger.simulate.traffic`) and the planted scenes share.

- :class:`SimEvent`, one event a source system publishes;
- :class:`SystemContext`, one system's part of a run: its cameras, staff, duty rota, random
  streams, and the events and actors it publishes;
- the time helpers: :func:`china_time`, :func:`whole_second`, :func:`random_seconds`,
  :func:`poisson`;
- the day's work orders (:class:`WorkOrder`, :func:`work_orders`) and the camera outages they
  cause (:func:`planned_outages`), planned as a pure function of the run's seed, system and day
  so that the traffic, the recorders' inventories and the scenes all see the same ones;
- :func:`access_context`, the ``liuhen.AccessContext`` record of an allowed access.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import math
import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

from ledger.simulate.city import TEAMS, Camera, City, Operator, SourceSystem
from ledger.simulate.data import CAMERA_CHANGES, OUTAGE_REASONS, PROFILE_BY_ID

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time: shifts and daily jobs follow the local clock."""
REGISTRATION_SPAN = timedelta(minutes=2)
"""Each system registers itself and its cameras within this span from the run's start."""
ACTIVITY_DELAY = timedelta(seconds=30)
"""After the registration span, the delay before the first person's activity of the run."""

_DAY = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class SimEvent:
    """One event a source system publishes, before the producer SDK adds the envelope."""

    source_id: str
    event_type: str
    fields: dict[str, Any]
    actor: dict[str, Any]
    occurred_at: datetime
    withheld: bool = False
    """Signed (so it takes a sequence number) but never published: a planted gap (R11)."""


def china_time(day: date, hours: float) -> datetime:
    """``hours`` after midnight China time on ``day``, in UTC."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)
    return (midnight + timedelta(hours=hours)).astimezone(UTC)


def whole_second(moment: datetime) -> datetime:
    """``moment`` without its fraction of a second."""
    return moment.replace(microsecond=0)


def random_seconds(rng: random.Random, low: float, high: float) -> timedelta:
    """A span of ``low`` to ``high`` seconds, drawn uniformly."""
    return timedelta(seconds=rng.uniform(low, high))


def poisson(rng: random.Random, mean: float) -> int:
    """A Poisson-distributed count (a rounded normal one for means above 30)."""
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


class SystemContext:
    """One system's part of one simulation run."""

    __slots__ = (
        "act_floor", "by_district", "cams", "first_day", "floor", "max_retention", "profile",
        "retention", "scale", "seed", "staff", "system",
    )  # fmt: skip

    def __init__(self, city: City, system: SourceSystem, seed: int, start: datetime) -> None:
        profile = PROFILE_BY_ID.get(system.system_id)
        if profile is None:
            raise ValueError(f"no simulation profile for system {system.system_id!r}")
        self.profile = profile
        self.system = system
        self.seed = seed
        self.scale = city.scale
        self.cams = city.cameras_of(system.system_id)
        if not self.cams:
            raise ValueError(f"system {system.system_id!r} has no cameras")
        self.by_district: dict[str, list[Camera]] = {}
        for camera in self.cams:
            self.by_district.setdefault(camera.district, []).append(camera)
        self.retention = {c.camera_id: c.retention_days or system.retention_days for c in self.cams}
        self.max_retention = max(self.retention.values())
        self.staff = {role: city.staff(system.system_id, role) for role in TEAMS}
        self.floor = start + REGISTRATION_SPAN
        """Registration is over: the daily jobs and rosters may start."""
        self.act_floor = self.floor + ACTIVITY_DELAY
        """People's activity may start."""
        self.first_day = start.astimezone(CHINA_TZ).date() - _DAY
        """The China date of the first shift that may reach into the run (the night before)."""

    def rng(self, *parts: object) -> random.Random:
        """An independent random stream for one activity."""
        parts = (self.seed, self.system.system_id, *parts)
        return random.Random("|".join(map(str, parts)))  # noqa: S311 - reproducible

    def on_duty(self, role: str, day: date, night: bool) -> list[Operator]:
        """Who of ``role`` works the day (or night) shift starting on ``day``."""
        number = day.toordinal()
        if role == "operator":
            return [o for o in self.staff[role] if (number + o.team) % 4 == int(night)]
        if night or role == "admin":
            return []
        return [o for o in self.staff[role] if (number + o.team) % 2 == 0]

    def event(self, event_type: str, fields: dict[str, Any], actor: dict[str, Any], at: datetime) -> SimEvent:
        """An event published by this system."""
        return SimEvent(self.system.system_id, event_type, fields, actor, at)

    def machine(self, process: str) -> dict[str, Any]:
        """A ``liuhen.Actor`` record for an automatic action of the platform."""
        return {
            "kind": "SYSTEM",
            "user_id": f"{self.system.system_id}/{process}",
            "name": "",
            "unit": self.system.owner,
            "role": "system",
            "workstation": None,
            "ip": None,
        }

    def registrar(self) -> dict[str, Any]:
        """The actor of registry and roster events: the first admin, else the platform."""
        admins = self.staff["admin"]
        return admins[0].actor() if admins else self.machine("registry")


@dataclass(frozen=True, slots=True)
class WorkOrder:
    """A planned work order: an outage of one or two cameras, or a change of one camera's direction."""

    work_order_id: str
    kind: str
    camera_ids: tuple[str, ...]
    reason: str
    opened: datetime
    opener: Operator
    closed: datetime
    closer: Operator
    resolution: str
    outage: tuple[datetime, datetime] | None
    """When its cameras go OFF and come back ON (camera ``j`` one second later)."""
    change: tuple[datetime, str, str] | None
    """When the camera's direction changes, the ``DirectionChange`` symbol and the detail."""


def work_orders(ctx: SystemContext, day: date) -> list[WorkOrder]:
    """The day's planned work orders: a pure function of the run's seed, system and day."""
    rng = ctx.rng("work-orders", day)
    openers = ctx.on_duty("supervisor", day, False)
    closers = ctx.on_duty("maintenance", day, False)
    count = poisson(rng, ctx.profile.work_orders_per_day * ctx.scale)
    if ctx.profile.guaranteed:
        count = max(2, count)
    if not openers or not closers:
        return []
    orders = []
    for n in range(count):
        opened = whole_second(china_time(day, 9) + random_seconds(rng, 0, 5 * 3600))
        opener, closer = rng.choice(openers), rng.choice(closers)
        work_order_id = f"WO{ctx.profile.code}{day:%Y%m%d}{n:03d}"
        if n == 0 or (n > 1 and rng.random() < 0.65):
            kind, reason, resolution = rng.choice(OUTAGE_REASONS)
            cams = rng.sample(ctx.cams, min(len(ctx.cams), rng.randint(1, 2)))
            off = whole_second(opened + random_seconds(rng, 20 * 60, 90 * 60))
            on = whole_second(off + random_seconds(rng, 10 * 60, 120 * 60))
            closed = whole_second(on + random_seconds(rng, 5 * 60, 30 * 60))
            outage: tuple[datetime, datetime] | None = (off, on)
            change = None
        else:
            choices = CAMERA_CHANGES if ctx.profile.kind == "road" else CAMERA_CHANGES[1:]
            symbol, kind, reason, detail = rng.choice(choices)
            a, b = rng.sample("东南西北", 2)
            cams = [rng.choice(ctx.cams)]
            moved = whole_second(opened + random_seconds(rng, 20 * 60, 120 * 60))
            closed = whole_second(moved + random_seconds(rng, 5 * 60, 30 * 60))
            outage, change = None, (moved, symbol, detail.format(a=a, b=b))
            resolution = "调整完成，已核对画面并验收"
        orders.append(
            WorkOrder(
                work_order_id, kind, tuple(c.camera_id for c in cams), reason,
                opened, opener, closed, closer, resolution, outage, change,
            )
        )  # fmt: skip
    return orders


Outages = dict[str, list[tuple[datetime, datetime]]]
"""Camera id -> the (OFF, ON) times of its outages."""


def planned_outages(ctx: SystemContext, first: date, last: date, *, logged: bool) -> Outages:
    """Camera outages (OFF to ON) of the work orders planned for ``first`` to ``last``.

    ``logged``: only those the run publishes (the rest were planned before it started).
    """
    outages: Outages = {}
    for offset in range((last - first).days + 1):
        for order in work_orders(ctx, first + timedelta(days=offset)):
            if order.outage is None or (logged and order.opened < ctx.act_floor):
                continue
            off, on = order.outage
            for j, camera_id in enumerate(order.camera_ids):
                lag = timedelta(seconds=j)
                outages.setdefault(camera_id, []).append((off + lag, on + lag))
    return outages


def access_context(
    camera_id: str,
    window: tuple[datetime, datetime],
    reason: str | None,
    *,
    legal_basis: str | None = None,
    case_number: str | None = None,
    authorization_id: str | None = None,
    application_id: str | None = None,
) -> dict[str, Any]:
    """A ``liuhen.AccessContext`` record of an allowed access."""
    return {
        "camera_id": camera_id,
        "footage_start": window[0],
        "footage_end": window[1],
        "reason": reason,
        "legal_basis": legal_basis,
        "case_number": case_number,
        "authorization_id": authorization_id,
        "application_id": application_id,
        "outcome": "ALLOWED",
    }
