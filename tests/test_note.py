"""Signed notes, checkpoints and witness cosignatures (ledger.wire.note).

Known answers come from other implementations, cited at each constant (file path and the commit
read): the Go reference implementation of signed notes (golang.org/x/mod/sumdb/note), the C2SP
specifications' own examples, sigsum-go's checkpoint and cosignature tests, a real
sum.golang.org checkpoint, and transparency-dev/formats' cosignature tests. Since Ed25519 is
deterministic, signing the same text with the same private key must reproduce their signature
lines byte for byte. The attack tests sign with liuhen's code and then change one thing.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.errors import ConfigurationError, KeyFileError, LedgerError, VerificationError
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.note import (
    MAX_SIGNATURES,
    Checkpoint,
    Note,
    NoteSignature,
    SignedCheckpoint,
    cosign,
    cosignature_message,
    cosignature_timestamp,
    cosigner_from_verifier_text,
    cosigner_key_hash,
    cosigner_verifier_text,
    sign_note,
    verify_cosignature,
    verify_note_signature,
)

SETTINGS = settings(max_examples=40, deadline=None)

# --- golang/mod sumdb/note/note_test.go (commit fe2ec04f7c3c3aa6fad97631aafcff6e49e2d1db) -------
GO_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
GO_SKEY = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"  # of "PRIVATE+KEY+PeterNeumann+c74f20a3+..."
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
GO_TEXT = (
    "If you think cryptography is the answer to your problem,\nthen you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdngotpRZb6KE6Ry"
    "yBwJnAM=\n"
)
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLox33WWd1RvMc+"
    "QQ=\n"
)

# --- C2SP/C2SP signed-note.md §Verifier keys, Example (commit 5ba5ee83) ----------------------------
FOO_VKEY = "example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k"
FOO_NOTE = (
    "This is an example message.\n\n— example.com/foo Uw2QOkn8srV1yJGh2VYRlL1Tnagv1YEq6TfXppzi2ONncAlTgK7"
    "Ztg1ERYNZXsYjOBH3mFXmRKuwHjG1Yu72IneyaQM=\n"
)

# --- sigsum/sigsum-go pkg/checkpoint/checkpoint_test.go, TestGoSumDBCheckpoint (commit 192b5532):
# "Retrieved from https://sum.golang.org/latest, 2024-09-23", key from golang/go modfetch/key.go.
SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n30055305\nmXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n\n"
    "— sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFcAAlWFJJYle3EJlDC"
    "rQ+y3A8=\n"
)

# --- sigsum-go pkg/checkpoint/checkpoint_test.go (commit 192b5532): keys are Ed25519 seeds
# crypto.PrivateKey{17} (byte 17 then 31 zeros); validCheckpointASCII is signed by it (type 0x01);
# TestCheckpointVerifyCosignatureByKey's second line is its cosignature (type 0x04, time 1234) of
# testCheckpoint; the first has another key ID, the third another name, the fourth another size.
SIGSUM_SEED = bytes([17]) + bytes(31)
SIGSUM_LOG_NOTE = (
    "sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69\n10\n"
    "HA5HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n\n"
    "— sigsum.org/v1/tree/e796172b92befd62d9dc67e41c2f5bc9d3100a3023b20b1ca40288dd1c679e69 gJ2ho0n8F8olce"
    "rUF1FFdv235A/5as/coWrpLrtE7ovMeP5whgwouYExowG/lTznxu6OUGjjt5yJQ6bXtTcf718MqAQ=\n"
)
SIGSUM_TEST_CHECKPOINT = b"example.org/log\n10\nHA5HAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
_COSIG = "AAAAAAAAATSftMzceM8zssdZ9jin9SjwIxzx9iADMf63VqirX2hafol9RsqNqbofIz0LVRqHXI2kpEBSki5RTXFtxz1vo9+C"
SIGSUM_COSIG_OTHER_ID = f"— example.org/witness yX8uU{_COSIG}g=="
SIGSUM_COSIG = f"— example.org/witness ys8uU{_COSIG}g=="
SIGSUM_COSIG_OTHER_NAME = f"— example.org/witness-2 ys8uU{_COSIG}g=="
SIGSUM_COSIG_OTHER_SIZE = f"— example.org/witness ys8uU{_COSIG}gXX"

# --- sigsum-go pkg/types/tree_head_test.go validTreeHeadCosignedData (commit 192b5532): the
# message cosigned for tree size 257, root bytes 0..31, time 72623859790382856.
SIGSUM_ORIGIN = "sigsum.org/v1/tree/66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
SIGSUM_COSIGNED_DATA = (
    f"cosignature/v1\ntime 72623859790382856\n{SIGSUM_ORIGIN}\n257\n"
    "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n"
).encode()

# --- C2SP tlog-checkpoint.md and tlog-cosignature.md examples (commit 5ba5ee83) -------------------
C2SP_CHECKPOINT = b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
C2SP_COSIG = (
    "— witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZCB9dlrDJsX3b2oyin1nPZ"
    "qhf5nNo0xUe+mbIUBkBIfZ+qnA=="
)
C2SP_COSIGNED_MESSAGE = b"cosignature/v1\ntime 1679315147\n" + C2SP_CHECKPOINT

# --- transparency-dev/formats note/note_cosigv1_test.go (commit 0b850f1a) -------------------------
REMORA_VKEY = "remora.n621.de+da77ade7+BOvN63jn/bLvkieywe8R6UYAtVtNbZpXh34x7onlmtw2"  # native 0x04 vkey
ED25519_VKEY = "TEST+7997405c+AQcC+FTVKf0jlTdHDY3rbevmnKxxPjigCXlVtGe6RIr6"  # a type 0x01 vkey
TD_COSIG_B64 = (  # TestCoSigV1Timestamp "works": time.Unix(1727964367, 0)
    "ZGhGuQAAAABm/qTPeyKXD+R2rzyQsxPiP8mXum7qq/iF0u4vanlqJyocWODBt97w9uL+8qT7S5gxEHWWOworDcFiEBYJXORmnFBOBA=="
)
TD_NOT_COSIG_B64 = (  # TestCoSigV1Timestamp "wrong type of signature"
    "eQjRQm6eSKzFoiYalgwCPXu2y3ijtg68is9M46JKxuZB+dRfTmeQeDBoXnvxZx2ugnkyV+MUMLXpWs1hPb/W/4xkNQY="
)


def seeded(name: str, seed: bytes | int) -> SigningKey:
    """A deterministic key: ``seed`` bytes, or an int spread over 32 bytes."""
    raw = seed if isinstance(seed, bytes) else seed.to_bytes(32, "big")
    return SigningKey(name, Ed25519PrivateKey.from_private_bytes(raw))


def go_key() -> SigningKey:
    blob = base64.b64decode(GO_SKEY)
    assert blob[0] == 0x01
    return SigningKey("PeterNeumann", Ed25519PrivateKey.from_private_bytes(blob[1:]))


PETER = PublicKey.from_verifier_text(GO_VKEY)
ENOCH = PublicKey.from_verifier_text(ENOCH_VKEY)
LEDGER = seeded("liuhen.example/ledger", 1)
WITNESSES = [seeded(f"witness.example/w{i}", 100 + i) for i in range(3)]
W_PUBLIC = [w.public for w in WITNESSES]
ROOT = hashlib.sha256(b"root").digest()
HEAD = hashlib.sha256(b"head").digest()
ORIGIN = "liuhen.example/dev/liuhen.audit/0"
LOGS = (ORIGIN, "liuhen.example/dev/liuhen.audit/1")
WHEN = 1_777_788_000_123_456
CHECKPOINT = Checkpoint.for_log(
    origin=ORIGIN, tree_size=42, root_hash=ROOT, chain_head=HEAD, time_us=WHEN, logs=LOGS
)


def signed(checkpoint: Checkpoint = CHECKPOINT, *cosigners: SigningKey) -> SignedCheckpoint:
    result = SignedCheckpoint.sign(checkpoint, LEDGER)
    for i, witness in enumerate(cosigners):
        result = result.with_cosignature(witness, timestamp=1_700_000_000 + i)
    return result


# --- signed notes: Go reference vectors ---------------------------------------------------------


def test_go_note_verifies_and_signing_reproduces_it_byte_for_byte() -> None:
    """The PeterNeumann note parses and verifies; signing its text with the Go private key gives
    exactly the same note (Go TestSign)."""
    data = (GO_TEXT + "\n" + PETER_SIG).encode()
    note = Note.parse(data)
    assert note.text == GO_TEXT
    (signature,) = note.signatures
    assert (signature.name, signature.key_hash.hex()) == ("PeterNeumann", "c74f20a3")
    note.verify(keys=[PETER])
    verify_note_signature(GO_TEXT.encode(), signature, PETER)
    ours = sign_note(GO_TEXT, go_key())
    assert ours == signature
    assert ours.line == PETER_SIG
    assert Note(text=GO_TEXT, signatures=(ours,)).encode() == data


def test_go_doubly_signed_note_verifies_with_either_key_and_fails_with_neither() -> None:
    """Go TestOpen: one signature known and one not, both known, and neither known."""
    note = Note.parse((GO_TEXT + "\n" + PETER_SIG + ENOCH_SIG).encode())
    assert [s.key_id for s in note.signatures] == ["PeterNeumann+c74f20a3", "EnochRoot+af0cfe78"]
    note.verify(keys=[PETER])
    note.verify(keys=[ENOCH])
    note.verify(keys=[PETER, ENOCH])
    with pytest.raises(VerificationError, match="no signature by a known key"):
        note.verify(keys=[])
    with pytest.raises(VerificationError, match="no signature by a known key"):
        note.verify(keys=[LEDGER.public])


def _corrupt(line: str) -> str:
    """Go TestOpen inserts "ABCD" at *byte* 60 of a signature line (still valid base64)."""
    raw = line.encode()
    return (raw[:60] + b"ABCD" + raw[60:]).decode()


def test_go_corrupted_signature_from_a_known_key_rejects_the_note() -> None:
    """Go TestOpen "Invalid signature": a known key's line that does not verify is fatal."""
    note = Note.parse((GO_TEXT + "\n" + _corrupt(PETER_SIG)).encode())
    with pytest.raises(VerificationError, match="PeterNeumann"):
        note.verify(keys=[PETER])


