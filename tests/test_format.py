"""The ledger's wire format (ledger.wire.format): hashes, stored entries and chain verification.

Known answers are recomputed here with :mod:`hashlib` straight from the spec in DESIGN.md
("Ledger format"), never through the module under test. The tampering properties build a
correctly chained log of random entries, apply exactly one attack, and assert that
:func:`verify_chain` raises *and* names exactly the first position the attack affects.
"""

from __future__ import annotations

import hashlib
import re
import struct
from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger.errors import ChainBroken, LedgerError, VerificationError
from ledger.wire.format import (
    HEADER_SIZE,
    ZERO_HASH,
    Chain,
    StoredEntry,
    chain_hash,
    iter_chain,
    leaf_hash,
    verify_chain,
)

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

INT64 = st.integers(-(2**63), 2**63 - 1)
HASHES = st.binary(min_size=32, max_size=32)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def spec_chain_hashes(entries: list[bytes], previous: bytes = bytes(32)) -> list[bytes]:
    """chain_hash[i] = SHA-256(0x02 || chain_hash[i-1] || SHA-256(0x00 || entry_i)), from the spec."""
    hashes = []
    for entry in entries:
        previous = sha256(b"\x02" + previous + sha256(b"\x00" + entry))
        hashes.append(previous)
    return hashes


def build_log(entries: list[bytes], metadata: list[tuple[int, int]] | None = None) -> list[StoredEntry]:
    """A correctly chained log: index i, spec chain hash i, arbitrary metadata."""
    metadata = metadata or [(i, 1_700_000_000_000_000 + i) for i in range(len(entries))]
    return [
        StoredEntry(index=i, kafka_offset=offset, ingested_at_us=at, chain_hash=link, entry=entry)
        for i, (entry, link, (offset, at)) in enumerate(
            zip(entries, spec_chain_hashes(entries), metadata, strict=True)
        )
    ]


def flip(data: bytes, position: int, delta: int) -> bytes:
    """``data`` with the byte at ``position`` changed (``delta`` in 1..255, so never a no-op)."""
    assert 1 <= delta <= 255
    return data[:position] + bytes([data[position] ^ delta]) + data[position + 1 :]


_MISSING = re.compile(r"indices (\d+)\.\.(\d+) are missing before entry (\d+)")
_REPEATED = re.compile(r"entry index (\d+) repeated or out of order after index (-?\d+)")


def failure(log: list[StoredEntry], *, start: Chain | None = None) -> tuple[type, int]:
    """Run verify_chain, which must raise; return the error class and the index it reports.

    ChainBroken carries the index as an attribute; a plain VerificationError names it in its
    message (the first missing index, or the repeated index).
    """
    with pytest.raises(VerificationError) as caught:
        verify_chain(log, start=start)
    exc = caught.value
    if isinstance(exc, ChainBroken):
        return ChainBroken, exc.index
    message = str(exc)
    if match := _MISSING.search(message):
        return VerificationError, int(match.group(1))
    if match := _REPEATED.search(message):
        return VerificationError, int(match.group(1))
    raise AssertionError(f"VerificationError names no index: {message!r}")


# --- known answers ------------------------------------------------------------------------------


