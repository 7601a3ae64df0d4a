"""c2sp.org/tlog-proof files (``liuhen prove --tlog-proof``) checked offline by ``verify --tlog-proof``:
a proof made from the golden bundle's log, its forgeries, and random damage to every byte of it.

The proof from a real ingested ledger, cosigned by a witness, is tested in ``test_audit``; a Go
checker on golang.org/x/mod alone reads it in ``test_interop``.
"""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import VerificationError
from ledger.verify import main
from ledger.wire.format import leaf_hash
from ledger.wire.merkle import inclusion_proof, root_of_leaves
from ledger.wire.note import Checkpoint, SignedCheckpoint, log_signing_key
from ledger.wire.proof import TITLE, TlogProof
from tests.fixtures import build_fixtures as bf

KEY = Path(__file__).resolve().parent / "fixtures" / "bundles" / "keys" / "ledger.pub"


def golden_proof(index: int) -> TlogProof:
    """Entry ``index`` of the golden bundle's log 0, proven in its newest checkpoint."""
    log = bf.ledger_logs()[0]
    leaves = [leaf_hash(entry) for entry in log.entries]
    row = log.checkpoints[-1]
    signed = SignedCheckpoint.parse(row["note"].encode())

    def node(height: int, start: int) -> bytes:
        return root_of_leaves(leaves[start << height : (start + 1) << height])

    proof = inclusion_proof(index, row["size"], node)
    return TlogProof(index, tuple(proof), signed, extra=log.entries[index])


PROOF = golden_proof(17)


def check(path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["--tlog-proof", str(path), "--key", str(KEY)])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_the_format_is_the_c2sp_one() -> None:
    text = PROOF.encode().decode()
    head, _, note = text.partition("\n\n")
    lines = head.split("\n")
    assert lines[0] == TITLE == "c2sp.org/tlog-proof@v1"
    assert lines[1] == "extra " + base64.b64encode(PROOF.extra or b"").decode()
    assert lines[2] == "index 17"
    assert [base64.b64decode(line) for line in lines[3:]] == list(PROOF.proof)
    assert note.encode() == PROOF.checkpoint.encode()
    assert TlogProof.parse(PROOF.encode()) == PROOF


def test_a_proof_verifies_and_names_its_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "e.tlog-proof"
    path.write_bytes(PROOF.encode())
    status, out, _ = check(path, capsys)
    assert status == 0
    assert out.startswith(f"VALID: entry 17 of {bf.ORIGINS[0]}, in the log at size 40")
    assert "FootageViewed" in out


@pytest.mark.parametrize(
    "forged",
    [
        replace(PROOF, extra=bf.ledger_logs()[0].entries[18]),  # another entry in this one's place
        replace(PROOF, index=18),
        replace(PROOF, index=40),  # past the checkpoint
        replace(PROOF, proof=PROOF.proof[1:]),
        replace(PROOF, proof=(bytes(32), *PROOF.proof[1:])),
    ],
    ids=["other entry", "other index", "index past the checkpoint", "short proof", "wrong sibling"],
)
def test_a_forged_proof_is_invalid(
    forged: TlogProof, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "e.tlog-proof"
    path.write_bytes(forged.encode())
    status, out, _ = check(path, capsys)
    assert status == 1
    assert out.startswith("INVALID: ")


def test_a_proof_without_its_entry_proves_nothing_by_itself() -> None:
    with pytest.raises(VerificationError, match="no entry in the extra data"):
        replace(PROOF, extra=None).verify()
    assert replace(PROOF, extra=None).verify(leaf_hash(PROOF.extra or b"")) == leaf_hash(PROOF.extra or b"")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_any_damage_to_a_proof_file_is_refused_or_invalid_never_a_traceback(
    data: st.DataObject, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    raw = bytearray(PROOF.encode())
    for _ in range(data.draw(st.integers(1, 4))):
        position = data.draw(st.integers(0, len(raw) - 1))
        action = data.draw(st.sampled_from(["flip", "delete", "insert"]))
        if action == "flip":
            raw[position] ^= data.draw(st.integers(1, 255))
        elif action == "delete":
            del raw[position]
        else:
            raw[position:position] = data.draw(st.binary(min_size=1, max_size=8))
    path = tmp_path / "damaged.tlog-proof"
    path.write_bytes(bytes(raw))
    status, out, err = check(path, capsys)
    assert "Traceback" not in err
    if bytes(raw) == PROOF.encode():
        assert status == 0
    elif status == 2:
        assert len(err.splitlines()) == 1
        assert err.startswith("liuhen verify: ")
    else:
        assert status in (0, 1), (status, out, err)
        # a change that still verifies touched nothing the proof vouches for: an unknown signature
        # line, or the proof file's framing
        if status == 0:
            assert TlogProof.parse(bytes(raw)).extra == PROOF.extra


def test_a_proven_entry_that_is_not_an_event_is_said_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Its inclusion is proven; the report says the entry does not decode instead of describing it."""
    checkpoint = Checkpoint.for_log(
        origin=bf.ORIGINS[0],
        tree_size=1,
        root_hash=leaf_hash(b"not an event"),
        chain_head=bytes(32),
        time_us=1,
        logs=bf.ORIGINS,
    )
    signed = SignedCheckpoint.sign(checkpoint, log_signing_key(bf.KEYS.ledger, bf.ORIGINS[0]))
    path = tmp_path / "junk.tlog-proof"
    path.write_bytes(TlogProof(0, (), signed, extra=b"not an event").encode())
    status, out, _ = check(path, capsys)
    assert status == 0
    assert "the entry does not decode as an event" in out