def test_go_duplicated_and_corrupted_signatures_from_unknown_keys_are_ignored() -> None:
    """Go TestOpen "Duplicated verified and unverified signatures": Enoch's lines, one of them
    corrupted, do not matter to a verifier that knows only Peter."""
    data = GO_TEXT + "\n" + PETER_SIG + PETER_SIG + ENOCH_SIG + ENOCH_SIG + _corrupt(ENOCH_SIG)
    note = Note.parse(data.encode())
    assert len(note.signatures) == 5
    note.verify(keys=[PETER])
    with pytest.raises(VerificationError, match="EnochRoot"):
        note.verify(keys=[PETER, ENOCH])


@pytest.mark.parametrize(
    ("message", "error"),
    [  # Go TestOpen badMsgs, in order
        (GO_TEXT, "no blank line"),
        (GO_TEXT + "\n", "no signature lines"),
        (GO_TEXT + "\n" + PETER_SIG[:-1], "does not end with a newline"),
        ("\x01" + GO_TEXT + "\n" + PETER_SIG, "control character U\\+0001 on line 1"),
        ("\xff" + GO_TEXT + "\n" + PETER_SIG, "not valid UTF-8"),
        (GO_TEXT + "\n— Bad Name " + PETER_SIG.split(" ")[2], "is not '— <key name> <base64 signature>'"),
        (GO_TEXT + "\n" + PETER_SIG + "Unexpected line.\n", "does not start with an em dash"),
    ],
)
def test_go_malformed_notes_are_rejected(message: str, error: str) -> None:
    """Every malformed message of Go's TestOpen is refused, with a reason."""
    data = b"\xff" + message[1:].encode() if message.startswith("\xff") else message.encode()
    with pytest.raises(VerificationError, match=error):
        Note.parse(data)


