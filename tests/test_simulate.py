"""The synthetic Zhuzhou traffic: deterministic, encodable, ordered, and lawful throughout.

With ``plant=True`` it also holds planted violations of every implemented rule, and near-misses:
the rules, applied to the read models directly (no Kafka), find exactly the planted violations.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import re
import tempfile
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.simulate import (
    DISTRICTS,
    EARLIEST_START,
    PUBLIC_CATEGORIES,
    City,
    Planted,
    SimEvent,
    build_city,
    planted,
    simulate,
)
from ledger.wire.avro import SchemaRegistry
from projections.feed import item_of
from projections.projector import Projector, micros
from projections.queries import violations
from projections.rules import PROHIBITED, RULES
from projections.runner import open_db

START = datetime(2026, 5, 3, tzinfo=UTC)
ACCESS_TYPES = {"FootageViewed", "FootageExported", "FootageShared"}
CAMERA_ID = re.compile(r"^(\d{6})(\d{2})(\d{2})(13[12])(\d)(\d{6})$")


@pytest.fixture(scope="module")
def city() -> City:
    return build_city(seed=1)


REGISTRY = SchemaRegistry.load()
PLAIN = REGISTRY.plain()


@pytest.fixture(scope="module")
def day(city: City) -> list[SimEvent]:
    return list(simulate(city, seed=1, start=START, days=1))


@pytest.fixture(scope="module")
def registry() -> SchemaRegistry:
    return SchemaRegistry.load()


def check_lawful(events: list[SimEvent], city: City) -> None:
    """Every rule liuhen enforces holds for ``events``; they are ordered and internally consistent."""
    cameras: dict[str, dict[str, dict]] = defaultdict(dict)  # source -> camera id -> fields
    policies: dict[tuple[str, str | None], int] = {}
    rosters: dict[tuple[str, str], list[tuple[datetime, datetime]]] = defaultdict(list)
    grants: dict[str, SimEvent] = {}
    approvals: dict[str, SimEvent] = {}
    orders: dict[str, SimEvent] = {}
    closed: set[str] = set()
    down: dict[str, datetime] = {}
    outages: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    people = {o.user_id: o for o in city.operators}
    previous = None
    for event in events:
        f, at, source = event.fields, event.occurred_at, event.source_id
        assert at.tzinfo is not None
        assert at.utcoffset() == timedelta(0)
        assert previous is None or at >= previous, "events out of time order"
        previous = at
        assert event.actor["kind"] in {"PERSON", "SYSTEM"}
        if event.actor["kind"] == "PERSON":
            assert event.actor == people[event.actor["user_id"]].actor()
            assert event.actor["name"]
            assert event.actor["unit"]
            assert event.actor["user_id"]
        cited = [f[k] for k in ("camera_id",) if k in f] + f.get("camera_ids", [])
        cited += [f[k]["camera_id"] for k in ("access", "deletion") if k in f]
        for camera_id in cited if event.event_type != "CameraRegistered" else ():
            assert camera_id is None or camera_id in cameras[source], (
                f"{event.event_type} cites unregistered {camera_id}"
            )
        match event.event_type:
            case "SystemRegistered":
                assert f["filed_on"] <= f["went_live_on"] + timedelta(days=30)
            case "CameraRegistered":
                assert CAMERA_ID.match(f["camera_id"]), f["camera_id"]
                assert f["camera_id"][:6] in DISTRICTS
                assert f["location_category"] in PUBLIC_CATEGORIES
                assert f["camera_id"] not in cameras[source]
                cameras[source][f["camera_id"]] = f
            case "RetentionPolicySet":
                assert f["retention_days"] >= 30
                policies[source, f["camera_id"]] = f["retention_days"]
            case "DutyShiftAssigned":
                assert f["shift_end"] - f["shift_start"] == timedelta(hours=12)
                assert f["shift_start"].astimezone(UTC).hour in {0, 12}  # 08:00 / 20:00 UTC+8
                assert f["unit"] == people[f["user_id"]].unit
                rosters[source, f["user_id"]].append((f["shift_start"], f["shift_end"]))
            case "AccessAuthorized":
                assert f["approver_user_id"] != f["requester_user_id"]
                assert f["footage_start"] < f["footage_end"] <= at < f["expires_at"]
                assert f["case_number"]
                assert f["legal_basis"]
                assert f["camera_ids"]
                grants[f["authorization_id"]] = event
            case "ApplicationApproved":
                assert f["footage_start"] < f["footage_end"] <= at < f["expires_at"]
                approvals[f["application_id"]] = event
            case "WorkOrderOpened":
                orders[f["work_order_id"]] = event
            case "WorkOrderClosed":
                assert f["work_order_id"] in orders
                closed.add(f["work_order_id"])
            case "DeviceStatusChanged" | "CameraDirectionChanged":
                ticket = f.get("ticket_id") or f.get("work_order_id")
                assert ticket in orders, f"{event.event_type} without a work order"
                assert ticket not in closed, f"{event.event_type} after its work order closed"
                assert f["camera_id"] in orders[ticket].fields["camera_ids"]
                if f.get("status") == "OFF":
                    down[f["camera_id"]] = at
                elif f.get("status") == "ON":
                    outages[f["camera_id"]].append((down.pop(f["camera_id"]), at))
            case "FootageExpired":
                deletion = f["deletion"]
                retention = policies.get((source, deletion["camera_id"])) or policies[source, None]
                assert event.actor["kind"] == "SYSTEM"
                assert deletion["outcome"] == "ALLOWED"
                assert f["policy_days"] == retention
                assert deletion["footage_end"] <= at - timedelta(days=retention)
            case "FootageInventoryReported":
                retention = policies.get((source, f["camera_id"])) or policies[source, None]
                cutoff = at - timedelta(days=retention)
                assert cutoff - timedelta(days=1) <= f["earliest_available"] <= cutoff
                assert at - timedelta(minutes=1) <= f["latest_available"] <= at
                for gap in f["gaps"]:
                    assert (gap["start"], gap["end"]) in outages[f["camera_id"]], "unexplained gap"
            case _:
                pass
        if event.event_type in ACCESS_TYPES:
            check_access(event, rosters, grants, approvals, outages)
    registered = {camera_id for by_id in cameras.values() for camera_id in by_id}
    assert registered == {c.camera_id for c in city.cameras}


def check_access(
    event: SimEvent,
    rosters: dict[tuple[str, str], list[tuple[datetime, datetime]]],
    grants: dict[str, SimEvent],
    approvals: dict[str, SimEvent],
    outages: dict[str, list[tuple[datetime, datetime]]],
) -> None:
    access, at, actor = event.fields["access"], event.occurred_at, event.actor
    assert access["outcome"] == "ALLOWED"
    assert access["reason"]
    assert access["footage_start"] <= access["footage_end"] <= at
    shifts = rosters[event.source_id, actor["user_id"]]
    assert any(start <= at < end for start, end in shifts), f"{actor['name']} not on duty at {at}"
    for off, on in outages[access["camera_id"]]:
        assert access["footage_end"] <= off or access["footage_start"] >= on, "footage of an outage"
    if actor["role"] == "investigator":
        assert access["legal_basis"]
        assert access["case_number"]
    if event.event_type == "FootageExported":
        assert event.fields["watermark_id"]
        assert re.fullmatch(r"[0-9a-f]{64}", event.fields["file_hash"])
    if event.event_type == "FootageShared":
        assert event.fields["desensitization_profile"]
    for key, scopes, holder in (
        ("authorization_id", grants, "grantee_user_id"),
        ("application_id", approvals, "handler_user_id"),
    ):
        if access[key] is None:
            continue
        scope = scopes[access[key]]  # KeyError: cites an authorization never granted
        assert scope.source_id == event.source_id
        assert actor["user_id"] == scope.fields[holder]
        assert access["camera_id"] in scope.fields["camera_ids"]
        assert scope.fields["footage_start"] <= access["footage_start"]
        assert access["footage_end"] <= scope.fields["footage_end"]
        assert scope.occurred_at < at <= scope.fields["expires_at"]


def test_city_has_three_systems_hundreds_of_cameras_dozens_of_people(city: City) -> None:
    assert [s.system_id for s in city.systems] == [
        "zz-traffic-police",
        "zz-metro",
        "zz-central-hospital",
    ]
    assert 300 <= len(city.cameras) <= 500
    assert 30 <= len(city.operators) <= 120
    assert len({o.user_id for o in city.operators}) == len(city.operators)
    assert len({o.name for o in city.operators}) == len(city.operators)
    assert all(re.fullmatch(r"[\u4e00-\u9fff]{2,4}", o.name) for o in city.operators)
    assert {o.role for o in city.operators} >= {"operator", "investigator", "admin", "maintenance"}
    for system in city.systems:
        assert system.retention_days in {30, 60, 90}
        assert system.camera_ids == tuple(c.camera_id for c in city.cameras_of(system.system_id))
    ids = [c.camera_id for c in city.cameras]
    assert len(set(ids)) == len(ids)
    assert all(CAMERA_ID.match(i) and i[:6] in DISTRICTS for i in ids)


def test_same_seed_same_city_and_events(city: City, day: list[SimEvent]) -> None:
    again = build_city(seed=1)
    assert again == city
    assert list(simulate(again, seed=1, start=START, days=1)) == day


def test_other_seed_other_city_and_events(city: City, day: list[SimEvent]) -> None:
    assert build_city(seed=2) != city
    first = list(itertools.islice(simulate(city, seed=2, start=START, days=1), 3000))
    assert first != day[:3000]


def test_every_event_encodes_and_survives_an_avro_round_trip(
    day: list[SimEvent], registry: SchemaRegistry
) -> None:
    sequence: Counter[str] = Counter()
    for event in day:
        sequence[event.source_id] += 1
        envelope = {
            "event_id": str(uuid.UUID(int=sum(sequence.values()))),
            "schema_version": registry.event_type(event.event_type).version,
            "occurred_at": event.occurred_at,
            "source_system_id": event.source_id,
            "source_seq": sequence[event.source_id],
            "actor": event.actor,
            "key_id": f"{event.source_id}+0a1b2c3d",
        }
        fingerprint, body = registry.encode(event.event_type, {**event.fields, "envelope": envelope})
        _, record = registry.decode(fingerprint, body)
        assert record.pop("envelope")["actor"] == event.actor
        assert record == event.fields, event.event_type


def test_only_known_event_types_and_all_the_lawful_ones_appear(
    day: list[SimEvent], registry: SchemaRegistry
) -> None:
    used = {e.event_type for e in day}
    assert used <= set(registry.types)
    assert used >= {
        "SystemRegistered", "CameraRegistered", "RetentionPolicySet", "DutyShiftAssigned",
        "FootageViewed", "AccessAuthorized", "FootageExported", "FootageShared",
        "ApplicationFiled", "ApplicationApproved", "ApplicationResultNotified",
        "WorkOrderOpened", "WorkOrderClosed", "DeviceStatusChanged", "CameraDirectionChanged",
        "FootageInventoryReported", "FootageExpired",
    }  # fmt: skip
    modes = Counter(e.fields["mode"] for e in day if e.event_type == "FootageViewed")
    assert modes["LIVE"] > modes["PLAYBACK"] > 0
    assert any(e.fields["access"]["authorization_id"] for e in day if e.event_type in ACCESS_TYPES)
    assert any(e.fields["access"]["application_id"] for e in day if e.event_type in ACCESS_TYPES)
    statuses = {e.fields["status"] for e in day if e.event_type == "DeviceStatusChanged"}
    assert statuses == {"OFF", "ON"}


def test_a_day_has_ten_to_forty_thousand_events_from_every_system(city: City, day: list[SimEvent]) -> None:
    assert 10_000 <= len(day) <= 40_000
    assert {e.source_id for e in day} == {s.system_id for s in city.systems}


def test_a_day_is_ordered_within_its_bounds_and_lawful(city: City, day: list[SimEvent]) -> None:
    assert day[0].occurred_at >= START
    assert day[-1].occurred_at < START + timedelta(days=1)
    check_lawful(day, city)


def test_registry_comes_first_and_each_camera_reports_inventory_once_a_day(
    city: City, day: list[SimEvent]
) -> None:
    registered = [e for e in day if e.event_type == "CameraRegistered"]
    assert len(registered) == len(city.cameras)
    assert max(e.occurred_at for e in registered) < START + timedelta(minutes=2)
    reported = Counter(e.fields["camera_id"] for e in day if e.event_type == "FootageInventoryReported")
    expired = Counter(e.fields["deletion"]["camera_id"] for e in day if e.event_type == "FootageExpired")
    assert set(reported.values()) == set(expired.values()) == {1}
    assert set(reported) == {c.camera_id for c in city.cameras}


def test_system_actions_are_marked_system(day: list[SimEvent]) -> None:
    automatic = {"FootageExpired", "FootageInventoryReported", "DeviceStatusChanged"}
    for event in day:
        assert (event.actor["kind"] == "SYSTEM") == (event.event_type in automatic)


def test_outages_of_one_day_are_the_next_days_inventory_gaps() -> None:
    small = build_city(seed=3, scale=0.3)
    events = list(simulate(small, seed=3, start=START, days=2.5))
    check_lawful(events, small)
    gaps = [g for e in events if e.event_type == "FootageInventoryReported" for g in e.fields["gaps"]]
    offs = [e for e in events if e.event_type == "DeviceStatusChanged" and e.fields["status"] == "OFF"]
    assert gaps, "outages before the last inventory leave no gap"
    assert len(gaps) <= len(offs) * 2


def test_a_run_starting_mid_shift_is_still_lawful() -> None:
    small = build_city(seed=5, scale=0.4)
    start = datetime(2026, 7, 14, 13, 47, 11, 500_000, tzinfo=UTC)  # 21:47 China time
    events = list(simulate(small, seed=5, start=start, days=1.3))
    assert start <= events[0].occurred_at
    assert events[-1].occurred_at < start + timedelta(days=1.3)
    check_lawful(events, small)


def test_scale_multiplies_cameras_people_and_activity(day: list[SimEvent]) -> None:
    half = build_city(seed=1, scale=0.5)
    double = build_city(seed=1, scale=2)
    assert 150 <= len(half.cameras) <= 230
    assert 700 <= len(double.cameras) <= 800
    assert len(half.operators) < 76 < len(double.operators)
    events = list(simulate(half, seed=1, start=START))
    assert len(day) * 0.35 < len(events) < len(day) * 0.75


def test_the_simulation_is_lazy(city: City) -> None:
    stream = simulate(city, seed=1, start=START, days=3650)
    assert isinstance(stream, Iterator)
    assert len(list(itertools.islice(stream, 5000))) == 5000


@pytest.mark.parametrize(
    ("start", "days"),
    [
        (datetime(2026, 5, 3), 1.0),  # naive
        (EARLIEST_START - timedelta(seconds=1), 1.0),
        (START, -1.0),
    ],
)
def test_bad_arguments_are_refused(city: City, start: datetime, days: float) -> None:
    with pytest.raises(ValueError):
        simulate(city, seed=1, start=start, days=days)


def test_zero_days_is_empty(city: City) -> None:
    assert list(simulate(city, seed=1, start=START, days=0)) == []


@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**32),
    offset=st.integers(0, 400 * 24 * 3600),
    days=st.floats(0.05, 1.2),
)
def test_any_seed_and_start_gives_lawful_traffic(seed: int, offset: int, days: float) -> None:
    small = build_city(seed=seed, scale=0.1)
    start = EARLIEST_START + timedelta(seconds=offset)
    events = list(simulate(small, seed=seed, start=start, days=days))
    assert all(start <= e.occurred_at < start + timedelta(days=days) for e in events)
    check_lawful(events, small)


# -- planted violations -------------------------------------------------------------------------

TRAFFIC_DIGEST = "d8314ef6db6166cd49fabb9c2bd1f4d6009805c7878a87186a7ce5021ee907b6"
"""SHA-256 of seed 1's day (scale 1.0, from START) as it was before planting existed."""
PLANTED_TYPES = {
    "FootageInventoryReported",
    "CameraRegistered", "RetentionPolicySet", "FootageExpired", "FootageDeleted", "LegalHoldPlaced",
    "LegalHoldReleased", "DiskFormatted", "FootageViewed", "AccessAuthorized", "FootageExported",
    "FootageShared", "DeletionOrdered", "CameraDirectionChanged", "WorkOrderOpened", "CameraTamperAlarm",
    "WorkOrderClosed", "RecordingStopped", "RecordingStarted", "DeviceStatusChanged", "LogCleared",
    "ClockChanged", "SystemRegistered",
}  # fmt: skip
LEDGER_TIME = {"R14", "R15"}
"""Rules about when facts reached the ledger: a simulation logs every event as it happens (their
scenarios are :mod:`tests.test_late_evidence`'s)."""
IMPLEMENTED = {rule.id for rule in RULES} - LEDGER_TIME  # the catalog's rules the simulation plants