def test_leaf_hash_is_sha256_of_0x00_prefix_and_entry() -> None:
    """leaf_hash(e) = SHA-256(0x00 || e), RFC 9162 §2.1.1; the empty entry included."""
    assert leaf_hash(b"") == bytes.fromhex("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"") == sha256(b"\x00")
    assert leaf_hash(b"liuhen") == sha256(b"\x00liuhen")
    assert leaf_hash(b"liuhen") != sha256(b"liuhen")


def test_chain_hash_is_sha256_of_0x02_prefix_previous_and_leaf() -> None:
    """chain_hash(prev, leaf) = SHA-256(0x02 || prev || leaf), and the chain starts at 32 zero bytes."""
    assert bytes(32) == ZERO_HASH
    leaf = sha256(b"\x00" + b"first entry")
    first = sha256(b"\x02" + bytes(32) + leaf)
    assert chain_hash(ZERO_HASH, leaf) == first
    second_leaf = sha256(b"\x00" + b"second entry")
    assert chain_hash(first, second_leaf) == sha256(b"\x02" + first + second_leaf)
    # 0x02, not RFC 9162's interior-node prefix 0x01: chain links never look like Merkle nodes.
    assert chain_hash(ZERO_HASH, leaf) != sha256(b"\x01" + bytes(32) + leaf)


@SETTINGS
@given(st.lists(st.binary(max_size=40), max_size=10))
def test_chain_append_and_iter_chain_follow_the_spec(entries: list[bytes]) -> None:
    """Chain.append and iter_chain produce exactly the spec's chain hashes, indices from 0."""
    expected = spec_chain_hashes(entries)
    chain = Chain()
    assert [chain.append(entry) for entry in entries] == expected
    assert chain.size == len(entries)
    assert chain.head == (expected[-1] if entries else bytes(32))
    assert list(iter_chain(entries)) == list(enumerate(expected))


# --- stored entries -----------------------------------------------------------------------------


@SETTINGS
@given(
    index=st.integers(0, 2**40),
    kafka_offset=INT64,
    ingested_at_us=INT64,
    link=HASHES,
    entry=st.binary(max_size=200),
)
def test_stored_entry_encode_decode_round_trip(
    index: int, kafka_offset: int, ingested_at_us: int, link: bytes, entry: bytes
) -> None:
    """decode(index, encode(e)) == e, and the layout is the documented one, byte for byte."""
    completed = ((index + 1) & -(index + 1)).bit_length() - 1  # subtrees of height >= 1 ending here
    nodes = tuple(bytes([n]) * 32 for n in range(completed))
    stored = StoredEntry(
        index=index,
        kafka_offset=kafka_offset,
        ingested_at_us=ingested_at_us,
        chain_hash=link,
        entry=entry,
        nodes=nodes,
    )
    state = stored.encode()
    assert state == (
        b"\x01"
        + kafka_offset.to_bytes(8, "big", signed=True)
        + ingested_at_us.to_bytes(8, "big", signed=True)
        + link
        + bytes([len(nodes)])
        + b"".join(nodes)
        + entry
    )
    assert HEADER_SIZE == 50
    assert StoredEntry.decode(index, state) == stored


@SETTINGS
@given(st.binary(max_size=HEADER_SIZE - 1), st.integers(0, 2**20))
def test_stored_entry_decode_rejects_state_shorter_than_the_header(state: bytes, index: int) -> None:
    """Fewer than 49 bytes is not a stored entry: VerificationError naming the entry's index."""
    with pytest.raises(VerificationError, match=rf"stored entry {index} is {len(state)} bytes"):
        StoredEntry.decode(index, state)


@SETTINGS
@given(
    version=st.integers(0, 255).filter(lambda v: v != 1),
    rest=st.binary(min_size=HEADER_SIZE - 1, max_size=HEADER_SIZE + 20),
)
def test_stored_entry_decode_rejects_unknown_format_version(version: int, rest: bytes) -> None:
    """A first byte other than 0x01 is an unknown format version: VerificationError."""
    with pytest.raises(VerificationError, match=rf"unknown format version {version}\b"):
        StoredEntry.decode(7, bytes([version]) + rest)


def test_stored_entry_with_empty_entry_bytes_decodes() -> None:
    """Exactly the 49-byte header (an empty entry) is a valid stored entry."""
    stored = StoredEntry(index=0, kafka_offset=-1, ingested_at_us=0, chain_hash=bytes(range(32)), entry=b"")
    assert len(stored.encode()) == HEADER_SIZE
    assert StoredEntry.decode(0, stored.encode()) == stored


# --- verify_chain on intact logs ----------------------------------------------------------------

LOGS = st.lists(st.binary(max_size=48), min_size=1, max_size=12)


@SETTINGS
@given(LOGS, st.data())
def test_verify_chain_accepts_an_intact_log_and_returns_its_size_and_head(
    entries: list[bytes], data: st.DataObject
) -> None:
    """An untouched log verifies; the returned Chain has size N and the spec's head."""
    metadata = data.draw(st.lists(st.tuples(INT64, INT64), min_size=len(entries), max_size=len(entries)))
    result = verify_chain(build_log(entries, metadata))
    assert result == Chain(size=len(entries), head=spec_chain_hashes(entries)[-1])


def test_verify_chain_of_an_empty_log_is_the_empty_chain() -> None:
    """No entries: size 0 and the 32-zero-byte head."""
    assert verify_chain([]) == Chain(size=0, head=bytes(32))


@SETTINGS
@given(LOGS, st.data())
def test_verify_chain_ignores_metadata_not_covered_by_the_hashes(
    entries: list[bytes], data: st.DataObject
) -> None:
    """Kafka offset and ingest time are documented as outside the hashes: changing them verifies."""
    log = build_log(entries)
    k = data.draw(st.integers(0, len(log) - 1))
    log[k] = replace(log[k], kafka_offset=log[k].kafka_offset + 1, ingested_at_us=-5)
    assert verify_chain(log).head == spec_chain_hashes(entries)[-1]


@SETTINGS
@given(LOGS, st.data())
def test_verify_chain_in_two_halves_with_start_equals_verifying_the_whole(
    entries: list[bytes], data: st.DataObject
) -> None:
    """verify_chain(second half, start=result of first half) continues the chain exactly."""
    log = build_log(entries)
    cut = data.draw(st.integers(0, len(log)))
    first = verify_chain(log[:cut])
    first_copy = Chain(first.size, first.head)
    second = verify_chain(log[cut:], start=first)
    assert second == verify_chain(log)
    assert second == Chain(size=len(entries), head=spec_chain_hashes(entries)[-1])
    assert first == first_copy, "verify_chain must not mutate its start"


@SETTINGS
@given(st.lists(st.binary(max_size=48), min_size=2, max_size=12), st.data())
def test_verify_chain_with_a_wrong_start_head_breaks_at_the_first_entry(
    entries: list[bytes], data: st.DataObject
) -> None:
    """A start whose head is not the real previous link fails at the first entry verified."""
    log = build_log(entries)
    cut = data.draw(st.integers(1, len(log) - 1))
    good = verify_chain(log[:cut])
    wrong = Chain(size=good.size, head=flip(good.head, data.draw(st.integers(0, 31)), 1))
    assert failure(log[cut:], start=wrong) == (ChainBroken, cut)


@SETTINGS
@given(st.lists(st.binary(max_size=48), min_size=2, max_size=12), st.data())
def test_verify_chain_with_a_start_at_the_wrong_size_reports_the_index_gap(
    entries: list[bytes], data: st.DataObject
) -> None:
    """A start one entry short names the missing index; one entry long names the repeated one."""
    log = build_log(entries)
    cut = data.draw(st.integers(1, len(log) - 1))
    good = verify_chain(log[:cut])
    assert failure(log[cut:], start=Chain(cut - 1, good.head)) == (VerificationError, cut - 1)
    assert failure(log[cut:], start=Chain(cut + 1, good.head)) == (VerificationError, cut)


def test_chain_broken_carries_its_evidence() -> None:
    """ChainBroken is a VerificationError (a LedgerError) carrying index, expected and actual."""
    log = build_log([b"a", b"b", b"c"])
    forged = bytes(32)
    log[1] = replace(log[1], chain_hash=forged)
    with pytest.raises(ChainBroken) as caught:
        verify_chain(log)
    assert isinstance(caught.value, LedgerError)
    assert caught.value.index == 1
    assert caught.value.expected == spec_chain_hashes([b"a", b"b"])[1]
    assert caught.value.actual == forged
    assert "chain broken at index 1" in str(caught.value)


# --- exactly one tampering: detected, and located at the first affected position ---------------
#
# Each attack returns the tampered log and the (error class, index) verify_chain must report.
# Indices below are positions in the *original* log of N entries, 0 <= k < N.

Tampered = tuple[list[StoredEntry], type, int]
Attack = Callable[[list[StoredEntry], st.DataObject], Tampered]


def entry_byte_changed(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """One byte of entry k changed: its leaf changes, so its own stored link is wrong at k."""
    k = data.draw(st.sampled_from([i for i, s in enumerate(log) if s.entry]), label="k")
    pos = data.draw(st.integers(0, len(log[k].entry) - 1), label="byte")
    delta = data.draw(st.integers(1, 255), label="delta")
    log[k] = replace(log[k], entry=flip(log[k].entry, pos, delta))
    return log, ChainBroken, k


def chain_hash_byte_changed(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """One byte of the stored chain hash k changed: the link no longer matches at k."""
    k = data.draw(st.integers(0, len(log) - 1), label="k")
    pos = data.draw(st.integers(0, 31), label="byte")
    delta = data.draw(st.integers(1, 255), label="delta")
    log[k] = replace(log[k], chain_hash=flip(log[k].chain_hash, pos, delta))
    return log, ChainBroken, k


def deleted_keeping_indices(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """Entry k (not the last) removed, later indices untouched: index k is reported missing."""
    k = data.draw(st.integers(0, len(log) - 2), label="k")
    del log[k]
    return log, VerificationError, k


def deleted_and_renumbered(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """Entry k (not the last) removed, later indices shifted down: the entry now at k was
    chained to entry k, not to entry k-1, so the link breaks at k."""
    k = data.draw(st.integers(0, len(log) - 2), label="k")
    del log[k]
    log[k:] = [replace(s, index=s.index - 1) for s in log[k:]]
    return log, ChainBroken, k


def _forged(log: list[StoredEntry], k: int, data: st.DataObject, *, valid_link: bool) -> StoredEntry:
    entry = data.draw(st.binary(max_size=48), label="forged entry")
    previous = log[k - 1].chain_hash if k else bytes(32)
    link = spec_chain_hashes([entry], previous)[0]
    if not valid_link:
        link = data.draw(HASHES.filter(lambda h: h != link), label="forged link")
    return StoredEntry(index=k, kafka_offset=-1, ingested_at_us=0, chain_hash=link, entry=entry)


def inserted_with_bad_link(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """A forged entry with a made-up link inserted at k (0..N, renumbered or not): broken at k."""
    k = data.draw(st.integers(0, len(log)), label="k")
    renumber = data.draw(st.booleans(), label="renumber")
    forged = _forged(log, k, data, valid_link=False)
    tail = [replace(s, index=s.index + 1) for s in log[k:]] if renumber else log[k:]
    return [*log[:k], forged, *tail], ChainBroken, k


def inserted_with_valid_link_keeping_indices(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """A forged entry correctly chained at k < N, later indices untouched: the forged entry
    itself verifies, and the original entry k that follows repeats index k."""
    k = data.draw(st.integers(0, len(log) - 1), label="k")
    forged = _forged(log, k, data, valid_link=True)
    return [*log[:k], forged, *log[k:]], VerificationError, k


def inserted_with_valid_link_and_renumbered(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """A forged entry correctly chained at k < N, later indices shifted up: the forged entry
    verifies, and the original entry k, now at k+1, was not chained to it: broken at k+1."""
    k = data.draw(st.integers(0, len(log) - 1), label="k")
    forged = _forged(log, k, data, valid_link=True)
    tail = [replace(s, index=s.index + 1) for s in log[k:]]
    return [*log[:k], forged, *tail], ChainBroken, k + 1


def swapped_with_their_indices(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """Entries i < j exchange places, each keeping its own index: position i holds index j,
    so indices i..j-1 are reported missing, starting at i."""
    i = data.draw(st.integers(0, len(log) - 2), label="i")
    j = data.draw(st.integers(i + 1, len(log) - 1), label="j")
    log[i], log[j] = log[j], log[i]
    return log, VerificationError, i


def swapped_and_renumbered(log: list[StoredEntry], data: st.DataObject) -> Tampered:
    """Entries i < j exchange places and indices (indices stay 0..N-1): entry j's link was
    computed after entry j-1, not after entry i-1, so the chain breaks at i — even when the
    two entries have identical bytes."""
    i = data.draw(st.integers(0, len(log) - 2), label="i")
    j = data.draw(st.integers(i + 1, len(log) - 1), label="j")
    log[i], log[j] = replace(log[j], index=i), replace(log[i], index=j)
    return log, ChainBroken, i


ATTACKS: list[Attack] = [
    entry_byte_changed,
    chain_hash_byte_changed,
    deleted_keeping_indices,
    deleted_and_renumbered,
    inserted_with_bad_link,
    inserted_with_valid_link_keeping_indices,
    inserted_with_valid_link_and_renumbered,
    swapped_with_their_indices,
    swapped_and_renumbered,
]


@pytest.mark.parametrize("attack", ATTACKS, ids=lambda a: a.__name__)
@SETTINGS
@given(
    entries=st.lists(st.binary(min_size=1, max_size=32), min_size=2, max_size=10),
    data=st.data(),
)
def test_one_tampering_is_detected_at_the_first_affected_position(
    attack: Attack, entries: list[bytes], data: st.DataObject
) -> None:
    """After exactly one tampering, verify_chain raises and reports exactly the first position
    the tampering affects (see each attack's docstring for which position that is)."""
    log = build_log(entries)
    assert verify_chain(log) == Chain(len(entries), spec_chain_hashes(entries)[-1])
    tampered, error, index = attack(list(log), data)
    assert failure(tampered) == (error, index)


@SETTINGS
@given(st.lists(st.binary(max_size=32), min_size=2, max_size=12), st.data())
def test_repeated_entry_reports_the_repeated_index(entries: list[bytes], data: st.DataObject) -> None:
    """An entry stored twice (same index, same link) is reported as its index repeated."""
    log = build_log(entries)
    k = data.draw(st.integers(0, len(log) - 1))
    tampered = [*log[: k + 1], log[k], *log[k + 1 :]]
    assert failure(tampered) == (VerificationError, k)


@SETTINGS
@given(st.lists(st.binary(max_size=32), min_size=1, max_size=12), st.data())
def test_truncation_verifies_but_yields_a_different_size_and_head(
    entries: list[bytes], data: st.DataObject
) -> None:
    """Dropping the newest entries leaves a valid shorter chain: the chain alone cannot see it;
    only comparing size and head with a signed checkpoint does. verify_chain must report the
    truncated size and head, so that the comparison fails."""
    log = build_log(entries)
    keep = data.draw(st.integers(0, len(log) - 1))
    result = verify_chain(log[:keep])
    full = verify_chain(log)
    assert result.size == keep
    assert result.head == (spec_chain_hashes(entries)[keep - 1] if keep else bytes(32))
    assert (result.size, result.head) != (full.size, full.head)


def test_stored_entry_encode_packs_the_documented_struct() -> None:
    """The header is struct '>Bqq32sB' (version, offset, ingest time, link, node count), as documented."""
    stored = StoredEntry(
        index=3,
        kafka_offset=-1,
        ingested_at_us=2**62,
        chain_hash=b"\xab" * 32,
        entry=b"xyz",
        nodes=(b"\x01" * 32, b"\x02" * 32),
    )
    expected = struct.pack(">Bqq32sB", 1, -1, 2**62, b"\xab" * 32, 2) + b"\x01" * 32 + b"\x02" * 32 + b"xyz"
    assert stored.encode() == expected
