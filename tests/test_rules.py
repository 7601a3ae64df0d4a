"""Detection rules and investigators' queries, from signed events through the real ledger.

Each test signs its events with the SDK in one session, ingests them once, projects the ledger and
checks the violations (or their absence) and the ledger positions they cite, found by decoding the
stored entries. Most scenarios reach the ledger without Kafka (:class:`tests.events.OfflineLedger`:
the real log writer, its validation, signature checks and dedupe, on a real SQLite store); those
marked ``kafka`` go end to end, through the real broker and ingest's consumer loop. The events' own
times decide: the scenarios are set in 2031, years from the wall clock, so a rule that consulted
the clock would judge the near-misses wrongly.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import pytest
import sqlite_utils

from ledger.app.assembly import open_store
from ledger.app.config import Config
from ledger.errors import NotFound, PublishError, UsageError
from ledger.ingest.store import LedgerStore
from ledger.sdk import Publisher
from projections.projector import micros
from projections.queries import actor, actor_page, case, violations, who
from projections.rules.base import Thresholds
from projections.rules.catalog import (
    R9_OUTAGE,
    R9_STOPPED,
    R11_CHANGED,
    R11_LOST,
    R12_BULK,
    R12_OFF_DUTY,
    R13,
    RULES,
    Rule,
)
from projections.runner import ProjectionRunner, open_db
from tests.events import (
    ACTOR,
    CAMERA,
    OfflineLedger,
    OfflinePublisher,
    decode,
    ingest,
    publisher,
    registered_source,
)

NOW = datetime(2031, 3, 15, 2, 0, tzinfo=UTC)  # when the deletions happen, by the events' clocks
BEFORE = NOW - timedelta(days=400)  # when the system and its cameras were registered
SYSTEM = "zz-metro"
CAM_A, CAM_B, CAM_C = CAMERA, "43020200001310000002", "43020200001310000003"
ADMIN = {**ACTOR, "user_id": "u0007", "name": "李强", "role": "admin", "workstation": "ws-01"}
INVESTIGATOR = {
    **ACTOR,
    "user_id": "p3301",
    "name": "王芳",
    "unit": "天元分局刑侦大队",
    "role": "investigator",
}
VMS = {
    "kind": "SYSTEM",
    "user_id": "vms-storage",
    "name": "录像存储",
    "unit": "株洲轨道交通",
    "role": "system",
}
BASIS = "《刑事诉讼法》第一百三十七条"
FOOTAGE = (NOW - timedelta(days=2), NOW - timedelta(days=2) + timedelta(minutes=10))  # 10 minutes
TRACED = {"watermark_id": "wm-77f3", "file_hash": "sha256:9f2c", "format": "mp4", "destination": "U盘 4471"}
ORDER = {"approver_user_id": "u0007", "legal_basis": "《个保法》第四十七条", "reason": "误录隐私画面"}


def days(n: float) -> timedelta:
    return timedelta(days=n)


def access(camera: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    """An AccessContext: a complete trace (reason, ALLOWED) unless ``extra`` says otherwise."""
    context = {"camera_id": camera, "footage_start": start, "footage_end": end, "reason": "巡查回放"}
    return {**context, "outcome": "ALLOWED", **extra}


def deletion(camera: str, start: datetime, end: datetime, **extra: Any) -> dict[str, Any]:
    """A DeletionContext: performed (ALLOWED), no order cited unless ``extra`` says otherwise."""
    return {"camera_id": camera, "footage_start": start, "footage_end": end, "outcome": "ALLOWED", **extra}


class Scenario:
    """One test's events, each published under a label so its ledger position can be found."""

    def __init__(
        self, pub: Publisher | OfflinePublisher, tmp_path: Path, offline: OfflineLedger | None = None
    ) -> None:
        self.pub, self.tmp_path, self.offline = pub, tmp_path, offline
        self.ids: dict[str, UUID] = {}
        self.positions: dict[UUID, list[Any]] = {}
        self.db: sqlite_utils.Database

    def send(
        self, label: str, event_type: str, at: datetime, by: Mapping[str, Any] = ACTOR, /, **fields: Any
    ) -> None:
        assert label not in self.ids, label
        self.ids[label] = self.pub.publish(event_type, fields, actor=by, occurred_at=at).event_id

    def logged(self, at: datetime) -> None:
        """Log what was sent so far, at ledger time ``at`` (what follows is logged later)."""
        assert self.offline is not None, "only a scenario without Kafka sets the ledger's time"
        result = self.offline.ingest(at=at)
        assert not result.rejected, [item.error for _, item in result.rejected]

    def order(
        self, label: str, order_id: str, camera: str, start: datetime, end: datetime, at: datetime
    ) -> None:
        window = {"footage_start": start, "footage_end": end, **ORDER}
        self.send(label, "DeletionOrdered", at, ADMIN, order_id=order_id, camera_id=camera, **window)

    def policy(self, label: str, days: int, at: datetime, camera: str | None = None) -> None:
        """The system's retention policy (or one camera's), set to ``days`` at ``at``."""
        self.send(
            label, "RetentionPolicySet", at, ADMIN, system_id=SYSTEM, camera_id=camera, retention_days=days
        )

    def hold(
        self, label: str, hold_id: str, camera: str, start: datetime, end: datetime, at: datetime
    ) -> None:
        window = {"footage_start": start, "footage_end": end, "case_number": "A-7", "reason": "逃逸案"}
        self.send(label, "LegalHoldPlaced", at, INVESTIGATOR, hold_id=hold_id, camera_id=camera, **window)

    def authorize(
        self, label: str, auth_id: str, requester: str, approver: str, grantee: str = "p3301"
    ) -> None:
        self.send(
            label,
            "AccessAuthorized",
            NOW - days(1),
            {**ADMIN, "user_id": approver},
            authorization_id=auth_id,
            grantee_user_id=grantee,
            requester_user_id=requester,
            approver_user_id=approver,
            case_number="A-1",
            legal_basis=BASIS,
            camera_ids=[CAM_A],
            footage_start=NOW - days(3),
            footage_end=NOW - days(1),
            expires_at=NOW + days(7),
        )

    def project(self, store: LedgerStore, thresholds: Thresholds | None = None) -> None:
        """Project the whole ledger, and decode the stored entries to place each event."""
        self.db = open_db(self.tmp_path / "views.db")
        ProjectionRunner(store=store, db=self.db, thresholds=thresholds).run()
        for origin in store.origins():
            for entry in store.entries(origin):
                self.positions[decode(entry.entry)[1]["envelope"]["event_id"]] = [origin, entry.index]
        assert set(self.ids.values()) <= self.positions.keys()

    def at(self, *labels: str) -> list[list[Any]]:
        """The sorted [origin, idx] of the labelled events, as violations cite them."""
        return sorted(self.positions[self.ids[label]] for label in labels)

    def citing(self, rule: str, label: str) -> dict[str, Any]:
        """The one violation of ``rule`` that cites the labelled event."""
        found = [v for v in violations(self.db, rule=rule) if self.at(label)[0] in v["evidence"]]
        assert len(found) == 1, found
        return found[0]


