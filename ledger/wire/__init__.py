"""The ledger's wire formats: the part auditors depend on, kept small, pure and versioned.

Imports only the standard library, ``cryptography`` and ``fastavro``; each module is the
specification of one format:

* :mod:`~ledger.wire.format` — leaf and chain hashes, the stored-entry layout, chain checks;
* :mod:`~ledger.wire.merkle` — RFC 9162 Merkle trees: roots, compact ranges, inclusion and
  consistency proofs;
* :mod:`~ledger.wire.note` — C2SP signed notes, checkpoints and witness cosignatures;
* :mod:`~ledger.wire.keys` — Ed25519 keys, C2SP key ids, key files;
* :mod:`~ledger.wire.avro` — schemas, fingerprints and the signed-event wire format;
* :mod:`~ledger.wire.bundle` — the auditor bundle's files;
* :mod:`~ledger.wire.keyring` — which source key may sign which source's events, at each entry;
* :mod:`~ledger.wire.rotation` — ledger key rotations;
* :mod:`~ledger.wire.appender` — :class:`~ledger.wire.appender.LogAppender`, the one way entries
  are chained, hashed into the Merkle tree and checkpointed.
"""
