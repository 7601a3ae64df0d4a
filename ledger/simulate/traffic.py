"""Deterministic synthetic audit traffic for a small city: 株洲 (Zhuzhou).

Three video systems publish to liuhen: the traffic police (交警支队), the metro operator
(株洲轨道交通) and the central hospital (市中心医院), with a few hundred GB/T 28181 cameras
and a few dozen named staff between them. :func:`build_city` makes the city (it lives in
:mod:`ledger.simulate.city`, with the city's records, and is re-exported here); :func:`simulate`
yields what the systems would publish, as :class:`SimEvent` records the producer SDK turns into
signed events (it adds the envelope and the per-source sequence numbers).

What a simulated day holds, all of it lawful (``plant=True`` adds, once per run, violations of
every implemented rule and near-misses that must not fire; see :mod:`ledger.simulate.planting` and
:func:`planted`):

- at the start: systems and cameras registered (public places only), retention policies of
  30, 60 or 90 days;
- duty rosters: day shift 08:00-20:00 and night shift 20:00-08:00 China time (UTC+8);
  operators work four teams on a day / night / off / off rota, the others alternate days;
  every person who touches footage is on duty at the time;
- video patrols (live viewing) and operators' playbacks for incidents, each with reason, name
  and unit;
- cases: an access authorization (approved by someone other than the requester), then
  playbacks and watermarked, hashed exports by the grantee, inside the authorized cameras,
  footage window and expiry;
- Art. 14 missing-person applications: filed, approved with a scope, searched, result told;
- shares to other agencies, always desensitized;
- work orders: camera outages (OFF/ON carrying the ticket) and direction changes under them;
- at 03:00 the recorders expire footage older than the retention period; at 04:00 each camera
  reports its inventory (earliest recording = the expiry cut-off, gaps = logged outages).

Everything is a pure function of the arguments: every activity draws from its own
``random.Random`` seeded by a string naming the seed, system, day and activity; no wall clock,
no global random state, no ``uuid4``. Events are produced lazily: one generator per shift
activity, merged by time, activated only when the merge reaches its start.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import heapq
import itertools
import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from functools import partial
from typing import Any

from ledger.simulate.city import (
    TEAMS,
    Camera,
    City,
    Operator,
    SourceSystem,
    build_city,
    person_name,
)
from ledger.simulate.data import (
    CAMERA_CHANGES,
    DISTRICTS,
    MISSING_PERSONS,
    OUTAGE_REASONS,
    PROFILE_BY_ID,
    PUBLIC_CATEGORIES,
    SEARCH_RESULTS,
    STATUTE,
)
from ledger.simulate.planting import Planted, access_context, plant_scenes

CHINA_TZ = timezone(timedelta(hours=8), "CST")
"""China Standard Time: shifts and daily jobs follow the local clock."""
EARLIEST_START = datetime(2025, 1, 1, tzinfo=UTC)
"""Simulations start no earlier: every camera has then recorded for longer than its retention."""

_FLOOR = timedelta(minutes=2)  # registry bootstrap happens before start + _FLOOR
_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_SHIFT = timedelta(hours=12)


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


def _local(day: date, hours: float) -> datetime:
    """``hours`` after midnight China time on ``day``, in UTC."""
    midnight = datetime(day.year, day.month, day.day, tzinfo=CHINA_TZ)
    return (midnight + timedelta(hours=hours)).astimezone(UTC)


def _whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _secs(rng: random.Random, low: float, high: float) -> timedelta:
    return timedelta(seconds=rng.uniform(low, high))


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def _within(rng: random.Random, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A whole-second stretch of at least a minute (or all) of ``[start, end]``."""
    span = int((end - start).total_seconds())
    length = rng.randint(min(60, span), span)
    offset = rng.randint(0, span - length)
    return start + timedelta(seconds=offset), start + timedelta(seconds=offset + length)


Outages = dict[str, list[tuple[datetime, datetime]]]


def _clear(outages: Outages, camera_id: str, start: datetime, end: datetime) -> bool:
    return all(end <= off or start >= on for off, on in outages.get(camera_id, ()))


@dataclass(frozen=True, slots=True)
class _WorkOrder:
    work_order_id: str
    kind: str
    camera_ids: tuple[str, ...]
    reason: str
    opened: datetime
    opener: Operator
    closed: datetime
    closer: Operator
    resolution: str
    outage: tuple[datetime, datetime] | None  # cameras OFF .. ON (camera j one second later)
    change: tuple[datetime, str, str] | None  # when, DirectionChange symbol, detail


