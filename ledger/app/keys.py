"""Keys: the ledger key, source keys, and their registration, rotation and revocation in the ledger.

Private keys live in ``$LIUHEN_HOME/keys/<name>.key`` (mode 0600, optionally passphrase-encrypted)
beside ``<name>.pub``. A source key is trusted from the ledger entry of its ``SourceKeyRegistered``
event on; that event, and ``SourceKeyRevoked``, are published by the registrar (signed with the
ledger key) and keyed by the source system, so they land in the source's own log. Before
publishing, the commands here check the ledger's key history, so that revoking a key the ledger
does not know, or registering one it revoked, fails at once instead of being rejected by ingest
after reporting success.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ledger.app.config import Config
from ledger.errors import ConfigurationError, NotFound, UsageError
from ledger.ingest.store import LedgerStore
from ledger.wire.keys import FILE_SAFE_NAME, PublicKey, SigningKey
from ledger.wire.rotation import Rotation, newest_key

if TYPE_CHECKING:
    from ledger.sdk import Publisher


REGISTRAR_ACTOR: Mapping[str, Any] = {
    "kind": "SYSTEM",
    "user_id": "liuhen-registrar",
    "name": "",
    "unit": "ledger operator",
    "role": "registrar",
    "workstation": None,
    "ip": None,
}
"""The actor of registry events the ledger operator publishes."""


def check_name(name: str, what: str = "key name") -> None:
    """Raise :class:`UsageError` unless ``name`` can safely name a key file (no path, no spaces)."""
    if not FILE_SAFE_NAME.fullmatch(name):
        raise UsageError(
            f"{what} {name!r} must be letters, digits, '.', '_' or '-', starting with a letter or digit "
            "(it names files in the keys folder)"
        )


def ensure_key(config: Config, name: str) -> tuple[SigningKey, bool]:
    """Load the key ``name`` from the keys folder, creating it (mode 0600) if missing."""
    check_name(name)
    config.check_home()
    config.keys_dir.mkdir(parents=True, exist_ok=True)
    path = config.keys_dir / f"{name}.key"
    if path.exists():
        return SigningKey.load(path, passphrase=config.passphrase), False
    key = SigningKey.generate(name)
    key.save(path, passphrase=config.passphrase)
    key.public.save(config.keys_dir / f"{name}.pub")
    return key, True


def ledger_key(config: Config) -> SigningKey:
    """The ledger's private key, which must exist already."""
    config.check_home()
    path = config.ledger_key_path
    if not path.exists():
        raise NotFound(f"no ledger key at {path}: run 'liuhen keys init' first")
    return SigningKey.load(path, passphrase=config.passphrase)


def local_ledger_keys(config: Config) -> list[PublicKey]:
    """The operator's own ledger keys: the current one and those retired by rotations."""
    keys = [ledger_key(config).public]
    retired = [p for p in sorted(config.keys_dir.glob("ledger.*.pub")) if p.name != "ledger.next.pub"]
    return keys + [PublicKey.load(path) for path in retired]


def current_ledger_key(config: Config, statements: Sequence[bytes]) -> SigningKey:
    """The ledger key the newest rotation brought in, from the keys folder.

    Finishes installing a rotation that was recorded but whose key files were not moved yet (the
    command stopped in between). Ingest calls this when it finds the key rotated under it.
    """
    key = ledger_key(config)
    wanted = newest_key(statements)
    if wanted is None or wanted.raw == key.public.raw:
        return key
    staged = config.keys_dir / "ledger.next.key"
    if staged.exists() and SigningKey.load(staged, passphrase=config.passphrase).public.raw == wanted.raw:
        _install(config, key)
        return ledger_key(config)
    raise ConfigurationError(
        f"the ledger key was rotated to {wanted.key_id}, and {config.ledger_key_path} holds "
        f"{key.public.key_id}: install the new key there (from the keys folder of the host that rotated it)"
    )


def _install(config: Config, old: SigningKey) -> None:
    """Move the staged new key into place, keeping the old one as ``ledger.<key hash>.key|pub``."""
    retired = old.public.key_hash.hex()
    for suffix in ("key", "pub"):
        (config.keys_dir / f"ledger.{suffix}").rename(config.keys_dir / f"ledger.{retired}.{suffix}")
        (config.keys_dir / f"ledger.next.{suffix}").rename(config.keys_dir / f"ledger.{suffix}")


