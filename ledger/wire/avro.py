r"""Avro schemas, fingerprints and the signed-event wire format.

Every Kafka message on the audit topic, and so every ledger entry, is one ``liuhen.SignedEvent``
(``schemas/liuhen.SignedEvent.avsc``), Avro binary encoded::

    schema     fixed(32)  SHA-256 of the Parsing Canonical Form of the body's writer schema
    body       bytes      the event record (e.g. liuhen.FootageViewed), Avro binary
    signature  bytes      Ed25519 over  b"liuhen/event/v1\\n" || schema || body

Avro encodes ``fixed`` as its raw bytes and ``bytes`` as a zig-zag varint length followed by the
bytes, so the wrapper is written and read here directly (a test proves it equals fastavro's
encoding of the schema). Only the minimal encoding of a length is accepted, so one event has
exactly one byte string and so one leaf hash. The signature covers the fingerprint, so a body
cannot be re-read under another schema. The signing key is named by the body's ``envelope.key_id``.

Old schema versions stay readable: :class:`SchemaRegistry` maps every fingerprint it has ever
known (current files and ``schemas/history/``) to the event type's current schema, and fastavro
resolves old writer schemas against it (new fields take their defaults). History files hold the
fully expanded schema with its logical types (:func:`freeze`), not the Parsing Canonical Form,
which would drop them and make old events decode to other Python types.

Imports only the standard library and ``fastavro``: the offline verifier depends on it.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import fastavro
from fastavro.repository.base import AbstractSchemaRepository, SchemaRepositoryError
from fastavro.schema import load_schema, parse_schema, to_parsing_canonical_form

from ledger.errors import BadAvro, ConfigurationError, UnknownSchema

SIGNING_CONTEXT = b"liuhen/event/v1\n"
FINGERPRINT_SIZE = 32
SIGNATURE_SIZE = 64
FINGERPRINT_HEADER = "liuhen-schema"
"""Kafka header carrying the body's schema fingerprint (hex), so consumers can route without decoding."""


class Utf8Repository(AbstractSchemaRepository):
    """fastavro's flat ``<full name>.avsc`` repository, read as UTF-8 whatever the locale."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def load(self, name: str) -> Any:
        """The JSON of ``<name>.avsc``."""
        path = self.directory / f"{name}.avsc"
        try:
            return json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SchemaRepositoryError(f"cannot load schema {name!r} from {path}: {exc}") from exc


def load_schema_file(path: Path) -> Any:
    """A schema file with its named types resolved from the files beside it (UTF-8)."""
    return load_schema(path.stem, repo=Utf8Repository(path.parent), _write_hint=False)


def fingerprint(parsed_schema: Any) -> bytes:
    """SHA-256 of the schema's Avro Parsing Canonical Form."""
    return hashlib.sha256(to_parsing_canonical_form(parsed_schema).encode()).digest()


def _write_long(out: bytearray, value: int) -> None:
    zigzag = (value << 1) ^ (value >> 63)
    while zigzag & ~0x7F:
        out.append((zigzag & 0x7F) | 0x80)
        zigzag >>= 7
    out.append(zigzag)


def _read_long(data: bytes, pos: int) -> tuple[int, int]:
    if pos < len(data) and data[pos] < 0x80:  # one-byte values: the common case, kept fast
        byte = data[pos]
        return (byte >> 1) ^ -(byte & 1), pos + 1
    shift = 0
    result = 0
    while True:
        if pos >= len(data):
            raise BadAvro("message ends inside a length prefix")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if not byte & 0x80:
            if byte == 0 and shift:
                raise BadAvro("length prefix is not minimally encoded")
            break
        shift += 7
        if shift > 63:
            raise BadAvro("length prefix longer than 10 bytes")
    return (result >> 1) ^ -(result & 1), pos


def _read_bytes(data: bytes, pos: int, field: str) -> tuple[bytes, int]:
    length, pos = _read_long(data, pos)
    if length < 0 or pos + length > len(data):
        raise BadAvro(f"field {field!r} claims {length} bytes but {len(data) - pos} remain")
    return data[pos : pos + length], pos + length