def test_go_note_with_more_than_100_signatures_is_rejected() -> None:
    """Go TestOpen "too many signatures": 101 lines are refused; the spec's floor of 16 is met."""
    with pytest.raises(VerificationError, match="101 signatures; at most 100"):
        Note.parse((GO_TEXT + "\n" + PETER_SIG * 101).encode())
    Note.parse((GO_TEXT + "\n" + PETER_SIG * MAX_SIGNATURES).encode()).verify(keys=[PETER])


def test_c2sp_signed_note_example_verifies_under_its_verifier_key() -> None:
    """The example of signed-note.md §Verifier keys verifies and re-encodes identically."""
    note = Note.parse(FOO_NOTE.encode())
    note.verify(keys=[PublicKey.from_verifier_text(FOO_VKEY)])
    assert note.encode() == FOO_NOTE.encode()


def test_note_text_may_contain_blank_lines_and_splits_at_the_last_one() -> None:
    """signed-note: "the text is separated from the signatures by the last empty line"."""
    key = seeded("poet", 7)
    text = "Ognuno sta solo sul cuor della terra\ntrafitto da un raggio di sole:\n\ned è subito sera.\n"
    data = Note(text=text, signatures=(sign_note(text, key),)).encode()
    note = Note.parse(data)
    assert note.text == text
    note.verify(keys=[key.public])


# --- malformed notes ----------------------------------------------------------------------------

GOOD_LINE = PETER_SIG[:-1]
BLOB_B64 = GOOD_LINE.split(" ")[2]


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (GO_TEXT + "\n" + GOOD_LINE, "does not end with a newline"),
        (GO_TEXT + PETER_SIG, "no blank line"),
        (GO_TEXT + "\n— PeterNeumann " + BLOB_B64[:-1] + "\n", "not base64"),
        (GO_TEXT + "\n— PeterNeumann " + BLOB_B64.replace("x", "*") + "\n", "not base64"),
        (GO_TEXT + "\n— PeterNeumann " + BLOB_B64 + "AAAA\n", "not base64"),  # data after padding
        (GO_TEXT + "\n- PeterNeumann " + BLOB_B64 + "\n", "does not start with an em dash"),
        (GO_TEXT + "\n\u2013 PeterNeumann " + BLOB_B64 + "\n", "does not start with an em dash"),
        (GO_TEXT + "\n—PeterNeumann " + BLOB_B64 + "\n", "does not start with an em dash"),
        (GO_TEXT + "\n— PeterNeumann AAAAAA==\n", "4 bytes, but a note signature is a 4-byte key ID"),
        (GO_TEXT + "\n— PeterNeumann \n", "0 bytes"),
        (GO_TEXT + "\n— PeterNeumann  " + BLOB_B64 + "\n", "exactly one space"),
        (GO_TEXT + "\n— Peter+Neumann " + BLOB_B64 + "\n", "key name must be"),
        (GO_TEXT + "\n— Peter\u00a0Neumann " + BLOB_B64 + "\n", "key name must be"),
        (GO_TEXT + "\n\r\n" + PETER_SIG, "control character U\\+000D on line 4"),
        (GO_TEXT.replace(" ", "\t", 1) + "\n" + PETER_SIG, "control character U\\+0009 on line 1"),
    ],
)
def test_malformed_notes_are_rejected_with_a_clear_reason(message: str, error: str) -> None:
    """Missing final newline, no blank line, bad base64, no em dash, a blob too short for a key ID
    and a signature, bad spacing, bad key names and control characters are each named."""
    with pytest.raises(VerificationError, match=error):
        Note.parse(message.encode())


def test_sign_note_refuses_text_without_final_newline_and_keys_with_bad_names() -> None:
    """Only texts ending in a newline are signed, and only by keys with a note key name."""
    with pytest.raises(VerificationError, match="end with a newline"):
        sign_note("no newline", LEDGER)
    with pytest.raises(ConfigurationError, match="not a note key name"):
        sign_note("text\n", seeded("bad name", 1))
    with pytest.raises(VerificationError, match="at least one signature"):
        Note(text="text\n", signatures=())


# --- checkpoints --------------------------------------------------------------------------------


def test_c2sp_checkpoint_example_parses_and_re_encodes_identically() -> None:
    """tlog-checkpoint.md's example body: origin, decimal size, base64 root, no extensions."""
    checkpoint = Checkpoint.parse(C2SP_CHECKPOINT)
    assert checkpoint.origin == "example.com/behind-the-sofa"
    assert checkpoint.tree_size == 20852163
    assert checkpoint.root_hash == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == C2SP_CHECKPOINT