class _Ctx:
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
        self.floor = start + _FLOOR
        self.act_floor = self.floor + timedelta(seconds=30)
        self.first_day = start.astimezone(CHINA_TZ).date() - _DAY

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


def _bootstrap(ctx: _Ctx, start: datetime) -> Iterator[SimEvent]:
    """Registration of the system, its retention policy and its cameras, all before start + 2 min."""
    system, cams = ctx.system, ctx.cams
    overrides = [c for c in cams if c.retention_days]
    step = min(timedelta(milliseconds=10), _FLOOR * 0.8 / (len(cams) + len(overrides) + 3))
    times = (start + step * i for i in itertools.count())
    fields: dict[str, Any] = {
        "system_id": system.system_id,
        "name": system.name,
        "owner": system.owner,
        "manager": system.manager,
        "filing_number": system.filing_number,
        "filed_on": system.filed_on,
        "went_live_on": system.went_live_on,
        "retention_days": system.retention_days,
    }
    yield ctx.event("SystemRegistered", fields, ctx.registrar(), next(times))
    policy = {"system_id": system.system_id, "camera_id": None, "retention_days": system.retention_days}
    yield ctx.event("RetentionPolicySet", policy, ctx.registrar(), next(times))
    for cam in cams:
        fields = {
            "camera_id": cam.camera_id,
            "system_id": cam.system_id,
            "name": cam.name,
            "location": cam.location,
            "location_category": cam.location_category,
            "notice_sign": cam.notice_sign,
            "went_live_on": cam.went_live_on,
        }
        yield ctx.event("CameraRegistered", fields, ctx.registrar(), next(times))
    for cam in overrides:
        policy = {"system_id": system.system_id, "camera_id": cam.camera_id}
        policy["retention_days"] = cam.retention_days
        yield ctx.event("RetentionPolicySet", policy, ctx.registrar(), next(times))


def _roster(ctx: _Ctx, day: date, night: bool, at: datetime) -> Iterator[SimEvent]:
    """Duty assignments of one shift, published half an hour before it (or at the start)."""
    shift_start = _local(day, 20 if night else 8)
    people = [o for role in TEAMS for o in ctx.on_duty(role, day, night)]
    for i, person in enumerate(people):
        fields = {
            "user_id": person.user_id,
            "unit": person.unit,
            "post": person.post,
            "shift_start": shift_start,
            "shift_end": shift_start + _SHIFT,
        }
        yield ctx.event("DutyShiftAssigned", fields, ctx.registrar(), at + i * timedelta(milliseconds=50))


def _expiry(ctx: _Ctx, day: date) -> Iterator[SimEvent]:
    """The 03:00 job: each camera's footage older than its retention period is expired."""
    job = _local(day, 3)
    for i, cam in enumerate(ctx.cams):
        days = ctx.retention[cam.camera_id]
        cutoff = job - timedelta(days=days)
        deletion = {
            "camera_id": cam.camera_id,
            "footage_start": cutoff - _DAY,
            "footage_end": cutoff,
            "deletion_order_id": None,
            "reason": f"超过{days}天存储期限，自动循环覆盖",
            "outcome": "ALLOWED",
        }
        fields = {"deletion": deletion, "policy_days": days}
        yield ctx.event(
            "FootageExpired", fields, ctx.machine("storage"), job + i * timedelta(milliseconds=50)
        )


def _inventory(ctx: _Ctx, day: date) -> Iterator[SimEvent]:
    """The 04:00 record-info query: what each camera's recorder holds, gaps = logged outages."""
    rng = ctx.rng("inventory", day)
    earliest_job, report = _local(day, 3), _local(day, 4)
    first = max(ctx.first_day, day - timedelta(days=ctx.max_retention + 1))
    gaps = _outages(ctx, first, day - _DAY, logged=True)
    for i, cam in enumerate(ctx.cams):
        at = report + i * timedelta(milliseconds=50)
        earliest = earliest_job - timedelta(days=ctx.retention[cam.camera_id])
        latest = _whole(at - _secs(rng, 1, 30))
        fields = {
            "camera_id": cam.camera_id,
            "earliest_available": earliest,
            "latest_available": latest,
            "gaps": [
                {"start": off, "end": on}
                for off, on in gaps.get(cam.camera_id, ())
                if on > earliest and off < latest
            ],
        }
        yield ctx.event("FootageInventoryReported", fields, ctx.machine("recorder"), at)


