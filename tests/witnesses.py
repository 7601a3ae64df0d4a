"""Helpers for the witness tests: logs kept in memory, liuhen's witness served on a loopback port,
ledgers in a real SQLite store, and raw HTTP requests."""

from __future__ import annotations

import http.client
import threading
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path

from ledger.app.assembly import open_store
from ledger.app.config import Config
from ledger.ingest.store import Batch
from ledger.wire.appender import LogAppender
from ledger.wire.format import leaf_hash
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import consistency_proof, root_of_leaves
from ledger.wire.note import Checkpoint, SignedCheckpoint, cosigner_verifier_text
from ledger.witness.protocol import Submission
from ledger.witness.server import WitnessServer, serve
from ledger.witness.state import WitnessState

EXTENSIONS = (
    "liuhen-chain AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
    "another-extension opaque to witnesses",
)


class MemoryLog:
    """A log's leaves in memory, its checkpoints signed by ``key``, its consistency proofs."""

    def __init__(self, origin: str, key: SigningKey, *, size: int = 0, tag: str = "honest") -> None:
        self.origin = origin
        self.key = key
        self.leaves: list[bytes] = []
        self.grow(size, tag)

    def grow(self, size: int, tag: str = "honest") -> MemoryLog:
        """Append leaves up to ``size`` (their content named by ``tag``: another tag, another history)."""
        self.leaves += [leaf_hash(f"{tag} entry {n}".encode()) for n in range(len(self.leaves), size)]
        return self

    def node(self, height: int, index: int) -> bytes:
        return root_of_leaves(self.leaves[index << height : (index + 1) << height])

    def checkpoint(
        self, size: int, *, key: SigningKey | None = None, root: bytes | None = None
    ) -> SignedCheckpoint:
        checkpoint = Checkpoint(
            origin=self.origin,
            tree_size=size,
            root_hash=root_of_leaves(self.leaves[:size]) if root is None else root,
            extensions=EXTENSIONS,
        )
        return SignedCheckpoint.sign(checkpoint, key or self.key)

    def proof(self, old: int, size: int) -> list[bytes]:
        return consistency_proof(old, size, self.node)

    def submission(self, old: int, size: int, *, proof: Sequence[bytes] | None = None) -> Submission:
        return Submission(
            old_size=old,
            proof=tuple(self.proof(old, size) if proof is None else proof),
            signed=self.checkpoint(size),
        )


@dataclass
class Answer:
    status: int
    content_type: str
    body: bytes


def request(
    url: str,
    method: str,
    path: str,
    body: bytes | Iterable[bytes] | None = None,
    headers: dict[str, str] | None = None,
) -> Answer:
    """One HTTP request (no retries, no redirects), as a client on the wire sends it."""
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname or "", parts.port, timeout=10)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return Answer(response.status, response.getheader("Content-Type") or "", response.read())
    finally:
        connection.close()


def post(url: str, body: bytes) -> Answer:
    return request(url, "POST", "/add-checkpoint", body, {"Content-Type": "text/plain"})


@dataclass
class RunningWitness:
    server: WitnessServer
    key: SigningKey
    state: WitnessState

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def vkey(self) -> str:
        return cosigner_verifier_text(self.key.public)


@contextmanager
def running_witness(folder: Path, key: SigningKey | None = None) -> Iterator[RunningWitness]:
    """liuhen's witness serving ``folder`` on a free loopback port, in a thread of this process."""
    key = key or SigningKey.generate("witness.example/w1")
    state = WitnessState.open(folder)
    server = serve(key, state, "127.0.0.1:0")
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield RunningWitness(server, key, state)
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def append_batches(config: Config, log: LogAppender, *sizes: int, tag: str = "entry") -> None:
    """Append ``log``'s entries to the configured store in batches ending at ``sizes``, each checkpointed."""
    with closing(open_store(config, create=True)) as store:
        for size in sizes:
            before, now = log.chain, time.time_ns() // 1000
            entries = [
                log.append(f"{tag} {n}".encode(), kafka_offset=-1, ingested_at_us=now)
                for n in range(log.size, size)
            ]
            checkpoint = log.checkpoint(time_us=now, logs=store.origins())
            batch = Batch(origin=log.origin, entries=entries, event_ids={}, checkpoint=checkpoint)
            store.append(batch, expected=before)
