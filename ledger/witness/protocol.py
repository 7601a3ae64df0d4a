r"""The c2sp.org/tlog-witness add-checkpoint protocol: the request, the answers, the witness's checks.

This module is the specification of liuhen's side of the protocol (witness and client); it is pure
(the standard library, :mod:`ledger.wire` and :mod:`ledger.errors`) and follows
github.com/C2SP/C2SP ``tlog-witness.md`` (v1.0.0) to the byte.

**Request**, ``POST <submission prefix>/add-checkpoint``, each line ending in a newline (U+000A)::

    old <size>                  ASCII decimal, no leading zeros: the size the client believes the
                                witness cosigned last ("0" if it never did)
    <base64 hash>               0 to 63 lines: the RFC 6962 consistency proof from that size to
                                the checkpoint's (none when the old size is 0)
    <empty line>
    <signed checkpoint>         c2sp.org/tlog-checkpoint, with any number of signature lines

**Checks**, in this order, each with the status the witness answers when it fails
(:class:`~ledger.errors.WitnessError` and its subclasses carry it):

1. the body is a request as above, its checkpoint a well-formed signed note: else **400**;
2. the witness knows the origin (it is configured with keys for it): else **404**;
3. a signature by a key it trusts for the origin verifies, and none of theirs fails (signatures
   by other keys are ignored, as signed-note asks): else **403**;
4. the old size is at most the checkpoint's size: else **400**;
5. the old size is the size of the checkpoint the witness cosigned last for the origin (0 if
   none): else **409**, with that size as the body, ``<size>\n``, of type ``text/x.tlog.size``.
   This is how a rolled-back log (smaller than what was cosigned) and a vanished one (a log that
   starts again from 0) are refused;
6. a checkpoint of size 0 has the empty tree's root, SHA-256 of the empty string; with an old
   size of 0 the proof is empty; otherwise the proof proves the checkpoint consistent with the
   one cosigned last, and at an equal size the roots are equal: else **422**. A fork fails here.

7. for liuhen's own logs (a checkpoint the witness cosigned last carries liuhen's ``liuhen-logs``
   and ``liuhen-time`` lines, :mod:`ledger.wire.note`): the new checkpoint carries them too, names
   every log named before, in the same order, first (new logs only come after), and its time is
   not before the last one: else **422**. A ledger whose operator deleted a log (and had the rest
   signed again without it, whatever logs were opened since) is refused here, by every witness of
   every log that remains; and one that backdates a checkpoint. Other logs' checkpoints carry no
   such lines and are not concerned.

All checks passed, the witness records the checkpoint as the newest it cosigned (5 and the record
are one atomic step per origin: :mod:`ledger.witness.server`) and answers **200** with its
cosignature lines: note signature lines of type 0x04, timestamped ``cosignature/v1``
(c2sp.org/tlog-cosignature, :func:`ledger.wire.note.cosign`), over the whole checkpoint text,
extension lines included; extension lines are otherwise opaque to the witness.

**Client**: the answer's lines are checked against the witness keys the client trusts; lines by
other keys are ignored, and one by a trusted key that does not verify is an error
(:func:`verified_cosignatures`). A 409's size is where the client retries from.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass

from ledger.errors import (
    BadSubmission,
    ProofRejected,
    SizeConflict,
    UnknownLog,
    UntrustedCheckpoint,
    VerificationError,
    WitnessError,
    WitnessUnavailable,
)
from ledger.wire.keys import PublicKey
from ledger.wire.merkle import EMPTY_ROOT, verify_consistency
from ledger.wire.note import (
    LOGS_EXTENSION,
    MAX_TREE_SIZE,
    TIME_EXTENSION,
    Checkpoint,
    NoteSignature,
    SignedCheckpoint,
    cosigner_key_id,
    verify_cosignature,
)

ADD_CHECKPOINT = "/add-checkpoint"
"""The path of the add-checkpoint call, after the witness's submission prefix."""
MAX_PROOF_LINES = 63
SIZE_TYPE = "text/x.tlog.size"
"""``Content-Type`` of a 409 answer: the size the witness cosigned last."""
TEXT_TYPE = "text/plain; charset=utf-8"
HASH_SIZE = 32

_OLD = re.compile(r"old (0|[1-9][0-9]*)")
_SIZE = re.compile(rb"(0|[1-9][0-9]*)\n")


def _short(text: str, limit: int = 200) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit] + "..."


