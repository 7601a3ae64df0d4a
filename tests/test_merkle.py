"""RFC 9162 Merkle trees (ledger.wire.merkle): roots, compact ranges, inclusion and consistency proofs.

Known answers are Certificate Transparency's published vectors (each table cites its source
file). Properties compare the module with a naive transcription of RFC 9162's recursive
definitions (MTH, PATH, PROOF) written here, over in-memory trees of random leaves whose node
reader refuses any node outside the requested tree. Node reads are counted to show that proofs
take O(log n) reads at ten million leaves without building that tree.
"""

from __future__ import annotations

import hashlib
import math
import random
from collections.abc import Callable, Iterator, Sequence

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger.errors import VerificationError
from ledger.wire.format import leaf_hash
from ledger.wire.merkle import (
    EMPTY_ROOT,
    CompactRange,
    NodeReader,
    consistency_proof,
    inclusion_proof,
    node_hash,
    perfect_subtrees,
    range_hash,
    root_hash,
    root_of_leaves,
    verify_consistency,
    verify_inclusion,
)

SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# --- Certificate Transparency known answers ------------------------------------------------------
#
# Leaf inputs, node hashes, roots for sizes 0..8 and compact trees: transparency-dev/merkle
# testonly/constants.go (LeafInputs, NodeHashes, RootHashes, CompactTrees, EmptyRootHash; commit
# 582a6ad190b6848f1d26f8bf08ddef29955d9db1). The same leaves and roots are kInputs / kSHA256Roots
# in google/certificate-transparency cpp/merkletree/merkle_tree_test.cc (commit
# 0e901cacd1388fa16f78b184612f6cd16e5ceec1).

LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]

NODE_HASHES = [  # NODE_HASHES[height][index]
    [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
        "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
        "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
        "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1",
    ],
    [
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    ],
    [
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    ],
    ["5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"],
]

ROOTS = [  # ROOTS[size]
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]

COMPACT_TREES = [  # CompactTrees()[size] as (height, index) into NODE_HASHES
    [],
    [(0, 0)],
    [(1, 0)],
    [(1, 0), (0, 2)],
    [(2, 0)],
    [(2, 0), (0, 4)],
    [(2, 0), (1, 2)],
    [(2, 0), (1, 2), (0, 6)],
    [(3, 0)],
]

# Inclusion paths: kSHA256Paths in google/certificate-transparency cpp/merkletree/merkle_tree_test.cc,
# repeated as inclusionProofs in transparency-dev/merkle proof/verify_test.go (commit
# 02194e9afb6c1d95b5381350007963aa70fff472). There the leaf is numbered from 1; here it is the
# 0-based index (leaf - 1).
INCLUSION_PATHS: list[tuple[int, int, list[str]]] = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]

