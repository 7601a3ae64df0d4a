"""liuhen's witness (ledger.witness): c2sp.org/tlog-witness on a real HTTP server on a loopback port.

Every answer of the protocol (200, 400, 403, 404, 409 with the size it knows, 422), the refusal of
a rolled-back, vanished or forked log, what the witness remembers across a restart (also after
``kill -9``), and concurrent submissions of one origin serialised. The request format is checked
against the specification's own example.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from ledger.cli import main
from ledger.errors import (
    BadSubmission,
    ConfigurationError,
    ProofRejected,
    SizeConflict,
    UnknownLog,
    UntrustedCheckpoint,
    WitnessError,
    WitnessUnavailable,
)
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import EMPTY_ROOT
from ledger.wire.note import (
    Checkpoint,
    NoteSignature,
    SignedCheckpoint,
    cosign,
    cosigner_from_verifier_text,
    log_key,
)
from ledger.witness.protocol import (
    SIZE_TYPE,
    Submission,
    check_consistency,
    refusal,
    verified_cosignatures,
)
from ledger.witness.state import WitnessState, origin_hash
from tests.witnesses import MemoryLog, RunningWitness, post, request, running_witness

REPO = Path(__file__).resolve().parent.parent
ORIGIN = "example.com/liuhen.audit/0"
LOG_KEY = SigningKey.generate(ORIGIN)

# The example request of tlog-witness.md (§add-checkpoint), byte for byte.
SPEC_EXAMPLE = """old 20852014
PlRNCrwHpqhGrupue0L7gxbjbMiKA9temvuZZDDpkaw=
jrJZDmY8Y7SyJE0MWLpLozkIVMSMZcD5kvuKxPC3swk=
5+pKlUdi2LeF/BcMHBn+Ku6yhPGNCswZZD1X/6QgPd8=
/6WVhPs2CwSsb5rYBH5cjHV/wSmA79abXAwhXw3Kj/0=

example.com/behind-the-sofa
20852163
CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=

— example.com/behind-the-sofa Az3grlgtzPICa5OS8npVmf1Myq/5IZniMp+ZJurmRDeOoRDe4URYN7u5/Zhcyv2q1gGzGku9nTo+zyWE+xeMcTOAYQ8=
— example.com/behind-the-sofa opLqBQsREYCgu6xQkYQwJr9fo45a62DN9EdmHXnZdXNqlcVGlCum2Wks+49/V6267UEjw6QUXTS5Rovnzv++qbSzm9Q=
""".encode()  # noqa: E501 - the specification's lines


@pytest.fixture
def witness(tmp_path: Path) -> RunningWitness:
    """liuhen's witness on a loopback port, witnessing ORIGIN signed by LOG_KEY."""
    with running_witness(tmp_path / "witness") as running:
        running.state.add_log(ORIGIN, LOG_KEY.public)
        yield running


def cosigned(witness: RunningWitness, submission: Submission) -> list[NoteSignature]:
    answer = post(witness.url, submission.encode())
    assert answer.status == 200, answer.body
    return verified_cosignatures(submission.checkpoint, answer.body, witness.key.public)


def refused(witness: RunningWitness, body: bytes, status: int) -> bytes:
    answer = post(witness.url, body)
    assert answer.status == status, answer.body
    return answer.body


def known_size(witness: RunningWitness) -> int | None:
    latest = witness.state.latest(ORIGIN)
    return None if latest is None else latest.checkpoint.tree_size


# --- the request ---------------------------------------------------------------------------------


def test_the_specification_example_request_parses_and_round_trips() -> None:
    submission = Submission.parse(SPEC_EXAMPLE)
    assert submission.old_size == 20852014
    assert len(submission.proof) == 4
    assert submission.checkpoint.origin == "example.com/behind-the-sofa"
    assert submission.checkpoint.tree_size == 20852163
    assert len(submission.signed.signatures) == 2
    assert submission.encode() == SPEC_EXAMPLE


