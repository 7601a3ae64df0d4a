"""Planted scenes of the rules about keeping footage: R1, R2 and R3 (and near-misses).

=====  ==========  ========  ==================================================================
rule   kind        system    scenario
=====  ==========  ========  ==================================================================
R3     violation   metro     a camera's retention set to 7 days by the administrator
R1     violation   metro     that camera's 10-day-old footage expired under the 7-day policy
R1     violation   traffic   a supervisor deletes 2-6-day-old footage, citing no order
R1     violation   metro     footage older than retention deleted while under a legal hold
R1     violation   traffic   a recorder disk holding two cameras' recent footage formatted
                             (one violation per camera)
R2     violation   metro     a recorder reports three hours of five-day-old footage missing,
                             with no deletion, expiry or outage logged
R1     near-miss   hospital  31-day-old footage expired under a 30-day policy
R1     near-miss   hospital  2-5-day-old footage deleted under a deletion order (published
                             first) covering the camera and the footage
R1     near-miss   metro     old footage deleted after its legal hold was released
R1     near-miss   metro     an operator's deletion of 1-3-day-old footage, DENIED
R2     near-miss   hospital  a recorder keeping footage longer reports a gap older than retention
R17    violation   metro     a recorder still holds footage five days past the R17 limit
                             (twice the retention period, at least 30 days more), no hold
R17    near-miss   traffic   a recorder holds footage two days short of that limit
=====  ==========  ========  ==================================================================

Cameras whose footage is deleted are all different (:meth:`Planter.deleted
<ledger.simulate.scenes.planter.Planter.deleted>`), so the scenes never explain (or spoil) each other.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from ledger.simulate.city import Camera, Operator
from ledger.simulate.context import SimEvent, SystemContext, whole_second
from ledger.simulate.scenes.planter import Built, Planted, Planter, Scene, past_window, who

_PIPL = "《中华人民共和国个人信息保护法》第四十七条"


def _deletion(
    camera_id: str,
    window: tuple[datetime, datetime],
    reason: str,
    *,
    order: str | None = None,
    outcome: str = "ALLOWED",
) -> dict[str, Any]:
    return {
        "camera_id": camera_id,
        "footage_start": window[0],
        "footage_end": window[1],
        "deletion_order_id": order,
        "reason": reason,
        "outcome": outcome,
    }


def short_policy(p: Planter) -> Scene:
    """R3 and R1: a camera's retention set to 7 days, then its 10-day-old footage expired."""
    ctx = p.metro
    rng = p.rng(ctx, "short-policy")
    (cam,) = p.deleted(ctx, rng)

    def build(times: list[datetime]) -> Built:
        policy = {"system_id": ctx.system.system_id, "camera_id": cam.camera_id, "retention_days": 7}
        setting = ctx.event("RetentionPolicySet", policy, ctx.registrar(), times[0])
        window = (times[1] - timedelta(days=11), times[1] - timedelta(days=10))
        fields = {
            "deletion": _deletion(cam.camera_id, window, "超过7天存储期限，自动循环覆盖"),
            "policy_days": 7,
        }
        expiry = ctx.event("FootageExpired", fields, ctx.machine("storage"), times[1])
        return [setting, expiry], [
            Planted.of(
                "R3",
                "violation",
                f"Retention of camera {cam.camera_id} ({cam.name}) set to 7 days "
                "by the administrator; the legal minimum is 30",
                setting,
                cam.camera_id,
            ),
            Planted.of(
                "R1",
                "violation",
                f"Footage of camera {cam.camera_id} 10 to 11 days old expired "
                "automatically under that 7-day policy",
                expiry,
                cam.camera_id,
            ),
        ]

    return Scene(2, build)


