"""Verdicts are a function of the set of ledger entries: the order they arrive in changes nothing.

Hypothesis draws small worlds of every kind of fact the rules weigh — retention policies, system
and camera registrations, deletion orders, legal holds and their releases, device outages and
inventories, work orders and camera alarms, authorizations and Art. 14 applications, duty shifts
— with the acts they judge (deletions, views under grants, views on and off duty). Each world is
published by two sources in several arrival orders (as given, reversed, and shuffled), every
order through the real log writer into its own SQLite ledger, and projected in two steps (part of
the ledger, then the rest, so late facts meet acts already judged). The violations and the
investigators' answers must be the same for every order, evidence named by event, not position.

All facts are logged within the hour: none is late evidence (R14), none is dated far from its
ledger time (R15). What late facts do to verdicts is :mod:`tests.test_late_evidence`'s.
"""

from __future__ import annotations

import difflib
import json
import pprint
import uuid
from collections.abc import Mapping
from contextlib import closing
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import hypothesis.strategies as st
import pytest
from hypothesis import HealthCheck, given, settings

from projections.queries import actor, case, violations, who
from projections.runner import ProjectionRunner, open_db
from tests.events import OfflineLedger, decode

NOW = datetime(2031, 6, 1, 12, 0, tzinfo=UTC)
LOGGED = NOW + timedelta(minutes=30)  # every fact reaches the ledger within the hour
SYSTEM, CAM_A, CAM_B = "zz-metro", "43020200001310000001", "43020200001310000002"
PLATFORM, POLICE = "zz-metro", "zz-police"
UNIT = "株洲轨道交通"
ADMIN = {"kind": "PERSON", "user_id": "u0007", "name": "李强", "unit": UNIT, "role": "admin"}
VMS = {"kind": "SYSTEM", "user_id": "vms-storage", "name": "录像存储", "unit": UNIT, "role": "system"}
ON_DUTY = {"kind": "PERSON", "user_id": "u2001", "name": "周敏", "unit": UNIT, "role": "operator"}
OFF_DUTY = {**ON_DUTY, "user_id": "u2002", "name": "吴刚"}
INVESTIGATOR = {
    "kind": "PERSON",
    "user_id": "p3301",
    "name": "王芳",
    "unit": "天元分局",
    "role": "investigator",
}
BASIS = "《刑事诉讼法》第一百三十七条"


def hours(n: float) -> timedelta:
    return timedelta(hours=n)


def footage(days_old: float, minutes: int = 30) -> tuple[datetime, datetime]:
    start = NOW - timedelta(days=days_old)
    return start, start + timedelta(minutes=minutes)


@dataclass(frozen=True)
class Fact:
    """One event of a world: its label (its event id derives from it), source, type, time, actor, fields."""

    label: str
    source: str
    event_type: str
    at: datetime
    by: Mapping[str, Any]
    fields: Mapping[str, Any]

    @property
    def event_id(self) -> uuid.UUID:
        return uuid.uuid5(uuid.NAMESPACE_URL, f"liuhen-test:{self.label}")


def _registrations(draw: st.DrawFn) -> list[Fact]:
    system = {"name": "轨交视频系统", "owner": "株洲轨道交通", "manager": "李强"}
    facts = [
        Fact(
            "system",
            PLATFORM,
            "SystemRegistered",
            NOW - hours(20),
            ADMIN,
            {**system, "system_id": SYSTEM, "retention_days": draw(st.sampled_from([30, 60]))},
        )
    ]
    place = {
        "system_id": SYSTEM,
        "location": "神农城站",
        "location_category": "TRANSPORT_HUB",
        "notice_sign": True,
    }
    facts += [
        Fact(
            f"camera-{camera[-1]}",
            PLATFORM,
            "CameraRegistered",
            NOW - hours(19),
            ADMIN,
            {"camera_id": camera, "name": "站台", **place},
        )
        for camera in (CAM_A, CAM_B)
    ]
    if draw(st.booleans()):
        scope = draw(st.sampled_from([None, CAM_A]))
        days = draw(st.sampled_from([30, 90]))
        facts.append(
            Fact(
                "policy",
                PLATFORM,
                "RetentionPolicySet",
                NOW - hours(18),
                ADMIN,
                {"system_id": SYSTEM, "camera_id": scope, "retention_days": days},
            )
        )
    return facts