def test_a_submission_encodes_as_the_protocol_writes_it() -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=7)
    submission = log.submission(3, 7)
    lines = submission.encode().decode().split("\n")
    assert lines[0] == "old 3"
    assert lines[1 : 1 + len(submission.proof)] == [base64.b64encode(h).decode() for h in submission.proof]
    assert lines[1 + len(submission.proof)] == ""
    assert Submission.parse(submission.encode()) == submission


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"old 5\nnot a note", "no empty line"),
        (b"old 05\n\n", "leading zero"),
        (b"old -1\n\n", "negative"),
        (b"old five\n\n", "not a number"),
        (b"Old 5\n\n", "not 'old'"),
        (b"old 5 \n\n", "trailing space"),
        (b"old 18446744073709551616\n\n", "beyond 2^64-1"),
        (b"old 5\nnot base64!\n\n", "proof line not base64"),
        (b"old 5\n" + base64.b64encode(bytes(31)) + b"\n\n", "31-byte hash"),
        (b"old 5\n" + (base64.b64encode(bytes(32)) + b"\n") * 64 + b"\n", "64 proof lines"),
        (b"old 5\n\n\xff\xfe", "checkpoint not UTF-8"),
        (b"old 5\n\nexample.com/liuhen.audit/0\n5\n", "checkpoint without signatures"),
    ],
)
def test_a_malformed_request_is_400(witness: RunningWitness, body: bytes, why: str) -> None:
    with pytest.raises(BadSubmission):
        Submission.parse(body)
    refused(witness, body, 400)
    assert known_size(witness) is None


# --- 200: cosigned -------------------------------------------------------------------------------


def test_a_log_is_cosigned_from_size_0_then_only_with_consistency_proofs(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=30)
    for old, size in [(0, 5), (5, 12), (12, 12), (12, 30)]:
        (line,) = cosigned(witness, log.submission(old, size))
        assert line.key_id.startswith("witness.example/w1+")
        signed = log.checkpoint(size).with_signature(line)
        signed.verify(ledger_keys=[LOG_KEY.public], witnesses=[witness.key.public], quorum=1)
        assert known_size(witness) == size
    # What it remembers is the checkpoint itself: the log's verified line and its cosignature.
    latest = witness.state.latest(ORIGIN)
    assert latest is not None
    latest.verify(ledger_keys=[LOG_KEY.public], witnesses=[witness.key.public], quorum=1)
    records = list(witness.state.records())
    assert [(r["event"], r["old_size"], r["size"]) for r in records] == [
        ("cosigned", 0, 5),
        ("cosigned", 5, 12),
        ("cosigned", 12, 12),
        ("cosigned", 12, 30),
    ]


def test_extension_lines_are_opaque_and_covered_by_the_cosignature(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=4)
    submission = log.submission(0, 4)
    (line,) = cosigned(witness, submission)
    assert submission.checkpoint.extensions[1] == "another-extension opaque to witnesses"
    altered = submission.checkpoint.__class__(
        origin=ORIGIN, tree_size=4, root_hash=submission.checkpoint.root_hash, extensions=("other",)
    )
    with pytest.raises(WitnessError, match="does not verify"):
        verified_cosignatures(altered, line.line.encode(), witness.key.public)


def test_signatures_by_unknown_keys_are_ignored_and_not_kept(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=6)
    stranger = SigningKey.generate("stranger.example/key")
    signed = log.checkpoint(6)
    signed = signed.with_signature(cosign(signed.checkpoint, stranger, timestamp=1))
    signed = signed.with_signature(SignedCheckpoint.sign(signed.checkpoint, stranger).signatures[0])
    cosigned(witness, Submission(old_size=0, proof=(), signed=signed))
    latest = witness.state.latest(ORIGIN)
    assert latest is not None
    assert {s.name for s in latest.signatures} == {ORIGIN, "witness.example/w1"}


def test_several_keys_of_one_log_are_each_trusted(witness: RunningWitness) -> None:
    rotated = SigningKey.generate(ORIGIN)
    assert witness.state.add_log(ORIGIN, rotated.public)
    assert not witness.state.add_log(ORIGIN, rotated.public)
    log = MemoryLog(ORIGIN, LOG_KEY, size=8)
    cosigned(witness, log.submission(0, 4))
    new = Submission(old_size=4, proof=tuple(log.proof(4, 8)), signed=log.checkpoint(8, key=rotated))
    cosigned(witness, new)


# --- 403, 404 -----------------------------------------------------------------------------------


def test_an_origin_the_witness_does_not_know_is_404(witness: RunningWitness) -> None:
    other = SigningKey.generate("other.example/log")
    body = MemoryLog("other.example/log", other, size=3).submission(0, 3).encode()
    assert b"does not witness" in refused(witness, body, 404)