def test_real_sum_golang_org_checkpoint_parses_verifies_and_re_encodes() -> None:
    """A checkpoint the Go checksum database published (origin with spaces) verifies under its
    published key and re-encodes byte for byte."""
    signed_checkpoint = SignedCheckpoint.parse(SUMDB_CHECKPOINT.encode())
    assert signed_checkpoint.checkpoint.origin == "go.sum database tree"
    assert signed_checkpoint.checkpoint.tree_size == 30055305
    assert signed_checkpoint.encode() == SUMDB_CHECKPOINT.encode()
    signed_checkpoint.verify(ledger_keys=[PublicKey.from_verifier_text(SUMDB_VKEY)])


def test_sigsum_log_checkpoint_is_reproduced_byte_for_byte() -> None:
    """Signing sigsum-go's checkpoint with its key (seed {17}, named after the origin) gives
    sigsum-go's validCheckpointASCII exactly, and it verifies."""
    parsed = SignedCheckpoint.parse(SIGSUM_LOG_NOTE.encode())
    origin = parsed.checkpoint.origin
    key = seeded(origin, SIGSUM_SEED)
    assert origin == "sigsum.org/v1/tree/" + hashlib.sha256(key.public.raw).hexdigest()
    ours = SignedCheckpoint.sign(
        Checkpoint(origin=origin, tree_size=10, root_hash=bytes([28, 14, 71]) + bytes(29)), key
    )
    assert ours == parsed
    assert ours.encode() == SIGSUM_LOG_NOTE.encode()
    parsed.verify(ledger_keys=[key.public])


def test_liuhen_checkpoint_carries_chain_head_time_and_logs_in_three_extension_lines() -> None:
    """for_log writes origin, size, root and the chain, time and logs lines; parse reads them back."""
    body = CHECKPOINT.body()
    assert body == (
        b"liuhen.example/dev/liuhen.audit/0\n42\n"
        + base64.b64encode(ROOT)
        + b"\nliuhen-chain "
        + base64.b64encode(HEAD)
        + b"\nliuhen-time 1777788000123456\nliuhen-logs "
        + " ".join(LOGS).encode()
        + b"\n"
    )
    parsed = Checkpoint.parse(body)
    assert parsed == CHECKPOINT
    assert parsed.chain_head == HEAD
    assert parsed.time_us == WHEN
    assert parsed.logs == tuple(LOGS)
    with pytest.raises(VerificationError, match="must include it"):
        Checkpoint.for_log(origin="other", tree_size=1, root_hash=ROOT, chain_head=HEAD, time_us=0, logs=LOGS)
    for logs in (["a", "a b"], ["a", "a"], ["a", ""]):
        with pytest.raises(VerificationError, match="liuhen-logs"):
            Checkpoint.for_log(origin="a", tree_size=1, root_hash=ROOT, chain_head=HEAD, time_us=0, logs=logs)
    empty = Checkpoint.for_log(
        origin="o",
        tree_size=0,
        root_hash=hashlib.sha256(b"").digest(),
        chain_head=bytes(32),
        time_us=0,
        logs=["o"],
    )
    assert Checkpoint.parse(empty.body()).chain_head == bytes(32)
    assert empty.body().split(b"\n")[1] == b"0"


@pytest.mark.parametrize(
    ("extensions", "error"),
    [
        ((), "0 'liuhen-chain' lines"),
        ((f"liuhen-chain {base64.b64encode(HEAD).decode()}",) * 2, "2 'liuhen-chain' lines"),
        (("liuhen-chain",), "not the base64 of a 32-byte hash"),
        (("liuhen-chain AAAA",), "not the base64 of a 32-byte hash"),
        (("liuhen-chain " + "*" * 44,), "not base64"),
    ],
)
def test_chain_head_must_be_one_well_formed_liuhen_chain_line(
    extensions: tuple[str, ...], error: str
) -> None:
    """A checkpoint without, with two, or with a malformed chain head line has no chain head."""
    checkpoint = replace(CHECKPOINT, extensions=extensions)
    with pytest.raises(VerificationError, match=error):
        _ = checkpoint.chain_head


ROOT_B64 = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("origin\n42\n", "2 lines"),
        ("origin\n42\n" + ROOT_B64, "does not end with a newline"),
        ("origin\n\n" + ROOT_B64 + "\n", "line 2 is empty"),
        ("origin\n42\n" + ROOT_B64 + "\n\nextension\n", "line 4 is empty"),
        ("\n42\n" + ROOT_B64 + "\n", "line 1 is empty"),
        ("origin\n042\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("origin\n+42\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("origin\n 42\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("origin\n4_2\n" + ROOT_B64 + "\n", "without leading zeros"),
        ("origin\n\u0664\u0662\n" + ROOT_B64 + "\n", "without leading zeros"),  # Arabic-Indic digits
        ("origin\n-1\n" + ROOT_B64 + "\n", "without leading zeros"),
        (f"origin\n{2**64}\n" + ROOT_B64 + "\n", "outside 0..2\\^64-1"),
        ("origin\n42\n" + ROOT_B64[:-4] + "\n", "32-byte hash"),
        ("origin\n42\n" + base64.b64encode(ROOT + b"x").decode() + "\n", "32-byte hash"),
        ("origin\n42\n" + ROOT_B64[:-2] + "1=\n", "32-byte hash"),  # non-canonical trailing bits
        ("origin\n42\n" + ROOT_B64.replace("=", "") + "\n", "not base64"),
        ("origin\n42\n" + hashlib.sha256(b"root").hexdigest() + "\n", "32-byte hash"),
        ("ori\x7fgin\x1b\n42\n" + ROOT_B64 + "\n", "control character U\\+001B"),
    ],
)
def test_malformed_checkpoint_text_is_rejected(text: str, error: str) -> None:
    """Fewer than three lines, empty lines, sizes that are not canonical decimals, roots that are
    not the canonical base64 of 32 bytes, and control characters are refused."""
    with pytest.raises(VerificationError, match=error):
        Checkpoint.parse(text.encode())


