"""Violations planted on purpose in the synthetic traffic, and near-misses that must not fire.

``simulate(..., plant=True)`` (:mod:`ledger.simulate.traffic`) adds to the city's lawful traffic one
small scenario per row below, published by the city's own systems, about its own cameras, by
staff on duty at the time. All of them happen once per run, in the first stretch of a day shift
(08:00-20:00 China time) of at least an hour inside the run, in an order and at times drawn from
the seed. :func:`ledger.simulate.traffic.planted` lists them as :class:`Planted` records, so a demo can
print what was planted next to what the rules (:mod:`projections.rules`) find.

=====  ==========  ========  ==================================================================
rule   kind        system    scenario
=====  ==========  ========  ==================================================================
R10    violation   hospital  a camera registered in the staff changing room
R3     violation   metro     a camera's retention set to 7 days by the administrator
R1     violation   metro     that camera's 10-day-old footage expired under the 7-day policy
R1     violation   traffic   a supervisor deletes 2-6-day-old footage, citing no order
R1     violation   metro     footage older than retention deleted while under a legal hold
R1     violation   traffic   a recorder disk holding two cameras' recent footage formatted
                             (one violation per camera)
R4     violation   traffic   an operator's playback recording no reason
R4     violation   metro     an investigator's playback without legal basis or case number
R6     violation   traffic   an authorized export to a USB stick, without watermark or hash
R7     violation   hospital  footage shared with another agency without desensitization
R13    violation   traffic   a supervisor approves the authorization they requested
R1     near-miss   hospital  31-day-old footage expired under a 30-day policy
R1     near-miss   hospital  2-5-day-old footage deleted under a deletion order (published
                             first) covering the camera and the footage
R1     near-miss   metro     old footage deleted after its legal hold was released
R1     near-miss   metro     an operator's deletion of 1-3-day-old footage, DENIED
R6     near-miss   traffic   an export under the same authorization, watermarked and hashed
=====  ==========  ========  ==================================================================

The scenes of R8, R9, R11 and R12 are in :mod:`ledger.simulate.planting_ops`.

Each planted violation is one violation row the rules must write, with the same rule, camera,
actor and time; a near-miss names the event that must not make any row. Cameras whose footage is
deleted are all different, so the scenarios never explain (or spoil) each other. The planted
stream is not lawful, of course: only the events listed here break the rules.
"""

# ruff: noqa: RUF001 - the Chinese text uses full-width punctuation on purpose
from __future__ import annotations

import itertools
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

from ledger.simulate.data import STATUTE

if TYPE_CHECKING:
    from ledger.simulate.city import Camera, Operator
    from ledger.simulate.traffic import SimEvent, _Ctx

_TRAFFIC, _METRO, _HOSPITAL = "zz-traffic-police", "zz-metro", "zz-central-hospital"
_PIPL = "《中华人民共和国个人信息保护法》第四十七条"


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


Built = tuple[list["SimEvent"], list[Planted]]


@dataclass(frozen=True, slots=True)
class _Scene:
    steps: int  # how many events, so how many times
    build: Callable[[list[datetime]], Built]


def _whole(moment: datetime) -> datetime:
    return moment.replace(microsecond=0)


def _ago(
    rng: random.Random, at: datetime, low_days: float, high_days: float, minutes: float
) -> tuple[datetime, datetime]:
    """A whole-second footage window of about ``minutes`` ending ``low_days``-``high_days`` before ``at``."""
    end = _whole(at - timedelta(days=rng.uniform(low_days, high_days)))
    return end - timedelta(minutes=round(minutes * rng.uniform(0.5, 1.5))), end


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


def _who(person: Operator) -> str:
    return f"{person.role} {person.name} ({person.user_id})"


