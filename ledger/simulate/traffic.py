"""The lawful daily traffic of the synthetic city's three video systems.

Everything a simulated day holds is lawful (the planted violations and near-misses are in
:mod:`ledger.simulate.scenes`; :mod:`ledger.simulate.run` adds them to this traffic):

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
- work orders (planned in :mod:`ledger.simulate.context`): camera outages (OFF/ON carrying the
  ticket) and direction changes under them;
- at 03:00 the recorders expire footage older than the retention period; at 04:00 each camera
  reports its inventory (earliest recording = the expiry cut-off, gaps = logged outages).

Every activity draws from its own ``random.Random`` seeded by a string naming the seed, system,
day and activity. :func:`segments` lists the run's activities as lazy generators, each with a
time none of its events precede; :func:`ledger.simulate.run.simulate` merges them by time.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable, Iterator
from datetime import date, datetime, timedelta
from functools import partial
from typing import Any

from ledger.simulate.city import TEAMS, Camera, Operator, person_name
from ledger.simulate.context import (
    CHINA_TZ,
    REGISTRATION_SPAN,
    Outages,
    SimEvent,
    SystemContext,
    WorkOrder,
    access_context,
    china_time,
    planned_outages,
    poisson,
    random_seconds,
    whole_second,
    work_orders,
)
from ledger.simulate.data import MISSING_PERSONS, SEARCH_RESULTS, STATUTE

_HOUR = timedelta(hours=1)
_DAY = timedelta(days=1)
_SHIFT = timedelta(hours=12)


def _within(rng: random.Random, start: datetime, end: datetime) -> tuple[datetime, datetime]:
    """A whole-second stretch of at least a minute (or all) of ``[start, end]``."""
    span = int((end - start).total_seconds())
    length = rng.randint(min(60, span), span)
    offset = rng.randint(0, span - length)
    return start + timedelta(seconds=offset), start + timedelta(seconds=offset + length)


def _clear(outages: Outages, camera_id: str, start: datetime, end: datetime) -> bool:
    return all(end <= off or start >= on for off, on in outages.get(camera_id, ()))


def _bootstrap(ctx: SystemContext, start: datetime) -> Iterator[SimEvent]:
    """Registration of the system, its retention policy and its cameras, all before start + 2 min."""
    system, cams = ctx.system, ctx.cams
    overrides = [c for c in cams if c.retention_days]
    step = min(timedelta(milliseconds=10), REGISTRATION_SPAN * 0.8 / (len(cams) + len(overrides) + 3))
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


def _roster(ctx: SystemContext, day: date, night: bool, at: datetime) -> Iterator[SimEvent]:
    """Duty assignments of one shift, published half an hour before it (or at the start)."""
    shift_start = china_time(day, 20 if night else 8)
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


def _expiry(ctx: SystemContext, day: date) -> Iterator[SimEvent]:
    """The 03:00 job: each camera's footage older than its retention period is expired."""
    job = china_time(day, 3)
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


def _inventory(ctx: SystemContext, day: date) -> Iterator[SimEvent]:
    """The 04:00 record-info query: what each camera's recorder holds, gaps = logged outages."""
    rng = ctx.rng("inventory", day)
    earliest_job, report = china_time(day, 3), china_time(day, 4)
    first = max(ctx.first_day, day - timedelta(days=ctx.max_retention + 1))
    gaps = planned_outages(ctx, first, day - _DAY, logged=True)
    for i, cam in enumerate(ctx.cams):
        at = report + i * timedelta(milliseconds=50)
        earliest = earliest_job - timedelta(days=ctx.retention[cam.camera_id])
        latest = whole_second(at - random_seconds(rng, 1, 30))
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


def _work_order_events(ctx: SystemContext, order: WorkOrder) -> list[SimEvent]:
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


def _nearby(
    ctx: SystemContext, rng: random.Random, count: int, window: tuple[datetime, datetime], blocked: Outages
) -> list[Camera]:
    """Up to ``count`` cameras of one district whose footage of ``window`` exists."""
    district = rng.choice(sorted(ctx.by_district))
    usable = [c for c in ctx.by_district[district] if _clear(blocked, c.camera_id, *window)]
    return rng.sample(usable, min(count, len(usable)))


