"""The offline verifier against the golden and named attack bundles, and against random tampering.

The bundles under ``tests/fixtures/bundles`` are rebuilt by ``tests/fixtures/build_fixtures.py``
(see ``tests/fixtures/README.md``); a test here proves the committed files are what it writes
now. Each attack must be rejected with the problem code and location it deserves, through
:func:`ledger.verify.verify_bundle` and through the command line. Property tests tamper with
generated bundles record by record and require every change to be detected and located.
"""

from __future__ import annotations

import copy
import functools
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ledger.errors import BundleError, LedgerError
from ledger.verify import BundleInvalid, Report, Trust, main, verify_bundle
from ledger.wire.keys import PublicKey
from ledger.wire.note import (
    Checkpoint,
    NoteSignature,
    SignedCheckpoint,
    cosigner_from_verifier_text,
    log_signing_key,
)
from ledger.wire.selection import Query, Statement
from tests.fixtures import build_fixtures as bf

REPO = Path(__file__).resolve().parent.parent
BUNDLES = REPO / "tests" / "fixtures" / "bundles"
KEYS = BUNDLES / "keys"
KEPT = BUNDLES / "kept_checkpoint.note"
LEDGER = PublicKey.load(KEYS / "ledger.pub")
ATTACKER = PublicKey.load(KEYS / "attacker.pub")
WITNESS = cosigner_from_verifier_text((KEYS / "witness.pub").read_text())
A, B = bf.ORIGINS
TRUST = Trust(ledger_keys=[LEDGER], witnesses=[WITNESS], quorum=1)
SETTINGS = settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])

Located = tuple[str, str, str, int | None]
"""What a test expects of one problem: code, origin, where, index."""


def located(report: Report) -> list[Located]:
    return [(p.code, p.origin, p.where, p.index) for p in report.problems]


def rejected(bundle: Path, trust: Trust = TRUST) -> Report:
    with pytest.raises(BundleInvalid) as invalid:
        verify_bundle(bundle, trust)
    return invalid.value.report


def cli(*args: str | Path) -> list[str]:
    return [str(a) for a in args]


# -- the fixtures ------------------------------------------------------------------------------

ATTACKS: dict[str, list[Located]] = {
    "byte_flipped": [
        ("chain_broken", A, "index 17", 17),
        ("root_mismatch", A, "checkpoint at size 24", None),
        ("root_mismatch", A, "later checkpoints", None),  # sizes 32 and 40, counted
        ("bad_signature", A, "index 17", 17),
    ],
    "entry_deleted": [("missing_entries", A, "indices 20..20", 20)],
    "entries_swapped": [
        ("chain_broken", A, "index 11", 11),
        ("root_mismatch", A, "checkpoint at size 16", None),
        ("root_mismatch", A, "later checkpoints", None),
    ],
    "tail_truncated": [("log_truncated", A, "checkpoint at size 40", 37)],
    "forged_entry_appended": [
        ("bad_checkpoint", A, "checkpoint at size 41", None),
        ("unsigned_entries", A, "indices 40..40", 40),  # the only checkpoint covering it is forged
        ("bad_signature", A, "index 40", 40),
    ],
    "entry_spliced": [
        ("unknown_key", A, "index 10", 10),
        ("ingest_time_outside_window", A, "index 10", 10),  # the spliced record keeps log 1's time
        ("root_mismatch", A, "checkpoint at size 16", None),
        ("root_mismatch", A, "later checkpoints", None),
        ("unsigned_entries", A, "indices 40..40", 40),  # one entry more than any checkpoint signed
    ],
    "forged_checkpoint_signature": [
        ("bad_checkpoint", A, "checkpoint at size 40", None),
        ("unsigned_entries", A, "indices 32..39", 32),  # nothing valid vouches for them any more
    ],
    "split_view": [("split_view", A, "checkpoint at size 16", None)],
    "public_key_replaced": [
        *(("bad_checkpoint", A, f"checkpoint at size {size}", None) for size in (8, 16, 24, 32, 40)),
        ("unsigned_entries", A, "indices 0..39", 0),
        *(("bad_checkpoint", B, f"checkpoint at size {size}", None) for size in (8, 16, 24, 25)),
        ("unsigned_entries", B, "indices 0..24", 0),
    ],
    "log_vanished": [
        ("missing_log", A, "checkpoint at size 8", None),  # names log 1, which the bundle lacks
        ("missing_log", A, "later checkpoints", None),
    ],
    "ingest_time_changed": [("ingest_time_outside_window", A, "index 12", 12)],
    "selective_entry_altered": [
        ("not_included", A, "index 13", 13),
        ("selection_incomplete", A, "index 13", 13),  # listed, and no proven entry 13 in the bundle
    ],
    "selective_foreign_entry": [("not_included", A, "index 20", 20)],
    "selective_evidence_left_out": [
        ("selection_incomplete", A, "index 13", 13),  # the signed statement lists them
        ("selection_incomplete", A, "index 29", 29),
    ],
}
VALID = ("golden", "selective", "rolled_back")
CAUGHT_BY_WHAT_THE_AUDITOR_HOLDS = ("log_vanished_resigned", "selective_statement_incomplete")
"""Bundles that agree with themselves; a kept checkpoint, or the witnesses, catch them."""

