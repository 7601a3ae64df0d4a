"""The ledger's hashing and stored-entry format: the part auditors depend on.

This module is the specification; it imports only the standard library.

* A **log** is the sequence of entries from one Kafka partition. Entry indices start at 0 and are
  contiguous.
* An **entry** is the exact bytes received from Kafka (the Avro-encoded, source-signed event; see
  :mod:`ledger.wire.avro`), never a re-serialisation.
* ``leaf_hash = SHA-256(0x00 || entry)`` — RFC 9162 §2.1.1 leaf hashing.
* ``chain_hash[i] = SHA-256(0x02 || chain_hash[i-1] || leaf_hash[i])`` with
  ``chain_hash[-1]`` = 32 zero bytes. Any edit, deletion, insertion or reordering of entries
  changes every later link. (``0x01`` is RFC 9162's interior-node prefix; ``0x02`` keeps chain
  links from ever colliding with Merkle nodes.)

A **stored entry** is how one entry sits in the event store (the ``state`` of one stored event
whose originator is the log and whose version is the entry's index)::

    offset  size  field
    0       1     format version, 0x01
    1       8     Kafka offset, signed big-endian (-1 when the entry did not come from Kafka)
    9       8     ingest time, microseconds since the Unix epoch (UTC), signed big-endian
    17      32    chain_hash[index]
    49      1     k: how many Merkle subtrees this entry completes above the leaf
    50      32*k  their hashes, height 1 first (see below)
    50+32k  n     entry bytes, exactly as received

Entry ``i`` completes the perfect subtree of height ``h`` that ends at leaf ``i`` for every
``h`` with ``(i + 1) % 2**h == 0``; storing those hashes with the entry (one on average) lets a
proof read any node of the tree with one lookup, by index, at any size. They are an index, not
evidence: verifiers recompute them, and a wrong one only makes a proof fail.

The ingest time, Kafka offset and Merkle nodes are the ledger's metadata: useful, but not covered
by the chain.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime

from ledger.errors import ChainBroken, VerificationError

LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"
CHAIN_PREFIX = b"\x02"
HASH_SIZE = 32
ZERO_HASH = bytes(HASH_SIZE)

STORED_ENTRY_VERSION = 1
_HEADER = struct.Struct(">Bqq32sB")
HEADER_SIZE = _HEADER.size


def to_micros(value: datetime) -> int:
    """A time as microseconds since the epoch, the unit of the ledger's times (``ingested_at_us``)."""
    return int(value.timestamp()) * 1_000_000 + value.microsecond


def leaf_hash(entry: bytes) -> bytes:
    """``SHA-256(0x00 || entry)`` (RFC 9162 §2.1.1)."""
    return hashlib.sha256(LEAF_PREFIX + entry).digest()