def test_a_checkpoint_not_signed_by_the_logs_key_is_403(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=5)
    impostor = SigningKey.generate(ORIGIN)  # the log's name, another key
    forged = Submission(old_size=0, proof=(), signed=log.checkpoint(5, key=impostor))
    refused(witness, forged.encode(), 403)
    # A line by the trusted key that does not verify rejects the note, even beside a good one.
    good = log.checkpoint(5)
    (line,) = good.signatures
    broken = NoteSignature(name=line.name, key_hash=line.key_hash, signature=bytes(64))
    stranger = SignedCheckpoint.sign(good.checkpoint, SigningKey.generate("stranger.example/key"))
    both = SignedCheckpoint(checkpoint=good.checkpoint, signatures=(broken, *stranger.signatures))
    refused(witness, Submission(old_size=0, proof=(), signed=both).encode(), 403)
    assert known_size(witness) is None


# --- 409: what the witness knows -----------------------------------------------------------------


def test_an_old_size_that_is_not_the_size_cosigned_last_is_409_with_that_size(
    witness: RunningWitness,
) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=20)
    cosigned(witness, log.submission(0, 12))
    for old in (0, 5, 11, 13):
        answer = post(witness.url, log.submission(old, 20).encode())
        assert (answer.status, answer.content_type, answer.body) == (409, SIZE_TYPE, b"12\n")
    cosigned(witness, log.submission(12, 20))


def test_a_rolled_back_log_is_refused(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=20)
    cosigned(witness, log.submission(0, 20))
    refused(witness, b"old 20\n\n" + log.checkpoint(12).encode(), 400)  # old size above the checkpoint's
    assert refused(witness, log.submission(12, 12).encode(), 409) == b"20\n"
    assert refused(witness, log.submission(5, 12).encode(), 409) == b"20\n"
    assert known_size(witness) == 20


def test_a_vanished_log_starting_again_from_zero_is_refused(witness: RunningWitness) -> None:
    cosigned(witness, MemoryLog(ORIGIN, LOG_KEY, size=20).submission(0, 20))
    again = MemoryLog(ORIGIN, LOG_KEY, size=3, tag="new")
    assert refused(witness, again.submission(0, 3).encode(), 409) == b"20\n"
    assert refused(witness, again.submission(0, 0).encode(), 409) == b"20\n"


# --- 422: forks ----------------------------------------------------------------------------------


def test_a_fork_is_refused_and_kept_as_evidence(witness: RunningWitness) -> None:
    honest = MemoryLog(ORIGIN, LOG_KEY, size=20)
    fork = MemoryLog(ORIGIN, LOG_KEY, size=15).grow(25, tag="fork")
    cosigned(witness, honest.submission(0, 20))
    # The fork's proof from its own size 20, and the honest proof with the fork's root: both fail.
    refused(witness, fork.submission(20, 25).encode(), 422)
    spliced = Submission(old_size=20, proof=tuple(honest.proof(20, 25)), signed=fork.checkpoint(25))
    honest.grow(25)
    refused(witness, spliced.encode(), 422)
    # A split view: another root at the size cosigned.
    refused(witness, fork.submission(20, 20).encode(), 422)
    assert known_size(witness) == 20
    refusals = [r for r in witness.state.records() if r["event"] == "refused"]
    assert [(r["old_size"], r["size"]) for r in refusals] == [(20, 25), (20, 25), (20, 20)]
    kept = SignedCheckpoint.parse(str(refusals[2]["note"]).encode())
    kept.verify(ledger_keys=[LOG_KEY.public])  # the log's own signature on the other history
    cosigned(witness, honest.submission(20, 25))


def _ledger_submission(log: MemoryLog, old: int, size: int, *, logs: list[str], time_us: int) -> bytes:
    """A liuhen checkpoint of ``log`` at ``size``: with the ledger's set of ``logs`` and its time."""
    checkpoint = Checkpoint.for_log(
        origin=log.origin,
        tree_size=size,
        root_hash=log.checkpoint(size).checkpoint.root_hash,
        chain_head=bytes(32),
        time_us=time_us,
        logs=logs,
    )
    signed = SignedCheckpoint.sign(checkpoint, log.key)
    return Submission(old_size=old, proof=tuple(log.proof(old, size)), signed=signed).encode()