def digest(events: Iterable[SimEvent]) -> str:
    hashed = hashlib.sha256()
    for e in events:
        record = [e.source_id, e.event_type, e.fields, e.actor, e.occurred_at]
        hashed.update(
            json.dumps(record, default=lambda v: v.isoformat(), ensure_ascii=False).encode() + b"\n"
        )
    return hashed.hexdigest()


def extras(normal: list[SimEvent], more: list[SimEvent]) -> list[SimEvent]:
    """The events of ``more`` that are not ``normal``, which must be a subsequence of it."""
    added, rest = [], iter(normal)
    expected = next(rest, None)
    for event in more:
        if event == expected:
            expected = next(rest, None)
        else:
            added.append(event)
    assert expected is None, "planting changed or dropped normal traffic"
    return added


def project(events: list[SimEvent], path: Path) -> list[dict[str, Any]]:
    """Apply ``events`` to fresh read models as the runner would, without Kafka; the violations.

    Each event is Avro-encoded and decoded as the runner decodes stored entries.
    """
    db = open_db(path)
    projector = Projector(db)
    sequence: Counter[str] = Counter()
    with db.atomic():
        projector.begin()
        for n, event in enumerate(events, start=1):
            sequence[event.source_id] += 1
            envelope = {
                "event_id": uuid.UUID(int=n),
                "schema_version": 1,
                "occurred_at": event.occurred_at,
                "source_system_id": event.source_id,
                "source_seq": sequence[event.source_id],
                "actor": event.actor,
                "key_id": f"{event.source_id}+0a1b2c3d",
            }
            if event.withheld:
                continue  # signed, so numbered, but never published
            record = {**event.fields, "envelope": envelope}
            event_type, decoded = PLAIN.decode(*REGISTRY.encode(event.event_type, record))
            projector.apply(
                item_of(  # reached the ledger at once: its own time is its ledger time
                    f"test/{event.source_id}",
                    sequence[event.source_id],
                    decoded["envelope"]["occurred_at"],
                    event_type.name,
                    decoded,
                )
            )
        projector.finish()
    return violations(db)


