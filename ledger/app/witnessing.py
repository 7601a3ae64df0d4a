"""The operator's side of witnessing (``liuhen witness push``): each log's newest checkpoint, to each witness.

A separate process from ingest, so a slow or absent witness never holds a batch back. For each log
in the store and each witness of ``LIUHEN_WITNESSES`` (:class:`~ledger.app.config.WitnessEndpoint`),
one round:

1. the newest checkpoint of the log, and the newest size the witness is known to have cosigned:
   the store's tracking position ``witness:<witness key id>:<origin>`` (0 if none). When they are
   equal there is nothing to do;
2. ``POST <url>/add-checkpoint`` with ``old <that size>``, the consistency proof from it (built
   from the store's nodes) and the checkpoint (:mod:`ledger.witness.protocol`);
3. on 409 the witness says which size it cosigned last (another pusher moved it, or this store's
   position was lost): the proof is built again from that size and sent again. A size beyond the
   log's newest checkpoint means the witness has seen a longer history than this store holds:
   an error, never retried around;
4. on 200 the answer's lines are checked against the witness's key (other keys' lines ignored)
   and stored with :meth:`LedgerStore.add_cosignatures`, which moves the tracking position in
   the same transaction: the verifier (``--witness``/``--quorum``) reads them beside the
   checkpoint, and ``liuhen status`` shows the position.

Why the store keeps the position: it is the same fact as the stored cosignature (a position
recorded in the transaction of its effect, like ingest's Kafka offsets), it is on PostgreSQL when
the ledger is, and a lost or stale position costs one 409 round trip, never a wrong cosignature.

Failures are per log and witness: one witness down does not stop the others. A witness that
does not answer, or answers 5xx, is retried with exponential backoff (:class:`Backoff`); a
refusal (400, 403, 404, 422) is reported and retried at the backoff's pace too, because it needs
a person (a key to configure, a fork to investigate).
"""

from __future__ import annotations

import logging
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

from ledger.app.assembly import open_store
from ledger.app.config import Config, WitnessEndpoint
from ledger.errors import ConfigurationError, LedgerError, SizeConflict, WitnessError, WitnessUnavailable
from ledger.ingest.store import LedgerStore
from ledger.wire.merkle import consistency_proof
from ledger.wire.note import NoteSignature, SignedCheckpoint
from ledger.witness.protocol import ADD_CHECKPOINT, TEXT_TYPE, Submission, refusal, verified_cosignatures

MAX_CONFLICTS = 3
"""409 answers followed in one submission before giving up (each names a newer size)."""
_log = logging.getLogger("ledger.witness.push")


def tracking_name(witness: WitnessEndpoint, origin: str) -> str:
    """The store's tracking position of the newest size of ``origin`` that ``witness`` cosigned."""
    return f"witness:{witness.key_id}:{origin}"