def rotate_ledger_key(config: Config, store: LedgerStore) -> tuple[PublicKey, PublicKey, dict[str, int]]:
    """Replace the ledger key: the new key is introduced by a statement both keys sign.

    The new key is written next to the old one first (``ledger.next.key``); the rotation is then
    recorded at a batch boundary of every log (:meth:`LedgerStore.rotate`), so ingest may keep
    running: its next batch is refused, and it takes the new key from the keys folder. Then the
    key files are moved: the old ones are kept as ``ledger.<key hash>.key|pub``.
    """
    old = current_ledger_key(config, store.rotations())
    staged = config.keys_dir / "ledger.next.key"
    if staged.exists():
        new = SigningKey.load(staged, passphrase=config.passphrase)
    else:
        new = SigningKey.generate("ledger")
        new.save(staged, passphrase=config.passphrase)
        new.public.save(config.keys_dir / "ledger.next.pub")
    after = store.rotate(
        lambda sizes: Rotation(new.public, old.public, sizes).sign(old, new),
        owner="liuhen keys rotate-ledger",
    )
    _install(config, old)
    return old.public, new.public, after


@dataclass(frozen=True)
class SourceKey:
    """A source key as the ledger's key history leaves it."""

    key_id: str
    system_id: str
    revoked: bool
    origin: str
    from_index: int
    """The entry from which the registration (or revocation) holds."""

    @property
    def where(self) -> str:
        """Its ledger position, for messages."""
        return f"{self.origin}#{self.from_index - 1}"


def source_keys(store: LedgerStore | None) -> dict[str, SourceKey]:
    """Key id -> its latest state in the ledger (registered or revoked), across every log."""
    keys: dict[str, SourceKey] = {}
    if store is None:
        return keys
    for origin in store.origins():
        for change in store.key_changes(origin):
            keys[change.key_id] = SourceKey(
                change.key_id, change.system_id, change.revoked, origin, change.from_index
            )
    return keys


def check_registration(
    keys: Mapping[str, SourceKey], system_id: str, public: PublicKey, *, replaces: str | None
) -> None:
    """Raise unless registering ``public`` for ``system_id`` (replacing ``replaces``) can be accepted."""
    check_name(system_id, "source system id")
    known = keys.get(public.key_id)
    if known is not None and known.revoked:
        raise ConfigurationError(
            f"key {public.key_id} was revoked ({known.where}) and can never be registered again: "
            f"create a new key with 'liuhen keys new'"
        )
    if known is not None:
        raise ConfigurationError(
            f"key {public.key_id} is already registered for {known.system_id} ({known.where})"
        )
    if replaces is not None:
        check_revocation(keys, system_id, replaces)


def check_revocation(keys: Mapping[str, SourceKey], system_id: str, key_id: str) -> None:
    """Raise unless ``key_id`` is a key of ``system_id`` the ledger holds and has not revoked."""
    known = keys.get(key_id)
    if known is None or known.system_id != system_id:
        registered = sorted(k.key_id for k in keys.values() if k.system_id == system_id and not k.revoked)
        raise NotFound(
            f"key {key_id} is not registered for {system_id} in the ledger"
            + (f" (its keys: {', '.join(registered)})" if registered else f" ({system_id} has no key in it)")
        )
    if known.revoked:
        raise ConfigurationError(f"key {key_id} of {system_id} is already revoked ({known.where})")


def publish_registration(
    publisher: Publisher, system_id: str, public: PublicKey, *, replaces: str | None = None
) -> None:
    """Publish a ``SourceKeyRegistered`` event (keyed by the source, so it shares its log)."""
    publisher.publish(
        "SourceKeyRegistered",
        {"system_id": system_id, "public_key": public.verifier_text, "replaces_key_id": replaces},
        actor=REGISTRAR_ACTOR,
        kafka_key=system_id,
    )


def publish_revocation(publisher: Publisher, system_id: str, key_id: str, *, reason: str) -> None:
    """Publish a ``SourceKeyRevoked`` event."""
    publisher.publish(
        "SourceKeyRevoked",
        {"system_id": system_id, "key_id": key_id, "reason": reason},
        actor=REGISTRAR_ACTOR,
        kafka_key=system_id,
    )