def _patrol(
    ctx: SystemContext,
    person: Operator,
    *,
    day: date,
    night: bool,
    span: tuple[datetime, datetime],
    blocked: Outages,
) -> Iterator[SimEvent]:
    """One operator's shift: live video patrol on the video wall, now and then an incident check."""
    rng = ctx.rng("patrol", day, int(night), person.user_id)
    profile, (t, shift_end) = ctx.profile, span
    districts = sorted(ctx.by_district)
    home = ctx.by_district[districts[person.seat % len(districts)]]
    gap = profile.patrol_gap * (2.5 if night else 1.0)
    t += random_seconds(rng, 0, 180)
    while True:
        if rng.random() < (0.01 if night else 0.02):
            reason = rng.choice(profile.incident_reasons)
            moment = whole_second(t - random_seconds(rng, 600, 4 * 3600))
            window = (
                moment - random_seconds(rng, 60, 600),
                min(moment + random_seconds(rng, 60, 900), t - _HOUR / 60),
            )
            window = (whole_second(window[0]), whole_second(window[1]))
            for cam in _nearby(ctx, rng, rng.randint(1, 3), window, blocked):
                for _ in range(rng.randint(1, 2)):
                    t += random_seconds(rng, 45, 240)
                    if t >= shift_end:
                        return
                    access = access_context(cam.camera_id, _within(rng, *window), reason)
                    fields: dict[str, Any] = {"access": access, "mode": "PLAYBACK"}
                    yield ctx.event("FootageViewed", fields, person.actor(), t)
            t += random_seconds(rng, 30, gap)
            continue
        pool = home if rng.random() < 0.85 else ctx.cams
        session_end = t + random_seconds(rng, 20, 240)
        if session_end >= shift_end:
            return
        window = (whole_second(t), whole_second(session_end))
        reason = rng.choice(profile.live_reasons)
        wall = rng.sample(pool, min(len(pool), rng.choice((1, 4, 4, 9))))
        for j, cam in enumerate(c for c in wall if _clear(blocked, c.camera_id, *window)):
            fields = {"access": access_context(cam.camera_id, window, reason), "mode": "LIVE"}
            yield ctx.event(
                "FootageViewed", fields, person.actor(), session_end + j * timedelta(milliseconds=3)
            )
        t = session_end + timedelta(seconds=rng.expovariate(1 / gap))


def _case(
    ctx: SystemContext, day: date, n: int, rng: random.Random, blocked: Outages, *, export: bool
) -> list[SimEvent]:
    """An access authorization, then the grantee's playbacks and exports within its scope."""
    profile = ctx.profile
    grantees = ctx.on_duty("investigator", day, False)
    approvers = ctx.on_duty("supervisor", day, False)
    granted = whole_second(china_time(day, 8.5) + random_seconds(rng, 0, 8 * 3600))
    moment = granted - random_seconds(rng, 2 * 3600, 72 * 3600)
    window = (
        whole_second(moment - random_seconds(rng, 600, 3600)),
        whole_second(moment + random_seconds(rng, 600, 5400)),
    )
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
    limit = min(china_time(day, 19.75), expires)
    t = granted + random_seconds(rng, 300, 2400)

    def access(camera_id: str) -> dict[str, Any]:
        return access_context(
            camera_id, _within(rng, *window), reason, legal_basis=legal_basis,
            case_number=case_number, authorization_id=authorization_id,
        )  # fmt: skip

    for cam in cams:
        for _ in range(rng.randint(1, 3)):
            t += random_seconds(rng, 60, 400)
            if t < limit:
                fields = {"access": access(cam.camera_id), "mode": "PLAYBACK"}
                events.append(ctx.event("FootageViewed", fields, grantee.actor(), t))
    if export or rng.random() < 0.5:
        for cam in rng.sample(cams, rng.randint(1, min(2, len(cams)))):
            t += random_seconds(rng, 120, 600)
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