def test_a_ledger_whose_log_vanished_is_refused_by_the_witness_of_the_logs_that_remain(
    witness: RunningWitness,
) -> None:
    """The operator deleted the ledger's second log and had the first's checkpoints signed again without
    it: naming one log, another log in its place, or two new logs after the first; or reordered. The
    witness of the first log refuses each."""
    log = MemoryLog(ORIGIN, LOG_KEY, size=30)
    other, stranger, third = "example.com/liuhen.audit/1", "example.com/liuhen.audit/9", "example.com/x/2"
    assert post(witness.url, _ledger_submission(log, 0, 10, logs=[ORIGIN, other], time_us=1000)).status == 200
    for logs in ([ORIGIN], [ORIGIN, stranger], [ORIGIN, stranger, third]):
        vanished = refused(witness, _ledger_submission(log, 10, 20, logs=logs, time_us=2000), 422)
        assert b"the ledger's log(s) example.com/liuhen.audit/1 named when" in vanished
        assert b"a log vanished" in vanished
    reordered = refused(witness, _ledger_submission(log, 10, 20, logs=[other, ORIGIN], time_us=2000), 422)
    assert b"in another order" in reordered
    backdated = refused(witness, _ledger_submission(log, 10, 20, logs=[ORIGIN, other], time_us=999), 422)
    assert b"the ledger's clock went back" in backdated
    stripped = Submission(old_size=10, proof=tuple(log.proof(10, 20)), signed=log.checkpoint(20))
    assert b"named the ledger's logs, and this one does not" in refused(witness, stripped.encode(), 422)
    assert known_size(witness) == 10
    grown = _ledger_submission(log, 10, 20, logs=[ORIGIN, other, stranger], time_us=1000)  # a new log opened
    assert post(witness.url, grown).status == 200
    assert known_size(witness) == 20


def test_empty_trees_and_proofs_from_zero(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=6)
    wrong_empty = Submission(old_size=0, proof=(), signed=log.checkpoint(0, root=bytes(32)))
    refused(witness, wrong_empty.encode(), 422)
    with_proof = Submission(old_size=0, proof=(bytes(32),), signed=log.checkpoint(6))
    refused(witness, with_proof.encode(), 422)
    (line,) = cosigned(witness, log.submission(0, 0))
    assert log.checkpoint(0).checkpoint.root_hash == EMPTY_ROOT
    assert line.signature[:8] != bytes(8)  # the timestamp is never zero
    cosigned(witness, log.submission(0, 6))


def test_the_checks_in_the_order_of_the_specification() -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=20)
    latest = log.checkpoint(12).checkpoint
    with pytest.raises(BadSubmission):  # old above the checkpoint's size comes before the 409
        check_consistency(log.submission(13, 12, proof=()), latest)
    with pytest.raises(SizeConflict) as conflict:
        check_consistency(log.submission(5, 20), latest)
    assert conflict.value.known == 12
    with pytest.raises(ProofRejected):
        check_consistency(log.submission(12, 20, proof=[bytes(32)] * 3), latest)
    check_consistency(log.submission(12, 20), latest)


# --- the client's reading of answers -------------------------------------------------------------


def test_the_client_reads_each_refusal_as_its_error() -> None:
    submission = MemoryLog(ORIGIN, LOG_KEY, size=3).submission(0, 3)
    conflict = refusal(submission, 409, b"12\n", "text/x.tlog.size")
    assert isinstance(conflict, SizeConflict)
    assert conflict.known == 12
    assert type(refusal(submission, 409, b"12\n", "text/plain")) is WitnessError
    assert type(refusal(submission, 409, b"012\n", SIZE_TYPE)) is WitnessError
    assert isinstance(refusal(submission, 400, b"bad", ""), BadSubmission)
    assert isinstance(refusal(submission, 403, b"unknown log", ""), UntrustedCheckpoint)
    assert isinstance(refusal(submission, 404, b"", ""), UnknownLog)
    assert isinstance(refusal(submission, 422, b"", ""), ProofRejected)
    assert isinstance(refusal(submission, 503, b"", ""), WitnessUnavailable)
    assert refusal(submission, 405, b"", "").status == 405


