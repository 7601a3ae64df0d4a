"""liuhen (留痕): a tamper-evident access-audit ledger for public-security video systems.

Layers, bottom up: ``format`` (hashes and the stored-entry layout), ``keys`` (Ed25519 keys and
signatures), ``avro`` (schemas, fingerprints, the signed-event wire format), ``store`` (the event
store through the ``eventsourcing`` library), ``sdk`` (the producer SDK platform adapters import),
``ingest`` (Kafka to ledger), and the thin ``cli`` on top.
"""

__version__ = "0.1.0"