@contextmanager
def scenario(tmp_path: Path, config: Config | None = None) -> Iterator[Scenario]:
    """A registered source, its system ("system", 30 days' retention) and cameras A, B, C; then
    everything the test sends, in one publisher session; then ingest and projection.

    With ``config``, through the real broker and ingest; without, through an :class:`OfflineLedger`.
    """
    offline = OfflineLedger(tmp_path / "ledger") if config is None else None
    with ExitStack() as session:
        if offline is not None:
            pub: Publisher | OfflinePublisher = offline.publisher()
        else:
            assert config is not None
            registered_source(config)
            pub = session.enter_context(publisher(config))
        s = Scenario(pub, tmp_path, offline)
        system = {"name": "轨交视频系统", "owner": "株洲轨道交通", "manager": "李强", "retention_days": 30}
        s.send("system", "SystemRegistered", BEFORE, ADMIN, system_id=SYSTEM, **system)
        place = {"system_id": SYSTEM, "location": "神农城站", "location_category": "TRANSPORT_HUB"}
        for camera in (CAM_A, CAM_B, CAM_C):
            s.send(
                camera,
                "CameraRegistered",
                BEFORE,
                ADMIN,
                camera_id=camera,
                name="站台",
                notice_sign=True,
                **place,
            )
        yield s
    if offline is not None:
        result = offline.ingest(own_time=True)  # unless the test logged them at other times
        assert not result.rejected, [item.error for _, item in result.rejected]
        store = offline.open_store()
    else:
        assert config is not None
        stats = ingest(config, idle=1.0)
        assert stats.rejected == 0, stats.by_reason
        store = open_store(config)
    # Through Kafka the ledger's time is the wall clock's, years before the scenarios' 2031: not
    # what these scenarios judge (R15's are tests.test_late_evidence's).
    years = Thresholds(clock_ahead_us=20 * 365 * 24 * 3_600_000_000) if offline is None else None
    try:
        s.project(store, years)
    finally:
        store.close()


def test_the_offline_ledger_checks_signatures_and_dedupes_as_ingest_does(tmp_path: Path) -> None:
    """What the scenarios rely on without Kafka: an altered event is refused, a redelivered one kept once."""
    ledger = OfflineLedger(tmp_path)
    pub = ledger.publisher(SYSTEM)
    for _ in range(2):
        pub.publish("FootageViewed", {"access": access(CAM_A, *FOOTAGE), "mode": "LIVE"}, actor=ACTOR)
    _, first, second = ledger.messages
    altered = second.value.replace("巡查回放".encode(), "巡查回看".encode())
    ledger.messages += [first._replace(offset=3), second._replace(offset=4, value=altered)]
    result = ledger.ingest()
    assert (result.appended, result.duplicates) == (3, 1)
    assert [item.error.reason for _, item in result.rejected if item.error] == ["bad_signature"]


def facet(rule: str | Rule) -> Rule:
    """The catalog's entry for ``rule``: an entry, or the id of a rule that has only one."""
    if isinstance(rule, Rule):
        return rule
    [entry] = [r for r in RULES if r.id == rule]
    return entry


def facet_of(v: Mapping[str, Any]) -> Rule | None:
    """The catalog's entry a violation row is of: the one with its rule, severity and article."""
    row = (v["rule"], v["severity"], v["article"])
    return next((r for r in RULES if (r.id, r.severity, r.article) == row), None)


def check(
    v: Mapping[str, Any],
    rule: str | Rule,
    camera: str | None,
    by: str,
    evidence: list[list[Any]] | None,
    at: datetime = NOW,
) -> None:
    """A violation's fields; its explanation names its article; it cites exactly ``evidence``."""
    assert facet_of(v) == facet(rule)
    assert (v["camera_id"], v["actor_id"], v["system_id"]) == (camera, by, SYSTEM)
    assert v["occurred_at"] == micros(at)
    assert facet(rule).article in v["explanation"]
    if evidence is not None:
        assert sorted(v["evidence"]) == evidence


def cited(v: Mapping[str, Any]) -> set[tuple[str, int]]:
    """A violation's evidence as a set of positions."""
    return {(origin, idx) for origin, idx in v["evidence"]}


def pos(*positions: list[Any]) -> set[tuple[str, int]]:
    return {(origin, idx) for origin, idx in positions}


def span(start: datetime, end: datetime) -> tuple[int, int]:
    return micros(start) or 0, micros(end) or 0


# -- R1 (and R3): deletion inside the retention window ----------------------------------------------


@pytest.mark.kafka
def test_r1_user_deletes_footage_inside_the_systems_own_longer_retention(
    config: Config, tmp_path: Path
) -> None:
    with scenario(tmp_path, config) as s:
        s.policy("policy", 90, NOW - days(200))
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_A, NOW - days(46), NOW - days(45)))
    [v] = violations(s.db)
    check(v, "R1", CAM_A, "u1024", s.at("deleted", "policy"))
    assert "was deleted although the footage was 45.0 days old, inside its 90-day" in v["explanation"]
    assert "no deletion order was cited" in v["explanation"]


def test_r1_expiry_of_31_day_old_footage_under_a_30_day_policy_is_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.policy("policy", 30, NOW - days(200))
        expired = deletion(CAM_A, NOW - days(32), NOW - days(31))
        s.send("expired", "FootageExpired", NOW, VMS, deletion=expired, policy_days=30)
    assert violations(s.db) == []  # neither R1 nor R3: 30 days is the legal minimum, not below it
    [row] = who(s.db, CAM_A, *span(NOW - days(32), NOW - days(31)))
    assert (row["action"], row["actor_id"]) == ("expire", "vms-storage")
    assert [row["origin"], row["idx"]] == s.at("expired")[0]


