"""Checkpoints from real ingest, and the auditor's commands on them: export, verify, prove,
consistency, and a witness's cosignatures pushed by the operator — through ``main([...])`` as an
operator or auditor types them."""

from __future__ import annotations

import json
import os
import threading
import time
from dataclasses import replace
from pathlib import Path

import pytest

from ledger.app.assembly import build_ingestor, open_store
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.witnessing import push_once
from ledger.cli import main
from ledger.wire.bundle import file_digest, read_entries
from ledger.wire.format import leaf_hash
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.merkle import verify_inclusion
from ledger.wire.note import SignedCheckpoint, log_key
from ledger.wire.proof import TlogProof
from ledger.wire.rotation import Rotation
from tests.events import ACTOR, decode, ingest, publisher, registered_source, stored_logs, viewed
from tests.witnesses import running_witness

pytestmark = pytest.mark.kafka


@pytest.fixture
def ledger(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Config:
    """A ledger of 1 registration + 250 views (40 of them under case A-7) ingested in 200-message batches."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config.from_env(env)
    registered_source(config)
    with publisher(config) as pub:
        for n in range(250):
            case = {"case_number": "A-7", "legal_basis": "刑事诉讼法"} if n % 25 < 4 else {}
            pub.publish("FootageViewed", viewed(n, **case), actor=ACTOR)
    ingest(config)
    return config


def test_every_batch_ends_with_a_signed_checkpoint_of_the_stored_log(ledger: Config) -> None:
    store = open_store(ledger)
    try:
        (origin,) = store.origins()
        checkpoints = list(store.checkpoints(origin))
        head = store.head(origin)
    finally:
        store.close()
    sizes = [size for size, _ in checkpoints]
    assert sizes[-1] == head.size == 251
    assert sizes == sorted(set(sizes))
    key = ensure_key(ledger, "ledger")[0].public
    for size, note in checkpoints:
        signed = SignedCheckpoint.parse(note)
        signed.verify_log(ledger_keys=[key])
        assert (signed.checkpoint.origin, signed.checkpoint.tree_size) == (origin, size)
    assert SignedCheckpoint.parse(checkpoints[-1][1]).checkpoint.chain_head == head.head


def test_full_bundle_exports_and_verifies_offline(ledger: Config, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bundle"
    assert main(["export", "--out", str(out)]) == 0
    pub = str(ledger.keys_dir / "ledger.pub")
    capsys.readouterr()
    assert main(["verify", str(out), "--key", pub, "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["valid"] is True
    (log,) = report["logs"]
    assert (log["entries"], log["signatures"]) == (251, 250)
    stranger = tmp_path / "other.pub"
    SigningKey.generate("ledger").public.save(stranger)
    assert main(["verify", str(out), "--key", str(stranger)]) == 1
    assert main(["verify", str(tmp_path / "nothing"), "--key", pub]) == 2


def test_selective_bundle_for_a_case_holds_only_that_case(ledger: Config, tmp_path: Path) -> None:
    out = tmp_path / "case"
    assert main(["export", "--out", str(out), "--case", "A-7"]) == 0
    assert main(["verify", str(out), "--key", str(ledger.keys_dir / "ledger.pub")]) == 0
    entries = list(read_entries(out / "logs" / "0" / "entries.avro"))
    kinds = [decode(e["entry"]) for e in entries]
    cases = [r["access"]["case_number"] for name, r in kinds if name == "FootageViewed"]
    assert cases == ["A-7"] * 40
    assert [name for name, _ in kinds].count("SourceKeyRegistered") == 1
    statement = (out / "selection.note").read_text()
    assert statement.startswith("liuhen selection v1\nquery case A-7\n")
    # the signed statement is complete: run over the whole ledger, the query finds what it lists
    full = tmp_path / "full"
    assert main(["export", "--out", str(full)]) == 0
    pub = str(ledger.keys_dir / "ledger.pub")
    assert main(["verify", str(full), "--key", pub, "--check-selection", str(out / "selection.note")]) == 0
    person = tmp_path / "person"
    assert main(["export", "--out", str(person), "--actor", str(ACTOR["user_id"])]) == 0
    assert main(["verify", str(person), "--key", pub, "--quiet"]) == 0
    assert main(["verify", str(full), "--key", pub, "--check-selection", str(person / "selection.note")]) == 0


def test_prove_an_event_and_check_the_proof_independently(ledger: Config, capsys) -> None:
    (entries,) = stored_logs(ledger).values()
    target = entries[123]
    event_id = decode(target.entry)[1]["envelope"]["event_id"]
    capsys.readouterr()
    assert main(["prove", str(event_id), "--json"]) == 0
    proof = json.loads(capsys.readouterr().out)
    assert proof["index"] == 123
    signed = SignedCheckpoint.parse(proof["checkpoint"].encode())
    signed.verify_log(ledger_keys=[ensure_key(ledger, "ledger")[0].public])
    verify_inclusion(
        leaf_hash(target.entry),
        123,
        proof["size"],
        [bytes.fromhex(h) for h in proof["proof"]],
        signed.checkpoint.root_hash,
    )
    assert main(["prove", "00000000-0000-0000-0000-000000000000"]) == 1


def test_a_tlog_proof_verifies_offline_cosigned_and_fails_when_tampered(
    ledger: Config, tmp_path: Path, capsys
) -> None:
    """``prove --tlog-proof`` writes a c2sp.org/tlog-proof with the entry as its extra data and the
    checkpoint whole, its witness's cosignature included; ``verify --tlog-proof`` checks it."""
    (entries,) = stored_logs(ledger).values()
    origin = next(iter(stored_logs(ledger)))
    event_id = str(decode(entries[123].entry)[1]["envelope"]["event_id"])
    ledger_pub = ensure_key(ledger, "ledger")[0].public
    with running_witness(tmp_path / "witness") as witness:
        witness.state.add_log(origin, log_key(ledger_pub, origin))
        witnessed = Config.from_env({**os.environ, "LIUHEN_WITNESSES": f"{witness.url}={witness.vkey}"})
        assert push_once(witnessed)
    (tmp_path / "witness.pub").write_text(witness.vkey + "\n")
    capsys.readouterr()
    # The newest checkpoint, whole: the ledger's signature and the witness's cosignature.
    assert main(["checkpoint"]) == 0
    whole = SignedCheckpoint.parse(capsys.readouterr().out.encode())
    whole.verify_log(ledger_keys=[ledger_pub], witnesses=[witness.key.public], quorum=1)
    assert main(["checkpoint", "--out", str(tmp_path / "kept")]) == 0
    (kept,) = (tmp_path / "kept").iterdir()
    assert SignedCheckpoint.parse(kept.read_bytes()) == whole
    live = ["verify", "--live", "--key", str(ledger.keys_dir / "ledger.pub"), "--quiet"]
    assert main([*live, "--checkpoint", str(kept)]) == 0
    assert main(["checkpoint", "--origin", "liuhen/nowhere/0"]) == 1
    capsys.readouterr()
    assert main(["prove", event_id, "--tlog-proof"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert "\nindex 123\n" in text
    assert f"— {witness.key.name} " in text  # the cosigned note, written out whole
    proof = tmp_path / "event.tlog-proof"
    proof.write_text(text)
    pub = str(ledger.keys_dir / "ledger.pub")
    check = ["verify", "--tlog-proof", str(proof), "--key", pub]
    assert main([*check, "--witness", str(tmp_path / "witness.pub")]) == 0
    answer = capsys.readouterr().out
    assert f"VALID: entry 123 of {origin}" in answer
    assert "cosigned by 1 witness(es)" in answer
    assert f"FootageViewed {event_id}" in answer

    parsed = TlogProof.parse(text.encode())
    forged = [
        replace(parsed, extra=entries[124].entry),  # another entry passed off as this one
        replace(parsed, index=124),
        replace(parsed, proof=parsed.proof[:-1]),
    ]
    for n, bad in enumerate(forged):
        (tmp_path / f"bad{n}").write_bytes(bad.encode())
        assert main(["verify", "--tlog-proof", str(tmp_path / f"bad{n}"), "--key", pub]) == 1
        assert "INVALID" in capsys.readouterr().out
    stranger = tmp_path / "other.pub"
    SigningKey.generate("ledger").public.save(stranger)
    assert main(["verify", "--tlog-proof", str(proof), "--key", str(stranger)]) == 1
    (tmp_path / "junk").write_bytes(b"c2sp.org/tlog-proof@v1\nindex x\n\n")
    assert main(["verify", "--tlog-proof", str(tmp_path / "junk"), "--key", pub]) == 2


def test_consistency_between_two_checkpoints(ledger: Config, tmp_path: Path) -> None:
    store = open_store(ledger)
    try:
        (origin,) = store.origins()
        checkpoints = list(store.checkpoints(origin))
    finally:
        store.close()
    old, new = tmp_path / "old.note", tmp_path / "new.note"
    old.write_bytes(checkpoints[0][1])
    new.write_bytes(checkpoints[-1][1])
    assert main(["consistency", str(old), str(new)]) == 0
    assert main(["consistency", str(new), str(old)]) == 2  # swapped: a usage error


def test_pushed_checkpoints_are_cosigned_by_a_witness_service_and_the_verifier_counts_them(
    ledger: Config, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The operator pushes each log's newest checkpoint to a witness that never opens the store; the
    cosignatures stored beside the checkpoints satisfy ``verify --live --witness``, and ``status``
    shows how far each witness has cosigned."""
    ledger_key = ensure_key(ledger, "ledger")[0].public
    (origin,) = stored_logs(ledger)
    with running_witness(tmp_path / "witness", SigningKey.generate("witness-1")) as witness:
        add_log = ["witness", "add-log", "--state", str(tmp_path / "witness"), "--origin", origin]
        assert main([*add_log, "--key", ledger_key.verifier_text]) == 0
        monkeypatch.setenv("LIUHEN_WITNESSES", f"{witness.url}={witness.vkey}")
        assert main(["witness", "push", "--once"]) == 0
        assert f"cosigned {origin} at size 251 by witness-1+" in capsys.readouterr().out
        pub = str(ledger.keys_dir / "ledger.pub")
        wpub = tmp_path / "witness-1.vkey"
        wpub.write_text(witness.vkey + "\n")
        verify = ["verify", "--live", "--key", pub, "--witness", str(wpub), "--quiet"]
        assert main(verify) == 0
        with publisher(ledger) as pub_:
            for n in range(30):
                pub_.publish("FootageViewed", viewed(n), actor=ACTOR)
        ingest(ledger)
        # The newest checkpoint is not cosigned yet: a verifier demanding the witness refuses it.
        capsys.readouterr()
        assert main(verify) == 1
        assert "cosigned by 0 of the 1 witnesses" in capsys.readouterr().out
        assert main(["status", "--json"]) == 0
        (row,) = json.loads(capsys.readouterr().out)["logs"]
        assert (row["checkpoint"], [w["cosigned"] for w in row["witnesses"]]) == (281, [251])
        assert main(["status"]) == 0
        assert "cosigned size 251 (newest checkpoint: size 281)" in capsys.readouterr().out
        assert main(["witness", "push", "--once"]) == 0
        assert f"cosigned {origin} at size 281 by witness-1+" in capsys.readouterr().out
        assert main(verify) == 0
        assert main([*verify, "--quorum", "1"]) == 0
        latest = witness.state.latest(origin)
    assert latest is not None
    assert latest.checkpoint.tree_size == 281


def test_ledger_key_rotation_is_followed_from_the_key_the_auditor_trusts(
    ledger: Config, tmp_path: Path
) -> None:
    first = tmp_path / "first-ledger.pub"
    first.write_text((ledger.keys_dir / "ledger.pub").read_text())
    assert main(["keys", "rotate-ledger"]) == 0
    assert (ledger.keys_dir / "ledger.pub").read_text() != first.read_text()
    with publisher(ledger) as pub:
        for n in range(20):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
    assert ingest(ledger).appended == 20
    store = open_store(ledger)
    try:
        (origin,) = store.origins()
        newest = SignedCheckpoint.parse(store.latest_checkpoint(origin)[1])
    finally:
        store.close()
    newest.verify_log(ledger_keys=[PublicKey.load(ledger.keys_dir / "ledger.pub")])  # signed by the new key
    out = tmp_path / "bundle"
    assert main(["export", "--out", str(out)]) == 0
    assert main(["verify", str(out), "--key", str(first), "--quiet"]) == 0  # old key -> rotation -> new key
    assert main(["verify", "--live", "--key", str(first), "--quiet"]) == 0
    # Trusting only the new key: the rotation it signed vouches for the key before it.
    assert main(["verify", str(out), "--key", str(ledger.keys_dir / "ledger.pub"), "--quiet"]) == 0


def test_rotating_the_ledger_key_while_ingest_runs_keeps_the_ledger_verifiable_from_either_key(
    ledger: Config, tmp_path: Path
) -> None:
    """Today's hole: rotated while ingest ran, the ledger then verified under neither key."""
    first = tmp_path / "first-ledger.pub"
    first.write_text((ledger.keys_dir / "ledger.pub").read_text())
    before = sum(len(log) for log in stored_logs(ledger).values())
    ingestor = build_ingestor(ledger, batch_size=5)
    running = threading.Thread(target=ingestor.run, kwargs={"idle_exit": None})
    running.start()
    try:
        with publisher(ledger) as pub:
            for n in range(40):
                pub.publish("FootageViewed", viewed(n), actor=ACTOR)
        wait_for_entries(ledger, before + 40)
        assert main(["keys", "rotate-ledger"]) == 0  # ingest still running
        with publisher(ledger) as pub:
            for n in range(40, 80):
                pub.publish("FootageViewed", viewed(n), actor=ACTOR)
        wait_for_entries(ledger, before + 80)
    finally:
        ingestor.stop()
        running.join(timeout=60)
    new = str(ledger.keys_dir / "ledger.pub")
    assert main(["verify", "--live", "--key", str(first), "--quiet"]) == 0
    assert main(["verify", "--live", "--key", new, "--quiet"]) == 0
    out = tmp_path / "bundle"
    assert main(["export", "--out", str(out)]) == 0
    for key in (str(first), new):
        assert main(["verify", str(out), "--key", key, "--quiet"]) == 0


def wait_for_entries(config: Config, entries: int) -> None:
    deadline = time.monotonic() + 120  # a guard against a hang, not a measure of speed
    while sum(len(log) for log in stored_logs(config).values()) < entries:
        assert time.monotonic() < deadline, "ingest did not store the events"
        time.sleep(0.2)


def test_a_rotation_not_signed_by_the_current_key_is_refused(ledger: Config, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bundle"
    assert main(["export", "--out", str(out)]) == 0
    attacker = SigningKey.generate("ledger")
    forged = Rotation(attacker.public, attacker.public, {}).sign(attacker, attacker)
    (out / "keys" / "rotations.jsonl").write_text(json.dumps({"note": forged.decode()}) + "\n")
    manifest = json.loads((out / "manifest.json").read_text())  # an attacker fixes the manifest too
    manifest["files"]["keys/rotations.jsonl"] = file_digest(out / "keys" / "rotations.jsonl")
    (out / "manifest.json").write_text(json.dumps(manifest))
    capsys.readouterr()
    assert main(["verify", str(out), "--key", str(ledger.keys_dir / "ledger.pub"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [p["code"] for p in report["problems"]] == ["bad_key_rotation"]


def test_a_violations_evidence_exports_as_a_bundle_that_verifies_alone(
    ledger: Config, tmp_path: Path, capsys
) -> None:
    shared = {**viewed(3), "recipient": "天元分局"}
    shared.pop("mode")
    shared["desensitization_profile"] = None
    with publisher(ledger) as pub:
        pub.publish("FootageShared", shared, actor=ACTOR)
    ingest(ledger)
    assert main(["project"]) == 0
    capsys.readouterr()
    assert main(["violations", "--rule", "R7", "--json"]) == 0
    (violation,) = json.loads(capsys.readouterr().out)
    out = tmp_path / "evidence"
    assert main(["export", "--out", str(out), "--violation", str(violation["id"])]) == 0
    assert main(["verify", str(out), "--key", str(ledger.keys_dir / "ledger.pub"), "--quiet"]) == 0
    entries = list(read_entries(out / "logs" / "0" / "entries.avro"))
    assert [e["index"] for e in entries] == [
        0,
        *(idx for _, idx in violation["evidence"]),
    ]  # + key registration
    assert main(["export", "--out", str(tmp_path / "none"), "--violation", "999"]) == 1


def test_an_actors_answer_comes_a_page_at_a_time_with_the_cursor_of_the_next(
    ledger: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    with publisher(ledger) as pub:
        for n in range(5):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
    ingest(ledger)
    assert main(["project"]) == 0
    window = ["--from", "2000-01-01", "--to", "2100-01-01", "--json"]
    capsys.readouterr()
    assert main(["actor", ACTOR["user_id"], *window, "--limit", "0"]) == 0
    every = json.loads(capsys.readouterr().out)
    assert len(every) >= 5  # with what earlier tests of this ledger published
    size = len(every) // 2 - 1
    pages, after = [], []
    while True:
        assert main(["actor", ACTOR["user_id"], *window, "--limit", str(size), *after]) == 0
        out, err = capsys.readouterr()
        pages.append(json.loads(out))
        if "--after" not in err:
            break
        assert f"{len(every):,} rows in all; this page holds {size:,}" in err
        after = ["--after", err.split("--after ")[1].split()[0]]
    assert [len(page) for page in pages] == [size, size, len(every) - 2 * size]
    assert [row for page in pages for row in page] == every
    assert main(["actor", ACTOR["user_id"], *window, "--after", "nonsense"]) == 2
    assert "not a page cursor" in capsys.readouterr().err