def young_deletion(p: Planter) -> Scene:
    """R1: a supervisor deletes footage days old, inside the retention period, citing no order."""
    ctx = p.traffic
    rng = p.rng(ctx, "young-deletion")
    (cam,), person = p.deleted(ctx, rng), p.person(ctx, rng, "supervisor")

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 2, 6, 40)
        age = (times[0] - window[1]).total_seconds() / 86_400
        fields = {"deletion": _deletion(cam.camera_id, window, "删除与本单位业务无关的录像")}
        event = ctx.event("FootageDeleted", fields, person.actor(), times[0])
        why = (
            f"{who(person)} deleted {age:.1f}-day-old footage of camera {cam.camera_id}, inside its "
            f"{ctx.retention[cam.camera_id]}-day retention period, citing no deletion order"
        )
        return [event], [Planted.of("R1", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def _hold(
    p: Planter, ctx: SystemContext, rng: random.Random, cam: Camera, at: datetime, *, serial: int
) -> tuple[SimEvent, str]:
    """A legal hold on footage a few days older than the camera's retention period."""
    days = ctx.retention[cam.camera_id]
    hold_id = f"BQ{ctx.profile.code}{p.day:%Y%m%d}{serial:02d}"
    window = past_window(rng, at, days + 5, days + 6, 90)
    reason, _ = rng.choice(ctx.profile.cases)
    fields = {
        "hold_id": hold_id,
        "camera_id": cam.camera_id,
        "footage_start": window[0],
        "footage_end": window[1],
        "case_number": f"A{ctx.profile.police_code}{p.day:%Y%m}{p.day.day:02d}{92 + serial:02d}",
        "reason": f"{reason}，涉案视频证据保全",
    }
    investigator = p.person(ctx, rng, "investigator")
    return ctx.event("LegalHoldPlaced", fields, investigator.actor(), at), hold_id


def _cleanup(
    p: Planter, ctx: SystemContext, rng: random.Random, cam: Camera, at: datetime
) -> tuple[SimEvent, Operator]:
    """A maintainer deletes footage 3 to 8 days older than the camera's retention period."""
    days, person = ctx.retention[cam.camera_id], p.person(ctx, rng, "maintenance")
    window = (whole_second(at - timedelta(days=days + 8)), whole_second(at - timedelta(days=days + 3)))
    fields = {"deletion": _deletion(cam.camera_id, window, "清理超期录像，释放存储空间")}
    return ctx.event("FootageDeleted", fields, person.actor(), at), person


def held_deletion(p: Planter) -> Scene:
    """R1: footage older than its retention period deleted while under a legal hold."""
    ctx = p.metro
    rng = p.rng(ctx, "held-deletion")
    (cam,) = p.deleted(ctx, rng)

    def build(times: list[datetime]) -> Built:
        hold, hold_id = _hold(p, ctx, rng, cam, times[0], serial=1)
        deletion, person = _cleanup(p, ctx, rng, cam, times[1])
        why = (
            f"{who(person)} deleted footage of camera {cam.camera_id} older than its "
            f"{ctx.retention[cam.camera_id]}-day retention period, but under legal hold {hold_id}"
        )
        return [hold, deletion], [Planted.of("R1", "violation", why, deletion, cam.camera_id)]

    return Scene(2, build)


def formatted_disk(p: Planter) -> Scene:
    """R1: a recorder disk holding two cameras' recent footage formatted."""
    ctx = p.traffic
    rng = p.rng(ctx, "format")
    cams, person = p.deleted(ctx, rng, 2), p.person(ctx, rng, "maintenance")
    disk_id = f"{ctx.profile.code}-NVR{rng.randint(1, 16):02d}-HDD{rng.randint(1, 8)}"

    def build(times: list[datetime]) -> Built:
        fields = {
            "disk_id": disk_id,
            "camera_ids": [c.camera_id for c in cams],
            "footage_start": None,
            "footage_end": None,
            "deletion_order_id": None,
            "reason": "硬盘报坏道，现场格式化后重建",
            "outcome": "ALLOWED",
        }
        event = ctx.event("DiskFormatted", fields, person.actor(), times[0])
        return [event], [
            Planted.of(
                "R1",
                "violation",
                f"{who(person)} formatted disk {disk_id}, destroying camera "
                f"{c.camera_id}'s footage up to the minute, with no deletion order",
                event,
                c.camera_id,
            )
            for c in cams
        ]

    return Scene(1, build)


def _inventory_report(
    ctx: SystemContext, cam: Camera, at: datetime, held: int, gap: tuple[datetime, datetime]
) -> SimEvent:
    fields = {
        "camera_id": cam.camera_id,
        "earliest_available": at - timedelta(days=held),
        "latest_available": at - timedelta(seconds=7),
        "gaps": [{"start": gap[0], "end": gap[1]}],
    }
    return ctx.event("FootageInventoryReported", fields, ctx.machine("recorder"), at)


def silent_gap(p: Planter) -> Scene:
    """R2: the recorder reports three hours of five-day-old footage gone, and nothing logged it."""
    ctx = p.metro
    rng = p.rng(ctx, "silent-gap")
    (cam,) = p.deleted(ctx, rng)

    def build(times: list[datetime]) -> Built:
        start = whole_second(times[0] - timedelta(days=5, hours=rng.uniform(1, 6)))
        event = _inventory_report(
            ctx, cam, times[0], ctx.retention[cam.camera_id], (start, start + timedelta(hours=3))
        )
        why = (
            f"Camera {cam.camera_id}'s recorder reports 3 hours of 5-day-old footage missing, "
            "with no deletion, expiry or outage logged: a silent deletion"
        )
        return [event], [Planted.of("R2", "violation", why, event, cam.camera_id)]

    return Scene(1, build)


def expiry_after_retention(p: Planter) -> Scene:
    """Near-miss R1: footage one day older than the shortest retention period expired."""
    ctx = p.hospital
    rng = p.rng(ctx, "expiry-after-retention")
    (cam,) = p.deleted(ctx, rng, shortest=True)
    days = ctx.retention[cam.camera_id]

    def build(times: list[datetime]) -> Built:
        window = (times[0] - timedelta(days=days + 2), times[0] - timedelta(days=days + 1))
        deletion = _deletion(cam.camera_id, window, f"超过{days}天存储期限，自动循环覆盖")
        fields = {"deletion": deletion, "policy_days": days}
        event = ctx.event("FootageExpired", fields, ctx.machine("storage"), times[0])
        why = f"{days + 1}-day-old footage of camera {cam.camera_id} expired under its {days}-day policy"
        return [event], [Planted.of("R1", "near-miss", why, event, cam.camera_id)]

    return Scene(1, build)


def ordered_deletion(p: Planter) -> Scene:
    """Near-miss R1: recent footage deleted under a deletion order covering it."""
    ctx = p.hospital
    rng = p.rng(ctx, "ordered-deletion")
    (cam,) = p.deleted(ctx, rng)
    approver, person = p.person(ctx, rng, "supervisor"), p.person(ctx, rng, "maintenance")
    order_id = f"SC{ctx.profile.code}{p.day:%Y%m%d}01"

    def build(times: list[datetime]) -> Built:
        ordered = past_window(rng, times[0], 2, 5, 30)
        fields = {
            "order_id": order_id,
            "camera_id": cam.camera_id,
            "footage_start": ordered[0] - timedelta(minutes=5),
            "footage_end": ordered[1] + timedelta(minutes=5),
            "approver_user_id": approver.user_id,
            "legal_basis": _PIPL,
            "reason": "当事人申请删除误摄的个人隐私画面，经审批同意",
        }
        order = ctx.event("DeletionOrdered", fields, approver.actor(), times[0])
        deletion = _deletion(cam.camera_id, ordered, "依删除审批单删除", order=order_id)
        event = ctx.event("FootageDeleted", {"deletion": deletion}, person.actor(), times[1])
        why = (
            f"{who(person)} deleted recent footage of camera {cam.camera_id} under deletion order "
            f"{order_id}, approved by {approver.name} and covering the camera and the footage"
        )
        return [order, event], [Planted.of("R1", "near-miss", why, event, cam.camera_id)]

    return Scene(2, build)


def released_hold(p: Planter) -> Scene:
    """Near-miss R1: footage older than retention deleted after its legal hold was released."""
    ctx = p.metro
    rng = p.rng(ctx, "released-hold")
    (cam,) = p.deleted(ctx, rng)

    def build(times: list[datetime]) -> Built:
        hold, hold_id = _hold(p, ctx, rng, cam, times[0], serial=2)
        fields = {"hold_id": hold_id, "reason": "案件已移送起诉，证据已另行固定，解除保全"}
        release = ctx.event("LegalHoldReleased", fields, hold.actor, times[1])
        deletion, person = _cleanup(p, ctx, rng, cam, times[2])
        why = (
            f"{who(person)} deleted footage of camera {cam.camera_id} older than its retention "
            f"period after legal hold {hold_id} on it was released"
        )
        return [hold, release, deletion], [Planted.of("R1", "near-miss", why, deletion, cam.camera_id)]

    return Scene(3, build)


def denied_deletion(p: Planter) -> Scene:
    """Near-miss R1: an operator's deletion of recent footage, refused by the platform."""
    ctx = p.metro
    rng = p.rng(ctx, "denied-deletion")
    (cam,), person = p.deleted(ctx, rng), p.person(ctx, rng, "operator")

    def build(times: list[datetime]) -> Built:
        window = past_window(rng, times[0], 1, 3, 20)
        deletion = _deletion(cam.camera_id, window, "删除录像", outcome="DENIED")
        event = ctx.event("FootageDeleted", {"deletion": deletion}, person.actor(), times[0])
        why = f"{who(person)} tried to delete recent footage of camera {cam.camera_id}: refused"
        return [event], [Planted.of("R1", "near-miss", why, event, cam.camera_id)]

    return Scene(1, build)


def old_gap(p: Planter) -> Scene:
    """Near-miss R2: a recorder that keeps footage longer reports a gap older than retention."""
    ctx = p.hospital
    rng = p.rng(ctx, "old-gap")
    (cam,) = p.deleted(ctx, rng, shortest=True)
    days = ctx.retention[cam.camera_id]

    def build(times: list[datetime]) -> Built:
        start = whole_second(times[0] - timedelta(days=days + 5))
        event = _inventory_report(ctx, cam, times[0], days + 10, (start, start + timedelta(hours=3)))
        why = (
            f"Camera {cam.camera_id}'s recorder, keeping {days + 10} days, reports a gap "
            f"{days + 5} days back, beyond its {days}-day retention period"
        )
        return [event], [Planted.of("R2", "near-miss", why, event, cam.camera_id)]

    return Scene(1, build)


def _kept(p: Planter, name: str, ctx: SystemContext, beyond: int, rule_kind: str) -> Scene:
    """An inventory showing footage kept ``beyond`` days past the R17 limit (negative: short of it)."""
    rng = p.rng(ctx, name)
    (cam,) = p.deleted(ctx, rng)
    days = ctx.retention[cam.camera_id]
    limit = max(2 * days, days + 30)

    def build(times: list[datetime]) -> Built:
        old = whole_second(times[0] - timedelta(days=limit + beyond - 1))  # a gap in the old footage
        event = _inventory_report(ctx, cam, times[0], limit + beyond, (old, old + timedelta(hours=1)))
        age = f"{limit + beyond}-day-old footage, {abs(beyond)} days {'past' if beyond > 0 else 'short of'}"
        why = f"Camera {cam.camera_id}'s recorder still holds {age} the {limit}-day limit, with no hold"
        kind: Any = rule_kind
        return [event], [Planted.of("R17", kind, why, event, cam.camera_id)]

    return Scene(1, build)


def overkept(p: Planter) -> Scene:
    """R17: a recorder still holds footage five days past the limit, with no hold on it."""
    return _kept(p, "overkept", p.metro, 5, "violation")


def kept_to_the_limit(p: Planter) -> Scene:
    """Near-miss R17: a recorder holds footage two days short of the limit."""
    return _kept(p, "kept-to-the-limit", p.traffic, -2, "near-miss")