class _Planter:
    """Picks people and cameras of each system and writes the scenes."""

    def __init__(self, ctxs: Sequence[_Ctx], *, day: date, busy: set[str]) -> None:
        by_id = {ctx.system.system_id: ctx for ctx in ctxs}
        self.traffic, self.metro, self.hospital = (
            by_id.get(system_id, ctxs[n % len(ctxs)])
            for n, system_id in enumerate((_TRAFFIC, _METRO, _HOSPITAL))
        )
        self.day, self.busy = day, busy
        self.deleting: set[str] = set()

    def rng(self, ctx: _Ctx, name: str) -> random.Random:
        """The random stream of one scene."""
        return ctx.rng("plant", self.day, name)

    def person(self, ctx: _Ctx, rng: random.Random, role: str) -> Operator:
        """Someone of ``role`` on the day shift."""
        return rng.choice(ctx.on_duty(role, self.day, False))

    def deleted(
        self, ctx: _Ctx, rng: random.Random, count: int = 1, *, shortest: bool = False
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

    def accessed(self, ctx: _Ctx, rng: random.Random, count: int = 1) -> list[Camera]:
        """Cameras whose footage a scene views, exports or shares: recorded, and deleted by no scene."""
        kept = [c for c in ctx.cams if c.camera_id not in self.deleting]
        recorded = [c for c in kept if c.camera_id not in self.busy]
        pool = next((p for p in (recorded, kept) if len(p) >= count), list(ctx.cams))
        return rng.sample(pool, count)

    def scenes(self) -> list[_Scene]:
        """Every scene, in a fixed order: those deleting footage pick their cameras first."""
        from ledger.simulate.planting_ops import ops_scenes  # noqa: PLC0415 - it builds on this module

        return [
            self.short_policy(), self.young_deletion(), self.held_deletion(), self.format(),
            self.expiry_after_retention(), self.ordered_deletion(), self.released_hold(),
            self.denied_deletion(), self.private_space(), self.no_reason(), self.no_legal_basis(),
            self.exports(), self.undesensitized(), self.self_approval(), self.silent_gap(),
            self.out_of_scope(),
            self.old_gap(),
            *ops_scenes(self),
        ]  # fmt: skip

    # -- violations ---------------------------------------------------------------------------

    def private_space(self) -> _Scene:
        """R10: a camera registered in the staff changing room."""
        ctx = self.hospital
        serials = [int(c.camera_id[-6:]) for c in ctx.cams]
        camera_id = f"{ctx.cams[0].camera_id[:14]}{max(serials) + 1:06d}"
        building = self.rng(ctx, "private-space").choice(("住院部A栋", "住院部B栋", "门诊楼"))
        location = f"{ctx.system.owner}(天元区长江南路){building}医护更衣室"

        def build(times: list[datetime]) -> Built:
            fields = {
                "camera_id": camera_id,
                "system_id": ctx.system.system_id,
                "name": f"{building}医护更衣室",
                "location": location,
                "location_category": "CHANGING_ROOM",
                "notice_sign": False,
                "went_live_on": self.day,
            }
            actor = ctx.registrar()
            event = ctx.event("CameraRegistered", fields, actor, times[0])
            why = f"Camera {camera_id} registered in a staff changing room: {location}"
            return [event], [_plant("R10", "violation", why, event, camera_id)]

        return _Scene(1, build)

    def short_policy(self) -> _Scene:
        """R3 and R1: a camera's retention set to 7 days, then its 10-day-old footage expired."""
        ctx = self.metro
        rng = self.rng(ctx, "short-policy")
        (cam,) = self.deleted(ctx, rng)

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
                _plant(
                    "R3",
                    "violation",
                    f"Retention of camera {cam.camera_id} ({cam.name}) set to 7 days "
                    "by the administrator; the legal minimum is 30",
                    setting,
                    cam.camera_id,
                ),
                _plant(
                    "R1",
                    "violation",
                    f"Footage of camera {cam.camera_id} 10 to 11 days old expired "
                    "automatically under that 7-day policy",
                    expiry,
                    cam.camera_id,
                ),
            ]

        return _Scene(2, build)

    def young_deletion(self) -> _Scene:
        """R1: a supervisor deletes footage days old, inside the retention period, citing no order."""
        ctx = self.traffic
        rng = self.rng(ctx, "young-deletion")
        (cam,), person = self.deleted(ctx, rng), self.person(ctx, rng, "supervisor")

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 2, 6, 40)
            age = (times[0] - window[1]).total_seconds() / 86_400
            fields = {"deletion": _deletion(cam.camera_id, window, "删除与本单位业务无关的录像")}
            event = ctx.event("FootageDeleted", fields, person.actor(), times[0])
            why = (
                f"{_who(person)} deleted {age:.1f}-day-old footage of camera {cam.camera_id}, inside its "
                f"{ctx.retention[cam.camera_id]}-day retention period, citing no deletion order"
            )
            return [event], [_plant("R1", "violation", why, event, cam.camera_id)]

        return _Scene(1, build)

    def _hold(self, ctx: _Ctx, rng: random.Random, cam: Camera, at: datetime, n: int) -> tuple[SimEvent, str]:
        """A legal hold on footage a few days older than the camera's retention period."""
        days = ctx.retention[cam.camera_id]
        hold_id = f"BQ{ctx.profile.code}{self.day:%Y%m%d}{n:02d}"
        window = _ago(rng, at, days + 5, days + 6, 90)
        reason, _ = rng.choice(ctx.profile.cases)
        fields = {
            "hold_id": hold_id,
            "camera_id": cam.camera_id,
            "footage_start": window[0],
            "footage_end": window[1],
            "case_number": f"A{ctx.profile.police_code}{self.day:%Y%m}{self.day.day:02d}{92 + n:02d}",
            "reason": f"{reason}，涉案视频证据保全",
        }
        investigator = self.person(ctx, rng, "investigator")
        return ctx.event("LegalHoldPlaced", fields, investigator.actor(), at), hold_id

    def _cleanup(self, ctx: _Ctx, rng: random.Random, cam: Camera, at: datetime) -> tuple[SimEvent, Operator]:
        """A maintainer deletes footage 3 to 8 days older than the camera's retention period."""
        days, person = ctx.retention[cam.camera_id], self.person(ctx, rng, "maintenance")
        window = (_whole(at - timedelta(days=days + 8)), _whole(at - timedelta(days=days + 3)))
        fields = {"deletion": _deletion(cam.camera_id, window, "清理超期录像，释放存储空间")}
        return ctx.event("FootageDeleted", fields, person.actor(), at), person

    def held_deletion(self) -> _Scene:
        """R1: footage older than its retention period deleted while under a legal hold."""
        ctx = self.metro
        rng = self.rng(ctx, "held-deletion")
        (cam,) = self.deleted(ctx, rng)

        def build(times: list[datetime]) -> Built:
            hold, hold_id = self._hold(ctx, rng, cam, times[0], 1)
            deletion, person = self._cleanup(ctx, rng, cam, times[1])
            why = (
                f"{_who(person)} deleted footage of camera {cam.camera_id} older than its "
                f"{ctx.retention[cam.camera_id]}-day retention period, but under legal hold {hold_id}"
            )
            return [hold, deletion], [_plant("R1", "violation", why, deletion, cam.camera_id)]

        return _Scene(2, build)

    def format(self) -> _Scene:
        """R1: a recorder disk holding two cameras' recent footage formatted."""
        ctx = self.traffic
        rng = self.rng(ctx, "format")
        cams, person = self.deleted(ctx, rng, 2), self.person(ctx, rng, "maintenance")
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
                _plant(
                    "R1",
                    "violation",
                    f"{_who(person)} formatted disk {disk_id}, destroying camera "
                    f"{c.camera_id}'s footage up to the minute, with no deletion order",
                    event,
                    c.camera_id,
                )
                for c in cams
            ]

        return _Scene(1, build)

    def no_reason(self) -> _Scene:
        """R4: an operator plays back footage recording no reason."""
        ctx = self.traffic
        rng = self.rng(ctx, "no-reason")
        (cam,), person = self.accessed(ctx, rng), self.person(ctx, rng, "operator")

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 1 / 24, 6 / 24, 10)
            fields = {"access": access_context(cam.camera_id, window, None), "mode": "PLAYBACK"}
            event = ctx.event("FootageViewed", fields, person.actor(), times[0])
            why = f"{_who(person)} played back footage of camera {cam.camera_id} recording no reason"
            return [event], [_plant("R4", "violation", why, event, cam.camera_id)]

        return _Scene(1, build)

    def no_legal_basis(self) -> _Scene:
        """R4: an investigator plays back footage without legal basis or case number."""
        ctx = self.metro
        rng = self.rng(ctx, "no-legal-basis")
        (cam,), person = self.accessed(ctx, rng), self.person(ctx, rng, "investigator")

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 0.2, 2, 30)
            reason = rng.choice(ctx.profile.incident_reasons)
            fields = {"access": access_context(cam.camera_id, window, reason), "mode": "PLAYBACK"}
            event = ctx.event("FootageViewed", fields, person.actor(), times[0])
            why = (
                f"{_who(person)} played back footage of camera {cam.camera_id} ({reason}) citing "
                "neither legal basis nor case number"
            )
            return [event], [_plant("R4", "violation", why, event, cam.camera_id)]

        return _Scene(1, build)

    def exports(self) -> _Scene:
        """R6 and its near-miss: an authorization, an export without watermark and hash, one with."""
        ctx = self.traffic
        rng = self.rng(ctx, "exports")
        cams = self.accessed(ctx, rng, 2)
        grantee, approver = self.person(ctx, rng, "investigator"), self.person(ctx, rng, "supervisor")
        authorization_id = f"SQ{ctx.profile.code}{self.day:%Y%m%d}901"
        case_number = f"A{ctx.profile.police_code}{self.day:%Y%m}{self.day.day:02d}91"
        reason, legal_basis = rng.choice(ctx.profile.cases)

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 0.5, 2, 60)
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
                    fields["watermark_id"] = f"WM{ctx.profile.code}{self.day:%Y%m%d}{rng.getrandbits(32):08X}"
                    fields["file_hash"] = f"{rng.getrandbits(256):064x}"
                    what = "with watermark and file hash"
                else:
                    fields |= {"destination": "个人U盘", "watermark_id": None, "file_hash": None}
                    what = "to a USB stick, without watermark or file hash"
                events.append(ctx.event("FootageExported", fields, grantee.actor(), at))
                why = f"{_who(grantee)} exported footage of camera {cam.camera_id} "
                why += f"under authorization {authorization_id} {what}"
                planted.append(
                    _plant("R6", "near-miss" if marked else "violation", why, events[-1], cam.camera_id)
                )
            return events, planted

        return _Scene(1 + len(cams), build)

    def out_of_scope(self) -> _Scene:
        """R5 and its near-miss: an authorization for one camera, a playback of another, one of it."""
        ctx = self.traffic
        rng = self.rng(ctx, "out-of-scope")
        granted, other = self.accessed(ctx, rng, 2)
        grantee, approver = self.person(ctx, rng, "investigator"), self.person(ctx, rng, "supervisor")
        authorization_id = f"SQ{ctx.profile.code}{self.day:%Y%m%d}903"
        case_number = f"A{ctx.profile.police_code}{self.day:%Y%m}{self.day.day:02d}93"
        reason, legal_basis = rng.choice(ctx.profile.cases)

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 0.5, 2, 60)
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
                why = f"{_who(grantee)} played back camera {cam.camera_id} "
                why += f"under authorization {authorization_id}"
                why += ", which covers it" if inside else f", which covers only camera {granted.camera_id}"
                planted.append(
                    _plant("R5", "near-miss" if inside else "violation", why, events[-1], cam.camera_id)
                )
            return events, planted

        return _Scene(3, build)

    def undesensitized(self) -> _Scene:
        """R7: footage shared with another agency without a desensitization profile."""
        ctx = self.hospital
        rng = self.rng(ctx, "undesensitized")
        (cam,), person = self.accessed(ctx, rng), self.person(ctx, rng, "supervisor")
        recipient = rng.choice(ctx.profile.recipients)

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 0.2, 2, 30)
            access = access_context(
                cam.camera_id,
                window,
                f"应{recipient}来函共享视频",
                legal_basis=f"{STATUTE}第十三条",
                case_number=f"株{ctx.profile.code}共享〔{self.day.year}〕{self.day:%m%d}91号",
            )
            fields = {"access": access, "recipient": recipient, "desensitization_profile": None}
            event = ctx.event("FootageShared", fields, person.actor(), times[0])
            why = (
                f"{_who(person)} shared footage of camera {cam.camera_id} with {recipient} without "
                "desensitization"
            )
            return [event], [_plant("R7", "violation", why, event, cam.camera_id)]

        return _Scene(1, build)

    def self_approval(self) -> _Scene:
        """R13: a supervisor approves the authorization they requested."""
        ctx = self.traffic
        rng = self.rng(ctx, "self-approval")
        cams = self.accessed(ctx, rng, 2)
        supervisor, grantee = self.person(ctx, rng, "supervisor"), self.person(ctx, rng, "investigator")
        authorization_id = f"SQ{ctx.profile.code}{self.day:%Y%m%d}902"
        reason, legal_basis = rng.choice(ctx.profile.cases)

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 0.5, 3, 60)
            fields: dict[str, Any] = {
                "authorization_id": authorization_id,
                "grantee_user_id": grantee.user_id,
                "requester_user_id": supervisor.user_id,
                "approver_user_id": supervisor.user_id,
                "case_number": f"A{ctx.profile.police_code}{self.day:%Y%m}{self.day.day:02d}92",
                "legal_basis": legal_basis,
                "camera_ids": [c.camera_id for c in cams],
                "footage_start": window[0],
                "footage_end": window[1],
                "expires_at": times[0] + timedelta(hours=24),
            }
            event = ctx.event("AccessAuthorized", fields, supervisor.actor(), times[0])
            why = (
                f"{_who(supervisor)} approved authorization {authorization_id} ({reason}) which they "
                f"requested themselves, for {grantee.name} ({grantee.user_id})"
            )
            return [event], [_plant("R13", "violation", why, event, None)]

        return _Scene(1, build)

    # -- near-misses ----------------------------------------------------------------------------

    def expiry_after_retention(self) -> _Scene:
        """Near-miss R1: footage one day older than the shortest retention period expired."""
        ctx = self.hospital
        rng = self.rng(ctx, "expiry-after-retention")
        (cam,) = self.deleted(ctx, rng, shortest=True)
        days = ctx.retention[cam.camera_id]

        def build(times: list[datetime]) -> Built:
            window = (times[0] - timedelta(days=days + 2), times[0] - timedelta(days=days + 1))
            deletion = _deletion(cam.camera_id, window, f"超过{days}天存储期限，自动循环覆盖")
            fields = {"deletion": deletion, "policy_days": days}
            event = ctx.event("FootageExpired", fields, ctx.machine("storage"), times[0])
            why = f"{days + 1}-day-old footage of camera {cam.camera_id} expired under its {days}-day policy"
            return [event], [_plant("R1", "near-miss", why, event, cam.camera_id)]

        return _Scene(1, build)

    def ordered_deletion(self) -> _Scene:
        """Near-miss R1: recent footage deleted under a deletion order covering it."""
        ctx = self.hospital
        rng = self.rng(ctx, "ordered-deletion")
        (cam,) = self.deleted(ctx, rng)
        approver, person = self.person(ctx, rng, "supervisor"), self.person(ctx, rng, "maintenance")
        order_id = f"SC{ctx.profile.code}{self.day:%Y%m%d}01"

        def build(times: list[datetime]) -> Built:
            ordered = _ago(rng, times[0], 2, 5, 30)
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
                f"{_who(person)} deleted recent footage of camera {cam.camera_id} under deletion order "
                f"{order_id}, approved by {approver.name} and covering the camera and the footage"
            )
            return [order, event], [_plant("R1", "near-miss", why, event, cam.camera_id)]

        return _Scene(2, build)

    def released_hold(self) -> _Scene:
        """Near-miss R1: footage older than retention deleted after its legal hold was released."""
        ctx = self.metro
        rng = self.rng(ctx, "released-hold")
        (cam,) = self.deleted(ctx, rng)

        def build(times: list[datetime]) -> Built:
            hold, hold_id = self._hold(ctx, rng, cam, times[0], 2)
            fields = {"hold_id": hold_id, "reason": "案件已移送起诉，证据已另行固定，解除保全"}
            release = ctx.event("LegalHoldReleased", fields, hold.actor, times[1])
            deletion, person = self._cleanup(ctx, rng, cam, times[2])
            why = (
                f"{_who(person)} deleted footage of camera {cam.camera_id} older than its retention "
                f"period after legal hold {hold_id} on it was released"
            )
            return [hold, release, deletion], [_plant("R1", "near-miss", why, deletion, cam.camera_id)]

        return _Scene(3, build)

    def _inventory(
        self, ctx: _Ctx, cam: Camera, at: datetime, held: int, gap: tuple[datetime, datetime]
    ) -> SimEvent:
        fields = {
            "camera_id": cam.camera_id,
            "earliest_available": at - timedelta(days=held),
            "latest_available": at - timedelta(seconds=7),
            "gaps": [{"start": gap[0], "end": gap[1]}],
        }
        return ctx.event("FootageInventoryReported", fields, ctx.machine("recorder"), at)

    def silent_gap(self) -> _Scene:
        """R2: the recorder reports three hours of five-day-old footage gone, and nothing logged it."""
        ctx = self.metro
        rng = self.rng(ctx, "silent-gap")
        (cam,) = self.deleted(ctx, rng)

        def build(times: list[datetime]) -> Built:
            start = _whole(times[0] - timedelta(days=5, hours=rng.uniform(1, 6)))
            event = self._inventory(
                ctx, cam, times[0], ctx.retention[cam.camera_id], (start, start + timedelta(hours=3))
            )
            why = (
                f"Camera {cam.camera_id}'s recorder reports 3 hours of 5-day-old footage missing, "
                "with no deletion, expiry or outage logged: a silent deletion"
            )
            return [event], [_plant("R2", "violation", why, event, cam.camera_id)]

        return _Scene(1, build)

    def old_gap(self) -> _Scene:
        """Near-miss R2: a recorder that keeps footage longer reports a gap older than retention."""
        ctx = self.hospital
        rng = self.rng(ctx, "old-gap")
        (cam,) = self.deleted(ctx, rng, shortest=True)
        days = ctx.retention[cam.camera_id]

        def build(times: list[datetime]) -> Built:
            start = _whole(times[0] - timedelta(days=days + 5))
            event = self._inventory(ctx, cam, times[0], days + 10, (start, start + timedelta(hours=3)))
            why = (
                f"Camera {cam.camera_id}'s recorder, keeping {days + 10} days, reports a gap "
                f"{days + 5} days back, beyond its {days}-day retention period"
            )
            return [event], [_plant("R2", "near-miss", why, event, cam.camera_id)]

        return _Scene(1, build)

    def denied_deletion(self) -> _Scene:
        """Near-miss R1: an operator's deletion of recent footage, refused by the platform."""
        ctx = self.metro
        rng = self.rng(ctx, "denied-deletion")
        (cam,), person = self.deleted(ctx, rng), self.person(ctx, rng, "operator")

        def build(times: list[datetime]) -> Built:
            window = _ago(rng, times[0], 1, 3, 20)
            deletion = _deletion(cam.camera_id, window, "删除录像", outcome="DENIED")
            event = ctx.event("FootageDeleted", {"deletion": deletion}, person.actor(), times[0])
            why = f"{_who(person)} tried to delete recent footage of camera {cam.camera_id}: refused"
            return [event], [_plant("R1", "near-miss", why, event, cam.camera_id)]

        return _Scene(1, build)


