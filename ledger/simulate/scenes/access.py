"""Planted scenes of the rules about who sees footage: R4, R5, R6, R7, R12, R13 (and near-misses).

=====  ==========  ========  ==================================================================
rule   kind        system    scenario
=====  ==========  ========  ==================================================================
R4     violation   traffic   an operator's playback recording no reason
R4     violation   metro     an investigator's playback without legal basis or case number
R5     violation   traffic   a playback under an authorization that does not cover the camera
R6     violation   traffic   an authorized export to a USB stick, without watermark or hash
R7     violation   hospital  footage shared with another agency without desensitization
R12    violation   metro     an operator whose team is off today plays back footage
R12    violation   traffic   a technician on duty plays back 160 clips within minutes (the row is
                             the 150th, where the hour reaches the bulk limit)
R13    violation   traffic   a supervisor approves the authorization they requested
R5     near-miss   traffic   a playback of the camera that authorization covers
R6     near-miss   traffic   an export under the same authorization, watermarked and hashed
R12    near-miss   hospital  a technician on duty views a repaired camera's live picture
=====  ==========  ========  ==================================================================

The footage they access was recorded and is deleted by no scene (:meth:`Planter.accessed
<ledger.simulate.scenes.planter.Planter.accessed>`).
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ledger.simulate.city import Camera, Operator
from ledger.simulate.context import access_context, whole_second
from ledger.simulate.data import STATUTE
from ledger.simulate.scenes.planter import Built, Planted, Planter, Scene, past_window, who

BULK_CLIPS = 160
BULK_ROW = 150
"""The clip at which the technician's hour reaches the rules' default bulk minimum."""


def _authorization(
    authorization_id: str,
    *,
    grantee: Operator,
    approver: Operator,
    case: tuple[str, str],
    cameras: Sequence[Camera],
    window: tuple[datetime, datetime],
    granted: datetime,
) -> dict[str, Any]:
    """An ``AccessAuthorized`` the grantee requested: ``case`` is (case number, legal basis)."""
    return {
        "authorization_id": authorization_id,
        "grantee_user_id": grantee.user_id,
        "requester_user_id": grantee.user_id,
        "approver_user_id": approver.user_id,
        "case_number": case[0],
        "legal_basis": case[1],
        "camera_ids": [c.camera_id for c in cameras],
        "footage_start": window[0],
        "footage_end": window[1],
        "expires_at": granted + timedelta(hours=48),
    }


def no_reason(p: Planter) -> Scene:
    """R4: an operator plays back footage recording no reason."""
    ctx = p.traffic
    rng = p.rng(ctx, "no-reason")
    (cam,), person = p.accessed(ctx, rng), p.person(ctx, rng, "operator")

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 1 / 24, 6 / 24, 10)
        fields = {"access": access_context(cam.camera_id, window, None), "mode": "PLAYBACK"}
        event = ctx.event("FootageViewed", fields, person.actor(), times[0])
        why = f"{who(person)} played back footage of camera {cam.camera_id} recording no reason"
        return [event], [Planted.of("R4", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def no_legal_basis(p: Planter) -> Scene:
    """R4: an investigator plays back footage without legal basis or case number."""
    ctx = p.metro
    rng = p.rng(ctx, "no-legal-basis")
    (cam,), person = p.accessed(ctx, rng), p.person(ctx, rng, "investigator")

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 0.2, 2, 30)
        reason = rng.choice(ctx.profile.incident_reasons)
        fields = {"access": access_context(cam.camera_id, window, reason), "mode": "PLAYBACK"}
        event = ctx.event("FootageViewed", fields, person.actor(), times[0])
        why = (
            f"{who(person)} played back footage of camera {cam.camera_id} ({reason}) citing "
            "neither legal basis nor case number"
        )
        return [event], [Planted.of("R4", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def out_of_scope(p: Planter) -> Scene:
    """R5 and its near-miss: an authorization for one camera, a playback of another, one of it."""
    ctx = p.traffic
    rng = p.rng(ctx, "out-of-scope")
    granted, other = p.accessed(ctx, rng, 2)
    grantee, approver = p.person(ctx, rng, "investigator"), p.person(ctx, rng, "supervisor")
    authorization_id = f"SQ{ctx.profile.code}{p.day:%Y%m%d}903"
    case_number = f"A{ctx.profile.police_code}{p.day:%Y%m}{p.day.day:02d}93"
    reason, legal_basis = rng.choice(ctx.profile.cases)

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 0.5, 2, 60)
        authorized = _authorization(
            authorization_id, grantee=grantee, approver=approver, case=(case_number, legal_basis),
            cameras=[granted], window=window, granted=times[0],
        )  # fmt: skip
        events = [ctx.event("AccessAuthorized", authorized, approver.actor(), times[0])]
        planted = []
        for cam, at in zip((other, granted), times[1:], strict=True):
            access = access_context(
                cam.camera_id, window, reason, legal_basis=legal_basis, case_number=case_number,
                authorization_id=authorization_id,
            )  # fmt: skip
            events.append(
                ctx.event("FootageViewed", {"access": access, "mode": "PLAYBACK"}, grantee.actor(), at)
            )
            inside = cam is granted
            why = f"{who(grantee)} played back camera {cam.camera_id} "
            why += f"under authorization {authorization_id}"
            why += ", which covers it" if inside else f", which covers only camera {granted.camera_id}"
            planted.append(
                Planted.of("R5", "near-miss" if inside else "violation", why, events[-1], cam.camera_id)
            )
        return events, planted

    return Scene(3, build)


def exports(p: Planter) -> Scene:
    """R6 and its near-miss: an authorization, an export without watermark and hash, one with."""
    ctx = p.traffic
    rng = p.rng(ctx, "exports")
    cams = p.accessed(ctx, rng, 2)
    grantee, approver = p.person(ctx, rng, "investigator"), p.person(ctx, rng, "supervisor")
    authorization_id = f"SQ{ctx.profile.code}{p.day:%Y%m%d}901"
    case_number = f"A{ctx.profile.police_code}{p.day:%Y%m}{p.day.day:02d}91"
    reason, legal_basis = rng.choice(ctx.profile.cases)

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 0.5, 2, 60)
        fields = _authorization(
            authorization_id, grantee=grantee, approver=approver, case=(case_number, legal_basis),
            cameras=cams, window=window, granted=times[0],
        )  # fmt: skip
        events = [ctx.event("AccessAuthorized", fields, approver.actor(), times[0])]
        planted = []
        for cam, at, marked in zip(cams, times[1:], (False, True), strict=True):
            access = access_context(
                cam.camera_id, window, reason, legal_basis=legal_basis, case_number=case_number,
                authorization_id=authorization_id,
            )  # fmt: skip
            fields = {"access": access, "format": "MP4"}
            if marked:
                fields["destination"] = rng.choice(ctx.profile.destinations)
                fields["watermark_id"] = f"WM{ctx.profile.code}{p.day:%Y%m%d}{rng.getrandbits(32):08X}"
                fields["file_hash"] = f"{rng.getrandbits(256):064x}"
                what = "with watermark and file hash"
            else:
                fields |= {"destination": "个人U盘", "watermark_id": None, "file_hash": None}
                what = "to a USB stick, without watermark or file hash"
            events.append(ctx.event("FootageExported", fields, grantee.actor(), at))
            why = f"{who(grantee)} exported footage of camera {cam.camera_id} "
            why += f"under authorization {authorization_id} {what}"
            planted.append(
                Planted.of("R6", "near-miss" if marked else "violation", why, events[-1], cam.camera_id)
            )
        return events, planted

    return Scene(1 + len(cams), build)


def undesensitized(p: Planter) -> Scene:
    """R7: footage shared with another agency without a desensitization profile."""
    ctx = p.hospital
    rng = p.rng(ctx, "undesensitized")
    (cam,), person = p.accessed(ctx, rng), p.person(ctx, rng, "supervisor")
    recipient = rng.choice(ctx.profile.recipients)

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 0.2, 2, 30)
        access = access_context(
            cam.camera_id,
            window,
            f"应{recipient}来函共享视频",
            legal_basis=f"{STATUTE}第十三条",
            case_number=f"株{ctx.profile.code}共享〔{p.day.year}〕{p.day:%m%d}91号",
        )
        fields = {"access": access, "recipient": recipient, "desensitization_profile": None}
        event = ctx.event("FootageShared", fields, person.actor(), times[0])
        why = (
            f"{who(person)} shared footage of camera {cam.camera_id} with {recipient} without desensitization"
        )
        return [event], [Planted.of("R7", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def off_duty_playback(p: Planter) -> Scene:
    """R12: an operator whose team is off today plays back footage."""
    ctx = p.metro
    rng = p.rng(ctx, "off-duty")
    working = {o.user_id for night in (False, True) for o in ctx.on_duty("operator", p.day, night)}
    working |= {o.user_id for o in ctx.on_duty("operator", p.day - timedelta(days=1), True)}
    person = rng.choice([o for o in ctx.staff["operator"] if o.user_id not in working])
    (cam,) = p.accessed(ctx, rng)

    def build(times: list[datetime]) -> Built:
        window = (
            whole_second(times[0] - timedelta(days=1)),
            whole_second(times[0] - timedelta(days=1, minutes=-20)),
        )
        fields = {"access": access_context(cam.camera_id, window, "查看录像"), "mode": "PLAYBACK"}
        event = ctx.event("FootageViewed", fields, person.actor(), times[0])
        why = f"{who(person)}, whose team is off today, played back footage of camera {cam.camera_id}"
        return [event], [Planted.of("R12", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def bulk_playback(p: Planter) -> Scene:
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
            window = (
                whole_second(at - timedelta(hours=6)),
                whole_second(at - timedelta(hours=5, minutes=50)),
            )
            fields = {"access": access_context(cams[n % len(cams)].camera_id, window, "设备检修核对"),
                      "mode": "PLAYBACK"}  # fmt: skip
            events.append(ctx.event("FootageViewed", fields, person.actor(), at))
        why = f"{who(person)} played back {BULK_CLIPS} clips within minutes"
        mark = Planted.of("R12", "violation", why, events[BULK_ROW - 1], None)
        return events, [mark]

    return Scene(2, build)


def on_duty_check(p: Planter) -> Scene:
    """Near-miss R12: a technician on duty views a repaired camera's live picture."""
    ctx = p.hospital
    rng = p.rng(ctx, "on-duty-check")
    (cam,), person = p.accessed(ctx, rng), p.person(ctx, rng, "maintenance")

    def build(times: list[datetime]) -> Built:
        window = (times[0] - timedelta(minutes=1), times[0])
        fields = {"access": access_context(cam.camera_id, window, "维修后查看画面"), "mode": "LIVE"}
        event = ctx.event("FootageViewed", fields, person.actor(), times[0])
        why = f"{who(person)}, on duty, checked camera {cam.camera_id}'s live picture after a repair"
        return [event], [Planted.of("R12", "near-miss", why, event, cam.camera_id)]

    return Scene(1, build)


