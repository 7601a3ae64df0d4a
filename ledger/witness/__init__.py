"""A C2SP witness (c2sp.org/tlog-witness): cosigns a log's checkpoint once it is proven consistent.

A witness is an independent service: it never reads the operator's store. It knows which logs it
witnesses and with which log keys, remembers for each the newest checkpoint it cosigned, and
cosigns a new checkpoint only with a consistency proof from that one, so that a log shown to it
rolled back, vanished or forked is refused, and two histories can never both carry its cosignature.

* :mod:`ledger.witness.protocol`: the add-checkpoint request and answers, and the witness's checks
  (pure: :mod:`ledger.wire` and the standard library);
* :mod:`ledger.witness.state`: what the witness remembers in its folder, written durably;
* :mod:`ledger.witness.server`: the HTTP service (``liuhen witness serve``).

The operator's side, submitting each log's newest checkpoint to the witnesses it names, is
:mod:`ledger.app.witnessing` (``liuhen witness push``). This package imports :mod:`ledger.wire`,
:mod:`ledger.errors` and the standard library only: no event store, Kafka or read model.
"""