FoundAt = tuple[str, str, str, int, str, int, int]
"""What a test expects of one finding: code, origin, where, index, source, first, last."""

FINDINGS: dict[str, list[FoundAt]] = {
    # An intact ledger whose source skipped a number: the entry after the gap is index 20.
    "source_gap": [("sequence_gap", A, "zz-metro sequence 20..20", 20, "zz-metro", 20, 20)],
    # Source findings beside the integrity problems of two attacks (which exit 1 all the same).
    "entries_swapped": [  # seq 12 came before 11
        ("sequence_gap", A, "zz-metro sequence 11..11", 11, "zz-metro", 11, 11),
        ("sequence_repeat", A, "index 12", 12, "zz-metro", 11, 11),
    ],
    "entry_spliced": [("sequence_gap", A, "zz-bus sequence 1..2", 10, "zz-bus", 1, 2)],
}


def found(report: Report) -> list[FoundAt]:
    return [(f.code, f.origin, f.where, f.index, f.source, f.first, f.last) for f in report.findings]


def test_every_fixture_bundle_has_a_test() -> None:
    bundles = {p.name for p in BUNDLES.iterdir() if p.is_dir()} - {"keys"}
    assert bundles == {*ATTACKS, *VALID, *CAUGHT_BY_WHAT_THE_AUDITOR_HOLDS, *FINDINGS}
    assert set(bf.FULL_ATTACKS) | set(bf.SELECTIVE_ATTACKS) == {
        *ATTACKS,
        "rolled_back",
        *CAUGHT_BY_WHAT_THE_AUDITOR_HOLDS,
    }


def test_committed_fixtures_are_what_the_build_script_writes_now(tmp_path: Path) -> None:
    bf.build(tmp_path / "bundles")
    built = {p.relative_to(tmp_path / "bundles"): p for p in (tmp_path / "bundles").rglob("*") if p.is_file()}
    committed = {p.relative_to(BUNDLES): p for p in BUNDLES.rglob("*") if p.is_file()}
    assert sorted(built) == sorted(committed), "rerun: .venv/bin/python tests/fixtures/build_fixtures.py"
    changed = [str(name) for name, path in built.items() if path.read_bytes() != committed[name].read_bytes()]
    assert not changed, f"fixtures differ from the build script's output: {changed}"


def test_fixtures_are_small() -> None:
    assert sum(p.stat().st_size for p in BUNDLES.rglob("*") if p.is_file()) < 500_000


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_rejected_with_its_problem_and_location(name: str) -> None:
    report = rejected(BUNDLES / name)
    assert located(report) == ATTACKS[name]
    assert found(report) == FINDINGS.get(name, [])


def test_a_source_gap_is_a_finding_and_the_ledger_verifies() -> None:
    report = verify_bundle(BUNDLES / "source_gap", TRUST)
    assert report.valid
    assert report.problems == []
    assert found(report) == FINDINGS["source_gap"]
    assert "1 event(s) of zz-metro never reached the ledger" in report.findings[0].detail
    assert [log.sources for log in report.logs] == [{"zz-metro": 39}, {"zz-bus": 24}]


def test_without_source_signatures_no_sequence_number_is_read() -> None:
    """--skip-signatures parses no envelope, so it has no findings to give: the ledger is intact."""
    assert verify_bundle(BUNDLES / "source_gap", TRUST, check_signatures=False).findings == []


@pytest.mark.parametrize("name", ["byte_flipped", "forged_entry_appended", "entry_spliced"])
def test_worker_processes_find_what_threads_find(name: str) -> None:
    """Large bundles verify source signatures in worker processes: same problems, same places."""
    with pytest.raises(BundleInvalid) as invalid:
        verify_bundle(BUNDLES / name, TRUST, processes_after=0)
    assert located(invalid.value.report) == ATTACKS[name]
    assert verify_bundle(BUNDLES / "golden", TRUST, processes_after=0).logs[0].signatures > 0


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_attack_is_rejected_even_without_witnesses(name: str) -> None:
    report = rejected(BUNDLES / name, Trust(ledger_keys=[LEDGER]))
    assert located(report) == ATTACKS[name]


def test_golden_bundle_verifies_with_the_ledger_key_and_one_witness() -> None:
    report = verify_bundle(BUNDLES / "golden", TRUST)
    assert report.valid
    assert report.kind == "full"
    assert [(log.origin, log.entries, log.checkpoints, log.signatures) for log in report.logs] == [
        (A, 40, 5, 39),
        (B, 25, 4, 24),
    ]
    assert [log.sources for log in report.logs] == [{"zz-metro": 39}, {"zz-bus": 24}]


def test_golden_bundle_verifies_with_the_ledger_key_alone() -> None:
    assert verify_bundle(BUNDLES / "golden", Trust(ledger_keys=[LEDGER])).valid


def test_golden_bundle_is_consistent_with_the_checkpoint_the_auditor_kept() -> None:
    kept = SignedCheckpoint.parse(KEPT.read_bytes())
    assert verify_bundle(BUNDLES / "golden", Trust(ledger_keys=[LEDGER], kept=[kept])).valid