def _work_orders(ctx: _Ctx, day: date) -> list[_WorkOrder]:
    """The day's planned work orders: a pure function of the run's seed, system and day."""
    rng = ctx.rng("work-orders", day)
    openers = ctx.on_duty("supervisor", day, False)
    closers = ctx.on_duty("maintenance", day, False)
    count = _poisson(rng, ctx.profile.work_orders_per_day * ctx.scale)
    if ctx.profile.guaranteed:
        count = max(2, count)
    if not openers or not closers:
        return []
    orders = []
    for n in range(count):
        opened = _whole(_local(day, 9) + _secs(rng, 0, 5 * 3600))
        opener, closer = rng.choice(openers), rng.choice(closers)
        work_order_id = f"WO{ctx.profile.code}{day:%Y%m%d}{n:03d}"
        if n == 0 or (n > 1 and rng.random() < 0.65):
            kind, reason, resolution = rng.choice(OUTAGE_REASONS)
            cams = rng.sample(ctx.cams, min(len(ctx.cams), rng.randint(1, 2)))
            off = _whole(opened + _secs(rng, 20 * 60, 90 * 60))
            on = _whole(off + _secs(rng, 10 * 60, 120 * 60))
            closed = _whole(on + _secs(rng, 5 * 60, 30 * 60))
            outage: tuple[datetime, datetime] | None = (off, on)
            change = None
        else:
            choices = CAMERA_CHANGES if ctx.profile.kind == "road" else CAMERA_CHANGES[1:]
            symbol, kind, reason, detail = rng.choice(choices)
            a, b = rng.sample("东南西北", 2)
            cams = [rng.choice(ctx.cams)]
            moved = _whole(opened + _secs(rng, 20 * 60, 120 * 60))
            closed = _whole(moved + _secs(rng, 5 * 60, 30 * 60))
            outage, change = None, (moved, symbol, detail.format(a=a, b=b))
            resolution = "调整完成，已核对画面并验收"
        orders.append(
            _WorkOrder(
                work_order_id, kind, tuple(c.camera_id for c in cams), reason,
                opened, opener, closed, closer, resolution, outage, change,
            )
        )  # fmt: skip
    return orders


def _work_order_events(ctx: _Ctx, order: _WorkOrder) -> list[SimEvent]:
    fields: dict[str, Any] = {
        "work_order_id": order.work_order_id,
        "kind": order.kind,
        "system_id": ctx.system.system_id,
        "camera_ids": list(order.camera_ids),
        "reason": order.reason,
    }
    events = [ctx.event("WorkOrderOpened", fields, order.opener.actor(), order.opened)]
    if order.outage is not None:
        for status, moment in zip(("OFF", "ON"), order.outage, strict=True):
            for j, camera_id in enumerate(order.camera_ids):
                fields = {"camera_id": camera_id, "status": status, "ticket_id": order.work_order_id}
                at = moment + j * timedelta(seconds=1)
                events.append(ctx.event("DeviceStatusChanged", fields, ctx.machine("catalog"), at))
    if order.change is not None:
        moved, symbol, detail = order.change
        fields = {
            "camera_id": order.camera_ids[0],
            "change": symbol,
            "detail": detail,
            "work_order_id": order.work_order_id,
        }
        events.append(ctx.event("CameraDirectionChanged", fields, order.closer.actor(), moved))
    fields = {"work_order_id": order.work_order_id, "resolution": order.resolution}
    events.append(ctx.event("WorkOrderClosed", fields, order.closer.actor(), order.closed))
    return events


def _outages(ctx: _Ctx, first: date, last: date, *, logged: bool) -> Outages:
    """Camera outages (OFF to ON) of the work orders planned for ``first`` to ``last``.

    ``logged``: only those the run publishes (the rest were planned before it started).
    """
    outages: Outages = {}
    for offset in range((last - first).days + 1):
        for order in _work_orders(ctx, first + timedelta(days=offset)):
            if order.outage is None or (logged and order.opened < ctx.act_floor):
                continue
            off, on = order.outage
            for j, camera_id in enumerate(order.camera_ids):
                lag = timedelta(seconds=j)
                outages.setdefault(camera_id, []).append((off + lag, on + lag))
    return outages