def test_checkpoint_fields_are_checked_when_built() -> None:
    """A checkpoint that could not be encoded and parsed back cannot be built."""
    for bad in (
        {"origin": ""},
        {"origin": "two\nlines"},
        {"tree_size": -1},
        {"tree_size": 2**64},
        {"root_hash": ROOT[:31]},
        {"extensions": ("",)},
        {"extensions": ("a\nb",)},
        {"extensions": ("\x00",)},
        {"origin": "\ud800"},
    ):
        with pytest.raises(VerificationError):
            replace(CHECKPOINT, **bad)
    with pytest.raises(VerificationError, match="chain head is 32 bytes"):
        Checkpoint.for_log(
            origin="o", tree_size=1, root_hash=ROOT, chain_head=b"short", time_us=0, logs=["o"]
        )


ORIGINS = st.text(
    alphabet=st.characters(exclude_categories=["Cs"], min_codepoint=0x20), min_size=1, max_size=40
)
EXTENSIONS = st.lists(ORIGINS, max_size=3).map(tuple)


@SETTINGS
@given(
    origin=ORIGINS,
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=EXTENSIONS,
)
def test_any_checkpoint_round_trips_and_its_signature_verifies(
    origin: str, size: int, root: bytes, extensions: tuple[str, ...]
) -> None:
    """For any origin, size, root and extension lines: parse(body()) is the same checkpoint,
    parse(encode()) the same signed checkpoint, and the ledger and a witness both verify."""
    checkpoint = Checkpoint(origin=origin, tree_size=size, root_hash=root, extensions=extensions)
    assert Checkpoint.parse(checkpoint.body()) == checkpoint
    signed_checkpoint = signed(checkpoint, WITNESSES[0])
    data = signed_checkpoint.encode()
    parsed = SignedCheckpoint.parse(data)
    assert parsed == signed_checkpoint
    assert parsed.encode() == data
    parsed.verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=1)


@SETTINGS
@given(
    origin=ORIGINS.filter(lambda origin: " " not in origin),  # a liuhen origin names a Kafka topic
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    head=st.binary(min_size=32, max_size=32),
)
def test_any_liuhen_checkpoint_round_trips_its_chain_head(
    origin: str, size: int, root: bytes, head: bytes
) -> None:
    """for_log then parse gives back the same chain head, for any values."""
    checkpoint = Checkpoint.for_log(
        origin=origin, tree_size=size, root_hash=root, chain_head=head, time_us=size % 2**63, logs=[origin]
    )
    parsed = Checkpoint.parse(checkpoint.body())
    assert (parsed.chain_head, parsed.time_us, parsed.logs) == (head, size % 2**63, (origin,))


# --- attacks on signed checkpoints --------------------------------------------------------------


def _replace_line(data: bytes, number: int, new: bytes) -> bytes:
    lines = data.split(b"\n")
    lines[number] = new
    return b"\n".join(lines)


def test_checkpoint_signed_by_the_ledger_verifies() -> None:
    """The untouched signed checkpoint verifies under the ledger key."""
    SignedCheckpoint.parse(signed().encode()).verify(ledger_keys=[LEDGER.public])


@pytest.mark.parametrize(
    ("attack", "error"),
    [
        ("forged signature", "does not verify"),
        ("altered size", "does not verify"),
        ("altered root", "does not verify"),
        ("altered chain head", "does not verify"),
        ("added extension line", "does not verify"),
        ("wrong key name", "no signature by a ledger key"),
        ("wrong key id", "no signature by a ledger key"),
        ("other key under the ledger's name and id", "does not verify"),
        ("signature of 63 bytes", "63 bytes, not an Ed25519 signature"),
    ],
)
def test_tampered_checkpoint_is_rejected(attack: str, error: str) -> None:
    """Each single change to a signed checkpoint makes verification raise."""
    data = signed().encode()
    text, _, line = data.decode().rpartition("\n\n")
    sig = NoteSignature.parse(line)
    altered_root = bytes([ROOT[0] ^ 1]) + ROOT[1:]
    altered_head = bytes([HEAD[0] ^ 1]) + HEAD[1:]
    forged = {
        "forged signature": replace(sig, signature=bytes([sig.signature[0] ^ 1]) + sig.signature[1:]),
        "wrong key name": replace(sig, name="liuhen.example/ledger2"),
        "wrong key id": replace(sig, key_hash=bytes([sig.key_hash[0] ^ 1]) + sig.key_hash[1:]),
        "other key under the ledger's name and id": replace(
            sig, signature=seeded(LEDGER.name, 2).sign(CHECKPOINT.body())
        ),
        "signature of 63 bytes": replace(sig, signature=sig.signature[:63]),
    }
    if attack in forged:
        data = (text + "\n\n" + forged[attack].line).encode()
    elif attack == "altered size":
        data = _replace_line(data, 1, b"43")
    elif attack == "altered root":
        data = _replace_line(data, 2, base64.b64encode(altered_root))
    elif attack == "altered chain head":
        data = _replace_line(data, 3, b"liuhen-chain " + base64.b64encode(altered_head))
    else:
        data = data.replace(b"\n\n", b"\nextra\n\n", 1)
    with pytest.raises(VerificationError, match=error):
        SignedCheckpoint.parse(data).verify(ledger_keys=[LEDGER.public])