def row(item: Planted) -> tuple[str, str | None, str, int | None]:
    return item.rule, item.camera_id, item.actor_id, micros(item.occurred_at)


@pytest.fixture(scope="module")
def planted_day(city: City) -> list[SimEvent]:
    return list(simulate(city, seed=1, start=START, days=1, plant=True))


@pytest.fixture(scope="module")
def plants(city: City) -> list[Planted]:
    return planted(city, seed=1, start=START, days=1)


@pytest.fixture(scope="module")
def added(day: list[SimEvent], planted_day: list[SimEvent]) -> list[SimEvent]:
    return extras(day, planted_day)


def test_without_planting_the_traffic_is_what_it_always_was(city: City, day: list[SimEvent]) -> None:
    assert digest(day) == TRAFFIC_DIGEST, "the plant=False traffic changed; if on purpose, update the digest"
    assert list(simulate(city, seed=1, start=START, days=1, plant=False)) == day


def test_planting_only_adds_events_in_time_order(
    day: list[SimEvent], planted_day: list[SimEvent], added: list[SimEvent], plants: list[Planted]
) -> None:
    assert 15 + 160 <= len(added) <= 50 + 160  # 160: the bulk playback (R12)
    assert len(planted_day) == len(day) + len(added)
    assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(planted_day))
    assert {e.event_type for e in added} == PLANTED_TYPES
    assert START + timedelta(minutes=2) < added[0].occurred_at
    assert added[-1].occurred_at < START + timedelta(days=1)
    assert plants == sorted(plants, key=lambda p: p.occurred_at)
    for item in plants:
        assert any(
            (e.event_type, e.source_id, e.occurred_at) == (item.event_type, item.source_id, item.occurred_at)
            and item.actor_id in (e.actor["user_id"], None)
            for e in added
        ), item