def test_the_client_keeps_only_verified_lines_of_the_witness() -> None:
    checkpoint = MemoryLog(ORIGIN, LOG_KEY, size=3).checkpoint(3).checkpoint
    witness, other = SigningKey.generate("w.example/1"), SigningKey.generate("w.example/2")
    mine = cosign(checkpoint, witness, timestamp=1_700_000_000)
    theirs = cosign(checkpoint, other, timestamp=1_700_000_000)
    body = (theirs.line + mine.line).encode()
    assert verified_cosignatures(checkpoint, body, witness.public) == [mine]
    with pytest.raises(WitnessError, match="without a cosignature by its key"):
        verified_cosignatures(checkpoint, theirs.line.encode(), witness.public)
    forged = NoteSignature(name=mine.name, key_hash=mine.key_hash, signature=mine.signature[:8] + bytes(64))
    with pytest.raises(WitnessError, match="does not verify"):
        verified_cosignatures(checkpoint, forged.line.encode(), witness.public)
    with pytest.raises(WitnessError, match="not signature lines"):
        verified_cosignatures(checkpoint, b"ok", witness.public)


# --- HTTP ----------------------------------------------------------------------------------------


def test_http_paths_lengths_and_the_index(witness: RunningWitness) -> None:
    assert request(witness.url, "POST", "/add-checkpoint", iter([b"old 0\n\n"])).status == 411  # chunked
    assert request(witness.url, "POST", "/add-checkpoint", b"x" * 70_000).status == 413
    assert request(witness.url, "POST", "/other", b"old 0\n\n").status == 404
    assert request(witness.url, "GET", "/nothing").status == 404
    hashed = origin_hash(ORIGIN)
    assert request(witness.url, "GET", f"/{hashed}/checkpoint").status == 404  # nothing cosigned yet
    cosigned(witness, MemoryLog(ORIGIN, LOG_KEY, size=3).submission(0, 3))
    monitored = request(witness.url, "GET", f"/{hashed}/checkpoint")
    assert monitored.status == 200
    SignedCheckpoint.parse(monitored.body).verify(
        ledger_keys=[LOG_KEY.public], witnesses=[witness.key.public], quorum=1
    )
    index = request(witness.url, "GET", "/")
    assert index.status == 200
    text = index.body.decode()
    assert witness.vkey in text
    assert f"{ORIGIN}\tcosigned size 3" in text


def test_a_refused_body_is_drained_so_the_client_reads_the_refusal(witness: RunningWitness) -> None:
    """A body refused unread (chunked, or too long) is drained before the connection closes: closed
    at once, a client still sending met a reset (a broken pipe) instead of the 411 or 413."""
    for _ in range(60):
        assert request(witness.url, "POST", "/add-checkpoint", iter([b"old 0\n\n"])).status == 411
        assert request(witness.url, "POST", "/add-checkpoint", b"x" * 70_000).status == 413


def test_one_process_serves_a_folder(witness: RunningWitness) -> None:
    with pytest.raises(ConfigurationError, match="another witness process serves"):
        WitnessState.open(witness.state.directory).hold()


def test_an_unreadable_memory_is_an_error_never_a_fresh_start(witness: RunningWitness) -> None:
    log = MemoryLog(ORIGIN, LOG_KEY, size=9)
    cosigned(witness, log.submission(0, 5))
    witness.state.checkpoint_path(ORIGIN).write_bytes(b"garbage")
    assert (
        refused(witness, log.submission(0, 9).encode(), 500)
        == b"the witness cannot read or write its state\n"
    )
    assert refused(witness, log.submission(5, 9).encode(), 500)


# --- serialised submissions ----------------------------------------------------------------------


