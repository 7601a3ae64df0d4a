"""The composition root and use cases: what the ``liuhen`` command (and any service) runs.

* :mod:`~ledger.app.config` — settings from the environment;
* :mod:`~ledger.app.assembly` — the store, read models, topics, publishers and ingestor, built
  from the settings;
* :mod:`~ledger.app.keys` and :mod:`~ledger.app.sources` — the ledger key, source keys, and
  their registration and revocation, checked against the ledger's key history;
* :mod:`~ledger.app.simulation` — synthetic traffic through the SDK, and the demo's own home;
* :mod:`~ledger.app.status` — what each log holds, chains recomputed;
* :mod:`~ledger.app.audit` — bundles, proofs, the live check, witnessing.
"""