def test_planted_events_encode_and_survive_an_avro_round_trip(
    added: list[SimEvent], registry: SchemaRegistry
) -> None:
    for n, event in enumerate(added, start=1):
        envelope = {
            "event_id": str(uuid.UUID(int=n)),
            "schema_version": registry.event_type(event.event_type).version,
            "occurred_at": event.occurred_at,
            "source_system_id": event.source_id,
            "source_seq": n,
            "actor": event.actor,
            "key_id": f"{event.source_id}+0a1b2c3d",
        }
        fingerprint, body = registry.encode(event.event_type, {**event.fields, "envelope": envelope})
        _, record = registry.decode(fingerprint, body)
        assert record.pop("envelope")["actor"] == event.actor
        assert record == event.fields, event.event_type


def test_planted_events_are_the_citys_systems_cameras_and_staff_on_duty(
    city: City, planted_day: list[SimEvent], added: list[SimEvent], plants: list[Planted]
) -> None:
    """Only the planted R12 scene has someone off duty act."""
    people = {o.user_id: o for o in city.operators}
    rosters: dict[str, list[tuple[datetime, datetime]]] = defaultdict(list)
    cameras: dict[str, str] = {}
    owner: dict[str, str] = {}  # system -> the source that registered it (an annex: its parent's)
    chosen = {id(e) for e in added}
    for event in planted_day:
        f = event.fields
        if event.event_type == "DutyShiftAssigned":
            rosters[f["user_id"]].append((f["shift_start"], f["shift_end"]))
        if event.event_type == "SystemRegistered":
            owner[f["system_id"]] = event.source_id
        if event.event_type == "CameraRegistered":
            cameras[f["camera_id"]] = owner[f["system_id"]]
        if id(event) not in chosen:
            continue
        assert event.source_id in {s.system_id for s in city.systems}
        cited = (
            [f.get("camera_id")]
            + f.get("camera_ids", [])
            + [f[k]["camera_id"] for k in ("access", "deletion") if k in f]
        )
        for camera_id in filter(None, cited):
            assert cameras[camera_id] == event.source_id, f"{event.event_type} cites {camera_id}"
        actor = event.actor
        if actor["kind"] == "SYSTEM":
            machine = {"FootageExpired", "FootageInventoryReported", "ClockChanged", "CameraTamperAlarm"}
            assert event.event_type in machine | {"DeviceStatusChanged"}
        elif actor["role"] != "admin":  # administrators, as for every registry event, have no rota
            assert actor == people[actor["user_id"]].actor()
            assert people[actor["user_id"]].system_id == event.source_id
            shifts = rosters[actor["user_id"]]
            on_duty = any(a <= event.occurred_at < b for a, b in shifts)
            off_duty = {(p.rule, p.event_type, p.occurred_at) for p in plants if p.rule == "R12"}
            planted_off_duty = ("R12", event.event_type, event.occurred_at) in off_duty and not on_duty
            assert on_duty or planted_off_duty, f"{actor['name']} is not on duty"