class WitnessClient:
    """``POST <url>/add-checkpoint`` to one witness over HTTP (``urllib``), with a time-out."""

    def __init__(self, witness: WitnessEndpoint, *, timeout: float = 10.0) -> None:
        self.witness = witness
        self.timeout = timeout

    def submit(self, submission: Submission) -> list[NoteSignature]:
        """The witness's verified cosignature lines of the checkpoint, or raise :class:`WitnessError`."""
        request = urllib.request.Request(  # noqa: S310 - the URL is an http(s) one (parse_witnesses)
            self.witness.url + ADD_CHECKPOINT,
            data=submission.encode(),
            method="POST",
            headers={"Content-Type": TEXT_TYPE, "User-Agent": "liuhen-witness-push"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:  # noqa: S310 - as above
                body = answer.read()
        except urllib.error.HTTPError as exc:
            with exc:
                raise refusal(submission, exc.code, exc.read(), exc.headers.get("Content-Type", "")) from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise WitnessUnavailable(
                f"witness {self.witness.key_id} at {self.witness.url}: {reason}"
            ) from exc
        return verified_cosignatures(submission.checkpoint, body, self.witness.key)


@dataclass(frozen=True)
class Pushed:
    """What one submission of a log's newest checkpoint to one witness came to."""

    origin: str
    witness: str
    """The witness's key id (``name+hex``)."""
    size: int
    """The newest checkpoint's size."""
    old_size: int
    """The size the consistency proof started from (the size the witness had cosigned)."""
    cosigned: bool
    """False when the witness had cosigned this size already: nothing was sent."""


Submit = Callable[[Submission], list[NoteSignature]]


def push_log(store: LedgerStore, origin: str, witness: WitnessEndpoint, submit: Submit) -> Pushed | None:
    """Submit ``origin``'s newest checkpoint to ``witness`` and store its cosignature (steps 1-4).

    None if the log has no checkpoint yet. Raises :class:`WitnessError` when the witness refuses
    or cannot be reached, :class:`StoreError` when the store cannot record the cosignature.
    """
    latest = store.latest_checkpoint(origin)
    if latest is None:
        return None
    size, note = latest
    signed = SignedCheckpoint.parse(note)
    name = tracking_name(witness, origin)
    old = store.tracked_offset(name) or 0
    if old == size:
        return Pushed(origin, witness.key_id, size, old, cosigned=False)
    for _ in range(MAX_CONFLICTS + 1):
        if old > size:
            raise WitnessError(
                f"witness {witness.key_id} has cosigned size {old} of {origin}, beyond this ledger's newest "
                f"checkpoint ({size}): the witness has seen a longer history than this store holds",
                status=409,
            )
        proof = store.with_nodes(origin, partial(consistency_proof, old, size))
        submission = Submission(old_size=old, proof=tuple(proof), signed=signed)
        try:
            lines = submit(submission)
        except SizeConflict as exc:
            _log.info("%s: witness %s has cosigned size %d, not %d", origin, witness.key_id, exc.known, old)
            old = exc.known
            continue
        store.add_cosignatures(origin, size, [line.line.encode() for line in lines], witness=name)
        return Pushed(origin, witness.key_id, size, old, cosigned=True)
    raise WitnessError(
        f"witness {witness.key_id} named a different size {MAX_CONFLICTS + 1} times for {origin}: try again",
        status=409,
    )


@dataclass
class Backoff:
    """When each (log, witness) may be tried again: doubling from ``first`` up to ``most`` seconds."""

    first: float = 1.0
    most: float = 300.0
    clock: Callable[[], float] = time.monotonic
    _due: dict[tuple[str, str], tuple[float, float]] = field(default_factory=dict)

    def ready(self, key: tuple[str, str]) -> bool:
        """Whether ``key`` may be tried now."""
        due = self._due.get(key)
        return due is None or self.clock() >= due[0]

    def failed(self, key: tuple[str, str]) -> float:
        """Record a failure; return the seconds until the next try."""
        delay = min(self.most, self._due[key][1] * 2) if key in self._due else self.first
        self._due[key] = (self.clock() + delay, delay)
        return delay

    def succeeded(self, key: tuple[str, str]) -> None:
        """Forget the failures of ``key``."""
        self._due.pop(key, None)


@dataclass(frozen=True)
class Failed:
    """A submission that failed, and when it is tried again."""

    origin: str
    witness: str
    error: LedgerError
    retry_in: float


def push_round(
    store: LedgerStore,
    witnesses: Iterable[WitnessEndpoint],
    submit_to: Callable[[WitnessEndpoint], Submit],
    backoff: Backoff,
) -> list[Pushed | Failed]:
    """One round: every log to every witness that is not backing off."""
    results: list[Pushed | Failed] = []
    for origin in store.origins():
        for witness in witnesses:
            key = (origin, witness.key_id)
            if not backoff.ready(key):
                continue
            try:
                pushed = push_log(store, origin, witness, submit_to(witness))
            except LedgerError as exc:
                results.append(Failed(origin, witness.key_id, exc, backoff.failed(key)))
                continue
            backoff.succeeded(key)
            if pushed is not None:
                results.append(pushed)
    return results


def _witnesses(config: Config) -> tuple[WitnessEndpoint, ...]:
    if not config.witnesses:
        raise ConfigurationError(
            "no witness configured: set LIUHEN_WITNESSES=URL=VKEY[,URL=VKEY...] (each witness's submission "
            "URL and verifier key)"
        )
    return config.witnesses


def push_once(
    config: Config,
    *,
    attempts: int = 3,
    timeout: float = 10.0,
    report: Callable[[Pushed | Failed], None] = lambda _: None,
    sleep: Callable[[float], None] = time.sleep,
) -> bool:
    """One round (``liuhen witness push --once``); True if every log reached every witness.

    A witness that cannot be reached is tried up to ``attempts`` times in all, pausing 0.5 s, then
    1 s, ... between tries; a refusal is reported at once.
    """
    witnesses = _witnesses(config)
    backoff = Backoff(first=0.5)
    ok = True
    store = open_store(config)
    try:
        for origin in store.origins():
            for witness in witnesses:
                submit = WitnessClient(witness, timeout=timeout).submit
                for attempt in range(1, attempts + 1):
                    try:
                        pushed = push_log(store, origin, witness, submit)
                    except WitnessUnavailable as exc:
                        delay = backoff.failed((origin, witness.key_id))
                        if attempt < attempts:
                            _log.info("%s: %s; again in %.1f s", origin, exc, delay)
                            sleep(delay)
                            continue
                        report(Failed(origin, witness.key_id, exc, 0.0))
                        ok = False
                    except LedgerError as exc:
                        report(Failed(origin, witness.key_id, exc, 0.0))
                        ok = False
                    else:
                        if pushed is not None:
                            report(pushed)
                    break
    finally:
        store.close()
    return ok


def push_forever(
    config: Config,
    *,
    stop: threading.Event,
    interval: float = 5.0,
    timeout: float = 10.0,
    report: Callable[[Pushed | Failed], None] = lambda _: None,
) -> None:
    """A round every ``interval`` seconds until ``stop`` is set (``liuhen witness push``).

    Failing (log, witness) pairs wait ``interval`` seconds, then twice as long each time, up to
    five minutes. A store that cannot be opened is reported and tried again next round.
    """
    witnesses = _witnesses(config)
    backoff = Backoff(first=interval, most=max(interval, 300.0))
    clients = {witness.key_id: WitnessClient(witness, timeout=timeout) for witness in witnesses}
    while not stop.is_set():
        try:
            store = open_store(config)
        except LedgerError as exc:
            report(Failed("", "", exc, interval))
        else:
            try:
                for result in push_round(store, witnesses, lambda w: clients[w.key_id].submit, backoff):
                    report(result)
            finally:
                store.close()
        stop.wait(interval)