def test_r1_automatic_expiry_under_a_7_day_policy_fires_r1_and_r3(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.policy("policy", 7, NOW - days(60))
        expired = deletion(CAM_A, NOW - days(11), NOW - days(10))
        s.send("expired", "FootageExpired", NOW, VMS, deletion=expired, policy_days=7)
    assert len(violations(s.db)) == 2
    [r1] = violations(s.db, rule="R1")
    check(r1, "R1", CAM_A, "vms-storage", s.at("expired", "policy"))
    assert "was expired although the footage was 10.0 days old, inside its 30-day" in r1["explanation"]
    assert "(the system's own policy said 7)" in r1["explanation"]
    [r3] = violations(s.db, rule="R3")
    check(r3, "R3", None, "u0007", s.at("policy"), at=NOW - days(60))
    assert f"Retention for system {SYSTEM} was set to 7 days" in r3["explanation"]


def test_r3_a_system_registered_with_less_than_30_days_retention_fires_and_30_days_does_not(
    tmp_path: Path,
) -> None:
    registered = {"owner": "株洲轨道交通", "manager": "李强"}
    with scenario(tmp_path) as s:
        s.send(
            "short",
            "SystemRegistered",
            BEFORE,
            ADMIN,
            system_id="zz-short",
            name="短",
            retention_days=15,
            **registered,
        )
        s.send(
            "legal",
            "SystemRegistered",
            BEFORE,
            ADMIN,
            system_id="zz-legal",
            name="足",
            retention_days=30,
            **registered,
        )
    [r3] = violations(s.db, rule="R3")
    assert r3["evidence"] == s.at("short")
    assert r3["explanation"].startswith("Retention for system zz-short was registered with 15 days;")
    assert r3["system_id"] == "zz-short"


def test_r1_an_unregistered_cameras_own_retention_policy_is_in_force(tmp_path: Path) -> None:
    unregistered = "43020200001310000099"
    with scenario(tmp_path) as s:
        s.policy("policy", 90, NOW - days(200), camera=unregistered)
        for label, age in (("young", 45), ("old", 100)):
            footage = deletion(unregistered, NOW - days(age + 1), NOW - days(age))
            s.send(label, "FootageDeleted", NOW, deletion=footage)
    [v] = violations(s.db, rule="R1")  # the 45-day-old footage, inside the camera's 90 days; not the other
    check(v, "R1", unregistered, "u1024", s.at("young", "policy"))
    assert "inside its 90-day" in v["explanation"]


def test_r1_deletion_of_old_footage_under_a_legal_hold(tmp_path: Path) -> None:
    old = (NOW - days(60), NOW - days(60) + timedelta(hours=1))
    with scenario(tmp_path) as s:
        s.hold("hold", "H-1", CAM_A, NOW - days(61), NOW - days(59), at=NOW - days(50))
        # near-miss: camera B's hold was released the day before its old footage went
        s.hold("hold-b", "H-2", CAM_B, NOW - days(61), NOW - days(59), at=NOW - days(50))
        s.send("released", "LegalHoldReleased", NOW - days(1), INVESTIGATOR, hold_id="H-2", reason="结案")
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_A, *old))
        s.send("deleted-b", "FootageDeleted", NOW, deletion=deletion(CAM_B, *old))
    [v] = violations(s.db)
    check(v, "R1", CAM_A, "u1024", None)
    assert "was deleted although it was under legal hold H-1, and no deletion order" in v["explanation"]
    # The deletion and the hold prove it. The system's 30-day retention proves nothing about 60-day-old
    # footage; whether it is cited or not is checked exactly in the evidence test below.
    assert pos(*s.at("deleted", "hold")) <= cited(v) <= pos(*s.at("deleted", "hold", "system"))


def test_r1_deletion_covered_by_a_deletion_order_is_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.order("order", "O-1", CAM_A, NOW - days(4), NOW - days(2), at=NOW - days(1))
        covered = deletion(CAM_A, NOW - days(3), NOW - days(2), deletion_order_id="O-1")
        s.send("deleted", "FootageDeleted", NOW, deletion=covered)
    assert violations(s.db) == []


