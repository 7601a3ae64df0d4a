"""The investigators' questions, asked of scenarios without Kafka: through the queries and the CLI.

Each scenario is signed with the SDK, appended by the real log writer (:func:`tests.test_rules.scenario`)
and projected; the answers are checked row by row against the ledger positions of the planted events:
who acted on a camera's footage (by footage window, or by the time they acted), everything one person
did (look-alike ids included, a page at a time), everything under one case, authorization,
deletion-order or hold number, and people and cameras found by part of a name or place.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ledger.cli import main
from ledger.cli.output import show_time
from ledger.errors import NotFound, UsageError
from projections.projector import micros
from projections.queries import actor, actor_page, case, find, who
from tests.events import ACTOR
from tests.test_rules import (
    ADMIN,
    BASIS,
    BEFORE,
    CAM_A,
    CAM_B,
    CAM_C,
    INVESTIGATOR,
    NOW,
    SYSTEM,
    Scenario,
    access,
    days,
    deletion,
    scenario,
    work_order,
)

HOUR = timedelta(hours=1)
FIRST = {**ACTOR, "user_id": "u2101", "name": "赵敏"}
SECOND = {**ACTOR, "user_id": "u2102", "name": "钱进"}
OLD = (NOW - days(10), NOW - days(10) + timedelta(minutes=10))  # footage of 10 days ago
RECENT = (NOW - HOUR, NOW - HOUR + timedelta(minutes=10))  # footage of an hour before NOW
LATE = timedelta(minutes=30)  # how long after it happened the first view reached the ledger


def wide(text: str) -> str:
    """``text`` in full-width forms (ASCII letters and digits as CJK input methods type them)."""
    return text.translate({c: c + 0xFEE0 for c in range(0x21, 0x7F)})


def span(start: datetime, end: datetime) -> tuple[int, int]:
    """A window in the queries' microseconds."""
    return micros(start) or 0, micros(end) or 0


def rows(found: Sequence[Mapping[str, Any]]) -> list[tuple[Any, Any, list[Any]]]:
    """Each row's actor, action and ledger position."""
    return [(r["actor_id"], r["action"], [r["origin"], r["idx"]]) for r in found]


def viewing(
    s: Scenario, label: str, by: Mapping[str, Any], at: datetime, footage: tuple[datetime, datetime]
) -> None:
    """``by`` plays back camera A's ``footage`` at ``at``."""
    s.send(label, "FootageViewed", at, by, access=access(CAM_A, *footage), mode="PLAYBACK")


def incident(tmp_path: Path) -> Scenario:
    """The first person plays back 10-day-old footage at NOW (logged 30 minutes late); the second,
    two days later, plays back the footage of the hour before NOW."""
    with scenario(tmp_path) as s:
        viewing(s, "first", FIRST, NOW, OLD)
        s.logged(NOW + LATE)  # the registrations and the first view reach the ledger now
        viewing(s, "second", SECOND, NOW + days(2), RECENT)
    return s


# -- who: by footage window, or by when they acted -------------------------------------------------


def test_who_by_footage_window_and_by_access_time_are_different_questions(tmp_path: Path) -> None:
    s = incident(tmp_path)
    first = ("u2101", "playback", s.at("first")[0])
    second = ("u2102", "playback", s.at("second")[0])
    around_now = span(NOW - HOUR, NOW + HOUR)
    # Who acted on camera A during the incident: the first, on footage 10 days old; not the second,
    # whose footage is of that hour but who looked two days later.
    [row] = who(s.db, CAM_A, *around_now, accessed=True)
    assert rows([row]) == [first]
    assert (row["occurred_at"], row["logged_at"]) == (micros(NOW), micros(NOW + LATE))
    assert (row["footage_start"], row["footage_end"]) == span(*OLD)
    # Whose footage was of that hour: the second alone.
    assert rows(who(s.db, CAM_A, *around_now)) == [second]
    # Who saw the footage of 10 days ago: the first, not the second.
    assert rows(who(s.db, CAM_A, *span(OLD[0] - HOUR, OLD[1] + HOUR))) == [first]
    # Nobody acted on camera A ten days ago, whatever footage.
    assert who(s.db, CAM_A, *span(OLD[0] - HOUR, OLD[1] + HOUR), accessed=True) == []
    assert rows(who(s.db, CAM_A, *span(NOW + days(2) - HOUR, NOW + days(2) + HOUR), accessed=True)) == [
        second
    ]
    assert rows(who(s.db, CAM_A, *span(NOW - days(11), NOW + days(3)), accessed=True)) == [first, second]
    assert who(s.db, CAM_B, *span(NOW - days(11), NOW + days(3)), accessed=True) == []
    with pytest.raises(UsageError):
        who(s.db, CAM_A, *span(NOW + HOUR, NOW - HOUR), accessed=True)
    with pytest.raises(NotFound):
        who(s.db, "43020200001310009999", *around_now, accessed=True)


