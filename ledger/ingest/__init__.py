"""From Kafka into the ledger, and out again as bundles.

* :mod:`~ledger.ingest.store` — the event store, through the ``eventsourcing`` library's own
  recorders (SQLite or PostgreSQL), with the ownership fence;
* :mod:`~ledger.ingest.writer` — one partition's log writer: classify, verify, dedupe, chain,
  append; with :mod:`~ledger.ingest.validation` (what an event must mean) and
  :mod:`~ledger.ingest.workers` (the processes that check source signatures);
* :mod:`~ledger.ingest.consumer` — the Kafka consumer loop: assignment, ownership, offsets, the
  rejected-topic outbox, outages;
* :mod:`~ledger.ingest.settings` — what one ingest process reads from where;
* :mod:`~ledger.ingest.broker` — topics, clients, offsets;
* :mod:`~ledger.ingest.export` — auditor bundles written from the store.
"""