def test_r1_deletion_order_not_covering_the_camera_or_window_or_issued_later(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.order("order-b", "O-2", CAM_B, NOW - days(4), NOW - days(2), at=NOW - days(1))  # another camera
        s.order("order-early", "O-3", CAM_A, NOW - days(6), NOW - days(5), at=NOW - days(1))  # another window
        s.order("order-late", "O-4", CAM_A, NOW - days(4), NOW - days(2), at=NOW + timedelta(hours=1))
        for label, order_id in (("del-b", "O-2"), ("del-early", "O-3"), ("del-late", "O-4")):
            window = deletion(CAM_A, NOW - days(3), NOW - days(2), deletion_order_id=order_id)
            s.send(label, "FootageDeleted", NOW, deletion=window)
    assert len(violations(s.db)) == 3
    for label, order_id, order in (
        ("del-b", "O-2", "order-b"),
        ("del-early", "O-3", "order-early"),
        ("del-late", "O-4", "order-late"),
    ):
        v = s.citing("R1", label)
        check(v, "R1", CAM_A, "u1024", None)
        assert f"30-day retention period, and deletion order {order_id} does not cover it" in v["explanation"]
        # The deletion and the retention in force prove it; the order it cites may be cited as well.
        assert pos(*s.at(label, "system")) <= cited(v) <= pos(*s.at(label, "system", order))


def test_r1_denied_or_failed_deletion_attempts_are_no_violation(tmp_path: Path) -> None:
    young = (NOW - days(3), NOW - days(2))
    with scenario(tmp_path) as s:
        s.send("denied", "FootageDeleted", NOW, deletion=deletion(CAM_A, *young, outcome="DENIED"))
        s.send("failed", "FootageOverwritten", NOW, VMS, deletion=deletion(CAM_B, *young, outcome="FAILED"))
        s.send("format", "DiskFormatted", NOW, disk_id="disk-3", camera_ids=[CAM_A, CAM_C], outcome="DENIED")
    assert violations(s.db) == []
    # The attempts are on record all the same: the deletion, and the format of the disk holding it.
    [row, formatted] = who(s.db, CAM_A, *span(*young))
    assert (row["action"], row["outcome"], [row["origin"], row["idx"]]) == (
        "delete",
        "DENIED",
        *s.at("denied"),
    )
    assert (formatted["action"], formatted["outcome"]) == ("format", "DENIED")


def test_r1_disk_format_fires_for_each_camera_on_the_disk(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send("format", "DiskFormatted", NOW, disk_id="disk-3", camera_ids=[CAM_A, CAM_B], outcome="ALLOWED")
    found = violations(s.db)
    assert sorted(v["camera_id"] for v in found) == [CAM_A, CAM_B]  # not camera C: not on that disk
    for v in found:
        check(v, "R1", v["camera_id"], "u1024", s.at("format", "system"))
        assert f"{v['camera_id']} was formatted although the footage was 0.0 days old" in v["explanation"]


def test_r1_a_disk_format_is_covered_only_by_an_order_naming_all_the_footage_it_still_protects(
    tmp_path: Path,
) -> None:
    with scenario(tmp_path) as s:
        s.order("slot", "DO-1", CAM_A, NOW - days(60), NOW - days(60) + timedelta(hours=1), at=NOW - days(1))
        s.order("whole", "DO-2", CAM_B, NOW - days(31), NOW, at=NOW - days(1))
        for label, camera, order_id in (("narrow", CAM_A, "DO-1"), ("covered", CAM_B, "DO-2")):
            s.send(
                label,
                "DiskFormatted",
                NOW,
                disk_id=f"disk-{label}",
                camera_ids=[camera],
                outcome="ALLOWED",
                deletion_order_id=order_id,
            )
    [v] = violations(s.db, rule="R1")  # the format under an order for one hour of 60 days ago
    check(v, "R1", CAM_A, "u1024", s.at("narrow", "system", "slot"))
    assert "deletion order DO-1 does not cover it" in v["explanation"]


# -- R4, R6, R7: traces of access -------------------------------------------------------------------


def test_r4_access_without_reason_unit_name_or_case_fires(tmp_path: Path) -> None:
    nameless = {**ACTOR, "user_id": "u1999", "name": "", "unit": ""}
    with scenario(tmp_path) as s:
        s.send("no-reason", "FootageViewed", NOW, access=access(CAM_A, *FOOTAGE, reason=None), mode="LIVE")
        s.send("nameless", "FootageViewed", NOW, nameless, access=access(CAM_B, *FOOTAGE), mode="LIVE")
        no_case = access(CAM_C, *FOOTAGE, legal_basis=BASIS)
        s.send("no-case", "FootageExported", NOW, INVESTIGATOR, access=no_case, **TRACED)
    assert len(violations(s.db)) == 3
    for label, camera, by, missing, kind in (
        ("no-reason", CAM_A, "u1024", "reason", "FootageViewed"),
        ("nameless", CAM_B, "u1999", "unit, name", "FootageViewed"),
        ("no-case", CAM_C, "p3301", "case_number", "FootageExported"),
    ):
        v = s.citing("R4", label)
        check(v, "R4", camera, by, s.at(label))
        assert v["explanation"].startswith(f"{kind} of camera {camera} by {by} does not record {missing}:")


def test_r4_an_investigator_role_written_another_way_is_still_held_to_legal_basis_and_case(
    tmp_path: Path,
) -> None:
    no_case = access(CAM_C, *FOOTAGE, legal_basis=BASIS)
    lawful = access(CAM_C, *FOOTAGE, legal_basis=BASIS, case_number="A-1")
    fullwidth = "".join(chr(0xFEE0 + ord(c)) for c in "investigator")
    with scenario(tmp_path) as s:
        for n, role in enumerate(["Investigator", " POLICE ", "investi\u200bgator", fullwidth]):
            s.send(
                f"no-case-{n}",
                "FootageExported",
                NOW,
                {**INVESTIGATOR, "role": role},
                access=no_case,
                **TRACED,
            )
            s.send(
                f"lawful-{n}", "FootageExported", NOW, {**INVESTIGATOR, "role": role}, access=lawful, **TRACED
            )
    found = violations(s.db, rule="R4")
    assert sorted(v["evidence"][0] for v in found) == s.at(*(f"no-case-{n}" for n in range(4)))
    assert all("does not record case_number:" in v["explanation"] for v in found)


def test_r4_complete_traces_and_automatic_access_are_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send("operator", "FootageViewed", NOW, access=access(CAM_A, *FOOTAGE), mode="PLAYBACK")
        lawful = access(CAM_B, *FOOTAGE, legal_basis=BASIS, case_number="A-1")
        s.send("police", "FootageExported", NOW, INVESTIGATOR, access=lawful, **TRACED)
        s.send("machine", "FootageViewed", NOW, VMS, access=access(CAM_C, *FOOTAGE, reason=None), mode="LIVE")
    assert violations(s.db) == []


def test_r6_export_or_download_without_watermark_or_hash_fires(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send(
            "export",
            "FootageExported",
            NOW,
            access=access(CAM_A, *FOOTAGE),
            **TRACED | {"watermark_id": None},
        )
        download = {"destination": "ws-07 本地磁盘", "watermark_id": "wm-1"}
        s.send("download", "FootageDownloaded", NOW, access=access(CAM_B, *FOOTAGE), **download)
    assert len(violations(s.db)) == 2
    for label, camera, says in (
        ("export", CAM_A, "footage to U盘 4471 has no watermark_id:"),
        ("download", CAM_B, "footage to ws-07 本地磁盘 has no file_hash:"),
    ):
        v = s.citing("R6", label)
        check(v, "R6", camera, "u1024", s.at(label))
        assert says in v["explanation"]


def test_r6_traced_or_refused_copies_are_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send("export", "FootageExported", NOW, access=access(CAM_A, *FOOTAGE), **TRACED)
        refused = access(CAM_B, *FOOTAGE, outcome="DENIED")
        s.send("copy", "FootageCopied", NOW, access=refused, destination="U盘")
    assert violations(s.db) == []


def test_r7_share_or_release_without_desensitization_fires(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send("share", "FootageShared", NOW, access=access(CAM_A, *FOOTAGE), recipient="市交通运输局")
        s.send("release", "FootageReleased", NOW, access=access(CAM_B, *FOOTAGE), channel="政务微博")
    assert len(violations(s.db)) == 2
    for label, camera, kind in (("share", CAM_A, "FootageShared"), ("release", CAM_B, "FootageReleased")):
        v = s.citing("R7", label)
        check(v, "R7", camera, "u1024", s.at(label))
        assert v["explanation"].startswith(f"{kind} of camera {camera} footage without desensitization")


def test_r7_desensitized_or_refused_shares_are_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        shared = {"recipient": "市交通运输局", "desensitization_profile": "faces+plates"}
        s.send("share", "FootageShared", NOW, access=access(CAM_A, *FOOTAGE), **shared)
        refused = access(CAM_B, *FOOTAGE, outcome="DENIED")
        s.send("release", "FootageReleased", NOW, access=refused, channel="政务微博")
    assert violations(s.db) == []


# -- R10, R13: registry and authorization -----------------------------------------------------------


def register(s: Scenario, label: str, camera: str, category: str) -> None:
    place = {"system_id": SYSTEM, "location": "某宾馆", "location_category": category, "notice_sign": False}
    s.send(label, "CameraRegistered", NOW, ADMIN, camera_id=camera, name=label, **place)


def test_r10_camera_registered_in_a_toilet_fires(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        register(s, "toilet", "43020200001310000009", "TOILET")
    [v] = violations(s.db)
    check(v, "R10", "43020200001310000009", "u0007", s.at("toilet"))
    assert "at 某宾馆 is registered in a toilet, where cameras are prohibited" in v["explanation"]


def test_r10_cameras_in_public_areas_are_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        register(s, "lobby", "43020200001310000009", "COMMERCIAL")
        register(s, "corridor", "43020200001310000010", "RESIDENTIAL_COMMON_AREA")
        register(s, "ward-hall", "43020200001310000011", "HOSPITAL_PUBLIC_AREA")
    assert violations(s.db) == []


def test_r13_self_approved_authorization_fires(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.authorize("self", "AUTH-9", requester="p3300", approver="p3300")
    [v] = violations(s.db)
    # Every field, the explanation naming its article.
    assert (facet_of(v), v["camera_id"]) == (R13, None)
    assert (v["actor_id"], v["system_id"], v["occurred_at"]) == ("p3300", SYSTEM, micros(NOW - days(1)))
    assert v["explanation"] == (
        "Authorization AUTH-9 was approved by p3300, who also requested it: "
        "no one may approve their own request (separation of duties)."
    )
    assert v["evidence"] == s.at("self")


def test_r13_authorization_approved_by_someone_else_is_no_violation(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.authorize("other", "AUTH-8", requester="p3300", approver="p3100")
    assert violations(s.db) == []


# -- queries --------------------------------------------------------------------------------------


@pytest.mark.kafka
def test_who_actor_and_case_return_exactly_the_planted_people_and_windows(
    config: Config, tmp_path: Path
) -> None:
    w1 = FOOTAGE
    w2 = (w1[0] + timedelta(hours=1), w1[1] + timedelta(hours=1))
    people = {"alice": {**ACTOR, "user_id": "u2001"}, "bob": {**INVESTIGATOR, "user_id": "p2002"}}
    carol = people["carol"] = {**ACTOR, "user_id": "u2003"}
    day = NOW - days(1)  # the day of every action but bob's earlier look at window 1
    with scenario(tmp_path, config) as s:
        s.authorize("auth", "AUTH-1", requester="p2002", approver="p3100", grantee="p2002")
        bob, hour = people["bob"], timedelta(hours=1)
        s.send("bob-early", "FootageViewed", NOW - days(1.5), bob, access=access(CAM_A, *w1), mode="PLAYBACK")
        s.send("alice", "FootageViewed", day, people["alice"], access=access(CAM_A, *w1), mode="PLAYBACK")
        by_auth = access(CAM_A, *w2, legal_basis=BASIS, authorization_id="AUTH-1")  # no case number
        s.send("bob-w2", "FootageViewed", day + hour, bob, access=by_auth, mode="PLAYBACK")
        under_a1 = access(CAM_A, *w1, legal_basis=BASIS, case_number="A-1", authorization_id="AUTH-1")
        s.send("bob-export", "FootageExported", day + 2 * hour, bob, access=under_a1, **TRACED)
        s.send("carol", "FootageViewed", day, carol, access=access(CAM_B, *w1), mode="LIVE")
        under_b2 = access(CAM_B, *w1, legal_basis=BASIS, case_number="B-2")
        s.send("carol-export", "FootageExported", day + 3 * hour, carol, access=under_b2, **TRACED)

    def rows(found: list[dict[str, Any]]) -> list[tuple[str, str, list[Any]]]:
        return [(r["actor_id"], r["action"], [r["origin"], r["idx"]]) for r in found]

    def expect(*labels: str) -> list[tuple[str, str, list[Any]]]:
        person = {label: people[label.split("-")[0]]["user_id"] for label in labels}
        action = {label: "export" if label.endswith("export") else "playback" for label in labels}
        return [(person[label], action[label], s.at(label)[0]) for label in labels]

    assert rows(who(s.db, CAM_A, *span(*w1))) == expect("bob-early", "alice", "bob-export")
    assert rows(who(s.db, CAM_A, *span(*w2))) == expect("bob-w2")
    assert who(s.db, CAM_A, *span(w1[1], w2[0])) == []  # between the two windows: nobody
    both = span(w1[1] - timedelta(minutes=1), w2[0] + timedelta(minutes=1))
    assert rows(who(s.db, CAM_A, *both)) == expect("bob-early", "alice", "bob-w2", "bob-export")
    assert [(r["actor_id"], r["action"]) for r in who(s.db, CAM_B, *span(*w1))] == [
        ("u2003", "view_live"),
        ("u2003", "export"),
    ]
    assert who(s.db, CAM_C, *span(BEFORE, NOW)) == []

    assert rows(actor(s.db, "p2002", *span(day, day + days(1)))) == expect("bob-w2", "bob-export")
    assert rows(actor(s.db, "p2002", *span(NOW - days(2), NOW))) == expect(
        "bob-early", "bob-w2", "bob-export"
    )
    assert rows(actor(s.db, "u2001", *span(day, day + days(1)))) == expect("alice")
    assert actor(s.db, "u2001", *span(day + timedelta(seconds=1), NOW)) == []
    with pytest.raises(NotFound, match="person u1024 is unknown"):  # nobody of that id in this world
        actor(s.db, "u1024", *span(BEFORE, NOW))
    everything = actor(s.db, "p2002", *span(BEFORE, NOW))
    first = actor_page(s.db, "p2002", *span(BEFORE, NOW), limit=2)
    assert (first.rows, first.total) == (everything[:2], 3)
    last = actor_page(s.db, "p2002", *span(BEFORE, NOW), limit=2, after=first.after)
    assert (last.rows, last.total, last.after) == (everything[2:], 3, None)
    with pytest.raises(UsageError, match="not a page cursor"):
        actor_page(s.db, "p2002", *span(BEFORE, NOW), limit=2, after="yesterday")

    a1 = case(s.db, "A-1")
    [granted] = a1["authorizations"]
    assert (granted["authorization_id"], granted["grantee_id"]) == ("AUTH-1", "p2002")
    assert [granted["origin"], granted["idx"]] == s.at("auth")[0]
    assert rows(a1["actions"]) == expect("bob-w2", "bob-export")  # bob-w2 through AUTH-1 alone
    assert a1["applications"] == []
    b2 = case(s.db, "B-2")
    assert (b2["authorizations"], rows(b2["actions"])) == ([], expect("carol-export"))
    with pytest.raises(NotFound, match="A-9 is unknown"):  # no authorization, application or access names it
        case(s.db, "A-9")


# -- found while writing these tests: strict xfails, each a reproduction ----------------------------


def test_r1_evidence_is_exactly_what_the_explanation_relies_on(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.hold("hold", "H-1", CAM_A, NOW - days(61), NOW - days(59), at=NOW - days(50))
        s.send("old", "FootageDeleted", NOW, deletion=deletion(CAM_A, NOW - days(60), NOW - days(59)))
        s.order("order", "O-2", CAM_B, NOW - days(4), NOW - days(2), at=NOW - days(1))
        window = deletion(CAM_A, NOW - days(3), NOW - days(2), deletion_order_id="O-2")
        s.send("young", "FootageDeleted", NOW, deletion=window)
    # "deletion order O-2 does not cover it" is proven by the order's own entry (camera B only).
    assert sorted(s.citing("R1", "young")["evidence"]) == s.at("young", "system", "order")
    # 60-day-old footage: only the hold makes its deletion unlawful; the 30-day retention is beside it.
    assert sorted(s.citing("R1", "old")["evidence"]) == s.at("old", "hold")


def test_r13_explanation_names_separation_of_duties(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.authorize("self", "AUTH-9", requester="p3300", approver="p3300")
    [v] = violations(s.db, rule="R13")
    assert "separation of duties" in v["explanation"]


def test_r1_order_and_hold_logged_after_the_deletion_still_count(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        covered = deletion(CAM_A, NOW - days(3), NOW - days(2), deletion_order_id="O-1")
        s.send("covered", "FootageDeleted", NOW, deletion=covered)
        s.send("held", "FootageDeleted", NOW, deletion=deletion(CAM_B, NOW - days(60), NOW - days(59)))
        # Both issued a day before the deletions (their occurred_at), but logged after them.
        s.order("order", "O-1", CAM_A, NOW - days(4), NOW - days(2), at=NOW - days(1))
        s.hold("hold", "H-1", CAM_B, NOW - days(61), NOW - days(58), at=NOW - days(1))
    # The covered deletion is lawful after all, and the held one is not.
    (held,) = violations(s.db)
    check(held, "R1", CAM_B, "u1024", s.at("held", "hold"))
    assert "under legal hold H-1" in held["explanation"]


def test_r1_a_hold_release_logged_before_its_placement_still_ends_the_hold(tmp_path: Path) -> None:
    old = (NOW - days(60), NOW - days(60) + timedelta(hours=1))
    with scenario(tmp_path) as s:
        # Camera B's hold: placed 50 days ago, released yesterday; the release reached the ledger first.
        s.send("released", "LegalHoldReleased", NOW - days(1), INVESTIGATOR, hold_id="H-2", reason="结案")
        s.hold("hold-b", "H-2", CAM_B, NOW - days(61), NOW - days(59), at=NOW - days(50))
        s.hold("hold-a", "H-1", CAM_A, NOW - days(61), NOW - days(59), at=NOW - days(50))  # never released
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_A, *old))
        s.send("deleted-b", "FootageDeleted", NOW, deletion=deletion(CAM_B, *old))
    [v] = violations(s.db, rule="R1")
    check(v, "R1", CAM_A, "u1024", None)
    assert "under legal hold H-1" in v["explanation"]
    # both holds were logged 49 days after their own time: backdated, or withheld that long
    assert sorted(map(cited, violations(s.db, rule="R15"))) == [pos(*s.at("hold-a")), pos(*s.at("hold-b"))]


def test_r1_a_policy_or_a_registration_logged_after_the_deletion_still_counts(tmp_path: Path) -> None:
    young = (NOW - days(46), NOW - days(45))  # inside 90 days, outside the legal 30
    late_camera = "43020200001310000088"
    with scenario(tmp_path) as s:
        s.send("deleted-a", "FootageDeleted", NOW, deletion=deletion(CAM_A, *young))
        s.send("deleted-late", "FootageDeleted", NOW, deletion=deletion(late_camera, *young))
        # Both set long before the deletions (their own times), but logged after them.
        s.policy("policy", 90, NOW - days(200), camera=CAM_A)
        s.send(
            "system-90",
            "SystemRegistered",
            NOW - days(300),
            ADMIN,
            system_id="zz-long",
            name="长",
            owner="株洲轨道交通",
            manager="李强",
            retention_days=90,
        )
        s.send(
            "camera",
            "CameraRegistered",
            NOW - days(300),
            ADMIN,
            camera_id=late_camera,
            name="站厅",
            notice_sign=True,
            system_id="zz-long",
            location="神农城站",
            location_category="TRANSPORT_HUB",
        )
    found = {v["camera_id"]: v for v in violations(s.db, rule="R1")}
    assert sorted(found) == sorted([CAM_A, late_camera])
    check(found[CAM_A], "R1", CAM_A, "u1024", s.at("deleted-a", "policy"))
    check(found[late_camera], "R1", late_camera, "u1024", s.at("deleted-late", "system-90"))
    assert all("inside its 90-day retention period" in v["explanation"] for v in found.values())


def test_who_names_the_format_that_destroyed_the_footage(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send("format", "DiskFormatted", NOW, disk_id="disk-3", camera_ids=[CAM_A], outcome="ALLOWED")
        s.send("deleted", "FootageDeleted", NOW, deletion=deletion(CAM_B, *FOOTAGE))
    assert [(r["action"], r["actor_id"]) for r in who(s.db, CAM_B, *span(*FOOTAGE))] == [("delete", "u1024")]
    # The format destroyed camera A's footage of that window too (R1 says so); who() should name it.
    assert [(r["action"], r["actor_id"]) for r in who(s.db, CAM_A, *span(*FOOTAGE))] == [("format", "u1024")]


def test_r2_footage_gone_with_nothing_logged_is_a_silent_deletion(tmp_path: Path) -> None:
    silent = (NOW - days(5), NOW - days(5) + timedelta(hours=3))
    outage = (NOW - days(6), NOW - days(6) + timedelta(hours=2))
    with scenario(tmp_path) as s:
        # Camera B's gap is a logged outage (off, then on): explained. Camera A's is not.
        s.send("off", "DeviceStatusChanged", outage[0], VMS, camera_id=CAM_B, status="OFF", ticket_id="T-1")
        s.send("on", "DeviceStatusChanged", outage[1], VMS, camera_id=CAM_B, status="ON", ticket_id="T-1")
        for label, camera, gap in (("a", CAM_A, silent), ("b", CAM_B, outage)):
            s.send(
                label,
                "FootageInventoryReported",
                NOW,
                VMS,
                camera_id=camera,
                earliest_available=NOW - days(30),
                latest_available=NOW - timedelta(seconds=5),
                gaps=[{"start": gap[0], "end": gap[1]}],
            )
        # The next day's report repeats the gap: reported once, not twice.
        s.send(
            "again",
            "FootageInventoryReported",
            NOW + days(1),
            VMS,
            camera_id=CAM_A,
            earliest_available=NOW - days(29),
            latest_available=NOW + days(1),
            gaps=[{"start": silent[0], "end": silent[1]}],
        )
    (v,) = violations(s.db, rule="R2")
    check(v, "R2", CAM_A, VMS["user_id"], s.at("a", "system"))
    assert "3.0 hours" in v["explanation"]


def test_r5_access_outside_its_authorization_fires_and_inside_does_not(tmp_path: Path) -> None:
    """AUTH-5 grants p3301 camera A's footage of NOW-3d..NOW-1d until NOW+7d."""
    under = {"legal_basis": BASIS, "case_number": "A-1", "authorization_id": "AUTH-5"}
    with scenario(tmp_path) as s:
        s.authorize("auth", "AUTH-5", requester="p3301", approver="u0007")
        s.send(
            "inside",
            "FootageViewed",
            NOW,
            INVESTIGATOR,
            access=access(CAM_A, *FOOTAGE, **under),
            mode="PLAYBACK",
        )
        s.send(
            "camera",
            "FootageViewed",
            NOW,
            INVESTIGATOR,
            access=access(CAM_B, *FOOTAGE, **under),
            mode="PLAYBACK",
        )
        late = (NOW - days(0.5), NOW - days(0.4))
        s.send(
            "window",
            "FootageViewed",
            NOW,
            INVESTIGATOR,
            access=access(CAM_A, *late, **under),
            mode="PLAYBACK",
        )
        other = {**INVESTIGATOR, "user_id": "p3302", "name": "赵明"}
        s.send(
            "person", "FootageViewed", NOW, other, access=access(CAM_A, *FOOTAGE, **under), mode="PLAYBACK"
        )
    found = {tuple(v["evidence"][0]): v for v in violations(s.db, rule="R5")}
    assert set(found) == {tuple(s.at(label)[0]) for label in ("camera", "window", "person")}
    check(found[tuple(s.at("camera")[0])], "R5", CAM_B, "p3301", s.at("camera", "auth"))
    assert "is not one of its cameras" in found[tuple(s.at("camera")[0])]["explanation"]
    assert "outside its window" in found[tuple(s.at("window")[0])]["explanation"]
    assert "granted to p3301, not p3302" in found[tuple(s.at("person")[0])]["explanation"]


# -- R8, R9, R11, R12: work orders, outages, operating records, duty ----------------------------------


def work_order(s: Scenario, label: str, order_id: str, cameras: list[str], at: datetime) -> None:
    s.send(
        label,
        "WorkOrderOpened",
        at,
        ADMIN,
        work_order_id=order_id,
        kind="MAINTENANCE",
        system_id=SYSTEM,
        camera_ids=cameras,
        reason="镜头清洁",
    )


def test_r8_camera_moved_or_blocked_without_an_open_work_order_fires(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        work_order(s, "wo", "WO-1", [CAM_A], NOW - days(1))
        alarm = {"work_order_id": None}
        s.send("covered", "CameraTamperAlarm", NOW, VMS, camera_id=CAM_A, alarm="OCCLUSION", **alarm)
        moved = {"change": "PTZ_PRESET", "detail": "预置位1改为预置位3"}
        s.send("moved", "CameraDirectionChanged", NOW, ACTOR, camera_id=CAM_B, work_order_id=None, **moved)
        s.send("wrong", "CameraDirectionChanged", NOW, ACTOR, camera_id=CAM_C, work_order_id="WO-1", **moved)
        s.send("lost", "CameraTamperAlarm", NOW, VMS, camera_id=CAM_B, alarm="VIDEO_LOSS", **alarm)
        s.send("closed", "WorkOrderClosed", NOW + days(1), ADMIN, work_order_id="WO-1", resolution=None)
        s.send(
            "after",
            "CameraTamperAlarm",
            NOW + days(2),
            VMS,
            camera_id=CAM_A,
            alarm="TAMPER",
            work_order_id=None,
        )
    found = {tuple(v["evidence"][0]): v for v in violations(s.db, rule="R8")}
    assert set(found) == {tuple(s.at(label)[0]) for label in ("moved", "wrong", "after")}
    check(found[tuple(s.at("moved")[0])], "R8", CAM_B, "u1024", s.at("moved"))
    assert "no work order open for it" in found[tuple(s.at("moved")[0])]["explanation"]
    assert "WO-1 cited, which is not for " + CAM_C in found[tuple(s.at("wrong")[0])]["explanation"]
    check(found[tuple(s.at("after")[0])], "R8", CAM_A, "vms-storage", s.at("after"), at=NOW + days(2))


def test_r9_stops_without_a_ticket_and_long_outages_fire(tmp_path: Path) -> None:
    with scenario(tmp_path) as s:
        s.send("stopped", "RecordingStopped", NOW, ADMIN, camera_id=CAM_A, reason="调试", ticket_id=None)
        work_order(s, "wo", "WO-2", [], NOW + days(3))  # for the whole system, so for every camera
        later = NOW + days(3) + timedelta(hours=1)
        s.send("ticketed", "SystemStopped", later, ADMIN, system_id=SYSTEM, reason="升级", ticket_id="WO-2")
        off = {"status": "OFF", "ticket_id": None}
        s.send("long-off", "DeviceStatusChanged", NOW - timedelta(hours=5), VMS, camera_id=CAM_B, **off)
        s.send("short-off", "DeviceStatusChanged", NOW - timedelta(hours=1), VMS, camera_id=CAM_C, **off)
        s.send("short-on", "DeviceStatusChanged", NOW, VMS, camera_id=CAM_C, **{**off, "status": "ON"})
        s.send("long-on", "DeviceStatusChanged", NOW, VMS, camera_id=CAM_B, **{**off, "status": "ON"})
        dead = NOW + timedelta(hours=1)  # off for good, judged at inventories before WO-2 opens
        s.send("dead", "DeviceStatusChanged", dead, VMS, camera_id=CAM_C, **off)
        inventory = {"earliest_available": NOW - days(30), "latest_available": NOW, "gaps": []}
        s.send("report", "FootageInventoryReported", dead + days(2), VMS, camera_id=CAM_C, **inventory)
        s.send("report-2", "FootageInventoryReported", dead + days(2.5), VMS, camera_id=CAM_C, **inventory)
        # An end logged before its start is the same outage: judged when the start is logged.
        on, back = {**off, "status": "ON"}, NOW + days(1)
        s.send("reversed-on", "DeviceStatusChanged", back, VMS, camera_id=CAM_A, **on)
        s.send("reversed-off", "DeviceStatusChanged", back - timedelta(hours=3), VMS, camera_id=CAM_A, **off)
    found = {tuple(v["evidence"][-1]): v for v in violations(s.db, rule="R9")}
    labels = ("stopped", "long-on", "report", "reversed-on")
    assert set(found) == {tuple(max(s.at(label))) for label in labels}
    check(found[tuple(s.at("stopped")[0])], R9_STOPPED, CAM_A, "u0007", s.at("stopped"))
    long_outage = found[tuple(s.at("long-on")[0])]
    assert (facet_of(long_outage), long_outage["actor_id"]) == (R9_OUTAGE, None)
    assert sorted(long_outage["evidence"]) == s.at("long-off", "long-on")
    assert "off line for 5.0 hours" in long_outage["explanation"]
    still_off = found[tuple(s.at("report")[0])]
    assert "has been off line for 48.0 hours" in still_off["explanation"]  # reported once, not again
    assert sorted(still_off["evidence"]) == s.at("dead", "report")
    reversed_outage = found[tuple(s.at("reversed-on")[0])]
    assert sorted(reversed_outage["evidence"]) == s.at("reversed-off", "reversed-on")
    assert "off line for 3.0 hours" in reversed_outage["explanation"]


@pytest.mark.kafka
def test_r11_records_changed_without_a_ticket_and_sequence_gaps_fire(config: Config, tmp_path: Path) -> None:
    with scenario(tmp_path, config) as s:
        s.send("cleared", "LogCleared", NOW, ADMIN, system_id=SYSTEM, log_name="操作日志", ticket_id=None)
        work_order(s, "wo", "WO-3", [], NOW + days(3))
        upgrade = {"component": "VMS", "from_version": "5.1", "to_version": "5.2", "ticket_id": "WO-3"}
        s.send("upgraded", "SoftwareChanged", NOW + days(3), ADMIN, system_id=SYSTEM, **upgrade)
        s.send("ntp", "ClockChanged", NOW, VMS, system_id=SYSTEM, delta_ms=300, ticket_id=None)
        s.send("clock", "ClockChanged", NOW, ADMIN, system_id=SYSTEM, delta_ms=-3_600_000, ticket_id=None)
        s.pub.sign(
            "LogCleared", {"system_id": SYSTEM, "log_name": "告警日志", "ticket_id": None}, actor=ADMIN
        )
        s.pub.sign(
            "LogCleared", {"system_id": SYSTEM, "log_name": "登录日志", "ticket_id": None}, actor=ADMIN
        )
        s.send("revealing", "FootageViewed", NOW, ACTOR, access=access(CAM_A, *FOOTAGE), mode="PLAYBACK")
    found = {tuple(v["evidence"][-1]): v for v in violations(s.db, rule="R11")}
    assert set(found) == {tuple(s.at(label)[0]) for label in ("cleared", "clock", "revealing")}
    assert facet_of(found[tuple(s.at("cleared")[0])]) == R11_LOST
    assert facet_of(found[tuple(s.at("clock")[0])]) == R11_CHANGED
    assert "moved by -3600.0 s" in found[tuple(s.at("clock")[0])]["explanation"]
    gap = found[tuple(s.at("revealing")[0])]
    assert (facet_of(gap), gap["actor_id"], gap["camera_id"], gap["system_id"]) == (
        R11_LOST,
        None,
        None,
        SYSTEM,
    )
    assert sorted(gap["evidence"]) == s.at("clock", "revealing")
    assert gap["explanation"].startswith("Events ")
    assert "(2 events) of zz-metro never reached the ledger" in gap["explanation"]


@pytest.mark.kafka
def test_r11_a_producer_retry_with_the_same_event_id_keeps_its_sequence_number(
    config: Config, tmp_path: Path
) -> None:
    """The adapter publishes an event again with its event id (it saw no acknowledgement): the SDK
    sends the bytes it signed, under the same sequence number, so the ledger keeps the event once
    and sees no gap; the same id with other content is refused."""
    retried = uuid4()
    view = {"access": access(CAM_A, *FOOTAGE), "mode": "PLAYBACK"}
    with scenario(tmp_path, config) as s:
        first = s.pub.publish("FootageViewed", view, actor=ACTOR, occurred_at=NOW, event_id=retried)
        again = s.pub.publish("FootageViewed", dict(view), actor=dict(ACTOR), event_id=retried)
        assert again == first
        with pytest.raises(PublishError, match=f"event id {retried} was published before"):
            s.pub.publish("FootageViewed", {**view, "mode": "LIVE"}, actor=ACTOR, event_id=retried)
        s.send("after", "FootageViewed", NOW, **view)
    assert violations(s.db) == []
    [row] = [r for r in who(s.db, CAM_A, *span(*FOOTAGE)) if r["event_id"] == str(retried)]
    assert row["action"] == "playback"


def test_r12_access_off_duty_or_in_bulk_fires(tmp_path: Path) -> None:
    unit = "株洲轨道交通"
    on_duty = {**ACTOR, "user_id": "u2001", "name": "周敏", "unit": unit}
    off_duty = {**ACTOR, "user_id": "u2002", "name": "吴刚", "unit": unit}
    unrostered = {**ACTOR, "user_id": "u3001", "name": "郑洁", "unit": "天元分局"}
    shift = {"unit": unit, "post": "监控值班", "shift_start": NOW - days(0.5), "shift_end": NOW + days(0.5)}
    view = {"access": access(CAM_A, *FOOTAGE), "mode": "PLAYBACK"}
    with scenario(tmp_path) as s:
        s.send("shift", "DutyShiftAssigned", NOW - days(1), ADMIN, user_id="u2001", **shift)
        s.send("on", "FootageViewed", NOW, on_duty, **view)
        s.send("off", "FootageViewed", NOW, off_duty, **view)
        s.send("unrostered", "FootageViewed", NOW, unrostered, **view)
        s.send("before", "FootageViewed", NOW - days(1), off_duty, **view)  # no roster of the unit then
        for n in range(1, 151):
            s.send(f"bulk-{n}", "FootageViewed", NOW + timedelta(seconds=10 * n), on_duty, **view)
    found = violations(s.db, rule="R12")
    assert len(found) == 2
    off = s.citing("R12", "off")
    check(off, R12_OFF_DUTY, CAM_A, "u2002", s.at("off"))
    assert "not on duty" in off["explanation"]
    bulk = next(v for v in found if v is not off and v["id"] != off["id"])
    assert (facet_of(bulk), bulk["actor_id"]) == (R12_BULK, "u2001")
    assert bulk["occurred_at"] == micros(NOW + timedelta(seconds=1490))  # the hour's 150th access
    assert sorted(bulk["evidence"]) == s.at("on", *(f"bulk-{n}" for n in range(1, 150)))
    assert "made 150 accesses within one hour" in bulk["explanation"]


def test_r12_a_burst_past_the_limit_is_one_bulk_violation_an_hour_however_it_is_batched(
    tmp_path: Path,
) -> None:
    """600 views, one every 10 s: the 150th is bulk access, and the next is the first access more
    than an hour after it (the 510th); the 449 others in between raise nothing more."""
    person = {**ACTOR, "user_id": "u2001", "name": "周敏", "unit": "天元分局"}  # a unit with no roster
    view = {"access": access(CAM_A, *FOOTAGE), "mode": "PLAYBACK"}
    with scenario(tmp_path) as s:
        for n in range(1, 601):
            s.send(f"bulk-{n}", "FootageViewed", NOW + timedelta(seconds=10 * n), person, **view)
    found = sorted(violations(s.db, rule="R12"), key=lambda v: v["occurred_at"])
    assert [(v["actor_id"], v["occurred_at"]) for v in found] == [
        ("u2001", micros(NOW + timedelta(seconds=1500))),
        ("u2001", micros(NOW + timedelta(seconds=5100))),
    ]
    assert sorted(found[0]["evidence"]) == s.at(*(f"bulk-{n}" for n in range(1, 151)))
    assert sorted(found[1]["evidence"]) == s.at(*(f"bulk-{n}" for n in range(151, 511)))
    store = OfflineLedger(tmp_path / "ledger").open_store()
    try:
        small = ProjectionRunner(store=store, db=open_db(tmp_path / "small.db"), batch_size=37)
        small.run()
    finally:
        store.close()
    assert sorted(violations(small.db, rule="R12"), key=lambda v: v["occurred_at"]) == found