@dataclass(frozen=True, slots=True)
class SignedEvent:
    """One message of the audit topic: schema fingerprint, event body, source signature."""

    schema: bytes
    body: bytes
    signature: bytes

    def __post_init__(self) -> None:
        if len(self.schema) != FINGERPRINT_SIZE:
            raise ValueError(f"a schema fingerprint is {FINGERPRINT_SIZE} bytes, not {len(self.schema)}")

    @property
    def signed_message(self) -> bytes:
        """The bytes the source signed: ``SIGNING_CONTEXT || schema || body``."""
        return SIGNING_CONTEXT + self.schema + self.body

    def encode(self) -> bytes:
        """Avro binary of ``liuhen.SignedEvent``."""
        out = bytearray(self.schema)
        _write_long(out, len(self.body))
        out += self.body
        _write_long(out, len(self.signature))
        out += self.signature
        return bytes(out)

    @classmethod
    def decode(cls, data: bytes) -> SignedEvent:
        """Parse the wrapper; raise :class:`BadAvro` unless ``data`` is exactly one wrapper."""
        return cls(*split_signed(data))


def split_signed(data: bytes) -> tuple[bytes, bytes, bytes]:
    """``(schema, body, signature)`` of one ``liuhen.SignedEvent``; :class:`BadAvro` if it is not one."""
    if len(data) < FINGERPRINT_SIZE + 2:
        raise BadAvro(f"message of {len(data)} bytes is too short to be a signed event")
    # The common shape, read inline: a body of 64-8191 bytes (a two-byte length), then a
    # 64-byte signature (its length, 128 zig-zagged, is b"\x80\x01").
    first, second = data[FINGERPRINT_SIZE], data[FINGERPRINT_SIZE + 1]
    if first & 0x80 and 0 < second < 0x80:
        zigzag = (first & 0x7F) | second << 7
        end = FINGERPRINT_SIZE + 2 + (zigzag >> 1)
        if not zigzag & 1 and data[end : end + 2] == b"\x80\x01" and len(data) == end + 2 + SIGNATURE_SIZE:
            return data[:FINGERPRINT_SIZE], data[FINGERPRINT_SIZE + 2 : end], data[end + 2 :]
    body, pos = _read_bytes(data, FINGERPRINT_SIZE, "body")
    signature, pos = _read_bytes(data, pos, "signature")
    if pos != len(data):
        raise BadAvro(f"{len(data) - pos} unexpected bytes after the signed event")
    return data[:FINGERPRINT_SIZE], body, signature


class EnvelopeKey(NamedTuple):
    """What a verifier needs from an event's envelope: who published it, its number, its key."""

    source_system_id: str
    source_seq: int
    key_id: str


_VARINT = re.compile(rb"[\x80-\xff]{0,9}[\x00-\x7f]")
"""One Avro ``int`` or ``long`` (zig-zag varint): what the envelope reader skips without decoding."""
_TEXTS: dict[bytes, str] = {}
"""Source ids and key ids decoded so far (a ledger has few): the reader decodes each once."""


def _skip_string(data: bytes, pos: int) -> int:
    length, pos = _read_long(data, pos)
    if length < 0:
        raise BadAvro(f"a string claims {length} bytes")
    return pos + length


def _skip_varint(data: bytes, pos: int, field: str) -> int:
    found = _VARINT.match(data, pos)
    if found is None:
        raise BadAvro(f"envelope field {field!r} is not a number at byte {pos}")
    return found.end()


def _text(raw: bytes) -> str:
    text = _TEXTS.get(raw)
    if text is None:
        try:
            text = raw.decode()
        except UnicodeDecodeError as exc:
            raise BadAvro(f"envelope string is not UTF-8: {exc}") from exc
        if len(_TEXTS) < 65536:
            _TEXTS[raw] = text
    return text


def _string_at(body: bytes, pos: int, field: str) -> tuple[bytes, int]:
    """The string at ``pos`` and where it ends (a one-byte length read inline)."""
    byte = body[pos]
    if byte < 0x80 and not byte & 1:
        return body[pos + 1 : pos + 1 + (byte >> 1)], pos + 1 + (byte >> 1)
    return _read_bytes(body, pos, field)


