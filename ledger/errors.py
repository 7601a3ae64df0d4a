"""The one error tree of liuhen.

Everything liuhen raises on purpose derives from :class:`LedgerError`; the CLI
(:mod:`ledger.cli`) is the one boundary that turns an error into a message and an exit status, and
``python -m ledger.verify`` the verifier's. Library errors (Kafka, SQLite, PostgreSQL,
``cryptography``, the file system) are translated at the adapter that calls them, with
``raise ... from exc``::

    LedgerError
    ├── UsageError                the command asks for something that cannot mean anything (exit 2)
    ├── NotFound                  a ledger, camera, person, case, event, violation or key is unknown
    ├── ConfigurationError        a setting, key file or path is missing or wrong
    ├── KeyFileError              a key file cannot be read or written
    ├── BrokerError               the Kafka broker cannot be reached or refused a request
    ├── PublishError              the producer SDK cannot make an event or hand it to Kafka
    ├── IngestError               one event cannot enter the ledger (carries a machine-readable reason)
    │   ├── BadAvro
    │   ├── UnknownSchema
    │   ├── UnknownKey
    │   ├── RevokedKey
    │   ├── BadSignature
    │   ├── InvalidField
    │   └── Oversized
    ├── StoreError                the event store refused or failed a write or a read
    │   ├── OwnershipLost         another writer claimed or appended to this log: stop writing it
    │   └── DuplicateEvents       event ids already in the ledger (ledger.ingest.store: carries where)
    ├── BundleError               an auditor bundle cannot be read (missing file, wrong format)
    ├── VerificationError         a ledger, proof or checkpoint does not verify
    │   ├── ChainBroken           the hash chain breaks at an index (expected and actual hashes)
    │   ├── NotIncluded           an inclusion proof leads to another root (index, size, both roots)
    │   ├── Inconsistent          two checkpoints of one log are not one history (both, and the proof)
    │   └── BundleInvalid         a bundle fails verification (ledger.verify.report: carries the report)
    ├── ProjectionError           a read model cannot be built or queried
    │   └── ProjectionStopped     the run was asked to stop: the batch in hand is rolled back
    └── WitnessError              a witness refused a checkpoint, or could not be asked (carries the
        │                         HTTP status c2sp.org/tlog-witness gives the refusal)
        ├── BadSubmission         400: not an add-checkpoint request, or its old size exceeds the checkpoint's
        ├── UntrustedCheckpoint   403: no signature by a key the witness trusts for the origin verifies
        ├── UnknownLog            404: the witness does not witness the checkpoint's origin
        ├── SizeConflict          409: the old size is not the size last cosigned (carries the witness's)
        ├── ProofRejected         422: the checkpoint does not extend the one last cosigned (a fork)
        └── WitnessUnavailable    no usable answer (connection refused, time-out, 5xx): try again later

Errors carry their evidence as attributes (position, expected, actual) so that callers and
reports can name exactly what is wrong and where. ``DuplicateEvents`` and ``BundleInvalid`` are
defined beside the records they carry (a store's ``Seen``, a verifier's ``Report``); every other
class is here. Imports only the standard library.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error liuhen raises on purpose."""


class UsageError(LedgerError):
    """The command line asks for something that cannot mean anything: exit status 2.

    Conflicting or incomplete options, a window that ends before it starts, a count of zero.
    """


class NotFound(LedgerError):
    """What was asked about is not known to the ledger or its read models."""


class ConfigurationError(LedgerError):
    """A setting, key file or path is missing or wrong."""


class KeyFileError(LedgerError):
    """A key file cannot be read or written, or holds something other than the expected key."""


class BrokerError(LedgerError):
    """The Kafka broker cannot be reached or refused a request."""


class PublishError(LedgerError):
    """The producer SDK could not make an event (wrong fields, too large) or hand it to Kafka."""


class IngestError(LedgerError):
    """One event cannot enter the ledger.

    ``reason`` is a stable machine-readable code (sent to the rejected topic and stored in the
    ledger's rejection entry); the message says what a platform operator should do about it.
    """

    reason: str = "invalid"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadAvro(IngestError):
    """The message bytes are not a signed event in liuhen's Avro wire format."""

    reason = "bad_avro"


class UnknownSchema(IngestError):
    """The event names a schema fingerprint liuhen does not know."""

    reason = "unknown_schema"


class UnknownKey(IngestError):
    """The event is signed with a key not registered for its source system."""

    reason = "unknown_key"


class RevokedKey(IngestError):
    """The event is signed with a key its source system's registration has revoked."""

    reason = "revoked_key"