def _nearby(
    ctx: _Ctx, rng: random.Random, count: int, window: tuple[datetime, datetime], blocked: Outages
) -> list[Camera]:
    """Up to ``count`` cameras of one district whose footage of ``window`` exists."""
    district = rng.choice(sorted(ctx.by_district))
    usable = [c for c in ctx.by_district[district] if _clear(blocked, c.camera_id, *window)]
    return rng.sample(usable, min(count, len(usable)))


def _patrol(
    ctx: _Ctx, person: Operator, *, day: date, night: bool, span: tuple[datetime, datetime], blocked: Outages
) -> Iterator[SimEvent]:
    """One operator's shift: live video patrol on the video wall, now and then an incident check."""
    rng = ctx.rng("patrol", day, int(night), person.user_id)
    profile, (t, shift_end) = ctx.profile, span
    districts = sorted(ctx.by_district)
    home = ctx.by_district[districts[person.seat % len(districts)]]
    gap = profile.patrol_gap * (2.5 if night else 1.0)
    t += _secs(rng, 0, 180)
    while True:
        if rng.random() < (0.01 if night else 0.02):
            reason = rng.choice(profile.incident_reasons)
            moment = _whole(t - _secs(rng, 600, 4 * 3600))
            window = (moment - _secs(rng, 60, 600), min(moment + _secs(rng, 60, 900), t - _HOUR / 60))
            window = (_whole(window[0]), _whole(window[1]))
            for cam in _nearby(ctx, rng, rng.randint(1, 3), window, blocked):
                for _ in range(rng.randint(1, 2)):
                    t += _secs(rng, 45, 240)
                    if t >= shift_end:
                        return
                    access = access_context(cam.camera_id, _within(rng, *window), reason)
                    fields: dict[str, Any] = {"access": access, "mode": "PLAYBACK"}
                    yield ctx.event("FootageViewed", fields, person.actor(), t)
            t += _secs(rng, 30, gap)
            continue
        pool = home if rng.random() < 0.85 else ctx.cams
        session_end = t + _secs(rng, 20, 240)
        if session_end >= shift_end:
            return
        window = (_whole(t), _whole(session_end))
        reason = rng.choice(profile.live_reasons)
        wall = rng.sample(pool, min(len(pool), rng.choice((1, 4, 4, 9))))
        for j, cam in enumerate(c for c in wall if _clear(blocked, c.camera_id, *window)):
            fields = {"access": access_context(cam.camera_id, window, reason), "mode": "LIVE"}
            yield ctx.event(
                "FootageViewed", fields, person.actor(), session_end + j * timedelta(milliseconds=3)
            )
        t = session_end + timedelta(seconds=rng.expovariate(1 / gap))


def _case(
    ctx: _Ctx, day: date, n: int, rng: random.Random, blocked: Outages, *, export: bool
) -> list[SimEvent]:
    """An access authorization, then the grantee's playbacks and exports within its scope."""
    profile = ctx.profile
    grantees = ctx.on_duty("investigator", day, False)
    approvers = ctx.on_duty("supervisor", day, False)
    granted = _whole(_local(day, 8.5) + _secs(rng, 0, 8 * 3600))
    moment = granted - _secs(rng, 2 * 3600, 72 * 3600)
    window = (_whole(moment - _secs(rng, 600, 3600)), _whole(moment + _secs(rng, 600, 5400)))
    cams = _nearby(ctx, rng, rng.randint(1, 5), window, blocked)
    if not grantees or not approvers or not cams:
        return []
    grantee = rng.choice(grantees)
    requester = grantee if rng.random() < 0.7 else rng.choice(ctx.staff["investigator"])
    approver = rng.choice(approvers)
    authorization_id = f"SQ{profile.code}{day:%Y%m%d}{n:03d}"
    case_number = f"A{profile.police_code}{day:%Y%m}{day.day:02d}{n:02d}"
    expires = granted + timedelta(hours=rng.choice((24, 48, 72)))
    reason, legal_basis = rng.choice(profile.cases)
    fields: dict[str, Any] = {
        "authorization_id": authorization_id,
        "grantee_user_id": grantee.user_id,
        "requester_user_id": requester.user_id,
        "approver_user_id": approver.user_id,
        "case_number": case_number,
        "legal_basis": legal_basis,
        "camera_ids": [c.camera_id for c in cams],
        "footage_start": window[0],
        "footage_end": window[1],
        "expires_at": expires,
    }
    events = [ctx.event("AccessAuthorized", fields, approver.actor(), granted)]
    limit = min(_local(day, 19.75), expires)
    t = granted + _secs(rng, 300, 2400)

    def access(camera_id: str) -> dict[str, Any]:
        return access_context(
            camera_id, _within(rng, *window), reason, legal_basis=legal_basis,
            case_number=case_number, authorization_id=authorization_id,
        )  # fmt: skip

    for cam in cams:
        for _ in range(rng.randint(1, 3)):
            t += _secs(rng, 60, 400)
            if t < limit:
                fields = {"access": access(cam.camera_id), "mode": "PLAYBACK"}
                events.append(ctx.event("FootageViewed", fields, grantee.actor(), t))
    if export or rng.random() < 0.5:
        for cam in rng.sample(cams, rng.randint(1, min(2, len(cams)))):
            t += _secs(rng, 120, 600)
            if t < limit:
                fields = {
                    "access": access(cam.camera_id),
                    "destination": rng.choice(profile.destinations),
                    "format": rng.choice(("MP4", "PS", "AVI")),
                    "watermark_id": f"WM{profile.code}{day:%Y%m%d}{rng.getrandbits(32):08X}",
                    "file_hash": f"{rng.getrandbits(256):064x}",
                }
                events.append(ctx.event("FootageExported", fields, grantee.actor(), t))
    return events


