"""Configuration from the environment, with defaults that run on one machine.

================================  ==========================  =============================================
variable                          default                     meaning
================================  ==========================  =============================================
``LIUHEN_HOME``                   ``./var``                   keys (``keys/``), SDK state (``state/``), ledger
``LIUHEN_KAFKA_BOOTSTRAP``        ``127.0.0.1:19092``         Kafka bootstrap servers
``LIUHEN_TOPIC``                  ``liuhen.audit``            the audit topic
``LIUHEN_REJECTED_TOPIC``         ``liuhen.audit.rejected``   where rejected messages go, with reasons
``LIUHEN_ALERTS_TOPIC``           ``liuhen.violations``       where ``liuhen project --alerts`` publishes each
                                                              violation found, changed or cleared
``LIUHEN_PARTITIONS``             ``3``                       partitions when liuhen creates the audit topic
``LIUHEN_GROUP``                  ``liuhen-ingest``           ingest consumer group
``LIUHEN_DEPLOYMENT``             ``liuhen``                  first part of each log's origin string; name the
                                                              deployment uniquely, e.g. ``zz.example/liuhen``
``LIUHEN_MAX_EVENT_BYTES``        ``65536``                   larger messages are rejected as ``oversized``
``LIUHEN_BATCH_SIZE``             ``1000``                    messages per ingest batch (one transaction)
``LIUHEN_VERIFY_PROCESSES``       ``2``                       worker processes verifying source signatures
``LIUHEN_KAFKA_CONNECT_TIMEOUT``  ``60``                      seconds ingest waits at start for a broker that
                                                              does not answer yet (starting or restarting)
``LIUHEN_SESSION_TIMEOUT_MS``     (client default, 45000)     silence after which the group moves a member's
                                                              partitions to the other ingest processes
``LIUHEN_KEY_PASSPHRASE``         (none)                      passphrase of encrypted private key files
``LIUHEN_PROJECTIONS_DB``         ``$LIUHEN_HOME/views.db``   SQLite file of the read models (queries)
``LIUHEN_WITNESSES``              (none)                      the witnesses ``liuhen witness push`` submits
                                                              each log's checkpoints to, comma-separated
                                                              ``URL=VKEY``: the witness's submission prefix
                                                              (``http(s)://host:port[/path]``, no ``=``) and
                                                              its verifier key (type 0x04 cosigner key, or
                                                              its Ed25519 verifier key text)
``LIUHEN_LATE_EVIDENCE_MINUTES``  ``60``                      R14: a fact that clears a violation but reached
                                                              the ledger longer than this after the act it
                                                              covers is shown, never trusted
``LIUHEN_CLOCK_AHEAD_MINUTES``    ``5``                       R15: events dated this much after they reached
                                                              the ledger come from a wrong clock
``LIUHEN_CLOCK_BEHIND_HOURS``     ``24``                      R15: events that reached the ledger this long
                                                              after their own time are backdated (or withheld)
``PERSISTENCE_MODULE``            ``eventsourcing.sqlite``    the ``eventsourcing`` library's backend
``SQLITE_DBNAME``                 ``$LIUHEN_HOME/ledger.db``  SQLite file of the ledger
``POSTGRES_*``                    (library defaults)          PostgreSQL settings, read by the library
================================  ==========================  =============================================
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ledger.errors import ConfigurationError, LedgerError
from ledger.ingest.settings import IngestSettings
from ledger.wire.keys import PublicKey
from ledger.wire.note import cosigner_from_verifier_text, cosigner_key_id

_LIBRARY_PREFIXES = ("PERSISTENCE_MODULE", "SQLITE_", "POSTGRES_", "ORIGINATOR_ID_TYPE", "CREATE_TABLE")


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigurationError(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise ConfigurationError(f"{name}={value} must be at least 1")
    return value


@dataclass(frozen=True)
class WitnessEndpoint:
    """A witness the operator submits checkpoints to: its submission prefix and its key."""

    url: str
    """The submission prefix: ``POST <url>/add-checkpoint``."""
    key: PublicKey
    """The witness's name and Ed25519 key; its cosignatures are type 0x04 under it."""

    @property
    def key_id(self) -> str:
        """``<name>+<8 hex digits of the 0x04 key ID>``: the witness, as its cosignature lines name it."""
        return cosigner_key_id(self.key)


def parse_witnesses(text: str) -> tuple[WitnessEndpoint, ...]:
    """``LIUHEN_WITNESSES``: comma-separated ``URL=VKEY``; raise :class:`ConfigurationError`."""
    found: list[WitnessEndpoint] = []
    for item in (part.strip() for part in text.split(",")):
        if not item:
            continue
        url, equals, vkey = item.partition("=")
        url = url.strip().rstrip("/")
        scheme, _, rest = url.partition("://")
        if not equals or scheme not in ("http", "https") or not rest or any(c in url for c in "?# "):
            raise ConfigurationError(
                f"LIUHEN_WITNESSES item {item!r} is not URL=VKEY, e.g. "
                "https://witness.example/liuhen=witness.example+1a2b3c4d+BN... (an http or https URL)"
            )
        try:
            key = cosigner_from_verifier_text(vkey)
        except LedgerError:
            try:
                key = PublicKey.from_verifier_text(vkey)  # an Ed25519 verifier key names the same key
            except LedgerError as exc:
                raise ConfigurationError(
                    f"LIUHEN_WITNESSES: the key of {url} is not a verifier key: {exc}"
                ) from exc
        if any(known.key_id == cosigner_key_id(key) for known in found):
            raise ConfigurationError(f"LIUHEN_WITNESSES names the witness {cosigner_key_id(key)} twice")
        found.append(WitnessEndpoint(url=url, key=key))
    return tuple(found)