COSIGNED = signed(CHECKPOINT, WITNESSES[0]).encode()


@SETTINGS
@given(position=st.integers(0, len(COSIGNED) - 1), value=st.integers(0, 255))
def test_any_single_byte_change_of_a_cosigned_checkpoint_is_rejected(position: int, value: int) -> None:
    """Changing any one byte of a ledger-signed, witness-cosigned checkpoint makes parsing or
    verification (ledger key and a quorum of one witness) raise."""
    if COSIGNED[position] == value:
        return
    data = COSIGNED[:position] + bytes([value]) + COSIGNED[position + 1 :]
    with pytest.raises(VerificationError):
        SignedCheckpoint.parse(data).verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=1)


def test_unknown_signatures_are_ignored_and_kept() -> None:
    """Lines by keys the verifier does not know (another log key, Go's key, a witness nobody
    configured, a line sharing only the name or only the key ID) are ignored and re-encoded; once
    the verifier knows one of those keys, its line must verify."""
    base = signed(CHECKPOINT, WITNESSES[0])
    sig = base.signatures[0]
    extra = [
        sign_note(CHECKPOINT.body().decode(), seeded("liuhen.example/ledger-next", 9)),
        NoteSignature.parse(PETER_SIG),
        replace(sig, name="liuhen.example/other", signature=b"junk"),
        replace(sig, key_hash=b"\x00\x00\x00\x00", signature=b"junk"),
    ]
    result = base
    for line in extra:
        result = result.with_signature(line)
    parsed = SignedCheckpoint.parse(result.encode())
    assert len(parsed.signatures) == 6
    parsed.verify(ledger_keys=[LEDGER.public])
    with pytest.raises(VerificationError, match="PeterNeumann"):  # known now, and not over this text
        parsed.verify(ledger_keys=[PETER, LEDGER.public])


def test_rotation_either_ledger_key_suffices_and_a_stale_key_alone_fails() -> None:
    """During rotation, a verifier knowing old and new keys accepts a checkpoint signed by either;
    one knowing only a key that did not sign refuses it."""
    new = seeded("liuhen.example/ledger", 2)
    by_new = SignedCheckpoint.sign(CHECKPOINT, new)
    by_new.verify(ledger_keys=[LEDGER.public, new.public])
    with pytest.raises(VerificationError, match="no signature by a ledger key"):
        by_new.verify(ledger_keys=[LEDGER.public])


def test_with_signature_accepts_lines_and_replaces_a_key_s_earlier_signature() -> None:
    """A signature line (as a witness returns it) is appended; re-cosigning replaces the same
    witness key's earlier line instead of adding one."""
    base = signed()
    line = cosign(CHECKPOINT, WITNESSES[0], timestamp=5).line
    with_line = base.with_signature(line)
    assert with_line.signatures[-1] == NoteSignature.parse(line)
    again = with_line.with_cosignature(WITNESSES[0], timestamp=6)
    assert len(again.signatures) == 2
    assert cosignature_timestamp(again.signatures[-1]) == 6
    assert SignedCheckpoint.parse(again.encode()) == again
    with pytest.raises(VerificationError, match="at least one signature"):
        SignedCheckpoint(checkpoint=CHECKPOINT, signatures=())


# --- witness cosignatures -----------------------------------------------------------------------


def test_sigsum_cosignature_verifies_and_is_reproduced_byte_for_byte() -> None:
    """sigsum-go's cosignature of its test checkpoint (witness seed {17}, time 1234) verifies, and
    cosigning with that key at that time gives the same line; its key ID uses type 0x04."""
    checkpoint = Checkpoint.parse(SIGSUM_TEST_CHECKPOINT)
    witness = seeded("example.org/witness", SIGSUM_SEED)
    signature = NoteSignature.parse(SIGSUM_COSIG)
    expected_id = hashlib.sha256(b"example.org/witness\n\x04" + witness.public.raw).digest()[:4]
    assert signature.key_hash == expected_id == cosigner_key_hash(witness.name, witness.public.raw)
    assert cosignature_timestamp(signature) == 1234
    verify_cosignature(checkpoint, signature, witness.public)
    assert cosign(checkpoint, witness, timestamp=1234).line == SIGSUM_COSIG + "\n"


def test_sigsum_cosignature_lines_with_other_id_or_name_are_ignored_but_a_bad_size_is_fatal() -> None:
    """Of sigsum-go's four lines, the one by the witness counts; other ID and other name are
    unknown keys and ignored. The fourth has the witness's name and ID but 74 bytes: sigsum-go
    skips it, but signed-note says a known key's signature that fails rejects the note."""
    checkpoint = Checkpoint.parse(SIGSUM_TEST_CHECKPOINT)
    witness = seeded("example.org/witness", SIGSUM_SEED).public
    base = SignedCheckpoint.sign(checkpoint, LEDGER)
    for line in (SIGSUM_COSIG_OTHER_ID, SIGSUM_COSIG, SIGSUM_COSIG_OTHER_NAME):
        base = replace(base, signatures=(*base.signatures, NoteSignature.parse(line)))
    base.verify(ledger_keys=[LEDGER.public], witnesses=[witness], quorum=1)
    bad = replace(base, signatures=(*base.signatures, NoteSignature.parse(SIGSUM_COSIG_OTHER_SIZE)))
    with pytest.raises(VerificationError, match="74 bytes, not a cosignature"):
        bad.verify(ledger_keys=[LEDGER.public], witnesses=[witness], quorum=1)