def _application(ctx: _Ctx, day: date, n: int, rng: random.Random, blocked: Outages) -> list[SimEvent]:
    """An Art. 14 missing-person application: filed, approved with a scope, searched, result told."""
    handlers = ctx.on_duty("investigator", day, False)
    approvers = ctx.on_duty("supervisor", day, False)
    filed = _whole(_local(day, 8.5) + _secs(rng, 0, 7 * 3600))
    window = (_whole(filed - _secs(rng, 2 * 3600, 20 * 3600)), filed)
    cams = _nearby(ctx, rng, rng.randint(3, 8), window, blocked)
    if not handlers or not approvers or not cams:
        return []
    handler, approver = rng.choice(handlers), rng.choice(approvers)
    category = rng.choice(sorted(MISSING_PERSONS))
    label, (young, old), detail, relationships = MISSING_PERSONS[category]
    application_id = f"ZZ14{ctx.profile.code}{day:%Y%m%d}{n:02d}"
    document = f"株公协查〔{day.year}〕{day:%m%d}{n:02d}号"
    seen = window[0].astimezone(CHINA_TZ)
    place = cams[0].location
    fields: dict[str, Any] = {
        "application_id": application_id,
        "applicant_name": person_name(rng),
        "relationship": rng.choice(relationships),
        "missing_person_category": category,
        "description": f"{label}，{rng.randint(young, old)}岁，{detail}，"
        f"{seen.month}月{seen.day}日{seen.hour}时许在{place}附近走失",
    }
    events = [ctx.event("ApplicationFiled", fields, handler.actor(), filed)]
    approved = _whole(filed + _secs(rng, 600, 2400))
    fields = {
        "application_id": application_id,
        "approver_user_id": approver.user_id,
        "handler_user_id": handler.user_id,
        "camera_ids": [c.camera_id for c in cams],
        "footage_start": window[0],
        "footage_end": window[1],
        "expires_at": approved + timedelta(hours=48),
    }
    events.append(ctx.event("ApplicationApproved", fields, approver.actor(), approved))
    t, limit = approved, _local(day, 19.5)
    reason = f"协助查找走失{label}（申请{application_id}）"
    for cam in cams:
        for _ in range(rng.randint(1, 2)):
            t += _secs(rng, 60, 300)
            if t < limit:
                access = access_context(
                    cam.camera_id, _within(rng, *window), reason, legal_basis=f"{STATUTE}第十四条",
                    case_number=document, application_id=application_id,
                )  # fmt: skip
                fields = {"access": access, "mode": "PLAYBACK"}
                events.append(ctx.event("FootageViewed", fields, handler.actor(), t))
    told = min(t + _secs(rng, 600, 3600), _local(day, 19.9))
    result = rng.choice(SEARCH_RESULTS).format(place=place, time=f"{(seen + _HOUR).hour}时许")
    fields = {"application_id": application_id, "result": result}
    events.append(ctx.event("ApplicationResultNotified", fields, handler.actor(), max(told, t)))
    return events