def _deletions(draw: st.DrawFn) -> list[Fact]:
    """Deletions on camera A, and the orders, holds and releases that judge them."""
    facts = []
    age = draw(st.sampled_from([2, 45, 100]))
    start, end = footage(age)
    cites = draw(st.booleans())
    context = {"camera_id": CAM_A, "footage_start": start, "footage_end": end, "outcome": "ALLOWED"}
    if cites:
        context["deletion_order_id"] = "O-1"
    facts.append(Fact("deleted", PLATFORM, "FootageDeleted", NOW - hours(2), ADMIN, {"deletion": context}))
    if cites and draw(st.booleans()):
        covers = draw(st.booleans())
        window = (start, end) if covers else (end, end + hours(1))
        order = {
            "order_id": "O-1",
            "camera_id": CAM_A,
            "footage_start": window[0],
            "footage_end": window[1],
            "approver_user_id": "u0007",
            "legal_basis": "《个保法》第四十七条",
            "reason": "误录隐私画面",
        }
        facts.append(
            Fact(
                "order", PLATFORM, "DeletionOrdered", NOW - hours(draw(st.sampled_from([3, 1]))), ADMIN, order
            )
        )
    if draw(st.booleans()):
        hold = {
            "hold_id": "H-1",
            "camera_id": CAM_A,
            "footage_start": start - hours(1),
            "footage_end": end + hours(1),
            "case_number": "A-7",
            "reason": "逃逸案",
        }
        facts.append(Fact("hold", POLICE, "LegalHoldPlaced", NOW - hours(10), INVESTIGATOR, hold))
        if draw(st.booleans()):
            released = NOW - hours(draw(st.sampled_from([5, 1])))
            facts.append(
                Fact(
                    "release",
                    POLICE,
                    "LegalHoldReleased",
                    released,
                    INVESTIGATOR,
                    {"hold_id": "H-1", "reason": "结案"},
                )
            )
    return facts


def _outages(draw: st.DrawFn) -> list[Fact]:
    """Camera B: an outage, an inventory with a gap, a work order, an alarm."""
    facts = []
    off_at = NOW - hours(draw(st.sampled_from([12, 9])))
    on_at = off_at + hours(draw(st.sampled_from([1, 4])))
    status = {"camera_id": CAM_B, "ticket_id": None}
    if draw(st.booleans()):
        facts.append(Fact("off", PLATFORM, "DeviceStatusChanged", off_at, VMS, {**status, "status": "OFF"}))
        if draw(st.booleans()):
            facts.append(Fact("on", PLATFORM, "DeviceStatusChanged", on_at, VMS, {**status, "status": "ON"}))
    if draw(st.booleans()):
        gap = {"start": off_at, "end": off_at + hours(draw(st.sampled_from([1, 6])))}
        inventory = {
            "camera_id": CAM_B,
            "earliest_available": NOW - timedelta(days=29),
            "latest_available": NOW - hours(1),
            "gaps": [gap],
        }
        facts.append(
            Fact(
                "inventory",
                PLATFORM,
                "FootageInventoryReported",
                NOW - hours(draw(st.sampled_from([6, 1]))),
                VMS,
                inventory,
            )
        )
    if draw(st.booleans()):
        order = {
            "work_order_id": "WO-1",
            "kind": "MAINTENANCE",
            "system_id": SYSTEM,
            "camera_ids": draw(st.sampled_from([[], [CAM_B]])),
            "reason": "镜头清洁",
        }
        facts.append(
            Fact(
                "work-order",
                PLATFORM,
                "WorkOrderOpened",
                NOW - hours(draw(st.sampled_from([11, 7]))),
                ADMIN,
                order,
            )
        )
        if draw(st.booleans()):
            facts.append(
                Fact(
                    "work-done",
                    PLATFORM,
                    "WorkOrderClosed",
                    NOW - hours(draw(st.sampled_from([8, 4]))),
                    ADMIN,
                    {"work_order_id": "WO-1", "resolution": None},
                )
            )
    if draw(st.booleans()):
        facts.append(
            Fact(
                "alarm",
                PLATFORM,
                "CameraTamperAlarm",
                NOW - hours(6),
                VMS,
                {"camera_id": CAM_B, "alarm": "OCCLUSION", "work_order_id": None},
            )
        )
    return facts