def _application(
    ctx: SystemContext, day: date, n: int, rng: random.Random, blocked: Outages
) -> list[SimEvent]:
    """An Art. 14 missing-person application: filed, approved with a scope, searched, result told."""
    handlers = ctx.on_duty("investigator", day, False)
    approvers = ctx.on_duty("supervisor", day, False)
    filed = whole_second(china_time(day, 8.5) + random_seconds(rng, 0, 7 * 3600))
    window = (whole_second(filed - random_seconds(rng, 2 * 3600, 20 * 3600)), filed)
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
    approved = whole_second(filed + random_seconds(rng, 600, 2400))
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
    t, limit = approved, china_time(day, 19.5)
    reason = f"协助查找走失{label}（申请{application_id}）"
    for cam in cams:
        for _ in range(rng.randint(1, 2)):
            t += random_seconds(rng, 60, 300)
            if t < limit:
                access = access_context(
                    cam.camera_id, _within(rng, *window), reason, legal_basis=f"{STATUTE}第十四条",
                    case_number=document, application_id=application_id,
                )  # fmt: skip
                fields = {"access": access, "mode": "PLAYBACK"}
                events.append(ctx.event("FootageViewed", fields, handler.actor(), t))
    told = min(t + random_seconds(rng, 600, 3600), china_time(day, 19.9))
    result = rng.choice(SEARCH_RESULTS).format(place=place, time=f"{(seen + _HOUR).hour}时许")
    fields = {"application_id": application_id, "result": result}
    events.append(ctx.event("ApplicationResultNotified", fields, handler.actor(), max(told, t)))
    return events


def _share(ctx: SystemContext, day: date, n: int, rng: random.Random, blocked: Outages) -> list[SimEvent]:
    """Footage shared with another agency on its written request, desensitized."""
    sharers = ctx.on_duty("supervisor", day, False)
    at = china_time(day, 9) + random_seconds(rng, 0, 9 * 3600)
    start = whole_second(at - random_seconds(rng, 3 * 3600, 48 * 3600))
    window = (start, whole_second(start + random_seconds(rng, 300, 3600)))
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


def _activity(ctx: SystemContext, day: date, night: bool) -> Iterator[SimEvent]:
    """Everything the people of one shift do, merged by time."""
    shift_start = china_time(day, 20 if night else 8)
    span = (max(shift_start, ctx.act_floor), shift_start + _SHIFT)
    blocked = planned_outages(ctx, day - timedelta(days=3), day, logged=False)
    operators = ctx.on_duty("operator", day, night)
    patrols = [_patrol(ctx, o, day=day, night=night, span=span, blocked=blocked) for o in operators]
    if night:
        return heapq.merge(*patrols, key=_when)
    rng, profile = ctx.rng("flows", day), ctx.profile
    least = 1 if profile.guaranteed else 0

    def count(per_day: float) -> range:
        return range(max(least, poisson(rng, per_day * ctx.scale)))

    flows = [_case(ctx, day, n, rng, blocked, export=n == 0) for n in count(profile.cases_per_day)]
    flows += [_application(ctx, day, n, rng, blocked) for n in count(profile.applications_per_day)]
    flows += [_share(ctx, day, n, rng, blocked) for n in count(profile.shares_per_day)]
    flows += [_work_order_events(ctx, order) for order in work_orders(ctx, day)]
    started = [flow for flow in flows if flow and flow[0].occurred_at >= span[0]]
    return heapq.merge(*patrols, *started, key=_when)


def _when(event: SimEvent) -> datetime:
    return event.occurred_at


Segment = tuple[datetime, Callable[[], Iterator[SimEvent]]]
"""A generator of events, not yet started, and a time none of its events precede."""


def segments(
    ctxs: list[SystemContext],
    start: datetime,
    end: datetime,
    plants: tuple[date, list[SimEvent]] | None = None,
) -> Iterator[Segment]:
    """Every generator of the run ``[start, end)`` with a time none of its events precede, in that order.

    ``plants``: the day whose day shift the planted events happen in, and those events (in time
    order), to merge into that day's traffic.
    """
    for ctx in ctxs:
        yield start, partial(_bootstrap, ctx, start)
    floor = start + REGISTRATION_SPAN
    day = start.astimezone(CHINA_TZ).date() - _DAY
    while china_time(day, 3) < end:
        batch: list[Segment] = []
        for ctx in ctxs:
            batch += [
                (china_time(day, hour), partial(job, ctx, day))
                for hour, job in ((3, _expiry), (4, _inventory))
                if floor <= china_time(day, hour) < end
            ]
            for night in (False, True):
                shift_start = china_time(day, 20 if night else 8)
                lower = max(shift_start - _HOUR / 2, floor)
                if lower < end and shift_start + _SHIFT > ctx.act_floor:
                    batch.append((lower, partial(_roster, ctx, day, night, lower)))
                    batch.append((lower, partial(_activity, ctx, day, night)))
        if plants is not None and plants[0] == day:
            batch.append((plants[1][0].occurred_at, partial(iter, plants[1])))
        batch.sort(key=lambda segment: segment[0])
        yield from batch
        day += _DAY
