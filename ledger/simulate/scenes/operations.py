"""Planted scenes of the rules about how systems are run: R8, R9, R10, R11 (and near-misses).

=====  ==========  ========  ==================================================================
rule   kind        system    scenario
=====  ==========  ========  ==================================================================
R10    violation   hospital  a camera registered in the staff changing room
R16    violation   traffic   an annex system filed with the police 43 days after it went live,
                             and its camera registered
R16    near-miss   metro     an annex system filed 30 days after it went live, and its camera
R8     violation   traffic   a technician turns a camera to another PTZ preset, no work order
R8     near-miss   metro     an occlusion alarm while a cleaning work order for the camera is open
R9     violation   metro     a supervisor stops a camera's recording for 15-40 minutes, no ticket
R9     near-miss   hospital  a camera off line for 20-60 minutes (under the 2-hour limit), no ticket
R11    violation   hospital  a supervisor clears the operation log, no ticket
R11    violation   traffic   an operator's export whose event the platform never published: the
                             next event of the system reveals the gap in its sequence numbers
R11    near-miss   hospital  the clock corrected by NTP by a fraction of a second, no ticket
=====  ==========  ========  ==================================================================

The cameras of the R8 and R9 scenes are covered by no work order of the day
(:meth:`Planter.unworked <ledger.simulate.scenes.planter.Planter.unworked>`).
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta
from typing import Literal

from ledger.simulate.context import SystemContext, access_context, whole_second
from ledger.simulate.scenes.planter import Built, Planted, Planter, Scene, who


def private_space(p: Planter) -> Scene:
    """R10: a camera registered in the staff changing room."""
    ctx = p.hospital
    serials = [int(c.camera_id[-6:]) for c in ctx.cams]
    camera_id = f"{ctx.cams[0].camera_id[:14]}{max(serials) + 1:06d}"
    building = p.rng(ctx, "private-space").choice(("住院部A栋", "住院部B栋", "门诊楼"))
    location = f"{ctx.system.owner}(天元区长江南路){building}医护更衣室"

    def build(times: list[datetime]) -> Built:
        fields = {
            "camera_id": camera_id,
            "system_id": ctx.system.system_id,
            "name": f"{building}医护更衣室",
            "location": location,
            "location_category": "CHANGING_ROOM",
            "notice_sign": False,
            "went_live_on": p.day,
        }
        actor = ctx.registrar()
        event = ctx.event("CameraRegistered", fields, actor, times[0])
        why = f"Camera {camera_id} registered in a staff changing room: {location}"
        return [event], [Planted.of("R10", "violation", why, event, camera_id)]

    return Scene(1, build)


def _annex(p: Planter, ctx: SystemContext, name: str, filed_after: int) -> Scene:
    """A new system of ``ctx``'s owner filed ``filed_after`` days after going live, and its camera."""
    serials = [int(c.camera_id[-6:]) for c in ctx.cams]
    camera_id = f"{ctx.cams[0].camera_id[:14]}{max(serials) + 1:06d}"
    system_id = f"{ctx.system.system_id}-{name}"
    went_live = p.day - timedelta(days=45)

    def build(times: list[datetime]) -> Built:
        system = {
            "system_id": system_id,
            "name": f"{ctx.system.name}（扩建）",
            "owner": ctx.system.owner,
            "manager": ctx.system.manager,
            "filing_number": f"株公视备〔{p.day.year}〕{900 + filed_after:04d}号",
            "filed_on": went_live + timedelta(days=filed_after),
            "went_live_on": went_live,
            "retention_days": max(ctx.system.retention_days, 30),
        }
        camera = {
            "camera_id": camera_id,
            "system_id": system_id,
            "name": "扩建出入口",
            "location": f"{ctx.system.owner}扩建区出入口",
            "location_category": "OTHER_PUBLIC",
            "notice_sign": True,
            "went_live_on": went_live,
        }
        events = [
            ctx.event("SystemRegistered", system, ctx.registrar(), times[0]),
            ctx.event("CameraRegistered", camera, ctx.registrar(), times[1]),
        ]
        kind: Literal["violation", "near-miss"] = "violation" if filed_after > 30 else "near-miss"
        why = f"Camera {camera_id} of {system_id}, in use from {went_live}, filed {filed_after} days later"
        planted = Planted(
            "R16", kind, why + ".", "CameraRegistered", ctx.system.system_id, times[1], camera_id, None
        )
        return events, [planted]

    return Scene(2, build)


def late_filing(p: Planter) -> Scene:
    """R16: an annex system filed with the police 43 days after it went live, and its camera."""
    return _annex(p, p.traffic, "annex", 43)


def timely_filing(p: Planter) -> Scene:
    """Near-miss R16: an annex system filed 30 days after it went live, and its camera."""
    return _annex(p, p.metro, "annex", 30)