def _grants(draw: st.DrawFn) -> list[Fact]:
    """Views by an investigator under an authorization and an application, granted or not."""
    facts = []
    start, end = footage(3)
    if draw(st.booleans()):
        cameras = draw(st.sampled_from([[CAM_A], [CAM_B]]))
        grant = {
            "authorization_id": "AUTH-1",
            "grantee_user_id": "p3301",
            "requester_user_id": "p3301",
            "approver_user_id": draw(st.sampled_from(["u0007", "p3301"])),
            "case_number": "A-1",
            "legal_basis": BASIS,
            "camera_ids": cameras,
            "footage_start": start - hours(1),
            "footage_end": end + hours(1),
            "expires_at": NOW + timedelta(days=7),
        }
        facts.append(
            Fact(
                "authorization",
                POLICE,
                "AccessAuthorized",
                NOW - hours(draw(st.sampled_from([8, 3]))),
                {**ADMIN, "user_id": grant["approver_user_id"]},
                grant,
            )
        )
    under = {
        "camera_id": CAM_A,
        "footage_start": start,
        "footage_end": end,
        "reason": "查案",
        "outcome": "ALLOWED",
        "legal_basis": BASIS,
        "case_number": "A-1",
    }
    facts.append(
        Fact(
            "view-auth",
            POLICE,
            "FootageViewed",
            NOW - hours(5),
            INVESTIGATOR,
            {"access": {**under, "authorization_id": "AUTH-1"}, "mode": "PLAYBACK"},
        )
    )
    if draw(st.booleans()):
        facts.append(
            Fact(
                "application",
                POLICE,
                "ApplicationFiled",
                NOW - hours(9),
                INVESTIGATOR,
                {
                    "application_id": "APP-1",
                    "applicant_name": "张某",
                    "relationship": "父亲",
                    "missing_person_category": "CHILD",
                    "description": "走失",
                },
            )
        )
        if draw(st.booleans()):
            decision = {
                "application_id": "APP-1",
                "approver_user_id": "u0007",
                "handler_user_id": "p3301",
                "camera_ids": [CAM_A],
                "footage_start": start,
                "footage_end": end,
                "expires_at": NOW + timedelta(days=1),
            }
            facts.append(Fact("approval", POLICE, "ApplicationApproved", NOW - hours(8), ADMIN, decision))
        facts.append(
            Fact(
                "view-app",
                POLICE,
                "FootageViewed",
                NOW - hours(4),
                INVESTIGATOR,
                {"access": {**under, "application_id": "APP-1"}, "mode": "PLAYBACK"},
            )
        )
    return facts


def _duty(draw: st.DrawFn) -> list[Fact]:
    """Views by two operators of one unit, and the duty shift that names one of them (or not)."""
    facts = []
    start, end = footage(1)
    view = {
        "access": {
            "camera_id": CAM_B,
            "footage_start": start,
            "footage_end": end,
            "reason": "巡查回放",
            "outcome": "ALLOWED",
        },
        "mode": "PLAYBACK",
    }
    if draw(st.booleans()):
        shift = {
            "user_id": "u2001",
            "unit": UNIT,
            "post": "监控值班",
            "shift_start": NOW - hours(draw(st.sampled_from([6, 3]))),
            "shift_end": NOW,
        }
        facts.append(Fact("shift", PLATFORM, "DutyShiftAssigned", NOW - hours(12), ADMIN, shift))
    facts.append(Fact("view-on", PLATFORM, "FootageViewed", NOW - hours(4), ON_DUTY, view))
    facts.append(Fact("view-off", PLATFORM, "FootageViewed", NOW - hours(2), OFF_DUTY, view))
    return facts


