"""How one ledger entry is built: the running state of one log, and the one place that extends it.

This module is the specification of appending; it imports only the standard library and
:mod:`ledger.wire`. Ingest (:class:`ledger.ingest.writer.LogWriter`), the fixture builder, the
tests and the benchmarks all append through :class:`LogAppender`, so a stored entry and a
checkpoint are made in exactly one way.

A log's state is its origin (the C2SP checkpoint origin line; it names deployment, topic and
partition), its hash chain (:class:`ledger.wire.format.Chain`: the next index and the last chain
hash) and its Merkle tree's right border (:class:`ledger.wire.merkle.CompactRange`). Appending the
entry bytes ``e`` (exactly as received from Kafka, never re-serialised) at index ``i = size``:

1. ``leaf = SHA-256(0x00 || e)`` (:func:`ledger.wire.format.leaf_hash`, RFC 9162 §2.1.1),
   computed once: the caller may pass it when it has it already.
2. The tree appends ``leaf`` (:meth:`CompactRange.append`) and returns the perfect subtrees the
   leaf completed: height ``h`` for every ``h >= 1`` with ``(i + 1) % 2**h == 0``, lowest first,
   each ``SHA-256(0x01 || left || right)`` (:func:`ledger.wire.merkle.node_hash`).
3. The chain appends ``leaf``: ``chain_hash[i] = SHA-256(0x02 || chain_hash[i-1] || leaf)``
   (:func:`ledger.wire.format.chain_hash`; ``chain_hash[-1]`` is 32 zero bytes).
4. The stored entry is ``StoredEntry(i, kafka_offset, ingested_at_us, chain_hash[i], e, nodes)``
   with the completed subtrees' hashes as ``nodes``, height 1 first: the layout of
   :mod:`ledger.wire.format` (the offset, ingest time and nodes are metadata the chain does not
   cover; ``kafka_offset`` is -1 for an entry that did not come from Kafka).

After a batch, the ledger key signs the **checkpoint** of the log as it then stands
(:meth:`LogAppender.checkpoint`): ``Checkpoint.for_log(origin, size, MTH(D[0:size]),
chain_hash[size-1], time, logs)`` as a C2SP signed note (:mod:`ledger.wire.note`: origin, tree
size, base64 root, the ``liuhen-chain``, ``liuhen-time`` and ``liuhen-logs`` extension lines,
blank line, the ``— <origin> <base64(key ID || Ed25519 signature)>`` line: the ledger key signs
under the origin's name). The checkpoint's time never goes back: it is at least the previous
checkpoint's (:attr:`LogAppender.time_us`), whatever the clock says.

A writer appends a batch to a :meth:`LogAppender.copy` and adopts the copy only once the store
has accepted the batch; a batch the store refuses leaves the writer's appender as it was.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.wire.format import Chain, StoredEntry, leaf_hash
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import CompactRange, NodeReader
from ledger.wire.note import Checkpoint, SignedCheckpoint, log_signing_key


class LogAppender:
    """One log's running state (origin, chain, compact Merkle range) and the ledger key signing it.

    ``LogAppender(origin=..., key=...)`` starts an empty log; :meth:`resume` continues one from a
    store. Not thread-safe: one writer appends to one log.
    """

    __slots__ = ("_chain", "_signer", "_tree", "key", "origin", "time_us")

    def __init__(self, *, origin: str, key: SigningKey, time_us: int = 0) -> None:
        self.origin = origin
        self.key = key
        """The ledger key that signs the log's checkpoints."""
        self.time_us = time_us
        """The time of the log's last checkpoint (microseconds since the epoch; 0: none yet)."""
        self._signer = log_signing_key(key, origin)
        self._chain = Chain()
        self._tree = CompactRange()

    @classmethod
    def resume(
        cls, *, origin: str, key: SigningKey, chain: Chain, node: NodeReader, time_us: int = 0
    ) -> LogAppender:
        """The appender of a log whose head is ``chain``, reading its tree's border with ``node``.

        ``chain`` is the store's head of the log (``LedgerStore.head``) and ``node`` reads the
        log's stored perfect subtrees (``partial(LedgerStore.node, origin)``); at most
        ``log2(size) + 1`` of them are read. ``time_us`` is the time of its latest checkpoint.
        """
        appender = cls(origin=origin, key=key, time_us=time_us)
        appender._chain = Chain(chain.size, chain.head)
        appender._tree = CompactRange.from_nodes(chain.size, node)
        return appender

    def copy(self) -> LogAppender:
        """An independent copy: appending to one never changes the other."""
        twin = LogAppender(origin=self.origin, key=self.key, time_us=self.time_us)
        twin._chain = Chain(self._chain.size, self._chain.head)
        twin._tree = self._tree.copy()
        return twin

    @property
    def size(self) -> int:
        """How many entries the log holds: the index the next entry gets."""
        return self._chain.size

    @property
    def head(self) -> bytes:
        """The chain hash of the last entry (32 zero bytes for the empty log)."""
        return self._chain.head

    @property
    def chain(self) -> Chain:
        """The chain state (a copy), as ``LedgerStore.append`` expects the log before a batch."""
        return Chain(self._chain.size, self._chain.head)

    @property
    def root(self) -> bytes:
        """``MTH(D[0:size])``, the Merkle root of the log (``EMPTY_ROOT`` for the empty log)."""
        return self._tree.root()

    def append(
        self, entry: bytes, *, kafka_offset: int, ingested_at_us: int, leaf: bytes | None = None
    ) -> StoredEntry:
        """Append ``entry`` (its leaf hash ``leaf`` if the caller has it) and return it as stored.

        The stored entry carries its index, chain hash and the hashes of the Merkle subtrees it
        completed (steps 1-4 of the module docstring).
        """
        if leaf is None:
            leaf = leaf_hash(entry)
        completed = self._tree.append(leaf)  # half the entries complete no subtree
        chain = self._chain
        index = chain.size
        nodes = tuple([digest for _, digest in completed]) if completed else ()
        return StoredEntry(index, kafka_offset, ingested_at_us, chain.append_leaf(leaf), entry, nodes)

    def checkpoint(self, *, time_us: int, logs: Sequence[str]) -> bytes:
        """The C2SP signed note of the log as it stands, signed by the key under the origin's name.

        ``time_us`` is the ledger's time of the commit (raised to the previous checkpoint's if
        the clock went back); ``logs`` the ledger's origins in the order they were opened (this
        log's is added at the end if it is new).
        """
        self.time_us = max(time_us, self.time_us)
        named = list(logs) if self.origin in logs else [*logs, self.origin]
        checkpoint = Checkpoint.for_log(
            origin=self.origin,
            tree_size=self._chain.size,
            root_hash=self._tree.root(),
            chain_head=self.head,
            time_us=self.time_us,
            logs=named,
        )
        return SignedCheckpoint.sign(checkpoint, self._signer).encode()
