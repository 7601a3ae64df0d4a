"""Planted scenes of the rules about how systems are run: R8, R9, R11, R12 (and near-misses).

Part of :mod:`ledger.simulate.planting`, which lists every scene and draws their times.

=====  ==========  ========  ==================================================================
rule   kind        system    scenario
=====  ==========  ========  ==================================================================
R8     violation   traffic   a technician turns a camera to another PTZ preset, no work order
R8     near-miss   metro     an occlusion alarm while a cleaning work order for the camera is open
R9     violation   metro     a supervisor stops a camera's recording for 15-40 minutes, no ticket
R9     near-miss   hospital  a camera off line for 20-60 minutes (under the 2-hour limit), no ticket
R11    violation   hospital  a supervisor clears the operation log, no ticket
R11    violation   traffic   an operator's export whose event the platform never published: the
                             next event of the system reveals the gap in its sequence numbers
R11    near-miss   hospital  the clock corrected by NTP by a fraction of a second, no ticket
R12    violation   metro     an operator whose team is off today plays back footage
R12    violation   traffic   a technician on duty plays back 160 clips within minutes (the row is
                             the 150th, where the hour reaches the bulk limit)
R12    near-miss   hospital  a technician on duty views a repaired camera's live picture
=====  ==========  ========  ==================================================================
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from ledger.simulate.planting import Built, Planted, _plant, _Scene, _who, _whole, access_context

if TYPE_CHECKING:
    import random

    from ledger.simulate.city import Camera
    from ledger.simulate.planting import _Planter
    from ledger.simulate.traffic import _Ctx

BULK_CLIPS = 160
BULK_ROW = 150
"""The clip at which the technician's hour reaches the rules' default bulk minimum."""


def _unworked(p: _Planter, ctx: _Ctx, rng: random.Random) -> Camera:
    """A camera no other scene uses and no work order of the day covers (it would explain the scene)."""
    from ledger.simulate.traffic import _work_orders  # noqa: PLC0415 - that module imports this one

    worked = {camera_id for order in _work_orders(ctx, p.day) for camera_id in order.camera_ids}
    pool = [c for c in ctx.cams if c.camera_id not in p.deleting | worked]
    if not pool:
        raise ValueError(f"system {ctx.system.system_id} has too few cameras to plant violations")
    cam = rng.choice(pool)
    p.deleting.add(cam.camera_id)
    return cam


def ops_scenes(planter: _Planter) -> list[_Scene]:
    """The scenes of this module, in a fixed order."""
    return [
        direction_change(planter),
        occlusion_under_work_order(planter),
        recording_stopped(planter),
        short_outage(planter),
        log_cleared(planter),
        withheld_export(planter),
        ntp_correction(planter),
        off_duty_playback(planter),
        bulk_playback(planter),
        on_duty_check(planter),
    ]


def direction_change(p: _Planter) -> _Scene:
    """R8: a technician turns a camera to another PTZ preset with no work order."""
    ctx = p.traffic
    rng = p.rng(ctx, "direction-change")
    cam, person = _unworked(p, ctx, rng), p.person(ctx, rng, "maintenance")

    def build(times: list[datetime]) -> Built:
        fields = {"camera_id": cam.camera_id, "change": "PTZ_PRESET", "detail": "预置位1改为预置位3",
                  "work_order_id": None}  # fmt: skip
        event = ctx.event("CameraDirectionChanged", fields, person.actor(), times[0])
        why = f"{_who(person)} turned camera {cam.camera_id} to another preset with no work order"
        return [event], [_plant("R8", "violation", why, event, cam.camera_id)]

    return _Scene(1, build)


def occlusion_under_work_order(p: _Planter) -> _Scene:
    """Near-miss R8: an occlusion alarm while a cleaning work order for that camera is open."""
    ctx = p.metro
    rng = p.rng(ctx, "occlusion")
    (cam,) = p.deleted(ctx, rng)
    opener, closer = p.person(ctx, rng, "supervisor"), p.person(ctx, rng, "maintenance")
    order_id = f"WO{ctx.profile.code}{p.day:%Y%m%d}901"

    def build(times: list[datetime]) -> Built:
        opened = {"work_order_id": order_id, "kind": "MAINTENANCE", "system_id": ctx.system.system_id,
                  "camera_ids": [cam.camera_id], "reason": "镜头清洁"}  # fmt: skip
        alarm = {"camera_id": cam.camera_id, "alarm": "OCCLUSION", "work_order_id": None}
        events = [
            ctx.event("WorkOrderOpened", opened, opener.actor(), times[0]),
            ctx.event("CameraTamperAlarm", alarm, ctx.machine("alarm"), times[1]),
            ctx.event("WorkOrderClosed", {"work_order_id": order_id, "resolution": "已清洁"}, closer.actor(),
                      times[2]),
        ]  # fmt: skip
        why = f"Camera {cam.camera_id} raised an occlusion alarm during cleaning work order {order_id}"
        return events, [_plant("R8", "near-miss", why, events[1], cam.camera_id)]

    return _Scene(3, build)


def recording_stopped(p: _Planter) -> _Scene:
    """R9: a supervisor stops a camera's recording with no ticket, and restarts it later."""
    ctx = p.metro
    rng = p.rng(ctx, "recording-stopped")
    cam, person = _unworked(p, ctx, rng), p.person(ctx, rng, "supervisor")

    def build(times: list[datetime]) -> Built:
        stopped = {"camera_id": cam.camera_id, "reason": "临时调试", "ticket_id": None}
        events = [
            ctx.event("RecordingStopped", stopped, person.actor(), times[0]),
            ctx.event("RecordingStarted", {"camera_id": cam.camera_id, "ticket_id": None}, person.actor(),
                      times[1]),
        ]  # fmt: skip
        why = f"{_who(person)} stopped camera {cam.camera_id}'s recording with no ticket"
        return events, [_plant("R9", "violation", why, events[0], cam.camera_id)]

    return _Scene(2, build)