def test_planted_list_covers_every_implemented_rule_and_the_near_misses(plants: list[Planted]) -> None:
    assert {f"R{n}" for n in range(1, 18)} == IMPLEMENTED | LEDGER_TIME
    assert {p.rule for p in plants if p.kind == "violation"} == IMPLEMENTED
    assert {p.kind for p in plants} == {"violation", "near-miss"}
    r1 = Counter(p.event_type for p in plants if p.rule == "R1" and p.kind == "violation")
    assert r1 == {"FootageDeleted": 2, "FootageExpired": 1, "DiskFormatted": 2}
    near = Counter((p.rule, p.event_type) for p in plants if p.kind == "near-miss")
    assert near == {
        ("R1", "FootageExpired"): 1,
        ("R1", "FootageDeleted"): 3,
        ("R2", "FootageInventoryReported"): 1,
        ("R5", "FootageViewed"): 1,
        ("R6", "FootageExported"): 1,
        ("R8", "CameraTamperAlarm"): 1,
        ("R9", "DeviceStatusChanged"): 1,
        ("R11", "ClockChanged"): 1,
        ("R12", "FootageViewed"): 1,
        ("R16", "CameraRegistered"): 1,
        ("R17", "FootageInventoryReported"): 1,
    }
    assert Counter(p.rule for p in plants if p.kind == "violation")["R4"] == 2
    for item in plants:
        assert item.description.endswith(".")
        bulk = item.rule == "R12" and "clips" in item.description  # a row about an hour, not a camera
        assert (item.camera_id is None) == (item.rule in {"R11", "R13"} or bulk)
        gap = item.rule == "R11" and item.event_type == "FootageViewed"  # no one to name: events are missing
        assert (item.actor_id is None) == (gap or item.rule == "R16")  # a late filing: no one acted