@dataclass(frozen=True, kw_only=True)
class Submission:
    """An add-checkpoint request: the old size, the consistency proof from it, the signed checkpoint."""

    old_size: int
    proof: tuple[bytes, ...]
    signed: SignedCheckpoint

    def __post_init__(self) -> None:
        object.__setattr__(self, "proof", tuple(self.proof))
        if not 0 <= self.old_size <= MAX_TREE_SIZE:
            raise BadSubmission(f"old size {self.old_size} is outside 0..2^64-1")
        if len(self.proof) > MAX_PROOF_LINES:
            raise BadSubmission(
                f"a consistency proof of {len(self.proof)} hashes; at most {MAX_PROOF_LINES} are sent"
            )
        if any(len(digest) != HASH_SIZE for digest in self.proof):
            raise BadSubmission(f"a consistency proof is made of {HASH_SIZE}-byte hashes")

    @property
    def checkpoint(self) -> Checkpoint:
        """The submitted checkpoint."""
        return self.signed.checkpoint

    def encode(self) -> bytes:
        """The request body."""
        lines = [f"old {self.old_size}", *(base64.b64encode(digest).decode() for digest in self.proof)]
        return ("".join(line + "\n" for line in lines) + "\n").encode() + self.signed.encode()

    @classmethod
    def parse(cls, body: bytes) -> Submission:
        """Parse a request body; raise :class:`BadSubmission` (400) unless it is well formed."""
        head, blank, note = body.partition(b"\n\n")
        if not blank:
            raise BadSubmission(
                "the request has no empty line between the old size and proof and the checkpoint"
            )
        try:
            first, *lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise BadSubmission("the old size and proof lines are not ASCII") from None
        matched = _OLD.fullmatch(first)
        if matched is None:
            raise BadSubmission(
                f"the first line {_short(first)!r} is not 'old <size>' (ASCII decimal, no leading zeros)"
            )
        if len(lines) > MAX_PROOF_LINES:
            raise BadSubmission(f"{len(lines)} proof lines; at most {MAX_PROOF_LINES} are accepted")
        proof = []
        for number, line in enumerate(lines, 2):
            try:
                digest = binascii.a2b_base64(line, strict_mode=True)
            except ValueError:
                digest = b""
            if len(digest) != HASH_SIZE:
                raise BadSubmission(
                    f"line {number} {_short(line)!r} is not the base64 of a {HASH_SIZE}-byte hash"
                )
            proof.append(digest)
        try:
            signed = SignedCheckpoint.parse(note)
        except VerificationError as exc:
            raise BadSubmission(f"the checkpoint is not a signed checkpoint note: {exc}") from exc
        return cls(old_size=int(matched.group(1)), proof=tuple(proof), signed=signed)


# --- the witness's checks ------------------------------------------------------------------------


def authenticate(signed: SignedCheckpoint, keys: Sequence[PublicKey]) -> SignedCheckpoint:
    """Check 2 and 3: the checkpoint with only the signature lines by ``keys``, each verified.

    ``keys`` are the log keys the witness trusts for the checkpoint's origin (none: it does not
    witness that log, :class:`UnknownLog`). Raise :class:`UntrustedCheckpoint` unless one of them
    signed it and none of their lines fails.
    """
    origin = signed.checkpoint.origin
    if not keys:
        raise UnknownLog(f"this witness does not witness the log {_short(origin)!r}")
    try:
        signed.verify(ledger_keys=keys)
    except VerificationError as exc:
        raise UntrustedCheckpoint(f"checkpoint of {_short(origin)!r} refused: {exc}") from exc
    trusted = {(key.name, key.key_hash) for key in keys}
    lines = tuple(s for s in signed.signatures if (s.name, s.key_hash) in trusted)
    return SignedCheckpoint(checkpoint=signed.checkpoint, signatures=lines)


def check_consistency(submission: Submission, latest: Checkpoint | None) -> None:
    """Checks 4 to 6 against ``latest``, the checkpoint of the same origin the witness cosigned last.

    Return None, or raise :class:`BadSubmission`, :class:`SizeConflict` or :class:`ProofRejected`.
    """
    new, old = submission.checkpoint, submission.old_size
    origin = _short(new.origin)
    if latest is not None and latest.origin != new.origin:
        raise ValueError(f"the latest checkpoint is of {latest.origin!r}, not {new.origin!r}")
    known_size, known_root = (latest.tree_size, latest.root_hash) if latest else (0, EMPTY_ROOT)
    if old > new.tree_size:
        raise BadSubmission(f"{origin}: old size {old} is above the checkpoint's size {new.tree_size}")
    if old != known_size:
        raise SizeConflict(
            f"{origin}: old size {old} is not the size this witness cosigned last, {known_size}",
            known=known_size,
        )
    if new.tree_size == 0 and new.root_hash != EMPTY_ROOT:
        raise ProofRejected(
            f"{origin}: a checkpoint of size 0 must have the empty tree's root", old_size=old, new_size=0
        )
    if old == 0:
        if submission.proof:
            raise ProofRejected(
                f"{origin}: the proof from size 0 must be empty, not {len(submission.proof)} hashes",
                old_size=0,
                new_size=new.tree_size,
            )
        return
    try:
        verify_consistency(old, new.tree_size, known_root, new.root_hash, submission.proof)
    except VerificationError as exc:
        raise ProofRejected(
            f"{origin}: size {new.tree_size} is not proven consistent with size {old} cosigned before: {exc}",
            old_size=old,
            new_size=new.tree_size,
        ) from exc


def _carries(checkpoint: Checkpoint, keyword: str) -> bool:
    return any(line.split(" ", 1)[0] == keyword for line in checkpoint.extensions)