# Consistency proofs: kSHA256Proofs in google/certificate-transparency
# cpp/merkletree/merkle_tree_test.cc, and consistencyProofs in transparency-dev/merkle
# proof/verify_test.go (which adds 6 -> 7).
CONSISTENCY_PROOFS: list[tuple[int, int, list[str]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]

# Which stored nodes make each proof: TestInclusion and TestConsistency in transparency-dev/merkle
# proof/proof_test.go (commit 02a3e2029520f515596d5238c54fb0ac9e19bff4). Each row is (size or
# sizes, node ids (height, index) in proof order, (begin, end)): ids[begin:end] are folded into one
# ephemeral proof element, "rehashed" there as h = ids[begin]; h = node_hash(ids[i], h) for the
# rest; (0, 0) means no rehash.
NodeIds = list[tuple[int, int]]
INCLUSION_NODES: list[tuple[int, int, NodeIds, tuple[int, int]]] = [
    (1, 0, [], (0, 0)),
    (2, 0, [(0, 1)], (0, 0)),
    (2, 1, [(0, 0)], (0, 0)),
    (3, 1, [(0, 0), (0, 2)], (0, 0)),
    (7, 0, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 1, [(0, 0), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (7, 2, [(0, 3), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 3, [(0, 2), (1, 0), (0, 6), (1, 2)], (2, 4)),
    (7, 4, [(0, 5), (0, 6), (2, 0)], (0, 0)),
    (7, 5, [(0, 4), (0, 6), (2, 0)], (0, 0)),
    (7, 6, [(1, 2), (2, 0)], (0, 0)),
    (4, 2, [(0, 3), (1, 0)], (0, 0)),
    (5, 3, [(0, 2), (1, 0), (0, 4)], (0, 0)),
    (6, 3, [(0, 2), (1, 0), (1, 2)], (0, 0)),
    (6, 4, [(0, 5), (2, 0)], (0, 0)),
    (15, 10, [(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (31, 24, [(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)], (2, 4)),
    (95, 81, [(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (3, 6)),
]
CONSISTENCY_NODES: list[tuple[int, int, NodeIds, tuple[int, int]]] = [
    (1, 2, [(0, 1)], (0, 0)),
    (1, 4, [(0, 1), (1, 1)], (0, 0)),
    (1, 6, [(0, 1), (1, 1), (1, 2)], (0, 0)),
    (2, 3, [(0, 2)], (0, 0)),
    (2, 8, [(1, 1), (2, 1)], (0, 0)),
    (3, 7, [(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], (3, 5)),
    (4, 7, [(0, 6), (1, 2)], (0, 2)),
    (5, 7, [(0, 4), (0, 5), (0, 6), (2, 0)], (0, 0)),
    (6, 7, [(1, 2), (0, 6), (2, 0)], (0, 0)),
    (7, 8, [(0, 6), (0, 7), (1, 2), (2, 0)], (0, 0)),
    (1, 1, [], (0, 0)),
    (2, 2, [], (0, 0)),
    (3, 3, [], (0, 0)),
    (4, 4, [], (0, 0)),
    (5, 5, [], (0, 0)),
    (7, 7, [], (0, 0)),
    (8, 8, [], (0, 0)),
    (2, 4, [(1, 1)], (0, 0)),
    (3, 5, [(0, 2), (0, 3), (1, 0), (0, 4)], (0, 0)),
    (3, 6, [(0, 2), (0, 3), (1, 0), (1, 2)], (0, 0)),
    (4, 6, [(1, 2)], (0, 0)),
    (1, 7, [(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4)),
    (10, 15, [(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)], (2, 4)),
    (24, 31, [(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)], (1, 4)),
    (81, 95, [(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (4, 7)),
]

SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


def h(hex_digest: str) -> bytes:
    return bytes.fromhex(hex_digest)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


def assert_rejected(check: Callable[..., None], args: Sequence[object], description: str) -> None:
    """``check(*args)`` raises VerificationError; otherwise fail, naming the attack that passed."""
    try:
        check(*args)
    except VerificationError:
        return
    pytest.fail(f"{check.__name__} accepted {description}")


def flip(data: bytes, bit: int = 3) -> bytes:
    """``data`` with one bit of its first byte flipped."""
    return bytes([data[0] ^ (1 << bit)]) + data[1:]


# --- a naive reference, straight from RFC 9162's recursive definitions --------------------------


def split(n: int) -> int:
    """The largest power of two smaller than n (n > 1)."""
    k = 1
    while k * 2 < n:
        k *= 2
    return k


class Reference:
    """MTH, PATH and PROOF of RFC 9162 §2.1, by their recursive definitions over leaf hashes."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.leaves = list(leaves)
        self._mth: dict[tuple[int, int], bytes] = {}

    def mth(self, start: int, end: int) -> bytes:
        """MTH(D[start:end]); memoised, so a whole tree's worth of queries stays cheap."""
        if (start, end) not in self._mth:
            n = end - start
            if n == 0:
                digest = sha256(b"")
            elif n == 1:
                digest = self.leaves[start]
            else:
                k = split(n)
                digest = sha256(b"\x01" + self.mth(start, start + k) + self.mth(start + k, end))
            self._mth[start, end] = digest
        return self._mth[start, end]

    def path(self, m: int, start: int, end: int) -> list[bytes]:
        """PATH(m, D[start:end]) with m relative to start."""
        n = end - start
        if n == 1:
            return []
        k = split(n)
        if m < k:
            return [*self.path(m, start, start + k), self.mth(start + k, end)]
        return [*self.path(m - k, start + k, end), self.mth(start, start + k)]

    def subproof(self, m: int, start: int, end: int, whole: bool) -> list[bytes]:
        """SUBPROOF(m, D[start:end], b) with m relative to start."""
        n = end - start
        if m == n:
            return [] if whole else [self.mth(start, end)]
        k = split(n)
        if m <= k:
            return [*self.subproof(m, start, start + k, whole), self.mth(start + k, end)]
        return [*self.subproof(m - k, start + k, end, False), self.mth(start, start + k)]

    def proof(self, m: int, n: int) -> list[bytes]:
        """PROOF(m, D[n]) for 0 < m <= n."""
        return self.subproof(m, 0, n, True)


def path_shape(m: int, n: int) -> tuple[str, ...]:
    """The side (L/R) of each PATH(m, D[n]) element: all the verifier's computation depends on."""
    if n == 1:
        return ()
    k = split(n)
    if m < k:
        return (*path_shape(m, k), "R")
    return (*path_shape(m - k, n - k), "L")


def proof_shape(m: int, n: int, whole: bool = True) -> tuple[str, ...]:
    """The sides of PROOF(m, D[n]) elements, "seed" for a subtree root of the old tree."""
    if m == n:
        return () if whole else ("seed",)
    k = split(n)
    if m <= k:
        return (*proof_shape(m, k, whole), "R")
    return (*proof_shape(m - k, n - k, False), "L")


# --- in-memory stored trees and counting node readers -------------------------------------------


class CountingReader:
    """A node reader over stored levels that counts reads and refuses nodes outside ``limit``."""

    def __init__(self, lookup: Callable[[int, int], bytes], limit: int) -> None:
        self.lookup = lookup
        self.limit = limit
        self.reads = 0

    def __call__(self, height: int, index: int) -> bytes:
        assert height >= 0
        assert index >= 0
        assert (index + 1) << height <= self.limit, (
            f"read node ({height}, {index}) of a {self.limit}-leaf tree"
        )
        self.reads += 1
        return self.lookup(height, index)


class MemoryTree:
    """Every perfect subtree of a list of leaf hashes, level by level, built without ledger.wire.merkle."""

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.levels = [list(leaves)]
        while len(self.levels[-1]) >= 2:
            below = self.levels[-1]
            self.levels.append(
                [sha256(b"\x01" + below[i] + below[i + 1]) for i in range(0, len(below) - 1, 2)]
            )

    def reader(self, size: int | None = None) -> CountingReader:
        """A reader for the tree of the first ``size`` leaves (all of them by default)."""
        return CountingReader(
            lambda height, index: self.levels[height][index],
            len(self.levels[0]) if size is None else size,
        )


def synthetic(limit: int) -> CountingReader:
    """A reader of a tree never built: node (h, i) hashes to SHA-256 of "h,i"."""
    return CountingReader(lambda height, index: sha256(f"{height},{index}".encode()), limit)


def random_leaves(seed: int, size: int) -> list[bytes]:
    """``size`` distinct leaf hashes (two equal leaves would make swapping them no attack at all)."""
    rng = random.Random(seed)
    return [leaf_hash(n.to_bytes(4, "big") + rng.randbytes(rng.randrange(0, 40))) for n in range(size)]


VECTOR_LEAVES = [leaf_hash(entry) for entry in LEAF_INPUTS]
VECTOR_TREE = MemoryTree(VECTOR_LEAVES)


def folded(ids: NodeIds, rehash: tuple[int, int], node: NodeReader) -> list[bytes]:
    """Proof elements from node ids, ids[begin:end] folded into one as transparency-dev does."""
    begin, end = rehash
    elements = [node(*ids[i]) for i in range(begin)]
    if end > begin:
        digest = node(*ids[begin])
        for i in range(begin + 1, end):
            digest = node_hash(node(*ids[i]), digest)
        elements.append(digest)
    elements.extend(node(*ids[i]) for i in range(end, len(ids)))
    return elements


# --- known answers ------------------------------------------------------------------------------


def test_empty_tree_hash_is_sha256_of_the_empty_string() -> None:
    """MTH({}) = SHA-256() = e3b0c442..., for every way of asking for a root."""
    assert h(ROOTS[0]) == EMPTY_ROOT == sha256(b"")
    assert root_hash(0, VECTOR_TREE.reader(0)) == EMPTY_ROOT
    assert CompactRange().root() == EMPTY_ROOT
    assert CompactRange().size == 0
    assert root_of_leaves([]) == EMPTY_ROOT


def test_node_hash_is_sha256_of_0x01_prefix_left_and_right() -> None:
    """node = SHA-256(0x01 || left || right); the CT vectors' level-1 node from its two leaves."""
    left, right = h(NODE_HASHES[0][0]), h(NODE_HASHES[0][1])
    assert node_hash(left, right) == sha256(b"\x01" + left + right) == h(NODE_HASHES[1][0])


def test_ct_vector_leaf_and_node_hashes() -> None:
    """leaf_hash of CT's 8 inputs and every perfect subtree above them match testonly/constants.go."""
    assert [[d.hex() for d in level] for level in VECTOR_TREE.levels] == NODE_HASHES
    compact = CompactRange()
    completed = [compact.append(leaf) for leaf in VECTOR_LEAVES]
    for size, nodes in enumerate(completed, start=1):
        assert [(height, d.hex()) for height, d in nodes] == [
            (height, NODE_HASHES[height][(size >> height) - 1])
            for height in range(1, (size & -size).bit_length())
        ]


@pytest.mark.parametrize("size", range(9))
def test_ct_vector_roots_for_every_size(size: int) -> None:
    """The roots of the first 0..8 CT leaves, by node reader, compact range and leaf stream."""
    reader = VECTOR_TREE.reader(size)
    assert root_hash(size, reader).hex() == ROOTS[size]
    assert reader.reads == size.bit_count()
    compact = CompactRange()
    for leaf in VECTOR_LEAVES[:size]:
        compact.append(leaf)
    assert compact.root().hex() == ROOTS[size]
    assert root_of_leaves(VECTOR_LEAVES[:size]).hex() == ROOTS[size]
    assert Reference(VECTOR_LEAVES).mth(0, size).hex() == ROOTS[size]


@pytest.mark.parametrize("size", range(9))
def test_ct_vector_compact_trees(size: int) -> None:
    """CompactRange holds exactly CT's compact-tree hashes; from_nodes reads them back."""
    expected = [h(NODE_HASHES[height][index]) for height, index in COMPACT_TREES[size]]
    compact = CompactRange()
    for leaf in VECTOR_LEAVES[:size]:
        compact.append(leaf)
    assert list(compact.hashes) == expected
    assert perfect_subtrees(0, size) == COMPACT_TREES[size]
    rebuilt = CompactRange.from_nodes(size, VECTOR_TREE.reader(size))
    assert (rebuilt.size, list(rebuilt.hashes)) == (size, expected)


def inclusion_attacks(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> Iterator[tuple[str, tuple[bytes, int, int, list[bytes], bytes]]]:
    """The probes of CT's VerifierCheck and transparency-dev's corruptInclusionProof, and more."""
    for wrong_index in (index - 1, index + 1, index ^ 1, index ^ 2, -1, size):
        if wrong_index != index:
            yield f"index {wrong_index}", (leaf, wrong_index, size, proof, root)
    yield "wrong leaf", (flip(leaf), index, size, proof, root)
    yield "short leaf", (b"WrongLeaf", index, size, proof, root)
    yield "wrong root", (leaf, index, size, proof, flip(root))
    yield "empty-tree root", (leaf, index, size, proof, EMPTY_ROOT)
    yield "random root", (leaf, index, size, proof, SOME_HASH)
    for extra in (b"", root, leaf, *proof[:1]):
        yield f"appended {extra.hex()[:8]!r}", (leaf, index, size, [*proof, extra], root)
        yield f"prepended {extra.hex()[:8]!r}", (leaf, index, size, [extra, *proof], root)
    for i in range(len(proof)):
        for bit in (0, 3, 7):
            altered = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
            yield f"element {i} bit {bit}", (leaf, index, size, altered, root)
        yield f"element {i} replaced", (leaf, index, size, [*proof[:i], EMPTY_ROOT, *proof[i + 1 :]], root)
        yield f"element {i} removed", (leaf, index, size, proof[:i] + proof[i + 1 :], root)
    if len(proof) > 1:
        yield "element inserted", (leaf, index, size, [proof[0], SOME_HASH, *proof[1:]], root)


def check_wrong_sizes_for_inclusion(
    leaf: bytes, index: int, size: int, proof: list[bytes], root: bytes
) -> None:
    """A claimed size is rejected unless its path has the very same shape (the root binds the rest).

    An inclusion proof commits to the tree size only through its shape: (0, 5) and (0, 6) have
    identical paths and computations. The signed checkpoint binds the size to the root.
    """
    for wrong_size in {size * 2, size // 2, size + 1, size - 1, size + 2}:
        if wrong_size == size:
            continue
        if index < wrong_size and path_shape(index, wrong_size) == path_shape(index, size):
            verify_inclusion(leaf, index, wrong_size, proof, root)
        else:
            with pytest.raises(VerificationError):
                verify_inclusion(leaf, index, wrong_size, proof, root)


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_PATHS)
def test_ct_vector_inclusion_paths(index: int, size: int, path: list[str]) -> None:
    """PATH(m, D[n]) equals CT's reference paths, verifies, and every corrupted probe fails."""
    reader = VECTOR_TREE.reader(size)
    proof = inclusion_proof(index, size, reader)
    assert [d.hex() for d in proof] == path
    leaf, root = VECTOR_LEAVES[index], h(ROOTS[size])
    verify_inclusion(leaf, index, size, proof, root)
    for description, args in inclusion_attacks(leaf, index, size, proof, root):
        assert_rejected(verify_inclusion, args, description)
    for wrong_size in (size * 2, size // 2):  # CT asserts exactly these fail for its vectors
        with pytest.raises(VerificationError):
            verify_inclusion(leaf, index, wrong_size, proof, root)


def consistency_attacks(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> Iterator[tuple[str, tuple[int, int, bytes, bytes, list[bytes]]]]:
    """The probes of CT's VerifierConsistencyCheck and transparency-dev's corruptConsistencyProof."""
    yield "wrong old root", (old_size, new_size, flip(old_root), new_root, proof)
    yield "wrong new root", (old_size, new_size, old_root, flip(new_root), proof)
    yield "short old root", (old_size, new_size, b"WrongRoot", new_root, proof)
    yield "short new root", (old_size, new_size, old_root, b"WrongRoot", proof)
    yield "swapped roots", (old_size, new_size, new_root, old_root, proof)
    yield "empty proof", (old_size, new_size, old_root, new_root, [])
    for extra in (b"", old_root, new_root, proof[0], proof[-1]):
        yield f"appended {extra.hex()[:8]!r}", (old_size, new_size, old_root, new_root, [*proof, extra])
        yield f"prepended {extra.hex()[:8]!r}", (old_size, new_size, old_root, new_root, [extra, *proof])
    for i in range(len(proof)):
        for bit in (0, 4, 7):
            altered = [*proof[:i], flip(proof[i], bit), *proof[i + 1 :]]
            yield f"element {i} bit {bit}", (old_size, new_size, old_root, new_root, altered)
        replaced = [*proof[:i], EMPTY_ROOT, *proof[i + 1 :]]
        yield f"element {i} replaced", (old_size, new_size, old_root, new_root, replaced)
        yield f"element {i} removed", (old_size, new_size, old_root, new_root, proof[:i] + proof[i + 1 :])


def check_wrong_sizes_for_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]
) -> None:
    """Claimed sizes are rejected unless their proof has the very same shape (see inclusion)."""
    claims = {
        (old_size - 1, new_size),
        (old_size + 1, new_size),
        (old_size ^ 2, new_size),
        (old_size, new_size * 2),
        (old_size, new_size // 2),
        (old_size, new_size + 1),
        (old_size, new_size - 1),
    }
    for m, n in claims - {(old_size, new_size)}:
        if 0 < m < n and proof_shape(m, n) == proof_shape(old_size, new_size):
            verify_consistency(m, n, old_root, new_root, proof)
        else:
            with pytest.raises(VerificationError):
                verify_consistency(m, n, old_root, new_root, proof)


@pytest.mark.parametrize(("old_size", "new_size", "expected"), CONSISTENCY_PROOFS)
def test_ct_vector_consistency_proofs(old_size: int, new_size: int, expected: list[str]) -> None:
    """PROOF(m, D[n]) equals CT's reference proofs, verifies, and every corrupted probe fails."""
    reader = VECTOR_TREE.reader(new_size)
    proof = consistency_proof(old_size, new_size, reader)
    assert [d.hex() for d in proof] == expected
    old_root, new_root = h(ROOTS[old_size]), h(ROOTS[new_size])
    verify_consistency(old_size, new_size, old_root, new_root, proof)
    if not proof:
        return
    for description, args in consistency_attacks(old_size, new_size, old_root, new_root, proof):
        assert_rejected(verify_consistency, args, description)
    for m, n in ((old_size - 1, new_size), (old_size + 1, new_size), (old_size ^ 2, new_size)):
        with pytest.raises(VerificationError):  # CT asserts exactly these fail for its vectors
            verify_consistency(m, n, old_root, new_root, proof)
    for m, n in ((old_size, new_size * 2), (old_size, new_size // 2)):
        with pytest.raises(VerificationError):
            verify_consistency(m, n, old_root, new_root, proof)


@pytest.mark.parametrize(("size", "index", "ids", "rehash"), INCLUSION_NODES)
def test_inclusion_proof_reads_the_stored_nodes_transparency_dev_names(
    size: int, index: int, ids: NodeIds, rehash: tuple[int, int]
) -> None:
    """Each proof element is the node, or the folded right-border nodes, of proof_test.go."""
    reader = synthetic(size)
    assert inclusion_proof(index, size, reader) == folded(ids, rehash, synthetic(size))
    assert reader.reads == len(ids)


@pytest.mark.parametrize(("old_size", "new_size", "ids", "rehash"), CONSISTENCY_NODES)
def test_consistency_proof_reads_the_stored_nodes_transparency_dev_names(
    old_size: int, new_size: int, ids: NodeIds, rehash: tuple[int, int]
) -> None:
    """Each proof element is the node, or the folded right-border nodes, of proof_test.go."""
    reader = synthetic(new_size)
    assert consistency_proof(old_size, new_size, reader) == folded(ids, rehash, synthetic(new_size))
    assert reader.reads == len(ids)


# --- edge cases and messages --------------------------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (0, 1), (1, 0), (2, 1), (-1, 4), (4, 4)])
def test_verify_inclusion_rejects_degenerate_probes(index: int, size: int) -> None:
    """transparency-dev's TestVerifyInclusion probes: no empty proof proves these, whatever the roots."""
    for leaf, root in ((SOME_HASH, b""), (b"", EMPTY_ROOT), (SOME_HASH, EMPTY_ROOT)):
        with pytest.raises(VerificationError):
            verify_inclusion(leaf, index, size, [], root)


def test_verify_inclusion_single_entry() -> None:
    """A one-leaf tree's root is its leaf hash, its proof empty (TestVerifyInclusionSingleEntry)."""
    digest = leaf_hash(b"data")
    verify_inclusion(digest, 0, 1, [], digest)
    for leaf, root in ((digest, b""), (b"", digest), (b"", b"")):
        with pytest.raises(VerificationError, match="is 0 bytes"):
            verify_inclusion(leaf, 0, 1, [], root)


def test_verify_inclusion_messages_name_what_failed() -> None:
    """Index, proof length, element length and root mismatch each get their own message."""
    proof = inclusion_proof(5, 8, VECTOR_TREE.reader())
    leaf, root = VECTOR_LEAVES[5], h(ROOTS[8])
    with pytest.raises(VerificationError, match=r"^leaf index 8 is outside a tree of size 8$"):
        verify_inclusion(leaf, 8, 8, proof, root)
    with pytest.raises(
        VerificationError, match=r"^inclusion proof of leaf 5 in tree size 8 has 2 hashes, expected 3$"
    ):
        verify_inclusion(leaf, 5, 8, proof[:2], root)
    with pytest.raises(VerificationError, match=r"element 1 is 0 bytes, not a 32-byte SHA-256 hash"):
        verify_inclusion(leaf, 5, 8, [proof[0], b"", proof[2]], root)
    with pytest.raises(
        VerificationError, match=rf"leads to root [0-9a-f]{{64}}, not the expected {ROOTS[8]}$"
    ):
        verify_inclusion(flip(leaf), 5, 8, proof, root)


def test_verify_consistency_trivial_sizes() -> None:
    """m == n needs an empty proof and equal roots; m == 0 an empty proof and the empty-tree root.

    Stricter than CT's verifier at m == 0, which accepts any old root: a tree of size 0 has a
    defined root, MTH({}), and a checkpoint claiming another is wrong.
    """
    root7 = h(ROOTS[7])
    verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    verify_consistency(0, 7, EMPTY_ROOT, root7, [])
    verify_consistency(7, 7, root7, root7, [])
    rejected = [
        ((0, 0, EMPTY_ROOT, root7, []), "different roots"),
        ((0, 0, root7, root7, []), "not the empty-tree hash"),
        ((0, 7, root7, root7, []), "not the empty-tree hash"),
        ((7, 7, root7, h(ROOTS[6]), []), "different roots"),
        ((0, 0, EMPTY_ROOT, EMPTY_ROOT, [EMPTY_ROOT]), "has 1 hashes, expected 0"),
        ((0, 1, EMPTY_ROOT, h(ROOTS[1]), [EMPTY_ROOT]), "has 1 hashes, expected 0"),
        ((1, 1, h(ROOTS[1]), h(ROOTS[1]), [EMPTY_ROOT]), "has 1 hashes, expected 0"),
        ((1, 0, h(ROOTS[1]), EMPTY_ROOT, []), "old tree size must be between 0 and the new tree size"),
        ((2, 1, h(ROOTS[2]), h(ROOTS[1]), []), "old tree size must be between 0 and the new tree size"),
        ((-1, 1, EMPTY_ROOT, h(ROOTS[1]), []), "old tree size must be between 0 and the new tree size"),
        ((1, 2, h(ROOTS[1]), h(ROOTS[2]), []), "has 0 hashes, expected 1"),
        ((1, 1, b"don't care 1", b"don't care 2", []), "old root hash is 12 bytes"),
    ]
    for args, message in rejected:
        with pytest.raises(VerificationError, match=message):
            verify_consistency(*args)


def test_verify_consistency_messages_name_what_failed() -> None:
    """Old and new root mismatches are told apart."""
    proof = consistency_proof(6, 8, VECTOR_TREE.reader())
    old, new = h(ROOTS[6]), h(ROOTS[8])
    what = "consistency proof from tree size 6 to 8"
    with pytest.raises(
        VerificationError, match=rf"^{what} leads to old root [0-9a-f]{{64}}, not the expected"
    ):
        verify_consistency(6, 8, flip(old), new, proof)
    with pytest.raises(
        VerificationError, match=rf"^{what} leads to new root [0-9a-f]{{64}}, not the expected"
    ):
        verify_consistency(6, 8, old, flip(new), proof)
    with pytest.raises(VerificationError, match=rf"^{what} has 4 hashes, expected 3$"):
        verify_consistency(6, 8, old, new, [*proof, new])


def test_proof_generation_rejects_impossible_requests() -> None:
    """Asking for a proof outside the tree is a caller's mistake: ValueError, no node read."""
    reader = synthetic(8)
    for index, size in ((0, 0), (8, 8), (-1, 8)):
        with pytest.raises(ValueError, match=f"leaf index {index} is not in a tree of size {size}"):
            inclusion_proof(index, size, reader)
    for old, new in ((9, 8), (-1, 8)):
        with pytest.raises(ValueError, match=f"no consistency proof from tree size {old} to tree size {new}"):
            consistency_proof(old, new, reader)
    assert consistency_proof(0, 8, reader) == []
    assert consistency_proof(8, 8, reader) == []
    assert reader.reads == 0


def test_range_hash_refuses_ranges_the_rfc_never_splits_into() -> None:
    """[1, 3) is not a subtree of any RFC tree (it would mix two level-1 nodes): ValueError."""
    with pytest.raises(ValueError, match=r"\[1, 3\) is not a subtree"):
        range_hash(1, 3, synthetic(8))
    with pytest.raises(ValueError, match="not a range"):
        range_hash(3, 1, synthetic(8))
    assert range_hash(4, 7, VECTOR_TREE.reader()) == Reference(VECTOR_LEAVES).mth(4, 7)


@pytest.mark.parametrize(
    ("start", "end"), [(0, 0), (0, 13), (3, 17), (5, 6), (8, 16), (6, 1000), (1023, 1025)]
)
def test_perfect_subtrees_cover_the_range_with_maximal_aligned_subtrees(start: int, end: int) -> None:
    """Left to right and contiguous; each subtree is aligned, and as large as alignment and end allow."""
    position = start
    for height, index in perfect_subtrees(start, end):
        assert index << height == position
        assert index % 2 == 1 or (index + 2) << height > end  # its parent would not fit or not align
        position += 1 << height
    assert position == end


# --- properties over random trees ---------------------------------------------------------------

SIZES = st.integers(0, 2000)
SEEDS = st.integers(0, 2**32)


@SETTINGS
@given(size=SIZES, seed=SEEDS)
@example(size=2000, seed=1)
@example(size=1024, seed=2)
@example(size=1025, seed=3)
def test_root_hash_equals_the_naive_rfc_mth_for_every_prefix(size: int, seed: int) -> None:
    """root_hash(s) over stored nodes == the recursive MTH, for every s <= size, with popcount(s) reads."""
    leaves = random_leaves(seed, size)
    tree, ref = MemoryTree(leaves), Reference(leaves)
    for s in range(size + 1):
        reader = tree.reader(s)
        assert root_hash(s, reader) == ref.mth(0, s)
        assert reader.reads == s.bit_count()
    assert root_of_leaves(leaves) == ref.mth(0, size)


@SETTINGS
@given(size=st.integers(1, 2000), seed=SEEDS, data=st.data())
@example(size=2000, seed=1, data=None)
@example(size=1, seed=2, data=None)
def test_every_inclusion_proof_is_the_rfc_path_and_verifies(
    size: int, seed: int, data: st.DataObject | None
) -> None:
    """For every leaf: proof == PATH(m, D[n]) from a larger stored tree, and it verifies.

    For some drawn leaves, every corruption fails: wrong index, leaf, size (when the path shape
    differs) or root, and any element altered, replaced, removed or added.
    """
    leaves = random_leaves(seed, size + 5)  # the store holds more than the tree being proven
    tree, ref = MemoryTree(leaves), Reference(leaves)
    root = ref.mth(0, size)
    bound = 2 * math.ceil(math.log2(size)) + 2 if size > 1 else 0
    for index in range(size):
        reader = tree.reader(size)
        proof = inclusion_proof(index, size, reader)
        assert proof == ref.path(index, 0, size)
        assert reader.reads <= bound
        verify_inclusion(leaves[index], index, size, proof, root)
    drawn = [0, size - 1]
    if data is not None:
        drawn += data.draw(st.lists(st.integers(0, size - 1), max_size=3), label="attacked leaves")
    for index in drawn:
        proof = ref.path(index, 0, size)
        for description, args in inclusion_attacks(leaves[index], index, size, proof, root):
            assert_rejected(verify_inclusion, args, description)
        check_wrong_sizes_for_inclusion(leaves[index], index, size, proof, root)


@SETTINGS
@given(size=st.integers(1, 2000), seed=SEEDS, data=st.data())
@example(size=2000, seed=1, data=None)
@example(size=1, seed=2, data=None)
def test_every_consistency_proof_is_the_rfc_proof_and_verifies(
    size: int, seed: int, data: st.DataObject | None
) -> None:
    """For every 0 < m <= n: proof == PROOF(m, D[n]) from a larger stored tree, and it verifies.

    For some drawn m < n, every corruption fails: wrong roots, swapped roots, sizes (when the
    proof shape differs), and any element altered, replaced, removed or added.
    """
    leaves = random_leaves(seed, size + 5)
    tree, ref = MemoryTree(leaves), Reference(leaves)
    new_root = ref.mth(0, size)
    bound = 2 * math.ceil(math.log2(size)) + 2 if size > 1 else 0
    for old in range(1, size + 1):
        reader = tree.reader(size)
        proof = consistency_proof(old, size, reader)
        assert proof == ref.proof(old, size)
        assert reader.reads <= bound
        verify_consistency(old, size, ref.mth(0, old), new_root, proof)
    verify_consistency(0, size, EMPTY_ROOT, new_root, consistency_proof(0, size, tree.reader(size)))
    if size < 2:
        return
    drawn = [1, size - 1]
    if data is not None:
        drawn += data.draw(st.lists(st.integers(1, size - 1), max_size=3), label="attacked old sizes")
    for old in drawn:
        proof, old_root = ref.proof(old, size), ref.mth(0, old)
        for description, args in consistency_attacks(old, size, old_root, new_root, proof):
            assert_rejected(verify_consistency, args, description)
        check_wrong_sizes_for_consistency(old, size, old_root, new_root, proof)


@SETTINGS
@given(size=SIZES, seed=SEEDS, data=st.data())
@example(size=2000, seed=1, data=None)
def test_compact_range_append_returns_completed_subtrees_and_from_nodes_rebuilds_it(
    size: int, seed: int, data: st.DataObject | None
) -> None:
    """Each append returns exactly the perfect subtrees it completed (lowest first); roots match.

    from_nodes at any size rebuilds the same border from stored nodes, and appending to the rebuilt
    range continues exactly as appending to the original.
    """
    leaves = random_leaves(seed, size)
    tree, ref = MemoryTree(leaves), Reference(leaves)
    compact = CompactRange()
    borders = [compact.hashes]
    for count, leaf in enumerate(leaves, start=1):
        completed = compact.append(leaf)
        assert completed == [
            (height, tree.levels[height][(count >> height) - 1])
            for height in range(1, (count & -count).bit_length())
        ]
        assert completed == [
            (height, ref.mth(count - (1 << height), count))
            for height in range(1, (count & -count).bit_length())
        ]
        assert compact.size == count
        assert compact.root() == ref.mth(0, count)
        borders.append(compact.hashes)
        assert len(compact.hashes) == count.bit_count()
    cuts = [0, size // 2, size]
    if data is not None:
        cuts += data.draw(st.lists(st.integers(0, size), max_size=3), label="rebuild at")
    for cut in cuts:
        reader = tree.reader(cut)
        rebuilt = CompactRange.from_nodes(cut, reader)
        assert reader.reads == cut.bit_count()
        assert (rebuilt.size, rebuilt.hashes, rebuilt.root()) == (cut, borders[cut], ref.mth(0, cut))
        for count, leaf in enumerate(leaves[cut : cut + 40], start=cut + 1):
            rebuilt.append(leaf)
            assert rebuilt.hashes == borders[count]


def test_compact_range_refuses_a_leaf_that_is_not_a_hash() -> None:
    """append takes 32-byte leaf hashes, not entries."""
    with pytest.raises(ValueError, match="a leaf hash is 32 bytes, not 3"):
        CompactRange().append(b"abc")


# --- O(log n) node reads at ten million leaves --------------------------------------------------

TEN_MILLION = 10**7
READ_BOUND = 2 * math.ceil(math.log2(TEN_MILLION)) + 2  # 50


@settings(max_examples=200, deadline=None)
@given(index=st.integers(0, TEN_MILLION - 1))
@example(index=0)
@example(index=TEN_MILLION - 1)
@example(index=TEN_MILLION // 2)
@example(index=2**23 - 1)
@example(index=2**23)
def test_inclusion_proof_at_ten_million_reads_o_log_n_nodes(index: int) -> None:
    """An inclusion proof in a 10**7-leaf tree reads at most 2*ceil(log2 n)+2 nodes, all inside it."""
    reader = synthetic(TEN_MILLION)
    proof = inclusion_proof(index, TEN_MILLION, reader)
    assert reader.reads <= READ_BOUND
    assert len(proof) == len(path_shape(index, TEN_MILLION))


@settings(max_examples=200, deadline=None)
@given(old_size=st.integers(1, TEN_MILLION))
@example(old_size=1)
@example(old_size=TEN_MILLION - 1)
@example(old_size=2**23)
@example(old_size=2**23 + 1)
def test_consistency_proof_at_ten_million_reads_o_log_n_nodes(old_size: int) -> None:
    """A consistency proof to a 10**7-leaf tree reads at most 2*ceil(log2 n)+2 nodes, all inside it."""
    reader = synthetic(TEN_MILLION)
    proof = consistency_proof(old_size, TEN_MILLION, reader)
    assert reader.reads <= READ_BOUND
    assert len(proof) == len(proof_shape(old_size, TEN_MILLION))


def test_root_and_compact_range_at_ten_million_read_popcount_nodes() -> None:
    """root_hash and from_nodes read one node per set bit of the size (8 for 10**7)."""
    reader = synthetic(TEN_MILLION)
    root_hash(TEN_MILLION, reader)
    assert reader.reads == TEN_MILLION.bit_count() == 8
    reader = synthetic(TEN_MILLION)
    CompactRange.from_nodes(TEN_MILLION, reader)
    assert reader.reads == 8