def test_concurrent_submissions_of_one_origin_are_serialised(
    witness: RunningWitness, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight clients submit sizes 6..13 from the size 5 the witness knows, at once: one is cosigned,
    the others are told the winner's size; never two cosignatures from one old size (the rollback
    race of tlog-witness). Reading the old checkpoint is slowed down to widen the window."""
    log = MemoryLog(ORIGIN, LOG_KEY, size=13)
    cosigned(witness, log.submission(0, 5))
    latest = WitnessState.latest

    def slow_latest(self: WitnessState, origin: str) -> SignedCheckpoint | None:
        found = latest(self, origin)
        time.sleep(0.05)
        return found

    monkeypatch.setattr(WitnessState, "latest", slow_latest)
    start = threading.Barrier(8)
    answers: dict[int, tuple[int, bytes]] = {}

    def submit(size: int) -> None:
        body = log.submission(5, size).encode()
        start.wait()
        answer = post(witness.url, body)
        answers[size] = (answer.status, answer.body)

    threads = [threading.Thread(target=submit, args=(size,)) for size in range(6, 14)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [size for size, (status, _) in answers.items() if status == 200]
    assert len(winners) == 1
    (winner,) = winners
    assert {answers[size] for size in answers if size != winner} == {(409, f"{winner}\n".encode())}
    assert known_size(witness) == winner
    assert [r["size"] for r in witness.state.records()] == [5, winner]


def test_submissions_of_different_origins_run_side_by_side(witness: RunningWitness) -> None:
    keys = {f"example.com/log/{n}": SigningKey.generate(f"example.com/log/{n}") for n in range(6)}
    for origin, key in keys.items():
        witness.state.add_log(origin, key.public)
    answers: list[int] = []
    threads = [
        threading.Thread(
            target=lambda o=origin, k=key: answers.append(
                post(witness.url, MemoryLog(o, k, size=4).submission(0, 4).encode()).status
            )
        )
        for origin, key in keys.items()
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert answers == [200] * 6


# --- the command, and a restart ------------------------------------------------------------------


def serve_process(key: Path, state: Path) -> tuple[subprocess.Popen[str], str, str]:
    """``liuhen witness serve`` in a process of its own on a free port: the process, its URL, its vkey."""
    command = ["witness", "serve", "--key", str(key), "--state", str(state), "--listen", "127.0.0.1:0"]
    process = subprocess.Popen(
        [sys.executable, "-m", "ledger.cli", *command],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    first, second = process.stdout.readline(), process.stdout.readline()
    url = first.split(" serves ")[1].split()[0]
    vkey = second.removeprefix("verifier key ").strip()
    return process, url, vkey


def test_the_witness_remembers_across_restarts_even_after_kill_9(tmp_path: Path, capsys) -> None:
    key_path = tmp_path / "witness.key"
    SigningKey.generate("witness.example/w2").save(key_path)
    state = tmp_path / "state"
    assert main(["witness", "add-log", "--state", str(state), "--origin", ORIGIN,
                 "--key", LOG_KEY.public.verifier_text]) == 0  # fmt: skip
    assert f"witnessing {ORIGIN}" in capsys.readouterr().out
    log = MemoryLog(ORIGIN, LOG_KEY, size=30)
    process, url, vkey = serve_process(key_path, state)
    try:
        assert post(url, log.submission(0, 10).encode()).status == 200
        assert post(url, log.submission(10, 20).encode()).status == 200
    finally:
        process.send_signal(signal.SIGKILL)
        process.communicate()
    process, url, vkey_again = serve_process(key_path, state)
    try:
        assert vkey_again == vkey
        cosigner_from_verifier_text(vkey)
        assert post(url, log.submission(0, 30).encode()).body == b"20\n"
        answer = post(url, log.submission(20, 30).encode())
        assert answer.status == 200
        verified_cosignatures(log.checkpoint(30).checkpoint, answer.body, cosigner_from_verifier_text(vkey))
        process.send_signal(signal.SIGTERM)  # a clean stop
        rest, _ = process.communicate(timeout=10)
        assert process.returncode == 0
        assert "witness stopped" in rest
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    records = [json.loads(line) for line in (state / "cosigned.jsonl").read_text().splitlines()]
    assert [r["size"] for r in records] == [10, 20, 30]
    assert not list(state.glob("checkpoints/.*.tmp"))


def test_add_log_checks_the_key_and_trusts_the_ledger_key_under_the_origins_name(
    tmp_path: Path, capsys
) -> None:
    state = str(tmp_path / "state")
    assert main(["witness", "add-log", "--state", state, "--origin", ORIGIN, "--key", "nonsense"]) == 1
    assert "not a verifier key" in capsys.readouterr().err
    ledger = SigningKey.generate("ledger")
    ledger_named = ledger.public.verifier_text
    assert main(["witness", "add-log", "--state", state, "--origin", ORIGIN, "--key", ledger_named]) == 0
    as_origin = log_key(ledger.public, ORIGIN)
    assert f"take it as {as_origin.verifier_text}" in capsys.readouterr().err
    assert WitnessState.open(Path(state)).keys(ORIGIN) == (as_origin,)
    assert main(["witness", "add-log", "--state", state, "--origin", ORIGIN, "--key", ledger_named]) == 0
    assert "already witnessing" in capsys.readouterr().out
    assert list(WitnessState.open(Path(state)).logs()) == [ORIGIN]