def _logs(checkpoint: Checkpoint) -> tuple[str, ...] | None:
    """The ledger's logs a checkpoint names, or None if it names none (not a liuhen log's, or malformed)."""
    if not _carries(checkpoint, LOGS_EXTENSION):
        return None
    try:
        return checkpoint.logs
    except VerificationError:
        return None


def check_ledger(new: Checkpoint, latest: Checkpoint | None) -> None:
    """Check 7 against ``latest``: a liuhen ledger's set of logs never shrinks, its time never goes back.

    Return None, or raise :class:`ProofRejected`.
    """
    if latest is None:
        return
    origin, sizes = _short(new.origin), {"old_size": latest.tree_size, "new_size": new.tree_size}
    known = _logs(latest)
    if known is not None:
        try:
            names = new.logs
        except VerificationError as exc:
            raise ProofRejected(
                f"{origin}: the checkpoint cosigned before named the ledger's logs, and this one does not: "
                f"{exc}",
                **sizes,
            ) from exc
        missing = [_short(name) for name in known if name not in names]
        if missing:
            raise ProofRejected(
                f"{origin}: the ledger's log(s) {', '.join(missing)} named when this witness cosigned size "
                f"{latest.tree_size} are not named by this checkpoint: a log vanished",
                **sizes,
            )
        if names[: len(known)] != known:
            raise ProofRejected(
                f"{origin}: this checkpoint names the ledger's logs in another order than before: "
                "logs were renamed or reordered",
                **sizes,
            )
    if _carries(latest, TIME_EXTENSION):
        try:
            when = new.time_us
        except VerificationError as exc:
            raise ProofRejected(
                f"{origin}: the checkpoint cosigned before carried the ledger's time, and this one does not: "
                f"{exc}",
                **sizes,
            ) from exc
        if when < latest.time_us:
            raise ProofRejected(
                f"{origin}: this checkpoint's time {when} µs is before {latest.time_us} µs of size "
                f"{latest.tree_size} cosigned before: the ledger's clock went back",
                **sizes,
            )


def cosignature_body(lines: Sequence[NoteSignature]) -> bytes:
    """The body of a 200 answer: the witness's signature lines."""
    return "".join(line.line for line in lines).encode()


def size_body(size: int) -> bytes:
    """The body of a 409 answer: the size cosigned last."""
    return f"{size}\n".encode()


# --- the client's side ---------------------------------------------------------------------------


def refusal(submission: Submission, status: int, body: bytes, content_type: str) -> WitnessError:
    """The error a witness's answer other than 200 stands for."""
    said = _short(body.decode("utf-8", "replace")) or "(no message)"
    checkpoint = submission.checkpoint
    what = f"size {checkpoint.tree_size} of {_short(checkpoint.origin)!r} (old size {submission.old_size})"
    if status == 409:
        matched = _SIZE.fullmatch(body)
        if content_type.split(";", maxsplit=1)[0].strip().lower() != SIZE_TYPE or matched is None:
            return WitnessError(
                f"{what}: the witness answered 409 without its size ({content_type or 'no type'}: {said})",
                status=409,
            )
        known = int(matched.group(1))
        return SizeConflict(f"{what}: the witness has cosigned size {known}", known=known)
    if status == 422:
        return ProofRejected(
            f"{what}: the witness refuses it as inconsistent with what it cosigned before: {said}",
            old_size=submission.old_size,
            new_size=checkpoint.tree_size,
        )
    kinds: dict[int, type[WitnessError]] = {400: BadSubmission, 403: UntrustedCheckpoint, 404: UnknownLog}
    if status in kinds:
        return kinds[status](f"{what}: the witness answered {status}: {said}")
    if status >= 500 or status in (408, 429):
        return WitnessUnavailable(f"{what}: the witness answered {status}: {said}", status=status)
    return WitnessError(f"{what}: the witness answered {status}: {said}", status=status)


def verified_cosignatures(checkpoint: Checkpoint, body: bytes, witness: PublicKey) -> list[NoteSignature]:
    """The lines of a 200 answer that are ``witness``'s cosignatures of ``checkpoint``, each verified.

    Lines by other keys are ignored; one by ``witness`` that does not verify, a body that is not
    signature lines, or no cosignature by ``witness`` at all raise :class:`WitnessError`.
    """
    expected = cosigner_key_id(witness)
    text = body.decode("utf-8", "replace")
    if not text.endswith("\n"):
        raise WitnessError(f"witness {expected} answered 200 with {_short(text)!r}, not signature lines")
    try:
        lines = [NoteSignature.parse(line) for line in text[:-1].split("\n")]
    except VerificationError as exc:
        raise WitnessError(f"witness {expected} answered 200 without signature lines: {exc}") from exc
    mine = [line for line in lines if line.key_id == expected]
    for line in mine:
        try:
            verify_cosignature(checkpoint, line, witness)
        except VerificationError as exc:
            raise WitnessError(
                f"witness {expected} answered with a cosignature that does not verify: {exc}"
            ) from exc
    if not mine:
        found = ", ".join(line.key_id for line in lines)
        raise WitnessError(
            f"witness {expected} answered 200 without a cosignature by its key (lines by {found})"
        )
    return mine
