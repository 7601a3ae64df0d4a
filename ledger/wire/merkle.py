"""The ledger's Merkle trees: RFC 9162 (Certificate Transparency v2) hashing, roots and proofs.

This module is the specification of liuhen's Merkle trees; it imports only the standard library
and :mod:`ledger.wire.format` / :mod:`ledger.errors`. It reads stored hashes through a caller's
accessor and never caches anything across calls.

**Hashes** (RFC 9162 §2.1.1, SHA-256). The leaves are the log's entries in index order, hashed
as stored by :func:`ledger.wire.format.leaf_hash`; everything here works on those 32-byte leaf
hashes::

    MTH({})       = SHA-256()                                    (the empty string)
    MTH({d0})     = leaf_hash(d0) = SHA-256(0x00 || d0)
    MTH(D[0:n])   = SHA-256(0x01 || MTH(D[0:k]) || MTH(D[k:n]))  for n > 1, where k is the
                    largest power of two smaller than n

**Nodes.** The *perfect subtree* ``(height, index)`` covers the leaves
``[index * 2**height, (index + 1) * 2**height)``; its hash is the MTH of those leaves (height 0
is a leaf hash). Once its last leaf is appended it never changes, so a store keeps exactly these
hashes and answers ``node(height, index)`` (a :data:`NodeReader`). Every other hash the RFC needs
(the root of a size that is not a power of two, siblings on the tree's right border) is
*ephemeral*: MTH of a range ``[start, end)`` of the RFC's recursion, where ``start`` is a multiple
of the smallest power of two ``>= end - start``. Such a range is covered by the binary
decomposition of ``end - start`` into perfect subtrees, largest first, ``p1, p2, ..., pk``
(:func:`perfect_subtrees`), and ``MTH = node(p1, node(p2, ... node(pk-1, pk)))``
(:func:`range_hash`).

**Proofs.** :func:`inclusion_proof` is ``PATH(m, D[n])`` (§2.1.3.1), from the leaf's sibling up
to a child of the root; :func:`consistency_proof` is ``PROOF(m, D[n])`` (§2.1.4.1). Each is found
by descending the RFC's recursion once: at most ``ceil(log2 n)`` ranges, all of them one perfect
subtree except at most one right-border range of at most ``log2(n) + 1`` subtrees, so a proof
takes O(log n) node reads and never touches the leaves. :func:`verify_inclusion` and
:func:`verify_consistency` are the RFC's verification algorithms (§2.1.3.2, §2.1.4.2); they return
``None`` and raise :class:`~ledger.errors.VerificationError` naming what failed. For
consistency, the RFC defines proofs for ``0 < m < n``; liuhen also accepts ``m == n`` (empty
proof, equal roots) and ``m == 0`` (empty proof, the old root must be ``MTH({})``: the empty tree
is a prefix of every tree).

**Compact ranges.** :class:`CompactRange` is a tree's right border: the hashes of the perfect
subtrees covering ``[0, size)``, largest first (at most ``log2(size) + 1``). Appending a leaf
hash returns the perfect subtrees it completed, which is what a store writes; :func:`root_of_leaves`
folds a stream of leaf hashes in O(log n) memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from typing import TypeAlias

from ledger.errors import Inconsistent, NotIncluded, VerificationError
from ledger.wire.format import HASH_SIZE, NODE_PREFIX

NodeReader: TypeAlias = Callable[[int, int], bytes]
"""``node(height, index)``: the hash of the perfect subtree covering leaves
``[index * 2**height, (index + 1) * 2**height)``."""

EMPTY_ROOT = hashlib.sha256(b"").digest()
"""``MTH({})``: the root of the empty tree, SHA-256 of the empty string (RFC 9162 §2.1.1)."""


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``: an interior node (RFC 9162 §2.1.1)."""
    return hashlib.sha256(NODE_PREFIX + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two smaller than ``n`` (``n >= 2``): where the RFC splits ``D[n]``."""
    return 1 << ((n - 1).bit_length() - 1)


def perfect_subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """Decompose ``[start, end)`` into the fewest aligned perfect subtrees, left to right.

    Returns ``(height, index)`` pairs. From ``start == 0`` (or any ``start`` aligned as in
    :func:`range_hash`) this is the binary decomposition of ``end - start``, largest first.
    """
    if not 0 <= start <= end:
        raise ValueError(f"[{start}, {end}) is not a range of leaf indices")
    subtrees = []
    while start < end:
        fits = 1 << ((end - start).bit_length() - 1)  # largest power of two <= end - start
        aligned = start & -start  # largest power of two dividing start (0 when start is 0)
        size = min(fits, aligned) if aligned else fits
        height = size.bit_length() - 1
        subtrees.append((height, start >> height))
        start += size
    return subtrees


def range_hash(start: int, end: int, node: NodeReader) -> bytes:
    """``MTH(D[start:end])`` for a range of the RFC's recursion, from its perfect subtrees.

    ``start`` must be a multiple of the smallest power of two ``>= end - start`` (every range the
    recursion of ``MTH(D[0:n])`` produces is); other ranges raise :class:`ValueError`. Reads
    ``popcount(end - start)`` nodes. The empty range hashes to :data:`EMPTY_ROOT`.
    """
    if start == end >= 0:
        return EMPTY_ROOT
    subtrees = perfect_subtrees(start, end)
    if start % (1 << (end - start - 1).bit_length()):
        raise ValueError(f"[{start}, {end}) is not a subtree of the RFC 9162 recursion")
    height, index = subtrees[-1]
    digest = node(height, index)
    for height, index in reversed(subtrees[:-1]):
        digest = node_hash(node(height, index), digest)
    return digest


def root_hash(size: int, node: NodeReader) -> bytes:
    """``MTH(D[0:size])``, the root of the tree of the first ``size`` leaves."""
    return range_hash(0, size, node)


def _inclusion_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The ranges whose MTHs make ``PATH(index, D[size])``, from the leaf's sibling upward."""
    ranges = []
    start, end = 0, size
    while end - start > 1:
        mid = start + _split(end - start)
        if index < mid:  # PATH(m, D[0:k]) : MTH(D[k:n])
            ranges.append((mid, end))
            end = mid
        else:  # PATH(m - k, D[k:n]) : MTH(D[0:k])
            ranges.append((start, mid))
            start = mid
    ranges.reverse()
    return ranges


def _consistency_ranges(old_size: int, new_size: int) -> list[tuple[int, int]]:
    """The ranges whose MTHs make ``PROOF(old_size, D[new_size])`` for ``0 < old < new``."""
    ranges = []
    start, end, whole = 0, new_size, True  # SUBPROOF(m, D[start:end], b=whole)
    while old_size != end:
        mid = start + _split(end - start)
        if old_size <= mid:  # SUBPROOF(m, D[0:k], b) : MTH(D[k:n])
            ranges.append((mid, end))
            end = mid
        else:  # SUBPROOF(m - k, D[k:n], false) : MTH(D[0:k])
            ranges.append((start, mid))
            start, whole = mid, False
    if not whole:  # m == n inside the recursion: the subtree's own hash
        ranges.append((start, end))
    ranges.reverse()
    return ranges


def inclusion_proof(index: int, size: int, node: NodeReader) -> list[bytes]:
    """``PATH(index, D[size])`` (RFC 9162 §2.1.3.1): the audit path of leaf ``index``.

    Raises :class:`ValueError` unless ``0 <= index < size``. Reads O(log size) nodes.
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is not in a tree of size {size}")
    return [range_hash(start, end, node) for start, end in _inclusion_ranges(index, size)]


def consistency_proof(old_size: int, new_size: int, node: NodeReader) -> list[bytes]:
    """``PROOF(old_size, D[new_size])`` (RFC 9162 §2.1.4.1): the tree of ``old_size`` is a prefix.

    Empty when ``old_size`` is 0 or equal to ``new_size``. Raises :class:`ValueError` unless
    ``0 <= old_size <= new_size``. Reads O(log new_size) nodes.
    """
    if not 0 <= old_size <= new_size:
        raise ValueError(f"no consistency proof from tree size {old_size} to tree size {new_size}")
    if old_size in (0, new_size):
        return []
    return [range_hash(start, end, node) for start, end in _consistency_ranges(old_size, new_size)]


def _check_hash(what: str, digest: bytes) -> None:
    if len(digest) != HASH_SIZE:
        raise VerificationError(f"{what} is {len(digest)} bytes, not a {HASH_SIZE}-byte SHA-256 hash")


def _check_proof(what: str, proof: Sequence[bytes], expected_length: int) -> None:
    if len(proof) != expected_length:
        raise VerificationError(f"{what} has {len(proof)} hashes, expected {expected_length}")
    for position, digest in enumerate(proof):
        _check_hash(f"{what}: element {position}", digest)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes) -> None:
    """Check that ``leaf`` (a leaf hash) is leaf ``index`` of the tree of ``size`` with ``root``.

    RFC 9162 §2.1.3.2. Returns ``None``; raises :class:`VerificationError` when the index is
    outside the tree, the proof has the wrong number of hashes or a hash of the wrong length, or
    the root it leads to is not ``root``.
    """
    if not 0 <= index < size:
        raise VerificationError(f"leaf index {index} is outside a tree of size {size}")
    what = f"inclusion proof of leaf {index} in tree size {size}"
    _check_hash("leaf hash", leaf)
    _check_hash("root hash", root)
    _check_proof(what, proof, len(_inclusion_ranges(index, size)))
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise VerificationError(f"{what} is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError(f"{what} is shorter than the path to the root")
    if r != root:
        raise NotIncluded(
            f"{what} leads to root {r.hex()}, not the expected {root.hex()}",
            index=index,
            size=size,
            expected=root,
            actual=r,
        )


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the tree of ``old_size`` with ``old_root`` is a prefix of ``new_size``'s.

    RFC 9162 §2.1.4.2 for ``0 < old_size < new_size``. When ``old_size == new_size`` the proof
    must be empty and the roots equal; when ``old_size == 0`` the proof must be empty and
    ``old_root`` must be :data:`EMPTY_ROOT`. Returns ``None``; raises :class:`VerificationError`
    naming what failed: sizes out of order, a proof of the wrong length or with a hash of the
    wrong length, or a proof that does not lead to the old or to the new root.
    """
    what = f"consistency proof from tree size {old_size} to {new_size}"
    inconsistent = partial(
        Inconsistent,
        old_size=old_size,
        new_size=new_size,
        old_root=old_root,
        new_root=new_root,
        proof=tuple(proof),
    )
    if not 0 <= old_size <= new_size:
        raise VerificationError(f"{what}: the old tree size must be between 0 and the new tree size")
    _check_hash("old root hash", old_root)
    _check_hash("new root hash", new_root)
    if old_size in (0, new_size):
        _check_proof(what, proof, 0)
        if old_size == 0 and old_root != EMPTY_ROOT:
            raise VerificationError(
                f"old root {old_root.hex()} of tree size 0 is not the empty-tree hash {EMPTY_ROOT.hex()}"
            )
        if old_size == new_size and old_root != new_root:
            raise inconsistent(
                f"trees of the same size {new_size} have different roots "
                f"{old_root.hex()} and {new_root.hex()}"
            )
        return
    _check_proof(what, proof, len(_consistency_ranges(old_size, new_size)))
    fr, sr = _consistency_roots(what, old_size, new_size, old_root, proof)
    if fr != old_root:
        raise inconsistent(f"{what} leads to old root {fr.hex()}, not the expected {old_root.hex()}")
    if sr != new_root:
        raise inconsistent(f"{what} leads to new root {sr.hex()}, not the expected {new_root.hex()}")


def _consistency_roots(
    what: str, old_size: int, new_size: int, old_root: bytes, proof: Sequence[bytes]
) -> tuple[bytes, bytes]:
    """Steps 2-6 of RFC 9162 §2.1.4.2: the old and new roots ``proof`` leads to (``fr``, ``sr``)."""
    path = list(proof)
    if old_size & (old_size - 1) == 0:  # first is an exact power of 2: prepend first_hash
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise VerificationError(f"{what} is longer than the path to the new root")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise VerificationError(f"{what} is shorter than the path to the new root")
    return fr, sr


class CompactRange:
    """The right border of a tree: hashes of the perfect subtrees covering ``[0, size)``.

    Largest subtree first, one per set bit of ``size`` (at most ``log2(size) + 1`` hashes), which
    is all that appending further leaves and computing the root need.
    """

    __slots__ = ("_hashes", "size")

    def __init__(self) -> None:
        self.size = 0
        self._hashes: list[bytes] = []

    @classmethod
    def from_nodes(cls, size: int, node: NodeReader) -> CompactRange:
        """The compact range of the tree of ``size`` leaves, read from stored perfect subtrees."""
        compact = cls()
        compact._hashes = [node(height, index) for height, index in perfect_subtrees(0, size)]
        compact.size = size
        return compact

    def copy(self) -> CompactRange:
        """An independent copy (a batch extends a copy, kept only if the batch is stored)."""
        compact = CompactRange()
        compact._hashes = list(self._hashes)
        compact.size = self.size
        return compact

    @property
    def hashes(self) -> tuple[bytes, ...]:
        """The border's hashes, largest subtree first (``perfect_subtrees(0, size)`` order)."""
        return tuple(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, bytes]]:
        """Add the next leaf hash; return ``(height, hash)`` of each perfect subtree it completed.

        Only subtrees of height >= 1 are returned (the leaf itself is height 0), lowest first. The
        subtree of height ``h`` completed by the append has index ``size // 2**h - 1`` (with the
        new ``size``).
        """
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf)}")
        completed = []
        digest, height, below = leaf, 0, self.size
        while below & 1:
            digest = node_hash(self._hashes.pop(), digest)
            height += 1
            completed.append((height, digest))
            below >>= 1
        self._hashes.append(digest)
        self.size += 1
        return completed

    def root(self) -> bytes:
        """``MTH(D[0:size])``; :data:`EMPTY_ROOT` when the range is empty."""
        if not self._hashes:
            return EMPTY_ROOT
        digest = self._hashes[-1]
        for left in reversed(self._hashes[:-1]):
            digest = node_hash(left, digest)
        return digest


def nodes_needed(prove: Callable[[NodeReader], object]) -> list[tuple[int, int]]:
    """The ``(height, index)`` of every node ``prove`` reads, so that a store can fetch them at once.

    Proof construction reads positions that depend only on sizes and indices, never on the hashes
    it reads, so a dry run with a recording reader lists them exactly.
    """
    positions: list[tuple[int, int]] = []

    def record(height: int, index: int) -> bytes:
        positions.append((height, index))
        return bytes(HASH_SIZE)

    prove(record)
    return positions


def root_of_leaves(leaves: Iterable[bytes]) -> bytes:
    """``MTH`` of a stream of leaf hashes, in O(log n) memory."""
    compact = CompactRange()
    for leaf in leaves:
        compact.append(leaf)
    return compact.root()