@st.composite
def worlds(draw: st.DrawFn) -> tuple[list[Fact], list[int]]:
    """A world's facts, and one more arrival order of them (a permutation)."""
    facts = _registrations(draw) + _deletions(draw) + _outages(draw) + _grants(draw) + _duty(draw)
    shuffled = draw(st.permutations(range(len(facts))))
    return facts, list(shuffled)


def _verdicts(facts: list[Fact], order: list[int], home: Path) -> tuple[Any, ...]:
    """Publish ``facts`` in ``order``, log and project them in two steps; what the read models say."""
    ledger = OfflineLedger(home)
    publishers = {source: ledger.publisher(source) for source in (PLATFORM, POLICE)}
    db = open_db(home / "views.db")
    half = len(order) // 2
    try:
        for part in (order[:half], order[half:]):
            for n in part:
                fact = facts[n]
                publishers[fact.source].publish(
                    fact.event_type, fact.fields, actor=fact.by, occurred_at=fact.at, event_id=fact.event_id
                )
            result = ledger.ingest(at=LOGGED)
            assert not result.rejected, [item.error for _, item in result.rejected]
            with closing(ledger.open_store()) as store:
                ProjectionRunner(store=store, db=db, prefetch_after=None).run()
        with closing(ledger.open_store()) as store:
            label = {f.event_id: f.label for f in facts}
            names = {
                (origin, entry.index): label.get(decode(entry.entry)[1]["envelope"]["event_id"], "registry")
                for origin in store.origins()
                for entry in store.entries(origin)
            }
        found = sorted(
            (
                v["rule"], v["severity"], v["article"], v["actor_id"], v["system_id"], v["camera_id"],
                v["occurred_at"], v["explanation"], tuple(sorted(names[tuple(p)] for p in v["evidence"])),
                v["cleared_late"] is not None,
            )
            for v in violations(db)
        )  # fmt: skip
        window = (int((NOW - timedelta(days=200)).timestamp() * 1e6), int(NOW.timestamp() * 1e6))

        def rows(answer: list[dict[str, Any]]) -> list[str]:
            return sorted(
                json.dumps(
                    {k: v for k, v in row.items() if k not in {"origin", "idx", "logged_at"}}, sort_keys=True
                )
                for row in answer
            )

        answers = (
            rows(who(db, CAM_A, *window)),
            rows(who(db, CAM_B, *window)),
            rows(actor(db, "p3301", *window)),
            {name: rows(part) for name, part in case(db, "A-1").items()},
        )
        return tuple(found), answers
    finally:
        db.close()


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds())
def test_violations_and_answers_do_not_depend_on_the_arrival_order(
    world: tuple[list[Fact], list[int]], tmp_path_factory: Any
) -> None:
    facts, shuffled = world
    given_order = list(range(len(facts)))
    home = tmp_path_factory.mktemp("world")
    expected = _verdicts(facts, given_order, home / "given")
    for name, order in (("reversed", given_order[::-1]), ("shuffled", shuffled)):
        found = _verdicts(facts, order, home / name)
        if found != expected:
            diff = difflib.unified_diff(
                pprint.pformat(expected, width=160).splitlines(),
                pprint.pformat(found, width=160).splitlines(),
                "in the given order",
                f"in the {name} order {[facts[n].label for n in order]}",
                lineterm="",
                n=1,
            )
            pytest.fail("\n".join(diff), pytrace=False)
