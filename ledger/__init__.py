"""liuhen (留痕): a tamper-evident access-audit ledger for public-security video systems.

Layers, bottom up; each imports only those below it (``tests/test_layout.py`` holds them to it):

* :mod:`ledger.errors` — the one error tree;
* :mod:`ledger.wire` — the pure formats auditors depend on (standard library, ``cryptography``
  and ``fastavro`` only);
* :mod:`ledger.verify` — the offline verifier, on ``wire`` alone (``python -m ledger.verify``);
* :mod:`ledger.sdk` — the producer SDK platform adapters import (``wire`` and Kafka's client);
* :mod:`ledger.ingest` — the event store, the log writer, the Kafka consumer loop, export;
* :mod:`ledger.simulate` — a synthetic city's traffic (pure data, published by the app);
* :mod:`ledger.app` — the composition root and use cases (with :mod:`projections` beside it);
* :mod:`ledger.cli` — the ``liuhen`` command, the one error boundary.
"""

__version__ = "0.1.0"