def self_approval(p: Planter) -> Scene:
    """R13: a supervisor approves the authorization they requested."""
    ctx = p.traffic
    rng = p.rng(ctx, "self-approval")
    cams = p.accessed(ctx, rng, 2)
    supervisor, grantee = p.person(ctx, rng, "supervisor"), p.person(ctx, rng, "investigator")
    authorization_id = f"SQ{ctx.profile.code}{p.day:%Y%m%d}902"
    reason, legal_basis = rng.choice(ctx.profile.cases)

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 0.5, 3, 60)
        fields: dict[str, Any] = {
            "authorization_id": authorization_id,
            "grantee_user_id": grantee.user_id,
            "requester_user_id": supervisor.user_id,
            "approver_user_id": supervisor.user_id,
            "case_number": f"A{ctx.profile.police_code}{p.day:%Y%m}{p.day.day:02d}92",
            "legal_basis": legal_basis,
            "camera_ids": [c.camera_id for c in cams],
            "footage_start": window[0],
            "footage_end": window[1],
            "expires_at": times[0] + timedelta(hours=24),
        }
        event = ctx.event("AccessAuthorized", fields, supervisor.actor(), times[0])
        why = (
            f"{who(supervisor)} approved authorization {authorization_id} ({reason}) which they "
            f"requested themselves, for {grantee.name} ({grantee.user_id})"
        )
        return [event], [Planted.of("R13", "violation", why, event, None)]

    return Scene(1, build)