def short_outage(p: _Planter) -> _Scene:
    """Near-miss R9: a camera off line for less than the limit, with no ticket."""
    ctx = p.hospital
    rng = p.rng(ctx, "short-outage")
    cam = _unworked(p, ctx, rng)  # an outage of its own, not one a work order's overlaps

    def build(times: list[datetime]) -> Built:
        off = {"camera_id": cam.camera_id, "status": "OFF", "ticket_id": None}
        on = {**off, "status": "ON"}
        events = [
            ctx.event("DeviceStatusChanged", off, ctx.machine("catalog"), times[0]),
            ctx.event("DeviceStatusChanged", on, ctx.machine("catalog"), times[1]),
        ]
        minutes = (times[1] - times[0]) / timedelta(minutes=1)
        why = f"Camera {cam.camera_id} was off line {minutes:.0f} minutes, under the limit, with no ticket"
        return events, [_plant("R9", "near-miss", why, events[1], cam.camera_id)]

    return _Scene(2, build)


def log_cleared(p: _Planter) -> _Scene:
    """R11: a supervisor clears the system's operation log with no ticket."""
    ctx = p.hospital
    rng = p.rng(ctx, "log-cleared")
    person = p.person(ctx, rng, "supervisor")

    def build(times: list[datetime]) -> Built:
        fields = {"system_id": ctx.system.system_id, "log_name": "操作日志", "ticket_id": None}
        event = ctx.event("LogCleared", fields, person.actor(), times[0])
        why = f"{_who(person)} cleared the operation log of {ctx.system.system_id} with no ticket"
        return [event], [_plant("R11", "violation", why, event, None)]

    return _Scene(1, build)


def withheld_export(p: _Planter) -> _Scene:
    """R11: an export the platform signed but never published; the system's next event shows the gap."""
    ctx = p.traffic
    rng = p.rng(ctx, "withheld-export")
    (hidden, shown), person = p.accessed(ctx, rng, 2), p.person(ctx, rng, "operator")
    other = p.person(ctx, rng, "operator")

    def build(times: list[datetime]) -> Built:
        # Lawful traffic is at whole seconds or 50 ms steps: nothing of the system comes between.
        at = times[0] + timedelta(microseconds=123_457)
        window = (_whole(at - timedelta(hours=3)), _whole(at - timedelta(hours=2, minutes=50)))
        export = {"access": access_context(hidden.camera_id, window, "事故取证"), "destination": "U盘",
                  "format": "mp4", "watermark_id": None, "file_hash": None}  # fmt: skip
        withheld = replace(ctx.event("FootageExported", export, person.actor(), at), withheld=True)
        view = {"access": access_context(shown.camera_id, window, "事故回放"), "mode": "PLAYBACK"}
        revealing = ctx.event("FootageViewed", view, other.actor(), at + timedelta(microseconds=1))
        why = (
            f"The export by {_who(person)} was never published: the next event of {ctx.system.system_id} "
            "skips its sequence number"
        )
        mark = Planted("R11", "violation", why + ".", "FootageViewed", ctx.system.system_id,
                       revealing.occurred_at, None, None)  # fmt: skip
        return [withheld, revealing], [mark]

    return _Scene(1, build)