def test_the_planted_scenes_are_the_ones_asked_for(added: list[SimEvent], plants: list[Planted]) -> None:
    event = {(e.occurred_at, e.event_type): e for e in added}
    placed = {e.fields["camera_id"]: e for e in added if e.event_type == "LegalHoldPlaced"}
    released = {e.fields["hold_id"]: e for e in added if e.event_type == "LegalHoldReleased"}
    orders = {e.fields["order_id"]: e for e in added if e.event_type == "DeletionOrdered"}

    def scene(rule: str, kind: str, event_type: str) -> list[tuple[datetime, dict[str, Any]]]:
        chosen = [p for p in plants if (p.rule, p.kind, p.event_type) == (rule, kind, event_type)]
        return [(p.occurred_at, event[p.occurred_at, p.event_type].fields) for p in chosen]

    def age(at: datetime, fields: dict[str, Any]) -> float:
        return (at - fields["deletion"]["footage_end"]) / timedelta(days=1)

    def days_and_age(rule_kind: str) -> list[tuple[int, float]]:
        return [(f["policy_days"], age(at, f)) for at, f in scene("R1", rule_kind, "FootageExpired")]

    assert days_and_age("violation") == [(7, 10)]  # under a too-short policy
    assert days_and_age("near-miss") == [(30, 31)]
    (young_at, young), (held_at, held) = sorted(
        scene("R1", "violation", "FootageDeleted"), key=lambda s: age(*s)
    )
    assert age(young_at, young) < 30
    assert young["deletion"]["deletion_order_id"] is None
    hold = placed[held["deletion"]["camera_id"]]
    assert age(held_at, held) > 60  # older than retention, but
    assert hold.occurred_at < held_at  # under a hold placed before
    assert hold.fields["hold_id"] not in released
    near = {f["deletion"]["deletion_order_id"] or f["deletion"]["outcome"]: (at, f)
            for at, f in scene("R1", "near-miss", "FootageDeleted")}  # fmt: skip
    at, denied = near.pop("DENIED")
    assert age(at, denied) < 30
    at, old = near.pop("ALLOWED")
    assert released[placed[old["deletion"]["camera_id"]].fields["hold_id"]].occurred_at < at
    ((order_id, (at, ordered)),) = near.items()
    order = orders[order_id]
    assert order.occurred_at < at
    assert age(at, ordered) < 30
    assert order.fields["camera_id"] == ordered["deletion"]["camera_id"]
    assert order.fields["footage_start"] <= ordered["deletion"]["footage_start"]
    assert ordered["deletion"]["footage_end"] <= order.fields["footage_end"]
    ((_, formatted),) = {e.occurred_at: e.fields for e in added if e.event_type == "DiskFormatted"}.items()
    assert formatted["footage_end"] is None
    assert {p.camera_id for p in plants if p.event_type == "DiskFormatted"} == set(formatted["camera_ids"])
    assert [f["retention_days"] for _, f in scene("R3", "violation", "RetentionPolicySet")] == [7]
    views = [f["access"] for _, f in scene("R4", "violation", "FootageViewed")]
    assert sorted(bool(a["reason"]) for a in views) == [False, True]
    assert all(not a["legal_basis"] and not a["case_number"] for a in views)
    ((_, bare),) = scene("R6", "violation", "FootageExported")
    ((_, marked),) = scene("R6", "near-miss", "FootageExported")
    assert (bare["watermark_id"], bare["file_hash"]) == (None, None)
    assert marked["watermark_id"]
    assert re.fullmatch(r"[0-9a-f]{64}", marked["file_hash"])
    assert [f["desensitization_profile"] for _, f in scene("R7", "violation", "FootageShared")] == [None]
    ((_, camera),) = scene("R10", "violation", "CameraRegistered")
    assert camera["location_category"] in PROHIBITED
    ((_, grant),) = scene("R13", "violation", "AccessAuthorized")
    assert grant["approver_user_id"] == grant["requester_user_id"] != grant["grantee_user_id"]