# -- actor: look-alike ids ----------------------------------------------------------------------------

LOOK_ALIKES = (
    "u2001",
    "u" + wide("2001"),
    "u2001\u200b",
)  # plain, full-width digits, a trailing zero-width space


def test_actor_and_find_gather_the_look_alikes_of_an_id(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        for n, user_id in enumerate(LOOK_ALIKES):
            viewing(s, user_id, {**ACTOR, "user_id": user_id}, NOW + n * HOUR, OLD)
    expected = [(user_id, "playback", s.at(user_id)[0]) for user_id in LOOK_ALIKES]
    window = span(NOW - HOUR, NOW + days(1))
    for asked in (*LOOK_ALIKES, "U2001"):
        assert rows(actor(s.db, asked, *window)) == expected, asked
    assert rows(actor_page(s.db, "u2001", *window, limit=10).rows) == expected
    people = find(s.db, wide("u2001"))["people"]  # full-width letter and digits
    assert sorted(p["actor_id"] for p in people) == sorted(LOOK_ALIKES)
    assert {(p["name"], p["unit"]) for p in people} == {(ACTOR["name"], ACTOR["unit"])}
    assert find(s.db, wide("u2001"))["cameras"] == []


# -- find: people and cameras by part of a name or place ---------------------------------------------


def test_find_people_and_cameras_by_part_of_a_name_or_place(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send(
            "hold",
            "LegalHoldPlaced",
            NOW,
            INVESTIGATOR,
            hold_id="H-1",
            camera_id=CAM_A,
            footage_start=OLD[0],
            footage_end=OLD[1],
            case_number="A-7",
            reason="逃逸案",
        )
        viewing(s, "operator", ACTOR, NOW, OLD)
    wang = {"actor_id": "p3301", "name": "王芳", "unit": "天元分局刑侦大队"}
    assert find(s.db, "王芳") == {"people": [wang], "cameras": []}
    assert find(s.db, "王") == {"people": [wang], "cameras": []}
    assert find(s.db, " P3301 ") == {"people": [wang], "cameras": []}  # an id: case and spaces aside
    assert find(s.db, "李强")["people"] == [{"actor_id": "u0007", "name": "李强", "unit": ADMIN["unit"]}]
    platform = [
        {"camera_id": camera, "system_id": SYSTEM, "name": "站台", "location": "神农城站"}
        for camera in (CAM_A, CAM_B, CAM_C)
    ]
    assert find(s.db, "神农城") == {"people": [], "cameras": platform}
    assert find(s.db, "站台")["cameras"] == platform
    assert find(s.db, wide(CAM_B))["cameras"] == [platform[1]]  # a look-alike of a camera's id
    assert find(s.db, "朝阳") == {"people": [], "cameras": []}
    for nothing in ("", "   ", "\u200b"):
        with pytest.raises(UsageError):
            find(s.db, nothing)


# -- actor: footage and every other act ----------------------------------------------------------------


def admin_at_work(tmp_path: Path) -> Scenario:
    """ADMIN (u0007) registered the system and cameras at BEFORE; within the last ten days he sets a
    retention policy, opens a work order, approves an authorization and plays back footage three times."""
    with scenario(tmp_path) as s:
        s.policy("policy", 90, NOW - days(5))
        work_order(s, "wo", "WO-1", [CAM_A], NOW - days(3))
        s.authorize("auth", "AUTH-2", requester="p3300", approver="u0007")  # at NOW - 1 day
        for n in range(3):
            viewing(s, f"view-{n}", ADMIN, NOW - days(2) + n * HOUR, OLD)
        viewing(s, "other", ACTOR, NOW, OLD)  # someone else's: never in u0007's answer
    return s


def test_actor_returns_the_views_then_every_other_act(tmp_path: Path) -> None:
    s = admin_at_work(tmp_path)
    views = [("u0007", "playback", s.at(f"view-{n}")[0]) for n in range(3)]
    others = [
        ("u0007", "RetentionPolicySet", s.at("policy")[0]),
        ("u0007", "WorkOrderOpened", s.at("wo")[0]),
        ("u0007", "AccessAuthorized", s.at("auth")[0]),
    ]
    recent = span(NOW - days(10), NOW + HOUR)  # leaves out the registrations, 400 days before
    found = actor(s.db, "u0007", *recent)
    assert rows(found) == views + others
    policy, opened, authorized = found[3:]
    assert json.loads(policy["reason"]) == {"system_id": SYSTEM, "retention_days": 90}
    assert json.loads(opened["reason"])["work_order_id"] == "WO-1"
    assert (authorized["case_number"], json.loads(authorized["reason"])["authorization_id"]) == (
        "A-1",
        "AUTH-2",
    )
    assert {r["actor_name"] for r in found} == {"李强"}
    assert [r["occurred_at"] for r in found[3:]] == [micros(NOW - days(n)) for n in (5, 3, 1)]

    registered = [
        ("u0007", "SystemRegistered", s.at("system")[0]),
        *(("u0007", "CameraRegistered", s.at(camera)[0]) for camera in (CAM_A, CAM_B, CAM_C)),
    ]
    everything = span(BEFORE - days(1), NOW + HOUR)
    assert rows(actor(s.db, "u0007", *everything)) == views + registered + others
    assert [r["camera_id"] for r in actor(s.db, "u0007", *everything)[4:6]] == [CAM_A, CAM_B]
    # Only the acts: the period before any view.
    assert rows(actor(s.db, "u0007", *span(NOW - days(6), NOW - days(2)))) == others[:2]


def test_actor_pages_give_the_other_acts_with_the_last_page(tmp_path: Path) -> None:
    s = admin_at_work(tmp_path)
    window = span(NOW - days(10), NOW + HOUR)
    whole = actor(s.db, "u0007", *window)
    for limit, sizes in ((1, [1, 1, 4]), (2, [2, 4]), (3, [6]), (50, [6])):
        pages, after = [], None
        while True:
            page = actor_page(s.db, "u0007", *window, limit=limit, after=after)
            assert page.total == 6
            pages.append(page.rows)
            after = page.after
            if after is None:
                break
            assert all(r["action"] == "playback" for r in page.rows)  # the other acts wait for the last page
        assert [len(p) for p in pages] == sizes, limit
        assert [r for p in pages for r in p] == whole
        assert rows(pages[-1][-3:]) == rows(whole[3:])


# -- case: by authorization, deletion-order, hold or case number ---------------------------------------


def test_case_finds_grants_orders_holds_and_the_actions_under_them(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.authorize(
            "auth", "AUTH-5", requester="p3300", approver="p3100"
        )  # case A-1, camera A, grantee p3301
        granted = access(
            CAM_A, NOW - days(2), NOW - days(2) + HOUR, legal_basis=BASIS, authorization_id="AUTH-5"
        )
        s.send("granted", "FootageViewed", NOW - days(0.5), INVESTIGATOR, access=granted, mode="PLAYBACK")
        viewing(s, "patrol", ACTOR, NOW - days(0.5), OLD)  # under no case
        s.order("order", "O-7", CAM_B, NOW - days(4), NOW - days(2), at=NOW - days(1))
        ordered = deletion(CAM_B, NOW - days(3), NOW - days(2), deletion_order_id="O-7")
        s.send("deleted", "FootageDeleted", NOW, ACTOR, deletion=ordered)
        s.send(
            "hold",
            "LegalHoldPlaced",
            NOW - days(1),
            INVESTIGATOR,
            hold_id="H-3",
            camera_id=CAM_C,
            footage_start=NOW - days(5),
            footage_end=NOW - days(4),
            case_number="A-1",
            reason="逃逸案",
        )
    the_access = [("p3301", "playback", s.at("granted")[0])]
    the_deletion = [("u1024", "delete", s.at("deleted")[0])]

    def ids(found: list[dict[str, Any]], column: str) -> list[tuple[Any, list[Any]]]:
        return [(r[column], [r["origin"], r["idx"]]) for r in found]

    auth = case(s.db, "AUTH-5")
    assert ids(auth["authorizations"], "authorization_id") == [("AUTH-5", s.at("auth")[0])]
    assert auth["authorizations"][0]["case_number"] == "A-1"
    assert rows(auth["actions"]) == the_access
    assert (auth["deletion_orders"], auth["holds"], auth["applications"]) == ([], [], [])

    order = case(s.db, "O-7")
    assert ids(order["deletion_orders"], "order_id") == [("O-7", s.at("order")[0])]
    assert order["deletion_orders"][0]["camera_id"] == CAM_B
    assert rows(order["actions"]) == the_deletion
    assert (order["authorizations"], order["holds"]) == ([], [])

    a1 = case(s.db, "A-1")
    assert ids(a1["authorizations"], "authorization_id") == [("AUTH-5", s.at("auth")[0])]
    assert ids(a1["holds"], "hold_id") == [("H-3", s.at("hold")[0])]
    assert rows(a1["actions"]) == the_access  # through its authorization AUTH-5
    assert a1["deletion_orders"] == []

    hold = case(s.db, "H-3")
    assert ids(hold["holds"], "hold_id") == [("H-3", s.at("hold")[0])]
    assert (hold["holds"][0]["case_number"], hold["holds"][0]["camera_id"]) == ("A-1", CAM_C)
    assert (hold["authorizations"], hold["actions"]) == ([], [])

    for unknown in ("Z-404", "AUTH-6", "O-8", "H-4"):
        with pytest.raises(NotFound, match=f"{unknown} is unknown"):
            case(s.db, unknown)


# -- the same answers through the CLI -------------------------------------------------------------------


@pytest.fixture
def cli_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    """The incident scenario, its read models where ``liuhen``'s investigator verbs look for them."""
    s = incident(tmp_path)
    monkeypatch.setenv("LIUHEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIUHEN_PROJECTIONS_DB", str(tmp_path / "views.db"))
    return s


def test_cli_who_accessed_prints_both_times_of_each_row(
    cli_home: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    window = ["--from", (NOW - HOUR).isoformat(), "--to", (NOW + HOUR).isoformat()]
    capsys.readouterr()
    assert main(["who", "--camera", CAM_A, *window, "--accessed", "--json"]) == 0
    [row] = json.loads(capsys.readouterr().out)
    assert (row["actor_id"], row["action"], [row["origin"], row["idx"]]) == (
        "u2101",
        "playback",
        cli_home.at("first")[0],
    )
    assert (row["occurred_at"], row["logged_at"]) == (
        "2031-03-15T10:00:00+08:00",
        "2031-03-15T10:30:00+08:00",
    )
    assert row["footage_start"] == show_time(micros(OLD[0]))
    # the same window, read as footage: the second person
    assert main(["who", "--camera", CAM_A, *window, "--json"]) == 0
    assert [r["actor_id"] for r in json.loads(capsys.readouterr().out)] == ["u2102"]


def test_cli_find_prints_the_person_and_the_cameras(
    cli_home: Scenario, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["find", "赵敏"]) == 0
    assert capsys.readouterr().out.splitlines() == ["person  u2101  赵敏  株洲轨道交通"]
    assert main(["find", "神农城", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert (found["people"], [c["camera_id"] for c in found["cameras"]]) == ([], [CAM_A, CAM_B, CAM_C])


def test_cli_find_wang_fang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with scenario(tmp_path) as s:
        viewing(s, "wang", INVESTIGATOR, NOW, OLD)
    assert [r["actor_id"] for r in who(s.db, CAM_A, *span(*OLD))] == ["p3301"]
    monkeypatch.setenv("LIUHEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIUHEN_PROJECTIONS_DB", str(tmp_path / "views.db"))
    capsys.readouterr()
    assert main(["find", "王芳"]) == 0
    assert capsys.readouterr().out.splitlines() == ["person  p3301  王芳  天元分局刑侦大队"]
    assert main(["find", "  "]) == 2
    assert "say what to look for" in capsys.readouterr().err