class BadSignature(IngestError):
    """The source signature does not verify against the registered key."""

    reason = "bad_signature"


class InvalidField(IngestError):
    """A field is missing or makes no sense (e.g. footage that ends before it starts)."""

    reason = "invalid_field"


class Oversized(IngestError):
    """The message is larger than the ledger accepts for one event."""

    reason = "oversized"


REJECTION_REASONS: tuple[str, ...] = tuple(
    cls.reason
    for cls in (BadAvro, UnknownSchema, UnknownKey, RevokedKey, BadSignature, InvalidField, Oversized)
)


class StoreError(LedgerError):
    """The event store refused or failed a write."""


class OwnershipLost(StoreError):
    """Another writer claimed or appended to this log first: this process no longer owns it.

    ``holder`` names the writer whose claim or batch took the log's ownership fence, when known.
    """

    def __init__(self, log: str, index: int, *, holder: str = "") -> None:
        if holder:
            detail = f"log {log!r} was taken over by {holder} (this writer was at index {index})"
        else:
            detail = f"log {log!r} already has an entry at index {index}: another writer owns it"
        super().__init__(detail)
        self.log = log
        self.index = index
        self.holder = holder


class BundleError(LedgerError):
    """An auditor bundle cannot be read: missing files, wrong format, unreadable content."""


class VerificationError(LedgerError):
    """A ledger, entry, proof or checkpoint does not verify."""


class ChainBroken(VerificationError):
    """The hash chain breaks at ``index``: the stored chain hash is not the recomputed one."""

    def __init__(self, index: int, expected: bytes, actual: bytes, detail: str = "") -> None:
        msg = f"chain broken at index {index}: expected {expected.hex()}, found {actual.hex()}"
        super().__init__(f"{msg}{': ' + detail if detail else ''}")
        self.index = index
        self.expected = expected
        self.actual = actual


class NotIncluded(VerificationError):
    """An inclusion proof of leaf ``index`` in the tree of ``size`` leads to ``actual``, not ``expected``."""

    def __init__(self, detail: str, *, index: int, size: int, expected: bytes, actual: bytes) -> None:
        super().__init__(detail)
        self.index = index
        self.size = size
        self.expected = expected
        self.actual = actual


class Inconsistent(VerificationError):
    """Two checkpoints of one log are not one history: the later does not extend the earlier.

    Carries both tree sizes and roots, and the consistency proof that failed (empty when none
    could be made, e.g. the later checkpoint is smaller).
    """

    def __init__(
        self,
        detail: str,
        *,
        old_size: int,
        new_size: int,
        old_root: bytes,
        new_root: bytes,
        proof: tuple[bytes, ...] = (),
    ) -> None:
        super().__init__(detail)
        self.old_size = old_size
        self.new_size = new_size
        self.old_root = old_root
        self.new_root = new_root
        self.proof = proof


class ProjectionError(LedgerError):
    """A read model cannot be built or queried."""


class ProjectionStopped(ProjectionError):
    """The projection run was asked to stop (SIGTERM, Ctrl-C): the batch in hand is rolled back."""


class WitnessError(LedgerError):
    """A witness refused a checkpoint, or could not be asked.

    ``status`` is the HTTP status of the refusal (c2sp.org/tlog-witness): the witness service
    answers with it, and the push client maps an answer back to the class.
    """

    status: int = 500

    def __init__(self, detail: str, *, status: int | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        if status is not None:
            self.status = status


class BadSubmission(WitnessError):
    """The request is not an add-checkpoint request, or its old size is above the checkpoint's size."""

    status = 400


class UntrustedCheckpoint(WitnessError):
    """No signature by a key the witness trusts for the origin verifies, or one of them fails."""

    status = 403


class UnknownLog(WitnessError):
    """The witness is not configured to witness the checkpoint's origin."""

    status = 404


class SizeConflict(WitnessError):
    """The old size is not the size of the checkpoint the witness cosigned last: ``known`` is that size."""

    status = 409

    def __init__(self, detail: str, *, known: int) -> None:
        super().__init__(detail)
        self.known = known


class ProofRejected(WitnessError):
    """The checkpoint is not proven to extend the one the witness cosigned last.

    A consistency proof that does not verify, a different root at the same size, or an empty
    tree whose root is not the empty tree's: evidence of a fork when the log signed both.
    """

    status = 422

    def __init__(self, detail: str, *, old_size: int, new_size: int) -> None:
        super().__init__(detail)
        self.old_size = old_size
        self.new_size = new_size


class WitnessUnavailable(WitnessError):
    """The witness gave no usable answer (connection refused, time-out, a server error): try again later."""

    status = 503