def test_planting_is_deterministic(city: City, planted_day: list[SimEvent], plants: list[Planted]) -> None:
    assert list(simulate(build_city(seed=1), seed=1, start=START, days=1, plant=True)) == planted_day
    assert planted(build_city(seed=1), seed=1, start=START, days=1) == plants
    other = planted(city, seed=2, start=START, days=1)
    assert [row(p) for p in other] != [row(p) for p in plants]
    assert Counter((p.rule, p.kind) for p in other) == Counter((p.rule, p.kind) for p in plants)


def test_planting_needs_an_hour_of_a_day_shift(city: City) -> None:
    night = datetime(2026, 5, 3, 13, tzinfo=UTC)  # 21:00 China time
    with pytest.raises(ValueError, match="day shift"):
        simulate(city, seed=1, start=night, days=0.4, plant=True)
    with pytest.raises(ValueError, match="day shift"):
        planted(city, seed=1, start=night, days=0.4)
    assert planted(city, seed=1, start=night, days=0.5)  # reaches 09:00 the next morning


def check_found(found: list[dict[str, Any]], plants: list[Planted]) -> None:
    """The rules found every planted violation, no near-miss and nothing else."""
    rows = Counter((v["rule"], v["camera_id"], v["actor_id"], v["occurred_at"]) for v in found)
    for item in plants:
        if item.kind == "near-miss":
            assert not any(r[1:] == row(item)[1:] for r in rows), f"a near-miss fired: {item.description}"
        else:
            assert rows[row(item)] >= 1, f"not found: {item.description}"
    assert rows == Counter(row(p) for p in plants if p.kind == "violation"), "something else fired"
    assert {v["rule"] for v in found} == IMPLEMENTED


def test_the_rules_find_exactly_the_planted_violations(
    planted_day: list[SimEvent], plants: list[Planted], tmp_path: Path
) -> None:
    found = project(planted_day, tmp_path / "v.db")
    check_found(found, plants)
    assert len(found) == sum(p.kind == "violation" for p in plants)


@settings(max_examples=5, deadline=None)
@given(seed=st.integers(0, 2**32), offset=st.integers(0, 400 * 24 * 3600), days=st.floats(1.0, 1.6))
def test_any_seed_and_start_plants_what_the_rules_find(seed: int, offset: int, days: float) -> None:
    small = build_city(seed=seed, scale=0.1)
    start = EARLIEST_START + timedelta(seconds=offset)
    events = list(simulate(small, seed=seed, start=start, days=days, plant=True))
    assert all(a.occurred_at <= b.occurred_at for a, b in itertools.pairwise(events))
    assert extras(list(simulate(small, seed=seed, start=start, days=days)), events)
    plants = planted(small, seed=seed, start=start, days=days)
    with tempfile.TemporaryDirectory() as directory:
        check_found(project(events, Path(directory) / "v.db"), plants)