def test_cosigned_message_matches_sigsum_and_the_c2sp_example() -> None:
    """The signed message is 'cosignature/v1', 'time <decimal>', then the checkpoint text."""
    sigsum = Checkpoint(origin=SIGSUM_ORIGIN, tree_size=257, root_hash=bytes(range(32)))
    assert cosignature_message(sigsum, 72623859790382856) == SIGSUM_COSIGNED_DATA
    c2sp = NoteSignature.parse(C2SP_COSIG)
    assert cosignature_timestamp(c2sp) == 1679315147
    assert cosignature_message(Checkpoint.parse(C2SP_CHECKPOINT), 1679315147) == C2SP_COSIGNED_MESSAGE


def test_transparency_dev_cosignature_timestamp_and_non_cosignature() -> None:
    """transparency-dev's CoSigV1Timestamp vectors: 1727964367; a 68-byte blob is no cosignature."""
    assert cosignature_timestamp(NoteSignature.parse(f"— w {TD_COSIG_B64}")) == 1727964367
    with pytest.raises(VerificationError, match="64 bytes, not a cosignature"):
        cosignature_timestamp(NoteSignature.parse(f"— w {TD_NOT_COSIG_B64}"))


def test_cosignature_covers_timestamp_extension_lines_and_the_tree_head() -> None:
    """Changing the timestamp, the chain head line, the size or the root breaks a cosignature."""
    witness = WITNESSES[0]
    signature = cosign(CHECKPOINT, witness, timestamp=1_700_000_000)
    verify_cosignature(CHECKPOINT, signature, witness.public)
    later = replace(signature, signature=(1_700_000_001).to_bytes(8, "big") + signature.signature[8:])
    other_head = Checkpoint.for_log(
        origin=CHECKPOINT.origin, tree_size=42, root_hash=ROOT, chain_head=ROOT, time_us=WHEN, logs=LOGS
    )
    for checkpoint, sig in (
        (CHECKPOINT, later),
        (other_head, signature),
        (replace(CHECKPOINT, tree_size=43), signature),
        (replace(CHECKPOINT, root_hash=HEAD), signature),
    ):
        with pytest.raises(VerificationError, match="does not verify"):
            verify_cosignature(checkpoint, sig, witness.public)


def test_cosignature_timestamps_beyond_2_63_are_refused() -> None:
    """tlog-cosignature: the timestamp MUST NOT exceed 2^63 - 1, when cosigning or verifying."""
    witness = WITNESSES[0]
    with pytest.raises(VerificationError, match=r"outside 0..2\^63-1"):
        cosign(CHECKPOINT, witness, timestamp=2**63)
    with pytest.raises(VerificationError, match=r"outside 0..2\^63-1"):
        cosign(CHECKPOINT, witness, timestamp=-1)
    assert cosign(CHECKPOINT, witness, timestamp=2**63 - 1).line.endswith("\n")
    good = cosign(CHECKPOINT, witness, timestamp=0)
    too_late = replace(good, signature=(2**63).to_bytes(8, "big") + good.signature[8:])
    with pytest.raises(VerificationError, match=r"outside 0..2\^63-1"):
        verify_cosignature(CHECKPOINT, too_late, witness.public)


def test_note_signature_and_cosignature_by_one_key_are_not_interchangeable() -> None:
    """Type 0x01 and 0x04 key IDs differ: a witness's plain note signature is no cosignature, and
    a ledger key's cosignature is no ledger signature (both are unknown lines, ignored)."""
    witness = WITNESSES[0]
    plain = sign_note(CHECKPOINT.body().decode(), witness)
    assert plain.key_hash != cosigner_key_hash(witness.name, witness.public.raw)
    result = signed().with_signature(plain)
    with pytest.raises(VerificationError, match="cosigned by 0 of the 1 witnesses"):
        result.verify(ledger_keys=[LEDGER.public], witnesses=[witness.public], quorum=1)
    only_cosigned = SignedCheckpoint(
        checkpoint=CHECKPOINT, signatures=(cosign(CHECKPOINT, LEDGER, timestamp=1),)
    )
    with pytest.raises(VerificationError, match="no signature by a ledger key"):
        only_cosigned.verify(ledger_keys=[LEDGER.public])


# --- quorum ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("quorum", "ok"), [(0, True), (1, True), (2, True), (3, False)])
def test_quorum_counts_distinct_witnesses_that_cosigned(quorum: int, ok: bool) -> None:
    """Two of three witnesses cosigned: quorums up to 2 pass, 3 fails."""
    result = SignedCheckpoint.parse(signed(CHECKPOINT, WITNESSES[0], WITNESSES[2]).encode())
    if ok:
        result.verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=quorum)
    else:
        with pytest.raises(VerificationError, match="cosigned by 2 of the 3 witnesses required"):
            result.verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=quorum)


def test_the_same_witness_twice_counts_once() -> None:
    """Two cosignatures by one witness (two timestamps), or by one witness name under two keys,
    count as one witness."""
    witness = WITNESSES[1]
    rotated = seeded(witness.name, 555)
    base = signed()
    twice = replace(
        base,
        signatures=(
            *base.signatures,
            cosign(CHECKPOINT, witness, timestamp=10),
            cosign(CHECKPOINT, witness, timestamp=11),
            cosign(CHECKPOINT, rotated, timestamp=12),
        ),
    )
    keys = [*W_PUBLIC, rotated.public]
    twice.verify(ledger_keys=[LEDGER.public], witnesses=keys, quorum=1)
    with pytest.raises(VerificationError, match="cosigned by 1 of the 2 witnesses required"):
        twice.verify(ledger_keys=[LEDGER.public], witnesses=keys, quorum=2)


