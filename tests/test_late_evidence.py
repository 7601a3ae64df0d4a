"""Late evidence (R14), source clocks (R15), late filing (R16), over-kept footage (R17), and late facts.

Scenarios without Kafka (:class:`tests.events.OfflineLedger`) whose events reach the ledger at
times the test sets (``s.logged(at)``): a fact that would clear a violation judges the act again
when it is logged, and clears it only if it reached the ledger within the late-evidence tolerance
(1 hour) of the act; later, the violation stays, marked ``cleared_late``, and R14 names both
entries. Each rule has a scenario that fires and a near-miss that must not.

The registrations ``scenario()`` sends first are logged at their own time (``s.logged(BEFORE)``)
unless a test says otherwise, so that they are not themselves backdated (R15).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from projections.projector import micros
from projections.queries import violations
from projections.rules.catalog import R12_OFF_DUTY, R14, R15_AHEAD, R15_BEHIND, R16, R17
from tests.test_rules import (
    ADMIN,
    BASIS,
    BEFORE,
    CAM_A,
    CAM_B,
    CAM_C,
    FOOTAGE,
    INVESTIGATOR,
    NOW,
    SYSTEM,
    VMS,
    Scenario,
    access,
    check,
    days,
    deletion,
    facet_of,
    scenario,
    work_order,
)

MINUTE = timedelta(minutes=1)
HOUR = timedelta(hours=1)


def late_mark(v: dict[str, Any]) -> list[Any] | None:
    """The position of the late fact a violation is marked with (``None``: not marked)."""
    return v["cleared_late"]


def check_r14(s: Scenario, v: dict[str, Any], camera: str | None, by: str, act: str, fact: str) -> None:
    """An R14 about the act labelled ``act``, cleared only by the late fact labelled ``fact``."""
    assert facet_of(v) == R14
    assert (v["camera_id"], v["actor_id"], v["system_id"]) == (camera, by, SYSTEM)
    assert sorted(v["evidence"]) == s.at(act, fact)
    assert [v["subject_origin"], v["subject_idx"]] == s.at(act)[0]
    assert v["occurred_at"] == v["logged_at"]  # dated when the late fact reached the ledger
    assert "cleared only by late evidence" in v["explanation"]
    assert R14.article in v["explanation"]


def inventory(s: Scenario, label: str, camera: str, at: datetime, earliest: datetime, **extra: Any) -> None:
    s.send(
        label,
        "FootageInventoryReported",
        at,
        VMS,
        camera_id=camera,
        earliest_available=earliest,
        latest_available=at - timedelta(seconds=5),
        **extra,
    )


# -- R14: a clearing fact logged long after the act ---------------------------------------------------


def test_r14_a_deletion_order_logged_three_days_after_the_deletion_clears_it_only_late(
    tmp_path: Path,
) -> None:
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_A, *FOOTAGE, deletion_order_id="O-9"))
        s.logged(NOW + MINUTE)
        s.order("order", "O-9", CAM_A, *FOOTAGE, at=NOW - HOUR)  # issued before the deletion, by its date
        s.logged(NOW + days(3))
    [r1] = violations(s.db, rule="R1")
    check(r1, "R1", CAM_A, "u1024", None)
    assert "deletion order O-9 does not cover it" in r1["explanation"]
    assert late_mark(r1) == s.at("order")[0]
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_A, "u0007", "deleted", "order")
    assert r14["occurred_at"] == micros(NOW + days(3))
    assert "deletion order o-9" in r14["explanation"].lower()
    assert "3.0 days" in r14["explanation"]
    assert "would clear the R1 violation" in r14["explanation"]


def test_r14_a_deletion_order_logged_ten_minutes_after_the_deletion_clears_it(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_A, *FOOTAGE, deletion_order_id="O-9"))
        s.logged(NOW + MINUTE)
        s.order("order", "O-9", CAM_A, *FOOTAGE, at=NOW - HOUR)
        s.logged(NOW + 11 * MINUTE)
    assert violations(s.db, rule="R1") == []
    assert violations(s.db, rule="R14") == []


def test_r14_a_hold_release_logged_two_days_late_leaves_the_deletion_under_hold(tmp_path: Path) -> None:
    old = (NOW - days(60), NOW - days(60) + HOUR)
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        s.hold("hold-a", "H-1", CAM_A, NOW - days(61), NOW - days(59), at=NOW - days(50))
        s.hold("hold-b", "H-2", CAM_B, NOW - days(61), NOW - days(59), at=NOW - days(50))
        s.logged(NOW - days(50))
        s.send("deleted-a", "FootageDeleted", NOW, deletion=deletion(CAM_A, *old))
        s.send("deleted-b", "FootageDeleted", NOW, deletion=deletion(CAM_B, *old))
        s.logged(NOW + MINUTE)
        # Both released the day before the deletions: camera A's release logged within the hour.
        s.send("released-a", "LegalHoldReleased", NOW - days(1), INVESTIGATOR, hold_id="H-1", reason="结案")
        s.logged(NOW + 30 * MINUTE)
        s.send("released-b", "LegalHoldReleased", NOW - days(1), INVESTIGATOR, hold_id="H-2", reason="结案")
        s.logged(NOW + days(2))
    [r1] = violations(s.db, rule="R1")
    check(r1, "R1", CAM_B, "u1024", None)
    assert "under legal hold H-2" in r1["explanation"]
    assert late_mark(r1) == s.at("released-b")[0]
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_B, "p3301", "deleted-b", "released-b")
    assert "the release of legal hold h-2" in r14["explanation"].lower()


def test_r14_an_authorization_logged_two_days_after_the_access_leaves_r5(tmp_path: Path) -> None:
    def cites(auth_id: str) -> dict[str, Any]:
        under = access(CAM_A, *FOOTAGE, authorization_id=auth_id, legal_basis=BASIS, case_number="A-1")
        return {"access": under, "mode": "PLAYBACK"}

    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        s.send("late", "FootageViewed", NOW, INVESTIGATOR, **cites("AUTH-9"))
        s.send("prompt", "FootageViewed", NOW, INVESTIGATOR, **cites("AUTH-8"))
        s.logged(NOW + MINUTE)
        # Both granted (by their dates) the day before the accesses; AUTH-8 logged within the hour.
        s.authorize("auth-8", "AUTH-8", requester="p3300", approver="u0007")
        s.logged(NOW + 30 * MINUTE)
        s.authorize("auth-9", "AUTH-9", requester="p3300", approver="u0007")
        s.logged(NOW + days(2))
    [r5] = violations(s.db, rule="R5")
    check(r5, "R5", CAM_A, "p3301", s.at("late"))
    assert "the ledger holds no authorization AUTH-9" in r5["explanation"]
    assert late_mark(r5) == s.at("auth-9")[0]
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_A, "u0007", "late", "auth-9")
    assert "authorization auth-9" in r14["explanation"].lower()
    assert "would clear the R5 violation" in r14["explanation"]


# -- R15: events dated far from when they reached the ledger ----------------------------------------


def test_r15_events_dated_ahead_of_or_long_before_the_ledger_fire_and_near_misses_do_not(
    tmp_path: Path,
) -> None:
    window = (NOW - days(4), NOW - days(3))
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        for label, dated in (
            ("ahead", NOW + HOUR),
            ("behind", NOW - days(3)),
            ("slightly-ahead", NOW + 2 * MINUTE),
            ("slightly-behind", NOW - timedelta(hours=20)),
        ):
            s.order(label, f"O-{label}", CAM_A, *window, at=dated)
        s.logged(NOW)
    found = {tuple(v["evidence"][0]): v for v in violations(s.db, rule="R15")}
    assert set(found) == {tuple(s.at(label)[0]) for label in ("ahead", "behind")}
    ahead, behind = found[tuple(s.at("ahead")[0])], found[tuple(s.at("behind")[0])]
    check(ahead, R15_AHEAD, CAM_A, "u0007", s.at("ahead"))  # dated by the ledger's time
    check(behind, R15_BEHIND, CAM_A, "u0007", s.at("behind"))
    assert (ahead["severity"], behind["severity"]) == ("medium", "high")
    assert "dated 1.0 hours after it reached the ledger" in ahead["explanation"]
    assert "3.0 days after its own time" in behind["explanation"]


def test_r15_access_events_dated_ahead_fire_once_an_hour_of_ledger_time_other_events_each_time(
    tmp_path: Path,
) -> None:
    view = {"access": access(CAM_A, *FOOTAGE), "mode": "PLAYBACK"}
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        for n in range(1, 6):
            s.send(f"view-{n}", "FootageViewed", NOW + HOUR + n * MINUTE, **view)
        s.order("order", "O-1", CAM_B, NOW - days(4), NOW - days(3), at=NOW + HOUR)
        s.logged(NOW)
        s.send("view-6", "FootageViewed", NOW + 2 * HOUR, **view)  # the same hour of ledger time
        s.order("order-2", "O-2", CAM_B, NOW - days(4), NOW - days(3), at=NOW + 2 * HOUR)
        s.logged(NOW + 30 * MINUTE)
        s.send("view-7", "FootageViewed", NOW + 3 * HOUR, **view)  # the next hour
        s.logged(NOW + 90 * MINUTE)
    found = violations(s.db, rule="R15")
    assert sorted(v["evidence"][0] for v in found) == s.at("view-1", "order", "order-2", "view-7")
    assert all(facet_of(v) == R15_AHEAD for v in found)
    first = next(v for v in found if v["evidence"] == s.at("view-1"))
    check(first, R15_AHEAD, CAM_A, "u1024", s.at("view-1"))
    assert "first such access event of zz-metro in this hour of ledger time" in first["explanation"]
    later = next(v for v in found if v["evidence"] == s.at("view-7"))
    assert later["occurred_at"] == micros(NOW + 90 * MINUTE)


# -- R16: cameras in use long before their system was filed -----------------------------------------


def test_r16_a_system_filed_45_days_after_going_live_fires_and_30_days_does_not(tmp_path: Path) -> None:
    live = (BEFORE - days(60)).date()
    late_camera, prompt_camera = "43020200001310000077", "43020200001310000078"
    registered = {"owner": "株洲公交", "manager": "刘洋", "retention_days": 30, "went_live_on": live}
    place = {"location": "火车站公交枢纽", "location_category": "TRANSPORT_HUB", "notice_sign": True}
    with scenario(tmp_path) as s:
        for label, system_id, camera, filed in (
            ("bus", "zz-bus", late_camera, live + timedelta(days=45)),
            ("tram", "zz-tram", prompt_camera, live + timedelta(days=30)),
        ):
            s.send(
                label,
                "SystemRegistered",
                BEFORE,
                ADMIN,
                system_id=system_id,
                name=label,
                filed_on=filed,
                **registered,
            )
            s.send(
                f"{label}-camera",
                "CameraRegistered",
                BEFORE,
                ADMIN,
                camera_id=camera,
                system_id=system_id,
                name="站台",
                **place,
            )
    [v] = violations(s.db, rule="R16")
    assert facet_of(v) == R16
    assert (v["severity"], v["camera_id"], v["system_id"], v["actor_id"]) == (
        "warning",
        late_camera,
        "zz-bus",
        None,
    )
    assert v["occurred_at"] == micros(BEFORE)
    assert sorted(v["evidence"]) == s.at("bus", "bus-camera")
    assert f"its system zz-bus was filed 45 days after it went live ({live.isoformat()})" in v["explanation"]
    assert R16.article in v["explanation"]


def test_r16_the_cameras_own_go_live_day_counts(tmp_path: Path) -> None:
    filed = (BEFORE - days(10)).date()
    camera = "43020200001310000077"
    with scenario(tmp_path) as s:
        s.send(
            "bus",
            "SystemRegistered",
            BEFORE,
            ADMIN,
            system_id="zz-bus",
            name="公交",
            owner="株洲公交",
            manager="刘洋",
            retention_days=30,
            filed_on=filed,
            went_live_on=filed,
        )
        s.send(
            "camera",
            "CameraRegistered",
            BEFORE,
            ADMIN,
            camera_id=camera,
            system_id="zz-bus",
            name="站台",
            location="公交站",
            location_category="TRANSPORT_HUB",
            notice_sign=True,
            went_live_on=filed - timedelta(days=31),
        )
    [v] = violations(s.db, rule="R16")
    assert (v["camera_id"], sorted(v["evidence"])) == (camera, s.at("bus", "camera"))
    assert "filed 31 days after it went live" in v["explanation"]


# -- R17: footage kept far past its retention -------------------------------------------------------


def test_r17_footage_kept_past_twice_the_retention_fires_once_and_not_under_a_hold(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.hold("hold", "H-5", CAM_A, NOW - days(75), NOW - days(60), at=NOW - days(1))
        inventory(s, "kept", CAM_C, NOW, NOW - days(70))
        inventory(s, "near", CAM_B, NOW, NOW - days(55))  # 55 days: inside the 60-day limit
        inventory(s, "held", CAM_A, NOW, NOW - days(70))
        inventory(s, "again", CAM_C, NOW + days(1), NOW - days(70))  # shows the same footage still
    [v] = violations(s.db, rule="R17")
    check(v, R17, CAM_C, "vms-storage", s.at("kept"))
    assert v["severity"] == "warning"
    assert "70 days old, far past its 30-day retention period, with no legal hold" in v["explanation"]
    assert violations(s.db, rule="R2") == []


def test_r17_a_hold_dated_before_the_inventory_but_logged_after_it(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        inventory(s, "prompt", CAM_A, NOW, NOW - days(70))
        inventory(s, "late", CAM_B, NOW, NOW - days(70))
        s.logged(NOW + MINUTE)
        s.hold("hold-a", "H-1", CAM_A, NOW - days(75), NOW - days(60), at=NOW - days(1))
        s.logged(NOW + 20 * MINUTE)
        s.hold("hold-b", "H-2", CAM_B, NOW - days(75), NOW - days(60), at=NOW - days(1))
        s.logged(NOW + days(2))
    [r17] = violations(s.db, rule="R17")
    check(r17, R17, CAM_B, "vms-storage", s.at("late"))
    assert late_mark(r17) == s.at("hold-b")[0]
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_B, "p3301", "late", "hold-b")
    assert "would clear the R17 violation" in r14["explanation"]


# -- late facts that judge again: outages, duty shifts, work orders ---------------------------------


def test_an_outage_logged_after_the_inventory_explains_its_gap_only_within_the_hour(tmp_path: Path) -> None:
    outage = (NOW - days(6), NOW - days(6) + 2 * HOUR)
    gap = {"gaps": [{"start": outage[0], "end": outage[1]}]}
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        inventory(s, "prompt", CAM_A, NOW, NOW - days(30), **gap)
        inventory(s, "late", CAM_B, NOW, NOW - days(30), **gap)
        s.logged(NOW + MINUTE)
        for camera, when in ((CAM_A, NOW + 20 * MINUTE), (CAM_B, NOW + days(2))):
            s.send(
                f"off-{camera}",
                "DeviceStatusChanged",
                outage[0],
                VMS,
                camera_id=camera,
                status="OFF",
                ticket_id="T-1",
            )
            s.send(
                f"on-{camera}",
                "DeviceStatusChanged",
                outage[1],
                VMS,
                camera_id=camera,
                status="ON",
                ticket_id="T-1",
            )
            s.logged(when)
    [r2] = violations(s.db, rule="R2")
    check(r2, "R2", CAM_B, "vms-storage", None)
    assert "2.0 hours of footage" in r2["explanation"]
    assert late_mark(r2) == s.at(f"off-{CAM_B}")[0]  # the outage's start explains the gap
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_B, "vms-storage", "late", f"off-{CAM_B}")
    assert "would clear the R2 violation" in r14["explanation"]
    assert violations(s.db, rule="R9") == []  # two hours: not longer than the outage limit


def test_a_duty_shift_logged_after_an_access_clears_r12_only_within_the_hour(tmp_path: Path) -> None:
    unit = "株洲轨道交通"
    prompt = {**ADMIN, "user_id": "u2002", "name": "吴刚", "unit": unit, "role": "operator"}
    late = {**ADMIN, "user_id": "u2003", "name": "陈静", "unit": unit, "role": "operator"}
    shift = {"unit": unit, "post": "监控值班", "shift_start": NOW - days(0.5), "shift_end": NOW + days(0.5)}
    view = {"access": access(CAM_A, *FOOTAGE), "mode": "PLAYBACK"}
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        s.send("roster", "DutyShiftAssigned", NOW - days(1), ADMIN, user_id="u2001", **shift)
        s.logged(NOW - days(1))  # the unit has a roster for the time of the accesses
        s.send("prompt", "FootageViewed", NOW, prompt, **view)
        s.send("late", "FootageViewed", NOW, late, **view)
        s.logged(NOW + MINUTE)
        s.send("shift-prompt", "DutyShiftAssigned", NOW - days(1), ADMIN, user_id="u2002", **shift)
        s.logged(NOW + 20 * MINUTE)
        s.send("shift-late", "DutyShiftAssigned", NOW - days(1), ADMIN, user_id="u2003", **shift)
        s.logged(NOW + days(1) + MINUTE)
    [r12] = violations(s.db, rule="R12")
    check(r12, R12_OFF_DUTY, CAM_A, "u2003", s.at("late"))
    assert "who was not on duty" in r12["explanation"]
    assert late_mark(r12) == s.at("shift-late")[0]
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_A, "u0007", "late", "shift-late")
    assert "the duty shift of u2003" in r14["explanation"].lower()
    assert "would clear the R12 violation" in r14["explanation"]


def test_a_work_order_logged_after_a_tamper_alarm_covers_it_only_within_the_hour(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        for label, camera in (("alarm-a", CAM_A), ("alarm-b", CAM_B)):
            s.send(
                label, "CameraTamperAlarm", NOW, VMS, camera_id=camera, alarm="OCCLUSION", work_order_id=None
            )
        s.logged(NOW + MINUTE)
        work_order(s, "wo-a", "WO-1", [CAM_A], NOW - days(1))  # opened the day before the alarms
        s.logged(NOW + 20 * MINUTE)
        work_order(s, "wo-b", "WO-2", [CAM_B], NOW - days(1))
        s.logged(NOW + days(2))
    [r8] = violations(s.db, rule="R8")
    check(r8, "R8", CAM_B, "vms-storage", s.at("alarm-b"))
    assert "no work order open for it" in r8["explanation"]
    assert late_mark(r8) == s.at("wo-b")[0]
    [r14] = violations(s.db, rule="R14")
    check_r14(s, r14, CAM_B, "u0007", "alarm-b", "wo-b")
    assert "work order wo-2" in r14["explanation"].lower()
    assert "would clear the R8 violation" in r14["explanation"]


def test_late_facts_logged_within_the_hour_leave_no_r14_and_no_marks(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.logged(BEFORE)
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_A, *FOOTAGE, deletion_order_id="O-1"))
        s.send("alarm", "CameraTamperAlarm", NOW, VMS, camera_id=CAM_C, alarm="TAMPER", work_order_id=None)
        s.logged(NOW)
        s.order("order", "O-1", CAM_A, *FOOTAGE, at=NOW - HOUR)
        work_order(s, "wo", "WO-1", [CAM_C], NOW - days(1))
        s.logged(NOW + HOUR)  # exactly the tolerance: still in time
    assert [v["rule"] for v in violations(s.db) if v["rule"] != "R15"] == []