def read_envelope_key(body: bytes) -> EnvelopeKey:
    """Read source id, sequence number and key id from the ``liuhen.Envelope`` that starts every body.

    A direct reader of the envelope's Avro binary (event_id, schema_version, occurred_at,
    source_system_id, source_seq, actor{kind, user_id, name, unit, role, workstation?, ip?},
    key_id), many times faster than decoding the whole event; the offline verifier uses it on
    every entry, so numbers it does not need are skipped by one regular expression, one-byte string
    lengths and numbers (the common case) are read inline, and the few source and key ids are
    decoded once. A test proves it agrees with fastavro for every event type.
    """
    try:
        byte = body[0]
        pos = 1 + (byte >> 1) if byte < 0x80 and not byte & 1 else _skip_string(body, 0)  # event_id
        pos = _skip_varint(body, pos, "schema_version")
        pos = _skip_varint(body, pos, "occurred_at")
        source, pos = _string_at(body, pos, "source_system_id")
        byte = body[pos]
        if byte < 0x80:
            seq, pos = (byte >> 1) ^ -(byte & 1), pos + 1
        else:
            seq, pos = _read_long(body, pos)
        pos = _skip_varint(body, pos, "actor.kind")
        for _ in range(4):  # actor.user_id, name, unit, role
            byte = body[pos]
            pos = pos + 1 + (byte >> 1) if byte < 0x80 and not byte & 1 else _skip_string(body, pos)
        for name in ("workstation", "ip"):  # optional strings: union branch 0 (null) or 1 (string)
            byte = body[pos]
            if byte == 2:  # zig-zag encoding of branch 1
                byte = body[pos + 1]
                pos = pos + 2 + (byte >> 1) if byte < 0x80 and not byte & 1 else _skip_string(body, pos + 1)
            elif byte == 0:
                pos += 1
            else:
                raise BadAvro(f"actor.{name} has no valid union branch at byte {pos}")
        key_id, pos = _string_at(body, pos, "key_id")
    except IndexError:
        raise BadAvro("the event body ends inside its envelope") from None
    if pos > len(body):
        raise BadAvro("the envelope's key_id runs past the event body")
    return EnvelopeKey(_text(source), seq, _text(key_id))


@dataclass(frozen=True)
class EventType:
    """One event type of the vocabulary, at its current schema version."""

    name: str
    full_name: str
    family: str
    version: int
    fingerprint: bytes
    schema: Any

    @property
    def fingerprint_hex(self) -> str:
        """The fingerprint as sent in the ``liuhen-schema`` Kafka header."""
        return self.fingerprint.hex()