def chain_hash(previous: bytes, leaf: bytes) -> bytes:
    """``SHA-256(0x02 || previous_chain_hash || leaf_hash)``."""
    return hashlib.sha256(CHAIN_PREFIX + previous + leaf).digest()


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """One ledger entry as stored: its position, metadata, chain hash and exact bytes."""

    index: int
    kafka_offset: int
    ingested_at_us: int
    chain_hash: bytes
    entry: bytes
    nodes: tuple[bytes, ...] = ()
    """Hashes of the Merkle subtrees of height 1, 2, ... that this entry completes."""

    def __post_init__(self) -> None:
        if len(self.chain_hash) != HASH_SIZE:
            raise ValueError(f"a chain hash is {HASH_SIZE} bytes, not {len(self.chain_hash)}")
        if len(self.nodes) > 64:
            raise ValueError("Merkle nodes are 32-byte hashes, at most 64 of them")
        for node in self.nodes:  # a loop, not any(): ingest makes one entry per event
            if len(node) != HASH_SIZE:
                raise ValueError("Merkle nodes are 32-byte hashes, at most 64 of them")

    def encode(self) -> bytes:
        """The stored-entry layout described in the module docstring."""
        header = _HEADER.pack(
            STORED_ENTRY_VERSION, self.kafka_offset, self.ingested_at_us, self.chain_hash, len(self.nodes)
        )
        return header + b"".join(self.nodes) + self.entry

    @classmethod
    def decode(cls, index: int, state: bytes) -> StoredEntry:
        """Parse a stored entry; raise :class:`VerificationError` if the layout is wrong."""
        if len(state) < HEADER_SIZE:
            raise VerificationError(
                f"stored entry {index} is {len(state)} bytes, shorter than its {HEADER_SIZE}-byte header"
            )
        version, offset, ingested, link, count = _HEADER.unpack_from(state)
        if version != STORED_ENTRY_VERSION:
            raise VerificationError(f"stored entry {index} has unknown format version {version}")
        start = HEADER_SIZE + count * HASH_SIZE
        if len(state) < start or count > 64:
            raise VerificationError(f"stored entry {index} claims {count} Merkle nodes it does not hold")
        nodes = tuple(
            state[HEADER_SIZE + n * HASH_SIZE : HEADER_SIZE + (n + 1) * HASH_SIZE] for n in range(count)
        )
        return cls(index, offset, ingested, link, state[start:], nodes)

    @staticmethod
    def ingested_at_of(state: bytes) -> int:
        """Only the ledger time of a stored entry whose bytes :meth:`entry_of` accepted."""
        return int.from_bytes(state[9:17], "big", signed=True)

    @classmethod
    def entry_of(cls, index: int, state: bytes) -> bytes:
        """Only the entry bytes of a stored entry (all a projection reads), checked as :meth:`decode` checks.

        Skips building the metadata and node hashes: a rebuild reads every entry of the ledger.
        """
        if len(state) >= HEADER_SIZE and state[0] == STORED_ENTRY_VERSION:
            count = state[HEADER_SIZE - 1]
            start = HEADER_SIZE + count * HASH_SIZE
            if count <= 64 and len(state) >= start:
                return state[start:]
        return cls.decode(index, state).entry  # raises, naming what is wrong


@dataclass(slots=True)
class Chain:
    """The running head of one log's hash chain: the next index and the last chain hash."""

    size: int = 0
    head: bytes = ZERO_HASH

    def append(self, entry: bytes) -> bytes:
        """Advance the chain over ``entry`` and return its chain hash."""
        return self.append_leaf(leaf_hash(entry))

    def append_leaf(self, leaf: bytes) -> bytes:
        """Advance the chain over an entry whose leaf hash is ``leaf``; return its chain hash."""
        self.head = chain_hash(self.head, leaf)
        self.size += 1
        return self.head


def verify_chain(entries: Iterable[StoredEntry], *, start: Chain | None = None) -> Chain:
    """Recompute the chain over ``entries`` and check every stored link and index.

    ``start`` is the chain state before the first entry (the empty chain by default). Returns the
    chain state after the last entry. Raises :class:`ChainBroken` at the first index whose stored
    chain hash differs from the recomputed one, and :class:`VerificationError` when an index is
    missing or out of order.
    """
    chain = Chain(start.size, start.head) if start else Chain()
    for stored in entries:
        if stored.index > chain.size:
            raise VerificationError(
                f"indices {chain.size}..{stored.index - 1} are missing before entry {stored.index}"
            )
        if stored.index < chain.size:
            raise VerificationError(
                f"entry index {stored.index} repeated or out of order after index {chain.size - 1}"
            )
        expected = chain.append(stored.entry)
        if stored.chain_hash != expected:
            raise ChainBroken(stored.index, expected, stored.chain_hash)
    return chain


def iter_chain(entries: Iterable[bytes], *, start: Chain | None = None) -> Iterator[tuple[int, bytes]]:
    """Yield ``(index, chain_hash)`` for consecutive entry bytes, continuing from ``start``."""
    chain = Chain(start.size, start.head) if start else Chain()
    for entry in entries:
        index = chain.size
        yield index, chain.append(entry)