def test_selective_bundle_verifies_every_chosen_entry_by_its_proof() -> None:
    report = verify_bundle(BUNDLES / "selective", TRUST)
    assert report.kind == "selective"
    # what the bundle is, as the ledger key signed it, for the investigator to compare with the ask
    assert report.selection == f"case {bf.CASE}: 8 matching entries in 2 searched log(s)"
    assert json.loads(report.to_json())["selection"] == report.selection
    assert f"selection signed by the ledger key: case {bf.CASE}" in report.to_text()
    # registry entry + 5 (zz-metro) and + 3 (zz-bus) events under the case, each proven in the first
    # checkpoint covering it; those checkpoints, the ones before them and the newest are included
    assert [(log.origin, log.entries, log.proofs, log.checkpoints) for log in report.logs] == [
        (A, 6, 6, 5),
        (B, 4, 4, 4),
    ]
    times = report.logs[0].times
    assert [t.index for t in times] == [0, 5, 13, 21, 29, 37]
    for entry in times:  # the window its checkpoints prove holds its own ingest time
        assert entry.in_ledger_by >= bf.ingested_at_us(entry.index)
        assert entry.in_ledger_after is None or entry.in_ledger_after <= bf.ingested_at_us(entry.index)
    assert times[2].in_ledger_after == bf.ingested_at_us(7)  # the checkpoint at 8: entry 13 came later
    assert times[2].in_ledger_by == bf.ingested_at_us(15)  # the checkpoint at 16: it was in by then


def test_a_selective_bundle_whose_checkpoints_are_not_one_history_is_rejected(tmp_path: Path) -> None:
    bundle = bf.selective_bundle(bf.ledger_logs())
    consistency = bundle.logs[0].consistency
    assert consistency
    consistency[0]["proof"] = consistency[1]["proof"]  # another pair's proof
    report = rejected(written(bundle, tmp_path / "b"))
    assert ("not_consistent", A, "checkpoint at size 8", None) in located(report)


def test_a_wrong_ledger_key_rejects_every_checkpoint_and_registry_entry() -> None:
    report = rejected(BUNDLES / "golden", Trust(ledger_keys=[ATTACKER]))
    bad = [(p.origin, p.where) for p in report.problems if p.code == "bad_checkpoint"]
    assert bad == [(A, f"checkpoint at size {s}") for s in (8, 16, 24, 32, 40)] + [
        (B, f"checkpoint at size {s}") for s in (8, 16, 24, 25)
    ]
    registry = [(p.origin, p.index) for p in report.problems if p.code == "bad_registry_entry"]
    assert registry == [(A, 0), (B, 0)]
    assert {p.code for p in report.problems} == {
        "bad_checkpoint",
        "bad_registry_entry",
        "unknown_key",
        "unsigned_entries",
    }


def test_public_key_replaced_passes_no_check_its_own_key_file_would_need() -> None:
    """Trusting the bundle's keys/ledger.pub is wrong too: the registry entries are the real key's."""
    report = rejected(BUNDLES / "public_key_replaced", Trust(ledger_keys=[ATTACKER]))
    assert [(p.origin, p.index) for p in report.problems if p.code == "bad_registry_entry"] == [
        (A, 0),
        (B, 0),
    ]


def test_quorum_of_two_fails_when_one_witness_cosigned() -> None:
    other = bf.fixed_key("zz-witness-2", "second witness").public
    report = rejected(BUNDLES / "golden", Trust(ledger_keys=[LEDGER], witnesses=[WITNESS, other], quorum=2))
    assert located(report) == [
        ("bad_checkpoint", A, "checkpoint at size 40", None),
        ("unsigned_entries", A, "indices 32..39", 32),
        ("bad_checkpoint", B, "checkpoint at size 25", None),
        ("unsigned_entries", B, "indices 24..24", 24),
    ]
    assert all(
        "cosigned by 1 of the 2 witnesses required" in p.detail
        for p in report.problems
        if p.code == "bad_checkpoint"
    )


def test_quorum_of_two_with_one_witness_configured_fails() -> None:
    with pytest.raises(LedgerError, match="quorum 2 is impossible"):
        verify_bundle(BUNDLES / "golden", Trust(ledger_keys=[LEDGER], witnesses=[WITNESS], quorum=2))


def test_rolled_back_bundle_passes_alone_but_not_against_a_kept_checkpoint() -> None:
    report = verify_bundle(BUNDLES / "rolled_back", TRUST)
    assert [log.entries for log in report.logs] == [24, 16]
    kept = SignedCheckpoint.parse(KEPT.read_bytes())
    report = rejected(BUNDLES / "rolled_back", Trust(ledger_keys=[LEDGER], kept=[kept]))
    assert located(report) == [("log_truncated", A, "checkpoint at size 40", 24)]
    assert "signed for 40 entries but the log holds 24" in report.problems[0].detail


def test_a_vanished_log_is_caught_by_a_kept_checkpoint_even_when_the_rest_was_signed_again() -> None:
    """The operator deleted log 1 and had the ledger key sign log 0's checkpoints again, naming one log.

    Without witnesses the bundle agrees with itself; what the auditor kept from before does not.
    """
    report = verify_bundle(BUNDLES / "log_vanished_resigned", Trust(ledger_keys=[LEDGER]))
    assert [log.origin for log in report.logs] == [A]
    kept = SignedCheckpoint.parse(KEPT.read_bytes())
    report = rejected(BUNDLES / "log_vanished_resigned", Trust(ledger_keys=[LEDGER], kept=[kept]))
    assert ("missing_log", A, "kept checkpoint at size 40", None) in located(report)
    assert "the bundle lacks 1 of them (liuhen/liuhen.audit/1): a log vanished" in str(report.problems)
    report = rejected(BUNDLES / "log_vanished_resigned", TRUST)  # and the witness never cosigned it
    assert ("bad_checkpoint", A, "checkpoint at size 40", None) in located(report)