@dataclass(frozen=True)
class Config:
    """Everything liuhen's commands read from the environment."""

    home: Path
    ingest: IngestSettings
    partitions: int
    store_env: dict[str, str] = field(default_factory=dict)
    passphrase: bytes | None = None
    projections_db: Path | None = None
    witnesses: tuple[WitnessEndpoint, ...] = ()
    alerts_topic: str = "liuhen.violations"
    late_evidence_minutes: int = 60
    clock_ahead_minutes: int = 5
    clock_behind_hours: int = 24

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Config:
        """Read the variables in the module docstring (``os.environ`` by default)."""
        env = os.environ if env is None else env
        if env.get("LIUHEN_VERIFY_THREADS"):
            raise ConfigurationError(
                "LIUHEN_VERIFY_THREADS is now LIUHEN_VERIFY_PROCESSES (it counts worker processes): rename it"
            )
        home = Path(env.get("LIUHEN_HOME") or "var").resolve()
        store_env = {k: v for k, v in env.items() if k.startswith(_LIBRARY_PREFIXES) and v != ""}
        store_env.setdefault("PERSISTENCE_MODULE", "eventsourcing.sqlite")
        if store_env["PERSISTENCE_MODULE"] == "eventsourcing.sqlite":
            store_env.setdefault("SQLITE_DBNAME", str(home / "ledger.db"))
            store_env.setdefault("SQLITE_LOCK_TIMEOUT", "30")
        deployment = env.get("LIUHEN_DEPLOYMENT") or "liuhen"
        if any(c.isspace() or c == "+" for c in deployment):
            raise ConfigurationError(
                f"LIUHEN_DEPLOYMENT={deployment!r} must have no spaces and no '+': it begins every log's "
                "origin, which names the key that signs its checkpoints"
            )
        ingest = IngestSettings(
            bootstrap=env.get("LIUHEN_KAFKA_BOOTSTRAP") or "127.0.0.1:19092",
            topic=env.get("LIUHEN_TOPIC") or "liuhen.audit",
            rejected_topic=env.get("LIUHEN_REJECTED_TOPIC") or "liuhen.audit.rejected",
            group=env.get("LIUHEN_GROUP") or "liuhen-ingest",
            deployment=deployment,
            max_event_bytes=_int(env, "LIUHEN_MAX_EVENT_BYTES", 64 * 1024),
            batch_size=_int(env, "LIUHEN_BATCH_SIZE", 1000),
            verify_processes=_int(env, "LIUHEN_VERIFY_PROCESSES", 2),
            session_timeout_ms=_int(env, "LIUHEN_SESSION_TIMEOUT_MS", 0) or None,
            connect_timeout_s=_int(env, "LIUHEN_KAFKA_CONNECT_TIMEOUT", 60),
        )
        passphrase = env.get("LIUHEN_KEY_PASSPHRASE")
        return cls(
            home=home,
            ingest=ingest,
            partitions=_int(env, "LIUHEN_PARTITIONS", 3),
            store_env=store_env,
            passphrase=passphrase.encode() if passphrase else None,
            projections_db=Path(env["LIUHEN_PROJECTIONS_DB"]) if env.get("LIUHEN_PROJECTIONS_DB") else None,
            witnesses=parse_witnesses(env.get("LIUHEN_WITNESSES") or ""),
            alerts_topic=env.get("LIUHEN_ALERTS_TOPIC") or "liuhen.violations",
            late_evidence_minutes=_int(env, "LIUHEN_LATE_EVIDENCE_MINUTES", 60),
            clock_ahead_minutes=_int(env, "LIUHEN_CLOCK_AHEAD_MINUTES", 5),
            clock_behind_hours=_int(env, "LIUHEN_CLOCK_BEHIND_HOURS", 24),
        )

    def check_home(self) -> None:
        """Raise :class:`ConfigurationError` if ``LIUHEN_HOME`` exists but is not a folder."""
        if self.home.exists() and not self.home.is_dir():
            raise ConfigurationError(f"LIUHEN_HOME={self.home} is a file, not a folder: point it at a folder")

    @property
    def sqlite_path(self) -> Path | None:
        """The ledger's SQLite file, when the ledger is kept in one."""
        name = self.store_env.get("SQLITE_DBNAME", "")
        if self.store_env.get("PERSISTENCE_MODULE") != "eventsourcing.sqlite" or name in ("", ":memory:"):
            return None
        return None if name.startswith("file:") else Path(name)

    @property
    def views_path(self) -> Path:
        """The read models' SQLite file."""
        return self.projections_db or self.home / "views.db"

    @property
    def keys_dir(self) -> Path:
        """Where key files live."""
        return self.home / "keys"

    @property
    def state_dir(self) -> Path:
        """Where the SDK keeps per-source sequence numbers."""
        return self.home / "state"

    @property
    def ledger_key_path(self) -> Path:
        """The ledger's private key (signs rejections, registrations, checkpoints)."""
        return self.keys_dir / "ledger.key"