def _share(ctx: _Ctx, day: date, n: int, rng: random.Random, blocked: Outages) -> list[SimEvent]:
    """Footage shared with another agency on its written request, desensitized."""
    sharers = ctx.on_duty("supervisor", day, False)
    at = _local(day, 9) + _secs(rng, 0, 9 * 3600)
    start = _whole(at - _secs(rng, 3 * 3600, 48 * 3600))
    window = (start, _whole(start + _secs(rng, 300, 3600)))
    cams = _nearby(ctx, rng, 1, window, blocked)
    if not sharers or not cams:
        return []
    recipient = rng.choice(ctx.profile.recipients)
    access = access_context(
        cams[0].camera_id, window, f"应{recipient}来函共享视频", legal_basis=f"{STATUTE}第十三条",
        case_number=f"株{ctx.profile.code}共享〔{day.year}〕{day:%m%d}{n:02d}号",
    )  # fmt: skip
    fields = {
        "access": access,
        "recipient": recipient,
        "desensitization_profile": rng.choice(("face-plate-blur/v2", "face-blur/v3", "plate-mask/v1")),
    }
    return [ctx.event("FootageShared", fields, rng.choice(sharers).actor(), at)]


def _activity(ctx: _Ctx, day: date, night: bool) -> Iterator[SimEvent]:
    """Everything the people of one shift do, merged by time."""
    shift_start = _local(day, 20 if night else 8)
    span = (max(shift_start, ctx.act_floor), shift_start + _SHIFT)
    blocked = _outages(ctx, day - timedelta(days=3), day, logged=False)
    operators = ctx.on_duty("operator", day, night)
    patrols = [_patrol(ctx, o, day=day, night=night, span=span, blocked=blocked) for o in operators]
    if night:
        return heapq.merge(*patrols, key=_when)
    rng, profile = ctx.rng("flows", day), ctx.profile
    least = 1 if profile.guaranteed else 0

    def count(per_day: float) -> range:
        return range(max(least, _poisson(rng, per_day * ctx.scale)))

    flows = [_case(ctx, day, n, rng, blocked, export=n == 0) for n in count(profile.cases_per_day)]
    flows += [_application(ctx, day, n, rng, blocked) for n in count(profile.applications_per_day)]
    flows += [_share(ctx, day, n, rng, blocked) for n in count(profile.shares_per_day)]
    flows += [_work_order_events(ctx, order) for order in _work_orders(ctx, day)]
    started = [flow for flow in flows if flow and flow[0].occurred_at >= span[0]]
    return heapq.merge(*patrols, *started, key=_when)


def _when(event: SimEvent) -> datetime:
    return event.occurred_at


_Segment = tuple[datetime, Callable[[], Iterator[SimEvent]]]


def _segments(
    ctxs: list[_Ctx], start: datetime, end: datetime, plants: tuple[date, list[SimEvent]] | None = None
) -> Iterator[_Segment]:
    """Every generator of the run with a time none of its events precede, in that time's order.

    ``plants``: the day whose day shift the planted events happen in, and those events.
    """
    for ctx in ctxs:
        yield start, partial(_bootstrap, ctx, start)
    floor = start + _FLOOR
    day = start.astimezone(CHINA_TZ).date() - _DAY
    while _local(day, 3) < end:
        batch: list[_Segment] = []
        for ctx in ctxs:
            batch += [
                (_local(day, hour), partial(job, ctx, day))
                for hour, job in ((3, _expiry), (4, _inventory))
                if floor <= _local(day, hour) < end
            ]
            for night in (False, True):
                shift_start = _local(day, 20 if night else 8)
                lower = max(shift_start - _HOUR / 2, floor)
                if lower < end and shift_start + _SHIFT > ctx.act_floor:
                    batch.append((lower, partial(_roster, ctx, day, night, lower)))
                    batch.append((lower, partial(_activity, ctx, day, night)))
        if plants is not None and plants[0] == day:
            batch.append((plants[1][0].occurred_at, partial(iter, plants[1])))
        batch.sort(key=lambda segment: segment[0])
        yield from batch
        day += _DAY