def direction_change(p: Planter) -> Scene:
    """R8: a technician turns a camera to another PTZ preset with no work order."""
    ctx = p.traffic
    rng = p.rng(ctx, "direction-change")
    cam, person = p.unworked(ctx, rng), p.person(ctx, rng, "maintenance")

    def build(times: list[datetime]) -> Built:
        fields = {"camera_id": cam.camera_id, "change": "PTZ_PRESET", "detail": "预置位1改为预置位3",
                  "work_order_id": None}  # fmt: skip
        event = ctx.event("CameraDirectionChanged", fields, person.actor(), times[0])
        why = f"{who(person)} turned camera {cam.camera_id} to another preset with no work order"
        return [event], [Planted.of("R8", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def occlusion_under_work_order(p: Planter) -> Scene:
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
        return events, [Planted.of("R8", "near-miss", why, events[1], cam.camera_id)]

    return Scene(3, build)


def recording_stopped(p: Planter) -> Scene:
    """R9: a supervisor stops a camera's recording with no ticket, and restarts it later."""
    ctx = p.metro
    rng = p.rng(ctx, "recording-stopped")
    cam, person = p.unworked(ctx, rng), p.person(ctx, rng, "supervisor")

    def build(times: list[datetime]) -> Built:
        stopped = {"camera_id": cam.camera_id, "reason": "临时调试", "ticket_id": None}
        events = [
            ctx.event("RecordingStopped", stopped, person.actor(), times[0]),
            ctx.event("RecordingStarted", {"camera_id": cam.camera_id, "ticket_id": None}, person.actor(),
                      times[1]),
        ]  # fmt: skip
        why = f"{who(person)} stopped camera {cam.camera_id}'s recording with no ticket"
        return events, [Planted.of("R9", "violation", why, events[0], cam.camera_id)]

    return Scene(2, build)


def short_outage(p: Planter) -> Scene:
    """Near-miss R9: a camera off line for less than the limit, with no ticket."""
    ctx = p.hospital
    rng = p.rng(ctx, "short-outage")
    cam = p.unworked(ctx, rng)  # an outage of its own, not one a work order's overlaps

    def build(times: list[datetime]) -> Built:
        off = {"camera_id": cam.camera_id, "status": "OFF", "ticket_id": None}
        on = {**off, "status": "ON"}
        events = [
            ctx.event("DeviceStatusChanged", off, ctx.machine("catalog"), times[0]),
            ctx.event("DeviceStatusChanged", on, ctx.machine("catalog"), times[1]),
        ]
        minutes = (times[1] - times[0]) / timedelta(minutes=1)
        why = f"Camera {cam.camera_id} was off line {minutes:.0f} minutes, under the limit, with no ticket"
        return events, [Planted.of("R9", "near-miss", why, events[1], cam.camera_id)]

    return Scene(2, build)


def log_cleared(p: Planter) -> Scene:
    """R11: a supervisor clears the system's operation log with no ticket."""
    ctx = p.hospital
    rng = p.rng(ctx, "log-cleared")
    person = p.person(ctx, rng, "supervisor")

    def build(times: list[datetime]) -> Built:
        fields = {"system_id": ctx.system.system_id, "log_name": "操作日志", "ticket_id": None}
        event = ctx.event("LogCleared", fields, person.actor(), times[0])
        why = f"{who(person)} cleared the operation log of {ctx.system.system_id} with no ticket"
        return [event], [Planted.of("R11", "violation", why, event, None)]

    return Scene(1, build)


def withheld_export(p: Planter) -> Scene:
    """R11: an export the platform signed but never published; the system's next event shows the gap."""
    ctx = p.traffic
    rng = p.rng(ctx, "withheld-export")
    (hidden, shown), person = p.accessed(ctx, rng, 2), p.person(ctx, rng, "operator")
    other = p.person(ctx, rng, "operator")

    def build(times: list[datetime]) -> Built:
        # Lawful traffic is at whole seconds or 50 ms steps: nothing of the system comes between.
        at = times[0] + timedelta(microseconds=123_457)
        window = (whole_second(at - timedelta(hours=3)), whole_second(at - timedelta(hours=2, minutes=50)))
        export = {"access": access_context(hidden.camera_id, window, "事故取证"), "destination": "U盘",
                  "format": "mp4", "watermark_id": None, "file_hash": None}  # fmt: skip
        withheld = replace(ctx.event("FootageExported", export, person.actor(), at), withheld=True)
        view = {"access": access_context(shown.camera_id, window, "事故回放"), "mode": "PLAYBACK"}
        revealing = ctx.event("FootageViewed", view, other.actor(), at + timedelta(microseconds=1))
        why = (
            f"The export by {who(person)} was never published: the next event of {ctx.system.system_id} "
            "skips its sequence number"
        )
        mark = Planted("R11", "violation", why + ".", "FootageViewed", ctx.system.system_id,
                       revealing.occurred_at, None, None)  # fmt: skip
        return [withheld, revealing], [mark]

    return Scene(1, build)


def ntp_correction(p: Planter) -> Scene:
    """Near-miss R11: the clock corrected by NTP by a fraction of a second, no ticket."""
    ctx = p.hospital
    rng = p.rng(ctx, "ntp")

    def build(times: list[datetime]) -> Built:
        delta = rng.choice((-1, 1)) * rng.randint(40, 900)
        fields = {"system_id": ctx.system.system_id, "delta_ms": delta, "ticket_id": None}
        event = ctx.event("ClockChanged", fields, ctx.machine("ntp"), times[0])
        why = f"NTP moved {ctx.system.system_id}'s clock by {delta} ms, with no ticket"
        return [event], [Planted.of("R11", "near-miss", why, event, None)]

    return Scene(1, build)
