"""The operator is not trusted: what it does to its own store shows in the live check and in exports.

Each test builds a small ledger in a real SQLite store (events signed by the SDK's signer, appended
by the real log writer in batches of four, each with its signed checkpoint), then changes the
store's rows as an operator with database access could, and runs ``liuhen`` as an auditor would.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import pytest

from ledger.app.config import Config
from ledger.cli import main
from ledger.wire.format import StoredEntry
from ledger.wire.keys import SigningKey
from tests.events import ACTOR, OfflineLedger, viewed

ORIGIN = "liuhen/liuhen.audit/0"
EVENTS = 21  # with the key registration: 22 entries, batches of 4, checkpoints at 4, 8, ..., 20, 22


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Config:
    home = tmp_path / "home"
    monkeypatch.setenv("LIUHEN_HOME", str(home))
    for name in ("LIUHEN_TOPIC", "PERSISTENCE_MODULE", "SQLITE_DBNAME", "LIUHEN_PROJECTIONS_DB"):
        monkeypatch.delenv(name, raising=False)
    assert main(["keys", "init"]) == 0
    ledger = OfflineLedger(home, batch_size=4, ledger_key=SigningKey.load(home / "keys" / "ledger.key"))
    pub = ledger.publisher("zz-metro")
    for n in range(EVENTS):
        case = {"case_number": "A-7", "legal_basis": "刑事诉讼法"} if n % 5 == 0 else {}
        pub.publish("FootageViewed", viewed(n, **case), actor=ACTOR)
    assert ledger.ingest().appended == EVENTS + 1
    return Config.from_env({"LIUHEN_HOME": str(home)})


def sql(config: Config, statement: str, *args: object) -> int:
    with sqlite3.connect(config.home / "ledger.db") as db:
        return db.execute(statement, args).rowcount


def verify_live(config: Config, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict]:
    capsys.readouterr()
    status = main(["verify", "--live", "--key", str(config.keys_dir / "ledger.pub"), "--json", "--quiet"])
    return status, json.loads(capsys.readouterr().out)


def codes(report: dict) -> list[tuple[str, str]]:
    return [(p["code"], p["where"]) for p in report["problems"]]


def test_the_live_check_holds_on_an_untouched_store_and_agrees_with_status(
    home: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    status, report = verify_live(home, capsys)
    assert status == 0, report
    assert main(["status", "--json"]) == 0
    sizes = {row["origin"]: row["size"] for row in json.loads(capsys.readouterr().out)["logs"]}
    assert sizes == {log["origin"]: log["entries"] for log in report["logs"]} == {ORIGIN: EVENTS + 1}


def test_deleting_every_checkpoint_row_leaves_the_entries_unvouched_for(
    home: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    """Today's hole: verify --live then checked 0 entries of the log and said VALID."""
    assert sql(home, "DELETE FROM stored_events WHERE originator_id = ?", f"checkpoints:{ORIGIN}") == 6
    status, report = verify_live(home, capsys)
    assert status == 1
    assert (
        report["logs"][0]["entries"] == EVENTS + 1
    )  # every entry the store holds, whatever the checkpoints say
    assert ("unsigned_entries", "indices 0..21") in codes(report)
    assert ("batch_without_checkpoint", "batch ending at size 4") in codes(report)


def delete_checkpoint(home: Config, size: int) -> None:
    """The operator deletes the log's checkpoint row of ``size`` from the event store."""
    deleted = sql(
        home,
        "DELETE FROM stored_events WHERE originator_id = ? AND originator_version = ?",
        f"checkpoints:{ORIGIN}",
        size,
    )
    assert deleted == 1


def test_deleting_the_newest_checkpoint_leaves_an_uncovered_tail(
    home: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    delete_checkpoint(home, 22)
    status, report = verify_live(home, capsys)
    assert status == 1
    assert codes(report) == [
        ("batch_without_checkpoint", "batch ending at size 22"),
        ("unsigned_entries", "indices 20..21"),
    ]


def test_deleting_a_middle_checkpoint_is_a_batch_without_its_checkpoint(
    home: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    delete_checkpoint(home, 12)
    status, report = verify_live(home, capsys)
    assert status == 1
    assert codes(report) == [("batch_without_checkpoint", "batch ending at size 12")]


def damage_node(config: Config, index: int, height: int) -> None:
    """Replace the Merkle node of ``height`` stored with entry ``index`` by another hash."""
    with sqlite3.connect(config.home / "ledger.db") as db:
        (state,) = db.execute(
            "SELECT state FROM stored_events WHERE originator_id = ? AND originator_version = ?",
            [f"log:{ORIGIN}", index],
        ).fetchone()
        stored = StoredEntry.decode(index, state)
        nodes = list(stored.nodes)
        nodes[height - 1] = bytes(32)
        damaged = StoredEntry(
            index, stored.kafka_offset, stored.ingested_at_us, stored.chain_hash, stored.entry, tuple(nodes)
        )
        db.execute(
            "UPDATE stored_events SET state = ? WHERE originator_id = ? AND originator_version = ?",
            [damaged.encode(), f"log:{ORIGIN}", index],
        )


def test_a_damaged_stored_merkle_node_shows_in_the_live_check(
    home: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    damage_node(home, 7, 2)  # the node over entries 4..7
    status, report = verify_live(home, capsys)
    assert status == 1
    assert codes(report) == [("stored_node_mismatch", "index 7")]
    assert "height 2" in report["problems"][0]["detail"]


def test_export_checks_every_proof_and_names_the_damaged_node(
    home: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Today's hole: export shipped proofs it never checked, and genuine evidence then failed."""
    damage_node(home, 7, 2)
    capsys.readouterr()
    assert main(["export", "--out", str(tmp_path / "case"), "--case", "A-7"]) == 1
    err = capsys.readouterr().err
    assert (
        "the stored Merkle node (height 2, index 1), kept with entry 7, is not the hash of its two children"
        in err
    )
    assert not (tmp_path / "case").exists()
    assert main(["export", "--out", str(tmp_path / "whole")]) == 0  # a full bundle carries no proof to check


def test_a_selective_export_verifies_with_each_entrys_proven_time_window(
    home: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["export", "--out", str(tmp_path / "case"), "--case", "A-7"]) == 0
    capsys.readouterr()
    key = str(home.keys_dir / "ledger.pub")
    assert main(["verify", str(tmp_path / "case"), "--key", key, "--json", "--quiet"]) == 0
    report = json.loads(capsys.readouterr().out)
    times = report["logs"][0]["times"]
    assert [t["index"] for t in times] == [0, 1, 6, 11, 16, 21]  # the key registration, the case
    for entry in times:
        assert entry["in_ledger_after"] is None or entry["in_ledger_after"] <= entry["in_ledger_by"]
    assert main(["verify", str(tmp_path / "case"), "--key", key, "--quiet"]) == 0
    assert "in the ledger after" in capsys.readouterr().out