def _merge(segments: Iterator[_Segment], end: datetime) -> Iterator[SimEvent]:
    """Merge the segments' events by time, starting each generator only when it is due."""
    heap: list[tuple[datetime, int, SimEvent, Iterator[SimEvent]]] = []
    tie = itertools.count()
    pending = next(segments, None)
    while True:
        while pending is not None and (not heap or pending[0] <= heap[0][0]):
            lower, factory = pending
            stream = factory()
            first = next(stream, None)
            if first is not None:
                if first.occurred_at < lower:
                    raise RuntimeError(f"{first.event_type} at {first.occurred_at} precedes {lower}")
                heapq.heappush(heap, (first.occurred_at, next(tie), first, stream))
            pending = next(segments, None)
        if not heap:
            return
        when, _, event, stream = heapq.heappop(heap)
        if when >= end:
            return
        yield event
        following = next(stream, None)
        if following is not None:
            if following.occurred_at < when:
                raise RuntimeError(f"{following.event_type} at {following.occurred_at} out of order")
            heapq.heappush(heap, (following.occurred_at, next(tie), following, stream))


def _bounds(start: datetime, days: float) -> tuple[datetime, datetime]:
    """The run's ``[start, end)`` in UTC, once the arguments are checked."""
    if start.tzinfo is None or start.utcoffset() is None:
        raise ValueError("start must be a timezone-aware datetime")
    start = start.astimezone(UTC)
    if start < EARLIEST_START:
        raise ValueError(f"start must not be before {EARLIEST_START.isoformat()}")
    if not days >= 0:
        raise ValueError(f"days must not be negative, not {days}")
    return start, start + timedelta(days=days)


_PLANT_SPAN = _HOUR


def _plant(
    ctxs: list[_Ctx], seed: int, start: datetime, end: datetime
) -> tuple[date, list[SimEvent], list[Planted]]:
    """The planted events of a run and what they plant, in its first hour or more of a day shift."""
    floor = start + _FLOOR + timedelta(seconds=30)  # the first activity of the run
    day = start.astimezone(CHINA_TZ).date() - _DAY
    while _local(day, 8) < end:
        window = (max(_local(day, 8), floor), min(_local(day, 20), end))
        if window[1] - window[0] >= _PLANT_SPAN:
            busy = {c for ctx in ctxs for c in _outages(ctx, day - timedelta(days=3), day, logged=False)}
            events, planted = plant_scenes(ctxs, seed=seed, day=day, window=window, busy=busy)
            return day, events, planted
        day += _DAY
    raise ValueError(
        "plant=True needs a run holding at least an hour of a day shift (08:00-20:00 China time) "
        "after its first 2.5 minutes"
    )


def simulate(
    city: City, *, seed: int, start: datetime, days: float = 1.0, plant: bool = False
) -> Iterator[SimEvent]:
    """Lazily yield ``days`` of the city's audit events from ``start``, in time order.

    ``start`` must be timezone-aware and no earlier than :data:`EARLIEST_START`. The same city,
    seed, start and days always give the same events; events fall in ``[start, start + days)``.
    ``plant``: also publish, in the run's first hour or more of a day shift, the violations and
    near-misses :func:`planted` lists (a ``ValueError`` if the run holds no such hour); the rest
    of the traffic is the same as without.
    """
    start, end = _bounds(start, days)
    ctxs = [_Ctx(city, system, seed, start) for system in city.systems]
    if not plant:
        return _merge(_segments(ctxs, start, end), end)
    day, events, _ = _plant(ctxs, seed, start, end)
    return _merge(_segments(ctxs, start, end, (day, events)), end)


def planted(city: City, *, seed: int, start: datetime, days: float = 1.0) -> list[Planted]:
    """What ``simulate(city, seed=seed, start=start, days=days, plant=True)`` plants, in time order.

    One :class:`Planted` per violation row the rules must write (rule, camera, actor and time of
    the row) and one per near-miss event that must write none.
    """
    start, end = _bounds(start, days)
    ctxs = [_Ctx(city, system, seed, start) for system in city.systems]
    return _plant(ctxs, seed, start, end)[2]


__all__ = [
    "CHINA_TZ",
    "DISTRICTS",
    "EARLIEST_START",
    "PUBLIC_CATEGORIES",
    "Camera",
    "City",
    "Operator",
    "Planted",
    "SimEvent",
    "SourceSystem",
    "build_city",
    "planted",
    "simulate",
]