class SchemaRegistry:
    """Every event type, and every fingerprint ever used for one, from a schema directory."""

    def __init__(
        self, *, types: Mapping[str, EventType], writers: Mapping[bytes, tuple[EventType, Any]]
    ) -> None:
        self._types = dict(types)
        self._writers = dict(writers)

    @classmethod
    def load(cls, directory: Path | None = None) -> SchemaRegistry:
        """Read ``*.avsc`` (current types) and ``history/*.avsc`` (old versions) from ``directory``."""
        if directory is None:
            from schemas import SCHEMA_DIR  # noqa: PLC0415 - keeps the package optional for tests

            directory = SCHEMA_DIR
        types: dict[str, EventType] = {}
        writers: dict[bytes, tuple[EventType, Any]] = {}
        for path in sorted(directory.glob("*.avsc")):
            raw = json.loads(path.read_text(encoding="utf-8"))
            if not isinstance(raw, dict) or "liuhen.family" not in raw:
                continue
            try:
                parsed = load_schema_file(path)
            except Exception as exc:  # fastavro raises several types for bad schema files
                raise ConfigurationError(f"schema {path.name} does not load: {exc}") from exc
            full_name = f"{raw['namespace']}.{raw['name']}"
            event_type = EventType(
                name=raw["name"],
                full_name=full_name,
                family=raw["liuhen.family"],
                version=int(raw.get("liuhen.version", 1)),
                fingerprint=fingerprint(parsed),
                schema=parse_schema(parsed),
            )
            types[event_type.name] = event_type
            writers[event_type.fingerprint] = (event_type, None)
        by_full_name = {t.full_name: t for t in types.values()}
        for path in sorted((directory / "history").glob("*.avsc")):
            old = parse_schema(json.loads(path.read_text(encoding="utf-8")))
            current = by_full_name.get(old["name"]) if isinstance(old, dict) else None
            if current is None:
                raise ConfigurationError(f"history schema {path.name} names no current event type")
            writers.setdefault(fingerprint(old), (current, old))
        if not types:
            raise ConfigurationError(f"no event schemas found in {directory}")
        return cls(types=types, writers=writers)

    @property
    def types(self) -> Mapping[str, EventType]:
        """Event types by short name (``FootageViewed``)."""
        return self._types

    def known(self, schema_fingerprint: bytes) -> bool:
        """Whether any version of any event type has this fingerprint."""
        return schema_fingerprint in self._writers

    def type_of(self, schema_fingerprint: bytes) -> EventType:
        """The event type written under ``schema_fingerprint`` (any version), without decoding a body."""
        try:
            return self._writers[schema_fingerprint][0]
        except KeyError:
            raise UnknownSchema(
                f"schema fingerprint {schema_fingerprint.hex()} is not one liuhen knows"
            ) from None

    def event_type(self, name: str) -> EventType:
        """The event type named ``name``; raise :class:`ConfigurationError` if there is none."""
        try:
            return self._types[name]
        except KeyError:
            raise ConfigurationError(f"unknown event type {name!r}") from None

    def plain(self) -> SchemaRegistry:
        """The same event types and fingerprints, decoding without Avro's logical types.

        Timestamps come out as integer microseconds since the epoch (UTC), dates as days since
        1970-01-01 and UUIDs as their strings: what a reader that stores numbers wants, without
        building a ``datetime`` or ``UUID`` for each (the projections read millions of events).
        """
        types = {
            name: replace(t, schema=parse_schema(_strip_logical_types(t.schema)))
            for name, t in self._types.items()
        }
        writers = {
            fp: (types[t.name], None if old is None else parse_schema(_strip_logical_types(old)))
            for fp, (t, old) in self._writers.items()
        }
        return SchemaRegistry(types=types, writers=writers)

    def encode(self, name: str, record: Mapping[str, Any]) -> tuple[bytes, bytes]:
        """``(fingerprint, body)`` of ``record`` written with the current schema of ``name``."""
        event_type = self.event_type(name)
        out = io.BytesIO()
        fastavro.schemaless_writer(out, event_type.schema, record, strict_allow_default=True)
        return event_type.fingerprint, out.getvalue()

    def decode(self, schema_fingerprint: bytes, body: bytes) -> tuple[EventType, dict[str, Any]]:
        """Read ``body`` written under ``schema_fingerprint``, resolved to the current schema."""
        try:
            event_type, writer = self._writers[schema_fingerprint]
        except KeyError:
            raise UnknownSchema(
                f"schema fingerprint {schema_fingerprint.hex()} is not one liuhen knows: "
                "publish with a schema from liuhen's schemas/ directory"
            ) from None
        stream = io.BytesIO(body)
        try:
            if writer is None:
                record = fastavro.schemaless_reader(stream, event_type.schema, None)
            else:
                record = fastavro.schemaless_reader(stream, writer, event_type.schema)
        except Exception as exc:  # fastavro raises EOFError, ValueError, UnicodeDecodeError, ...
            raise BadAvro(f"body is not a valid {event_type.name}: {type(exc).__name__}: {exc}") from exc
        if stream.tell() != len(body):
            raise BadAvro(f"{len(body) - stream.tell()} unexpected bytes after the {event_type.name} body")
        if not isinstance(record, dict):
            raise BadAvro(f"body of {event_type.name} did not decode to a record")
        return event_type, record


def freeze(registry: SchemaRegistry, name: str) -> tuple[str, str]:
    """File name and text that keep the current version of ``name`` readable after it changes.

    The text is the schema with every named type inlined and logical types kept; the file name is
    ``<full name>.<first 8 hex digits of the fingerprint>.avsc``, for ``schemas/history/``.
    """
    event_type = registry.event_type(name)
    expanded = _strip_parser_keys(event_type.schema)
    return f"{event_type.full_name}.{event_type.fingerprint_hex[:8]}.avsc", json.dumps(
        expanded, indent=2
    ) + "\n"


def _strip_logical_types(schema: Any) -> Any:
    """A parsed schema, expanded, with every ``logicalType`` and parser key removed."""
    if isinstance(schema, dict):
        return {
            k: _strip_logical_types(v)
            for k, v in schema.items()
            if k != "logicalType" and not k.startswith("__")
        }
    if isinstance(schema, list):
        return [_strip_logical_types(v) for v in schema]
    return schema


def _strip_parser_keys(schema: Any) -> Any:
    if isinstance(schema, dict):
        return {k: _strip_parser_keys(v) for k, v in schema.items() if not k.startswith("__")}
    if isinstance(schema, list):
        return [_strip_parser_keys(v) for v in schema]
    return schema