def _plant(
    rule: str,
    kind: Literal["violation", "near-miss"],
    description: str,
    event: SimEvent,
    camera_id: str | None,
) -> Planted:
    return Planted(
        rule,
        kind,
        description + ".",
        event.event_type,
        event.source_id,
        event.occurred_at,
        camera_id,
        event.actor["user_id"],
    )


def plant_scenes(
    ctxs: Sequence[_Ctx], *, seed: int, day: date, window: tuple[datetime, datetime], busy: set[str]
) -> Built:
    """The planted events of a run, in time order, and what they plant, in time order.

    ``day``: the China date of the day shift the scenes happen in; ``window``: the part of that
    shift inside the run (at least an hour); ``busy``: cameras with an outage around it, whose
    footage the scenes do not access.
    """
    planter = _Planter(ctxs, day=day, busy=busy)
    scenes = planter.scenes()
    rng = random.Random(f"liuhen-plant|{seed}|{day}")  # noqa: S311 - a reproducible simulation
    rng.shuffle(scenes)
    low, high = window
    slot = (high - low) / len(scenes)
    events: list[SimEvent] = []
    planted: list[Planted] = []
    for n, scene in enumerate(scenes):
        t = low + slot * (n + rng.uniform(0.02, 0.2))
        times = [t]
        for _ in range(scene.steps - 1):
            t += slot * rng.uniform(0.1, 0.25)
            times.append(t)
        built, marks = scene.build([_whole(t) for t in times])
        events += built
        planted += marks
    assert all(low <= e.occurred_at < high for e in events)
    assert all(a.occurred_at < b.occurred_at for a, b in itertools.pairwise(events))
    return events, planted