def test_a_statement_that_leaves_evidence_out_is_caught_against_the_full_ledger(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """The operator left two of the case's entries out and had the ledger key sign a statement that
    omits them too: the selective bundle agrees with itself, and the full logs expose the statement."""
    incomplete = BUNDLES / "selective_statement_incomplete"
    verify_bundle(incomplete, Trust(ledger_keys=[LEDGER]))
    check = cli(BUNDLES / "golden", "--key", KEYS / "ledger.pub", "--json")
    assert main([*check, "--check-selection", str(incomplete / "selection.note")]) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [(p["code"], p["origin"], p["index"]) for p in problems] == [
        ("selection_omits", A, 13),
        ("selection_omits", A, 29),
    ]
    honest = BUNDLES / "selective" / "selection.note"
    assert main([*check, "--check-selection", str(honest)]) == 0
    capsys.readouterr()
    # a statement is checked against full bundles only: a selective one cannot show what is missing
    selective = cli(BUNDLES / "selective", "--key", KEYS / "ledger.pub", "--quiet")
    assert main([*selective, "--check-selection", str(honest)]) == 2


def test_a_violations_evidence_statement_cannot_be_rerun_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A violation's evidence is a list of positions, no query: --check-selection is a usage error
    (the full bundle is not made invalid by it), pointing at the selective bundle's own check."""
    honest, _ = Statement.parse((BUNDLES / "selective" / "selection.note").read_bytes())
    evidence = Statement(Query("evidence", violation=7, rule="R1"), honest.logs, honest.matched)
    path = tmp_path / "selection.note"
    path.write_bytes(evidence.sign(bf.KEYS.ledger))
    check = cli(BUNDLES / "golden", "--key", KEYS / "ledger.pub", "--quiet")
    assert main([*check, "--check-selection", str(path)]) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert "names a violation's evidence" in line
    assert "verify its selective bundle instead" in line
    (tmp_path / "junk.note").write_bytes(b"not a statement\n")
    assert main([*check, "--check-selection", str(tmp_path / "junk.note")]) == 2
    assert "is not a selection statement" in capsys.readouterr().err


def test_a_statement_that_leaves_a_whole_log_out_of_the_search_is_caught(tmp_path: Path) -> None:
    """The operator searched log 0 only, left log 1 (which holds matches) out of the bundle, and had
    the ledger key sign that statement: the checkpoints name the ledger's two logs."""
    bundle = bf.selective_bundle(bf.ledger_logs())
    assert bundle.statement is not None
    honest, _ = Statement.parse(bundle.statement)
    assert honest.matched[B]  # log 1 holds entries of the case
    bundle.logs = bundle.logs[:1]
    narrowed = Statement(honest.query, honest.logs[:1], {A: honest.matched[A]})
    bundle.statement = narrowed.sign(bf.KEYS.ledger)
    report = rejected(written(bundle, tmp_path / "b"), Trust(ledger_keys=[LEDGER]))
    assert located(report) == [("selection_logs_missing", A, "selection statement", None)]
    assert "the ledger had 2 logs" in report.problems[0].detail


def test_a_selective_bundle_without_its_signed_statement_is_not_valid(tmp_path: Path) -> None:
    bundle = bf.selective_bundle(bf.ledger_logs())
    bundle.statement = None
    report = rejected(written(bundle, tmp_path / "none"), Trust(ledger_keys=[LEDGER]))
    assert [p.code for p in report.problems] == ["unsigned_selection"]
    bundle = bf.selective_bundle(bf.ledger_logs())  # a statement signed by another key than the ledger's
    assert bundle.statement is not None
    bundle.statement = Statement.parse(bundle.statement)[0].sign(bf.KEYS.attacker)
    report = rejected(written(bundle, tmp_path / "forged"), Trust(ledger_keys=[LEDGER]))
    assert [p.code for p in report.problems] == ["bad_selection"]


def test_an_entrys_ingest_time_must_lie_in_the_window_its_checkpoints_prove() -> None:
    report = rejected(BUNDLES / "ingest_time_changed")
    (problem,) = report.problems
    low, high = (int(t) for t in problem.expected.split(".."))  # the checkpoints at 8 and 16
    assert (low, high) == (bf.ingested_at_us(7), bf.ingested_at_us(15))
    assert int(problem.actual) == bf.ingested_at_us(12) + 86_400 * 1_000_000


def test_evidence_of_a_flipped_byte_is_the_stored_and_the_recomputed_chain_hash() -> None:
    golden = bf.ledger_logs()[0]
    stored = golden.records[17]["chain_hash"]
    flipped = [*golden.entries[:17], bf.flip_case(golden.entries[17], b"patrol review")]
    broken = rejected(BUNDLES / "byte_flipped").problems[0]
    assert (broken.expected, broken.actual) == (bf.tree_head(flipped)[1].hex(), stored.hex())


def test_evidence_of_a_split_view_is_both_roots() -> None:
    logs = bf.ledger_logs()
    other = [*logs[0].entries[:15], logs[1].entries[15]]
    problem = rejected(BUNDLES / "split_view").problems[0]
    assert problem.expected == bf.tree_head(logs[0].entries[:16])[0].hex()
    assert problem.actual == bf.tree_head(other)[0].hex()


def test_a_kept_checkpoint_of_a_log_the_bundle_lacks_is_reported() -> None:
    kept = SignedCheckpoint.parse(KEPT.read_bytes())
    moved = SignedCheckpoint(
        checkpoint=Checkpoint(
            origin="liuhen/liuhen.audit/7",
            tree_size=kept.checkpoint.tree_size,
            root_hash=kept.checkpoint.root_hash,
            extensions=kept.checkpoint.extensions,
        ),
        signatures=kept.signatures,
    )
    report = rejected(BUNDLES / "golden", Trust(ledger_keys=[LEDGER], kept=[moved]))
    assert located(report) == [("missing_log", "liuhen/liuhen.audit/7", "kept checkpoint", None)]


# -- problems no fixture shows, on variants of the golden bundle --------------------------------


def golden() -> bf.Bundle:
    return bf.full_bundle(bf.ledger_logs())


def written(bundle: bf.Bundle, directory: Path) -> Path:
    bf.write_bundle(bundle, directory)
    return directory


def test_an_entry_that_is_not_a_signed_event_is_unreadable(tmp_path: Path) -> None:
    bundle = golden()
    bundle.logs[1].records = bf.rechain(
        [*bundle.logs[1].records[:24], {**bundle.logs[1].records[24], "entry": b"x"}]
    )
    bundle.logs[1].checkpoints[-1] = bf.checkpoint_row(25, bf.checkpoint(B, bundle.logs[1].entries).encode())
    report = rejected(written(bundle, tmp_path / "b"), Trust(ledger_keys=[LEDGER]))
    assert located(report) == [("unreadable_entry", B, "index 24", 24)]


def test_a_registry_entry_not_signed_by_the_ledger_key_is_reported(tmp_path: Path) -> None:
    keys = bf.Keys(ledger=bf.KEYS.attacker)
    bundle = golden()
    log = bundle.logs[1]
    log.records = bf.rechain(
        [{**log.records[0], "entry": bf.key_registration("zz-bus", 2, keys)}, *log.records[1:]]
    )
    log.checkpoints = [
        bf.checkpoint_row(row["size"], bf.checkpoint(B, log.entries[: row["size"]]).encode())
        for row in log.checkpoints
    ]
    report = rejected(written(bundle, tmp_path / "b"), Trust(ledger_keys=[LEDGER]))
    assert located(report)[0] == ("bad_registry_entry", B, "index 0", 0)
    # and, zz-bus's key never registered, every one of its events after it
    assert {p.code for p in report.problems} == {"bad_registry_entry", "unknown_key"}


def wrong_chain_head(log: bf.Log, size: int) -> dict[str, Any]:
    """A checkpoint row of log 0 at ``size``: the right root, signed by the ledger key, a zero chain head."""
    root, _ = bf.tree_head(log.entries[:size])
    wrong = Checkpoint.for_log(
        origin=A,
        tree_size=size,
        root_hash=root,
        chain_head=bytes(32),
        time_us=bf.ingested_at_us(size - 1),
        logs=bf.ORIGINS,
    )
    return bf.checkpoint_row(size, SignedCheckpoint.sign(wrong, log_signing_key(bf.KEYS.ledger, A)).encode())


def test_a_checkpoint_with_a_wrong_chain_head_is_reported(tmp_path: Path) -> None:
    bundle = golden()
    log = bundle.logs[0]
    log.checkpoints[2] = wrong_chain_head(log, 24)
    report = rejected(written(bundle, tmp_path / "b"), Trust(ledger_keys=[LEDGER]))
    assert located(report) == [("chain_head_mismatch", A, "checkpoint at size 24", None)]


def test_selective_entries_without_a_proof_or_a_checkpoint_are_reported(tmp_path: Path) -> None:
    bundle = bf.selective_bundle(bf.ledger_logs())
    assert bundle.logs[0].proofs is not None
    assert bundle.logs[1].proofs is not None
    del bundle.logs[0].proofs[1]  # index 5
    bundle.logs[1].checkpoints = []
    report = rejected(written(bundle, tmp_path / "b"), Trust(ledger_keys=[LEDGER]))
    assert [(p.code, p.origin, p.where) for p in report.problems] == [
        ("missing_proof", A, "index 5"),
        *(("missing_checkpoint", B, f"index {i}") for i in (0, 5, 13, 21)),
        # and, unproven, they are not the evidence the signed statement lists
        ("selection_incomplete", A, "index 5"),
        ("selection_mismatch", B, "selection statement"),  # no checkpoint of log B verified
        *(("selection_incomplete", B, f"index {i}") for i in (5, 13, 21)),
    ]


# -- verifier bugs found by these tests, now fixed -----------------------------------------------


def _no_checkpoints(bundle: bf.Bundle) -> bf.Bundle:
    """The tail_truncated attack, with every checkpoint line deleted too."""
    bundle = bf.tail_truncated(bundle)
    for log in bundle.logs:
        log.checkpoints = []
    return bundle


def _replayed_registry_entry_appended(bundle: bf.Bundle) -> bf.Bundle:
    """Log 1's key registration replayed at the end of log 0, chain hash recomputed, no checkpoint."""
    log = bundle.logs[0]
    log.records = bf.rechain([*log.records, dict(bundle.logs[1].records[0])], start=40)
    return bundle


@pytest.mark.parametrize("attack", [_no_checkpoints, _replayed_registry_entry_appended])
def test_entries_no_signed_checkpoint_covers_are_reported(attack: Any, tmp_path: Path) -> None:
    bundle = written(attack(golden()), tmp_path / "b")
    with pytest.raises(BundleInvalid):
        verify_bundle(bundle, TRUST)


def test_every_checkpoint_chain_head_is_compared(tmp_path: Path) -> None:
    bundle = golden()
    log = bundle.logs[0]
    log.checkpoints.insert(1, wrong_chain_head(log, 16))
    with pytest.raises(BundleInvalid):
        verify_bundle(written(bundle, tmp_path / "b"), Trust(ledger_keys=[LEDGER]))


def test_an_impossible_quorum_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    argv = cli(BUNDLES / "golden", "--key", KEYS / "ledger.pub", "--witness", KEYS / "witness.pub")
    assert main([*argv, "--quorum", "2", "--quiet"]) == 2


def test_the_verifier_reads_its_schemas_whatever_the_locale() -> None:
    env = {"PATH": "/usr/bin:/bin", "LC_ALL": "C", "PYTHONUTF8": "0", "PYTHONCOERCECLOCALE": "0"}
    argv = [sys.executable, "-m", "ledger.verify", *cli(BUNDLES / "golden", "--key", KEYS / "ledger.pub")]
    run = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stderr


# -- the command line --------------------------------------------------------------------------

KEY_ARGS = ("--key", KEYS / "ledger.pub", "--witness", KEYS / "witness.pub")


@pytest.mark.parametrize("name", VALID)
def test_cli_exits_0_for_valid_bundles(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(BUNDLES / name, *KEY_ARGS, "--quiet")) == 0
    assert "VALID: every check holds" in capsys.readouterr().out


@pytest.mark.parametrize("name", sorted(ATTACKS))
def test_cli_exits_1_and_names_the_problems_in_json(name: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Integrity problems win over source findings: exit 1 with both listed."""
    assert main(cli(BUNDLES / name, *KEY_ARGS, "--json")) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is False
    assert [(p["code"], p["origin"], p["where"], p["index"]) for p in report["problems"]] == ATTACKS[name]
    keys = ("code", "origin", "where", "index", "source", "first", "last")
    assert [tuple(f[k] for k in keys) for f in report["findings"]] == FINDINGS.get(name, [])


def test_cli_exits_3_for_an_intact_ledger_with_a_source_gap(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(BUNDLES / "source_gap", *KEY_ARGS, "--quiet")) == 3
    out = capsys.readouterr().out
    assert "liuhen/liuhen.audit/0: 40 entries, 5 checkpoints, 39 source signatures: OK" in out
    gap = "zz-metro sequence 20..20: 1 event(s) of zz-metro never reached the ledger (before index 20)"
    assert f"  - {A}: {gap}\n" in out
    assert out.rstrip().endswith("VALID, WITH FINDINGS: every integrity check holds; 1 source finding(s)")
    assert main(cli(BUNDLES / "source_gap", *KEY_ARGS, "--json")) == 3
    report = json.loads(capsys.readouterr().out)
    assert (report["valid"], report["problems"]) == (True, [])
    assert report["findings"] == [
        {
            "code": "sequence_gap",
            "origin": A,
            "where": "zz-metro sequence 20..20",
            "detail": "1 event(s) of zz-metro never reached the ledger (before index 20)",
            "index": 20,
            "source": "zz-metro",
            "first": 20,
            "last": 20,
        }
    ]


def test_cli_exits_0_for_a_source_gap_when_source_signatures_are_skipped() -> None:
    assert main(cli(BUNDLES / "source_gap", *KEY_ARGS, "--quiet", "--skip-signatures")) == 0


def test_cli_json_report_of_a_valid_bundle(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(BUNDLES / "golden", *KEY_ARGS, "--json")) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    assert report["problems"] == []
    assert [(log["origin"], log["entries"]) for log in report["logs"]] == [(A, 40), (B, 25)]


def test_cli_rejects_a_rolled_back_bundle_given_the_kept_checkpoint(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = cli(BUNDLES / "rolled_back", *KEY_ARGS, "--checkpoint", KEPT, "--json")
    assert main(argv) == 1
    problems = json.loads(capsys.readouterr().out)["problems"]
    assert [(p["code"], p["where"], p["index"]) for p in problems] == [
        ("log_truncated", "checkpoint at size 40", 24)
    ]


def test_cli_wrong_key_exits_1(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(BUNDLES / "golden", "--key", KEYS / "attacker.pub", "--quiet")) == 1
    assert "INVALID" in capsys.readouterr().out


def test_cli_quorum_of_two_with_one_witness_fails(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(BUNDLES / "golden", *KEY_ARGS, "--quorum", "2", "--quiet")) != 0
    assert "--quorum 2 needs at least that many --witness keys" in capsys.readouterr().err


def test_cli_exits_2_for_a_directory_that_is_not_a_bundle(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(cli(tmp_path, "--key", KEYS / "ledger.pub")) == 2
    assert "no manifest.json" in capsys.readouterr().err


def test_cli_exits_2_for_a_bundle_missing_a_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = written(golden(), tmp_path / "b")
    (bundle / "logs" / "1" / "entries.avro").unlink()
    assert main(cli(bundle, "--key", KEYS / "ledger.pub")) == 2
    assert "entries.avro is missing" in capsys.readouterr().err


def test_cli_exits_2_for_an_unreadable_entries_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = written(golden(), tmp_path / "b")
    (bundle / "logs" / "0" / "entries.avro").write_bytes(b"not avro")
    assert main(cli(bundle, "--key", KEYS / "ledger.pub", "--quiet")) == 2
    assert "not a readable Avro container" in capsys.readouterr().err


def test_cli_exits_2_for_a_missing_key_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(cli(BUNDLES / "golden", "--key", tmp_path / "nowhere.pub")) == 2
    assert f"no key file {tmp_path / 'nowhere.pub'}" in capsys.readouterr().err


def test_cli_usage_errors_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in ([str(BUNDLES / "golden")], cli("--key", KEYS / "ledger.pub")):
        with pytest.raises(SystemExit) as exit_:
            main(argv)
        assert exit_.value.code == 2


def test_python_m_ledger_verify_runs_standalone() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "ledger.verify", str(BUNDLES / "golden"), "--key", str(KEYS / "ledger.pub")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr
    assert "VALID: every check holds" in run.stdout


# -- properties: tampering with generated bundles ----------------------------------------------

WITNESS_TIME = bf.WITNESS_RUNS[-1][0]


@functools.cache
def _generated(sizes: tuple[int, ...], every: int) -> list[bf.Log]:
    return bf.ledger_logs(sizes, every=every, witnessed=((WITNESS_TIME, sizes),))


def generated(sizes: tuple[int, ...], every: int) -> list[bf.Log]:
    """Full logs of ``sizes`` entries, a checkpoint every ``every``, the newest ones cosigned."""
    return copy.deepcopy(_generated(sizes, every))


SHAPES = st.tuples(st.lists(st.integers(1, 20), min_size=1, max_size=2).map(tuple), st.integers(1, 8))


def verify_written(bundle: bf.Bundle) -> Report:
    """Write ``bundle`` and verify it with the ledger key and the witness (quorum 1)."""
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bundle"
        bf.write_bundle(bundle, path)
        return verify_bundle(path, TRUST)


def _flip(data: bytes, position: int, mask: int) -> bytes:
    return data[:position] + bytes([data[position] ^ mask]) + data[position + 1 :]


def _resign(row: dict[str, Any], change: Any) -> None:
    signed = SignedCheckpoint.parse(row["note"].encode())
    row["note"] = change(signed).encode().decode()


def tamper(data: st.DataObject, logs: list[bf.Log]) -> tuple[str, Any]:
    """Change one thing in ``logs``; return the origin and a test of the problem that locates it."""
    masks = st.integers(1, 255)
    log = data.draw(st.sampled_from(logs))
    records, rows = log.records, log.checkpoints
    size = len(records)
    kinds = [
        "entry_byte",
        "chain_hash_byte",
        "drop",
        "duplicate",
        "insert",
        "insert_rechained",
        "note_size",
        "note_root",
        "note_signature",
        "row_size",
        "cosignature",
    ]
    if size > 1:
        kinds += ["reorder", "reorder_renumbered"]
    kind = data.draw(st.sampled_from(kinds))
    note(f"{kind} in {log.origin} of {size} entries")
    i = data.draw(st.integers(0, size - 1))
    if kind == "entry_byte":
        entry = records[i]["entry"]
        records[i]["entry"] = _flip(entry, data.draw(st.integers(0, len(entry) - 1)), data.draw(masks))
        return log.origin, lambda p: p.code == "chain_broken" and p.index == i
    if kind == "chain_hash_byte":
        records[i]["chain_hash"] = _flip(
            records[i]["chain_hash"], data.draw(st.integers(0, 31)), data.draw(masks)
        )
        return log.origin, lambda p: p.code == "chain_broken" and p.index == i
    if kind == "drop":
        del records[i]
        code = "log_truncated" if i == size - 1 else "missing_entries"
        return log.origin, lambda p: p.code == code and p.index == i
    if kind == "duplicate":
        records.insert(i + 1, dict(records[i]))
        return log.origin, lambda p: p.code == "index_out_of_order" and p.index == i
    if kind in ("reorder", "reorder_renumbered"):
        order = data.draw(st.permutations(range(size)).filter(lambda o: list(o) != sorted(o)))
        first = next(n for n, o in enumerate(order) if n != o)
        log.records = [records[o] for o in order]
        if kind == "reorder":
            return log.origin, lambda p: p.code == "missing_entries" and p.index == first
        log.records = [dict(r, index=n) for n, r in enumerate(log.records)]
        return log.origin, lambda p: p.code == "chain_broken" and p.index == first
    if kind in ("insert", "insert_rechained"):
        source = data.draw(st.sampled_from(logs))
        inserted = dict(data.draw(st.sampled_from(source.records)))
        if kind == "insert":  # anywhere, the end included, as stored but for its index
            at = data.draw(st.integers(0, size))
            records.insert(at, dict(inserted, index=at))
            return log.origin, lambda p: p.index == at and p.code in {"chain_broken", "index_out_of_order"}
        # Re-chained: an entry other than the one there, before the end (inside the signed log; an
        # unsigned tail is not reported, see test_entries_no_signed_checkpoint_covers_are_reported).
        at = i
        others = [r for other in logs for r in other.records if r["entry"] != records[at]["entry"]]
        inserted = dict(data.draw(st.sampled_from(others))) if others else dict(inserted, entry=b"forged")
        log.records = bf.rechain([*records[:at], inserted, *records[at:]], start=at)
        covering = min(row["size"] for row in rows if row["size"] > at)
        return log.origin, lambda p: p.code == "root_mismatch" and p.where == f"checkpoint at size {covering}"
    row = data.draw(st.sampled_from(rows))
    where = f"checkpoint at size {row['size']}"
    if kind == "note_size":
        new = data.draw(st.integers(0, 2**64 - 1).filter(lambda n: n != row["size"]))
        lines = row["note"].split("\n")
        lines[1] = str(new)
        row["note"] = "\n".join(lines)
    elif kind == "note_root":
        mask, at = data.draw(masks), data.draw(st.integers(0, 31))
        _resign(
            row,
            lambda s: SignedCheckpoint(
                checkpoint=Checkpoint(
                    origin=s.checkpoint.origin,
                    tree_size=s.checkpoint.tree_size,
                    root_hash=_flip(s.checkpoint.root_hash, at, mask),
                    extensions=s.checkpoint.extensions,
                ),
                signatures=s.signatures,
            ),
        )
    elif kind == "note_signature":
        mask, at = data.draw(masks), data.draw(st.integers(0, 4 + 64 - 1))
        _resign(
            row,
            lambda s: SignedCheckpoint(
                checkpoint=s.checkpoint, signatures=(_flipped(s.signatures[0], at, mask),)
            ),
        )
    elif kind == "row_size":
        new = data.draw(st.integers(0, 2 * size).filter(lambda n: n != row["size"]))
        row["size"] = new
        where = f"checkpoint at size {new}"
    else:  # cosignature: the newest checkpoint's, which the quorum needs
        row = rows[-1]
        where = f"checkpoint at size {row['size']}"
        mask, at = data.draw(masks), data.draw(st.integers(0, 4 + 8 + 64 - 1))
        row["cosignatures"] = [_flipped(NoteSignature.parse(row["cosignatures"][0]), at, mask).line]
    return log.origin, lambda p: p.code == "bad_checkpoint" and p.where == where


def _flipped(signature: NoteSignature, at: int, mask: int) -> NoteSignature:
    blob = _flip(signature.key_hash + signature.signature, at, mask)
    return NoteSignature(name=signature.name, key_hash=blob[:4], signature=blob[4:])


@SETTINGS
@given(shape=SHAPES)
def test_an_untampered_generated_bundle_verifies(shape: tuple[tuple[int, ...], int]) -> None:
    report = verify_written(bf.full_bundle(generated(*shape)))
    assert [log.entries for log in report.logs] == list(shape[0])


@settings(SETTINGS, max_examples=300)
@given(shape=SHAPES, data=st.data())
def test_any_tampering_with_a_generated_bundle_is_detected_and_located(
    shape: tuple[tuple[int, ...], int], data: st.DataObject
) -> None:
    logs = generated(*shape)
    origin, locates = tamper(data, logs)
    try:
        report = verify_written(bf.full_bundle(logs))
    except BundleError:
        return
    except BundleInvalid as invalid:
        problems = invalid.report.problems
        note(f"problems: {[(p.code, p.origin, p.where, p.index) for p in problems]}")
        assert any(p.origin == origin and locates(p) for p in problems)
        return
    pytest.fail(f"tampered bundle verified: {report.to_text()}")


CASE_SHAPES = st.tuples(
    st.lists(st.integers(6, 20), min_size=1, max_size=2).map(tuple), st.integers(1, 8)
)  # size >= 6: seq 5 is under the case


@SETTINGS
@given(shape=CASE_SHAPES, data=st.data())
def test_any_change_to_a_selected_entry_or_its_proof_is_detected(
    shape: tuple[tuple[int, ...], int], data: st.DataObject
) -> None:
    bundle = bf.selective_bundle(generated(*shape))
    assert verify_written(copy.deepcopy(bundle)).valid
    log = data.draw(st.sampled_from(bundle.logs))
    assert log.proofs is not None
    n = data.draw(st.integers(0, len(log.records) - 1))
    record, proof = log.records[n], log.proofs[n]
    mask = data.draw(st.integers(1, 255))
    if data.draw(st.booleans()) and proof["proof"]:
        at = data.draw(st.integers(0, len(proof["proof"]) - 1))
        proof["proof"][at] = _flip(
            bytes.fromhex(proof["proof"][at]), data.draw(st.integers(0, 31)), mask
        ).hex()
    else:
        record["entry"] = _flip(record["entry"], data.draw(st.integers(0, len(record["entry"]) - 1)), mask)
    with pytest.raises(BundleInvalid) as invalid:
        verify_written(bundle)
    assert ("not_included", log.origin, record["index"]) in {
        (p.code, p.origin, p.index) for p in invalid.value.report.problems
    }