def ntp_correction(p: _Planter) -> _Scene:
    """Near-miss R11: the clock corrected by NTP by a fraction of a second, no ticket."""
    ctx = p.hospital
    rng = p.rng(ctx, "ntp")

    def build(times: list[datetime]) -> Built:
        delta = rng.choice((-1, 1)) * rng.randint(40, 900)
        fields = {"system_id": ctx.system.system_id, "delta_ms": delta, "ticket_id": None}
        event = ctx.event("ClockChanged", fields, ctx.machine("ntp"), times[0])
        why = f"NTP moved {ctx.system.system_id}'s clock by {delta} ms, with no ticket"
        return [event], [_plant("R11", "near-miss", why, event, None)]

    return _Scene(1, build)


def off_duty_playback(p: _Planter) -> _Scene:
    """R12: an operator whose team is off today plays back footage."""
    ctx = p.metro
    rng = p.rng(ctx, "off-duty")
    working = {o.user_id for night in (False, True) for o in ctx.on_duty("operator", p.day, night)}
    working |= {o.user_id for o in ctx.on_duty("operator", p.day - timedelta(days=1), True)}
    person = rng.choice([o for o in ctx.staff["operator"] if o.user_id not in working])
    (cam,) = p.accessed(ctx, rng)

    def build(times: list[datetime]) -> Built:
        window = (_whole(times[0] - timedelta(days=1)), _whole(times[0] - timedelta(days=1, minutes=-20)))
        fields = {"access": access_context(cam.camera_id, window, "查看录像"), "mode": "PLAYBACK"}
        event = ctx.event("FootageViewed", fields, person.actor(), times[0])
        why = f"{_who(person)}, whose team is off today, played back footage of camera {cam.camera_id}"
        return [event], [_plant("R12", "violation", why, event, cam.camera_id)]

    return _Scene(1, build)


def bulk_playback(p: _Planter) -> _Scene:
    """R12: a technician on duty plays back 160 clips within minutes."""
    ctx = p.traffic
    rng = p.rng(ctx, "bulk")
    person = p.person(ctx, rng, "maintenance")
    cams = p.accessed(ctx, rng, min(20, len(ctx.cams)))

    def build(times: list[datetime]) -> Built:
        step = (times[1] - times[0]) / BULK_CLIPS
        events = []
        for n in range(BULK_CLIPS):
            at = times[0] + step * n
            window = (_whole(at - timedelta(hours=6)), _whole(at - timedelta(hours=5, minutes=50)))
            fields = {"access": access_context(cams[n % len(cams)].camera_id, window, "设备检修核对"),
                      "mode": "PLAYBACK"}  # fmt: skip
            events.append(ctx.event("FootageViewed", fields, person.actor(), at))
        why = f"{_who(person)} played back {BULK_CLIPS} clips within minutes"
        mark = _plant("R12", "violation", why, events[BULK_ROW - 1], None)
        return events, [mark]

    return _Scene(2, build)


def on_duty_check(p: _Planter) -> _Scene:
    """Near-miss R12: a technician on duty views a repaired camera's live picture."""
    ctx = p.hospital
    rng = p.rng(ctx, "on-duty-check")
    (cam,), person = p.accessed(ctx, rng), p.person(ctx, rng, "maintenance")

    def build(times: list[datetime]) -> Built:
        window = (times[0] - timedelta(minutes=1), times[0])
        fields = {"access": access_context(cam.camera_id, window, "维修后查看画面"), "mode": "LIVE"}
        event = ctx.event("FootageViewed", fields, person.actor(), times[0])
        why = f"{_who(person)}, on duty, checked camera {cam.camera_id}'s live picture after a repair"
        return [event], [_plant("R12", "near-miss", why, event, cam.camera_id)]

    return _Scene(1, build)