def test_a_bad_cosignature_from_a_known_witness_rejects_even_with_quorum_met() -> None:
    """signed-note: a known key's signature that fails rejects the whole note."""
    result = signed(CHECKPOINT, WITNESSES[0], WITNESSES[1])
    bad = cosign(CHECKPOINT, WITNESSES[2], timestamp=1)
    bad = replace(bad, signature=bad.signature[:-1] + bytes([bad.signature[-1] ^ 1]))
    with pytest.raises(VerificationError, match=r"cosignature by witness\.example/w2\+[0-9a-f]{8}"):
        result.with_signature(bad).verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=2)
    # The same line by a witness nobody configured is ignored.
    result.with_signature(bad).verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC[:2], quorum=2)


def test_impossible_quorum_missing_ledger_keys_and_ambiguous_keys_are_configuration_errors() -> None:
    """A quorum larger than the distinct witnesses (or negative), no ledger key, or two different
    keys under one name and key ID are refused before any signature is looked at."""
    result = signed(CHECKPOINT, *WITNESSES)
    with pytest.raises(ConfigurationError, match="quorum 4 is impossible with 3"):
        result.verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=4)
    with pytest.raises(ConfigurationError, match="quorum 2 is impossible with 1"):
        result.verify(ledger_keys=[LEDGER.public], witnesses=[W_PUBLIC[0]] * 2, quorum=2)
    with pytest.raises(ConfigurationError, match="quorum -1"):
        result.verify(ledger_keys=[LEDGER.public], witnesses=W_PUBLIC, quorum=-1)
    with pytest.raises(ConfigurationError, match="no ledger key"):
        result.verify(ledger_keys=[], witnesses=W_PUBLIC, quorum=1)
    twin = PublicKey(LEDGER.name, LEDGER.public.raw)  # the same key listed twice is not ambiguous
    result.verify(ledger_keys=[LEDGER.public, twin], witnesses=[*W_PUBLIC, *W_PUBLIC], quorum=3)


def test_two_different_keys_under_one_name_and_key_id_are_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    """signed-note's key IDs are short; if two configured keys collide on name and ID, verifying
    would be ambiguous and is refused (as Go's VerifierList). The collision is injected."""
    monkeypatch.setattr("ledger.wire.note.cosigner_key_hash", lambda name, public_key: b"\x00" * 4)
    first, second = seeded("witness.example/x", 1).public, seeded("witness.example/x", 2).public
    with pytest.raises(
        ConfigurationError, match=r"two different keys are known as witness\.example/x\+00000000"
    ):
        signed().verify(ledger_keys=[LEDGER.public], witnesses=[first, second], quorum=1)


# --- cosigner verifier keys (type 0x04) ---------------------------------------------------------


def test_transparency_dev_cosigner_verifier_key_parses_and_prints_back() -> None:
    """remora.n621.de's type 0x04 vkey: its key ID is SHA-256(name || 0x0A || 0x04 || key)[:4]."""
    key = cosigner_from_verifier_text(REMORA_VKEY + "\n")
    assert key.name == "remora.n621.de"
    assert cosigner_key_hash(key.name, key.raw).hex() == "da77ade7"
    assert hashlib.sha256(b"remora.n621.de\n\x04" + key.raw).digest()[:4].hex() == "da77ade7"
    assert cosigner_verifier_text(key) == REMORA_VKEY


def test_generated_cosigner_verifier_key_round_trips_and_verifies_its_cosignatures() -> None:
    """A witness publishes its 0x04 vkey; a verifier reading it checks the witness's cosignatures."""
    witness = WITNESSES[0]
    text = cosigner_verifier_text(witness.public)
    assert base64.b64decode(text.split("+", 2)[2])[0] == 0x04
    key = cosigner_from_verifier_text(text)
    assert key == witness.public
    signed(CHECKPOINT, witness).verify(ledger_keys=[LEDGER.public], witnesses=[key], quorum=1)


def test_mangled_cosigner_verifier_keys_are_refused() -> None:
    """As Go's TestNewVerifier: every proper substring and every one-byte change of a vkey fails;
    so do a type 0x01 key and a 0x04 key of the wrong length."""
    raw = REMORA_VKEY.encode()
    bad: list[str] = [raw[i:j].decode() for i in range(len(raw) + 1) for j in range(i + 1, len(raw) + 1)]
    bad.remove(REMORA_VKEY)
    bad += [(raw[:i] + bytes([raw[i] + 1]) + raw[i + 1 :]).decode() for i in range(len(raw))]
    for text in bad:
        with pytest.raises(KeyFileError):
            cosigner_from_verifier_text(text)
    with pytest.raises(KeyFileError, match="type 0x01"):
        cosigner_from_verifier_text(ED25519_VKEY)
    short = base64.b64encode(b"\x04" + bytes(31)).decode()
    with pytest.raises(KeyFileError, match="32 bytes"):
        cosigner_from_verifier_text(f"w+{cosigner_key_hash('w', bytes(31)).hex()}+{short}")


def test_every_error_is_a_ledger_error() -> None:
    """The CLI's single error boundary catches everything this module raises on purpose."""
    assert issubclass(VerificationError, LedgerError)
    assert issubclass(KeyFileError, LedgerError)
    assert issubclass(ConfigurationError, LedgerError)
