"""The one error tree of liuhen.

Everything liuhen raises on purpose derives from :class:`LedgerError`; the CLI catches only that
root and turns it into a message and a non-zero exit. Library errors (Kafka, SQLite, PostgreSQL,
``cryptography``) are translated at the adapter that calls them, with ``raise ... from exc``::

    LedgerError
    ├── ConfigurationError        a setting, key file or path is missing or wrong
    ├── KeyFileError              a key file cannot be read or written
    ├── IngestError               one event cannot enter the ledger (carries a machine-readable reason)
    │   ├── BadAvro
    │   ├── UnknownSchema
    │   ├── UnknownKey
    │   ├── RevokedKey
    │   ├── BadSignature
    │   ├── InvalidField
    │   └── Oversized
    ├── StoreError                the event store refused or failed a write
    │   └── OwnershipLost         another writer claimed or appended to this log: stop writing it
    ├── VerificationError         a ledger does not verify
    │   └── ChainBroken           the hash chain breaks at an index (expected and actual hashes)
    └── ProjectionError           a read model cannot be built or queried

Errors carry their evidence as attributes (position, expected, actual) so that callers and
reports can name exactly what is wrong and where.
"""

from __future__ import annotations


class LedgerError(Exception):
    """Root of every error liuhen raises on purpose."""


class ConfigurationError(LedgerError):
    """A setting, key file or path is missing or wrong."""


class KeyFileError(LedgerError):
    """A key file cannot be read or written, or holds something other than the expected key."""


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


class VerificationError(LedgerError):
    """A ledger, entry or checkpoint does not verify."""


class ChainBroken(VerificationError):
    """The hash chain breaks at ``index``: the stored chain hash is not the recomputed one."""

    def __init__(self, index: int, expected: bytes, actual: bytes, detail: str = "") -> None:
        msg = f"chain broken at index {index}: expected {expected.hex()}, found {actual.hex()}"
        super().__init__(f"{msg}{': ' + detail if detail else ''}")
        self.index = index
        self.expected = expected
        self.actual = actual


class ProjectionError(LedgerError):
    """A read model cannot be built or queried."""
