"""Inclusion proofs in the c2sp.org/tlog-proof format: one file, verifiable offline by generic tools.

``liuhen prove EVENT_ID --tlog-proof`` writes, for one event of the ledger::

    c2sp.org/tlog-proof@v1
    extra <base64 of the entry>          the ledger entry itself: the source's signed Avro event
    index <index of the entry in its log>
    <base64 hash>                         the RFC 6962 inclusion proof, leaf's sibling first
    ...
    <empty line>
    <signed checkpoint>                   the log's checkpoint, verbatim, with every witness's
                                          cosignature line the ledger holds for it

(github.com/C2SP/C2SP ``tlog-proof.md``, v1). The extra data is not authenticated by the format;
here it is by the proof: the verifier hashes it as the leaf (``SHA-256(0x00 || entry)``) and checks
the proof leads from that leaf to the signed root, so the entry, its index and the checkpoint
stand or fall together. A proof without ``extra`` proves the leaf hash the verifier brings.

Imports only the standard library and :mod:`ledger.wire`.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass

from ledger.errors import VerificationError
from ledger.wire.format import leaf_hash
from ledger.wire.merkle import verify_inclusion
from ledger.wire.note import SignedCheckpoint

TITLE = "c2sp.org/tlog-proof@v1"
HASH_SIZE = 32
MAX_PROOF = 63
"""Hashes an inclusion proof in a tree of fewer than 2**63 leaves holds at most."""
_DECIMAL = re.compile(r"0|[1-9][0-9]{0,18}")


def _b64(text: str, what: str) -> bytes:
    try:
        value = binascii.a2b_base64(text, strict_mode=True)
    except binascii.Error as exc:
        raise VerificationError(f"tlog-proof: {what} is not base64: {exc}") from exc
    if base64.b64encode(value).decode() != text:
        raise VerificationError(f"tlog-proof: {what} is not canonical base64")
    return value


@dataclass(frozen=True)
class TlogProof:
    """One entry's inclusion proof against a signed (and perhaps cosigned) checkpoint."""

    index: int
    proof: tuple[bytes, ...]
    checkpoint: SignedCheckpoint
    extra: bytes | None = None
    """Opaque data the format carries; liuhen puts the entry there."""

    def encode(self) -> bytes:
        """The proof file's bytes."""
        lines = [TITLE]
        if self.extra is not None:
            lines.append(f"extra {base64.b64encode(self.extra).decode()}")
        lines.append(f"index {self.index}")
        lines += [base64.b64encode(digest).decode() for digest in self.proof]
        return ("\n".join(lines) + "\n\n").encode() + self.checkpoint.encode()

    @classmethod
    def parse(cls, data: bytes) -> TlogProof:
        """Read a proof file; raise :class:`VerificationError` unless it is well formed."""
        head, separator, note = data.partition(b"\n\n")
        if not separator:
            raise VerificationError("tlog-proof: no empty line before the checkpoint")
        try:
            lines = head.decode("ascii").split("\n")
        except UnicodeDecodeError:
            raise VerificationError("tlog-proof: the lines before the checkpoint are not ASCII") from None
        if lines[0] != TITLE:
            raise VerificationError(f"tlog-proof: the first line must be {TITLE!r}")
        lines = lines[1:]
        extra = None
        if lines and lines[0].startswith("extra "):
            extra = _b64(lines[0].removeprefix("extra "), "the extra data")
            lines = lines[1:]
        if not lines or not lines[0].startswith("index ") or not _DECIMAL.fullmatch(lines[0][6:]):
            raise VerificationError("tlog-proof: no 'index <decimal>' line")
        index = int(lines[0][6:])
        hashes = lines[1:]
        if len(hashes) > MAX_PROOF:
            raise VerificationError(f"tlog-proof: {len(hashes)} proof hashes; at most {MAX_PROOF}")
        proof = tuple(_b64(line, f"proof hash {n}") for n, line in enumerate(hashes))
        if any(len(digest) != HASH_SIZE for digest in proof):
            raise VerificationError(f"tlog-proof: a proof hash is {HASH_SIZE} bytes")
        return cls(index, proof, SignedCheckpoint.parse(note), extra)

    def verify(self, leaf: bytes | None = None) -> bytes:
        """Check the proof leads from the leaf to the checkpoint's root; return the leaf hash.

        ``leaf`` is the hash to prove; without it, the extra data is hashed as the entry. The
        checkpoint's signatures are the caller's to check (:meth:`SignedCheckpoint.verify_log`).
        """
        if leaf is None:
            if self.extra is None:
                raise VerificationError("tlog-proof: no entry in the extra data, and no leaf hash given")
            leaf = leaf_hash(self.extra)
        checkpoint = self.checkpoint.checkpoint
        if self.index >= checkpoint.tree_size:
            raise VerificationError(
                f"tlog-proof: index {self.index} is outside the checkpoint's {checkpoint.tree_size} entries"
            )
        verify_inclusion(leaf, self.index, checkpoint.tree_size, self.proof, checkpoint.root_hash)
        return leaf
