"""Read models over the ledger: who accessed what footage when, and violations of the regulation.

Beside :mod:`ledger.ingest`, never below it (``projections`` imports ``ledger``, not the reverse):

* :mod:`~projections.feed` — ledger entries read from the store's notification log, decoded
  into the items the projector applies (:mod:`~projections.prefetch` reads a long backlog ahead
  in a second process);
* :mod:`~projections.projector` — applies items to the tables, running the rules;
* :mod:`~projections.tables` — the SQLite read models and their indexes;
* :mod:`~projections.rules` — the detection rules, one module a concern, one catalog
  (:mod:`~projections.rules.catalog`);
* :mod:`~projections.runner` — batches applied exactly once, the position kept with the rows;
* :mod:`~projections.queries` — the investigators' questions.
"""
