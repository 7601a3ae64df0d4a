"""Schemas, fingerprints and the signed-event wire format (ledger.wire.avro).

Every event type round-trips with records drawn from its own schema (tests/strategies.py);
the hand-written SignedEvent codec is checked against fastavro's encoding of
schemas/liuhen.SignedEvent.avsc; fingerprints are recomputed with an independent Parsing
Canonical Form written here from the Avro specification; schema evolution is exercised on a
temporary copy of schemas/ with a real superseded version in history/.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import io
import json
import re
import shutil
import uuid
from pathlib import Path
from typing import Any

import fastavro
import pytest
from fastavro.schema import load_schema, parse_schema, to_parsing_canonical_form
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from strategies import avro_values, event_record, signed_events

from ledger.errors import BadAvro, ConfigurationError, IngestError, UnknownSchema
from ledger.wire.avro import (
    SIGNING_CONTEXT,
    EnvelopeKey,
    SchemaRegistry,
    SignedEvent,
    fingerprint,
    freeze,
    read_envelope_key,
)
from schemas import HISTORY_DIR, SCHEMA_DIR

SETTINGS = settings(max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PER_TYPE = settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])

REGISTRY = SchemaRegistry.load()
EVENT_TYPES = sorted(REGISTRY.types)
EVENT_FILES = sorted(
    path for path in SCHEMA_DIR.glob("*.avsc") if "liuhen.family" in json.loads(path.read_text())
)
FINGERPRINTS = st.binary(min_size=32, max_size=32)


# --- an independent Parsing Canonical Form (Avro 1.11 spec, "Parsing Canonical Form") ----------

_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def spec_canonical_form(path: Path) -> str:
    """PCF of a schema file, resolving named references to sibling ``<full name>.avsc`` files.

    [PRIMITIVES] {"type": "int", ...} -> "int" (so logical types vanish); [FULLNAMES];
    [STRIP] keep name, type, fields, symbols, items, values, size; [ORDER] in that order;
    a named type is written in full once, then by full name; [WHITESPACE] none.
    """
    defined: set[str] = set()

    def full_name(name: str, namespace: str | None) -> str:
        return name if "." in name or not namespace else f"{namespace}.{name}"

    def form(schema: Any, namespace: str | None) -> str:
        if isinstance(schema, list):
            return "[" + ",".join(form(branch, namespace) for branch in schema) + "]"
        if isinstance(schema, str):
            if schema in _PRIMITIVES:
                return json.dumps(schema)
            name = full_name(schema, namespace)
            if name in defined:
                return json.dumps(name)
            return form(json.loads((path.parent / f"{name}.avsc").read_text()), namespace)
        kind = schema["type"]
        if not isinstance(kind, str) or kind in _PRIMITIVES:
            return form(kind, namespace)
        if kind == "array":
            return '{"type":"array","items":' + form(schema["items"], namespace) + "}"
        if kind == "map":
            return '{"type":"map","values":' + form(schema["values"], namespace) + "}"
        if kind not in {"record", "enum", "fixed"}:
            return form(kind, namespace)  # a named reference written as {"type": "liuhen.X"}
        name = full_name(schema["name"], schema.get("namespace", namespace))
        inner = name.rpartition(".")[0] or None
        defined.add(name)
        out = '{"name":' + json.dumps(name) + ',"type":' + json.dumps(kind)
        if kind == "record":
            fields = [
                '{"name":' + json.dumps(f["name"]) + ',"type":' + form(f["type"], inner) + "}"
                for f in schema["fields"]
            ]
            out += ',"fields":[' + ",".join(fields) + "]"
        elif kind == "enum":
            out += ',"symbols":' + json.dumps(schema["symbols"], separators=(",", ":"))
        else:
            out += ',"size":' + str(int(schema["size"]))
        return out + "}"

    return form(json.loads(path.read_text()), None)


# --- fingerprints -------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EVENT_FILES, ids=lambda p: p.stem)
def test_fingerprint_is_sha256_of_the_parsing_canonical_form(path: Path) -> None:
    """Each event type's fingerprint is SHA-256 of its PCF, recomputed without ledger.wire.avro."""
    canonical = spec_canonical_form(path)
    assert canonical == to_parsing_canonical_form(load_schema(str(path), _write_hint=False))
    name = json.loads(path.read_text())["name"]
    event_type = REGISTRY.types[name]
    assert event_type.fingerprint == hashlib.sha256(canonical.encode()).digest()
    assert event_type.fingerprint_hex == hashlib.sha256(canonical.encode()).hexdigest()
    assert fingerprint(load_schema(str(path), _write_hint=False)) == event_type.fingerprint


def test_registry_holds_every_event_schema_file_and_nothing_else() -> None:
    """Event types are exactly the schema files with a liuhen.family; shared types are not events."""
    assert {json.loads(p.read_text())["name"] for p in EVENT_FILES} == set(REGISTRY.types)
    assert len(EVENT_TYPES) == len(EVENT_FILES) > 0
    for name in ("Envelope", "Actor", "Outcome", "SignedEvent", "Fingerprint"):
        assert name not in REGISTRY.types
    fingerprints = {t.fingerprint for t in REGISTRY.types.values()}
    assert len(fingerprints) == len(EVENT_TYPES), "two event types share a fingerprint"
    for path in EVENT_FILES:
        raw = json.loads(path.read_text())
        event_type = REGISTRY.types[raw["name"]]
        assert event_type.full_name == f"liuhen.{raw['name']}"
        assert event_type.family == raw["liuhen.family"]
        assert event_type.version == raw.get("liuhen.version", 1)
        assert REGISTRY.known(event_type.fingerprint)


# --- every event type round-trips ---------------------------------------------------------------


def datetimes_in(value: Any) -> list[dt.datetime]:
    if isinstance(value, dt.datetime):
        return [value]
    if isinstance(value, dict):
        return [d for v in value.values() for d in datetimes_in(v)]
    if isinstance(value, list):
        return [d for v in value for d in datetimes_in(v)]
    return []


@pytest.mark.parametrize("name", EVENT_TYPES)
@PER_TYPE
@given(data=st.data())
def test_every_event_type_round_trips(name: str, data: st.DataObject) -> None:
    """encode then decode gives back an equal record, with uuid as uuid.UUID, timestamps as aware
    UTC datetimes and dates as date; the body is fastavro's own encoding of the schema file."""
    record = data.draw(event_record(REGISTRY, name))
    schema_fingerprint, body = REGISTRY.encode(name, record)
    assert schema_fingerprint == REGISTRY.types[name].fingerprint

    independent = io.BytesIO()
    schema_file = SCHEMA_DIR / f"liuhen.{name}.avsc"
    fastavro.schemaless_writer(independent, load_schema(str(schema_file), _write_hint=False), record)
    assert body == independent.getvalue()

    event_type, decoded = REGISTRY.decode(schema_fingerprint, body)
    assert event_type.name == name
    assert decoded == record
    assert isinstance(decoded["envelope"]["event_id"], uuid.UUID)
    for moment in datetimes_in(decoded):
        assert moment.utcoffset() == dt.timedelta(0)


def plain_values(value: Any) -> Any:
    """A decoded record as the plain registry reads it: times in microseconds, dates in days."""
    if isinstance(value, dict):
        return {k: plain_values(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain_values(v) for v in value]
    if isinstance(value, dt.datetime):
        return (value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)) // dt.timedelta(microseconds=1)
    if isinstance(value, dt.date):
        return (value - dt.date(1970, 1, 1)).days
    if isinstance(value, uuid.UUID):
        return str(value)
    return value


PLAIN = REGISTRY.plain()


@pytest.mark.parametrize("name", EVENT_TYPES)
@PER_TYPE
@given(data=st.data())
def test_the_plain_registry_reads_every_event_type_without_logical_types(
    name: str, data: st.DataObject
) -> None:
    """The same body decodes under the plain registry to the same values, with timestamps as
    integer microseconds, dates as days since 1970-01-01 and UUIDs as strings."""
    record = data.draw(event_record(REGISTRY, name))
    body = REGISTRY.encode(name, record)
    event_type, decoded = PLAIN.decode(*body)
    assert event_type.name == name
    assert event_type.fingerprint == REGISTRY.types[name].fingerprint
    assert decoded == plain_values(REGISTRY.decode(*body)[1])
    assert isinstance(decoded["envelope"]["occurred_at"], int)


def test_logical_types_round_trip_to_their_python_types() -> None:
    """A concrete SystemRegistered: uuid, timestamp-micros (microseconds kept) and date fields."""
    event_id = uuid.UUID("12345678-1234-5678-1234-567812345678")
    occurred = dt.datetime(2024, 5, 3, 14, 0, 59, 123456, tzinfo=dt.UTC)
    record = {
        "envelope": {
            "event_id": event_id,
            "schema_version": 1,
            "occurred_at": occurred,
            "source_system_id": "vms-1",
            "source_seq": 1,
            "actor": {
                "kind": "SYSTEM",
                "user_id": "init",
                "name": "",
                "unit": "u",
                "role": "r",
                "workstation": None,
                "ip": None,
            },
            "key_id": "vms-1+00000000",
        },
        "system_id": "vms-1",
        "name": "VMS",
        "owner": "o",
        "manager": "m",
        "filing_number": None,
        "filed_on": dt.date(2023, 12, 31),
        "went_live_on": None,
        "retention_days": 30,
    }
    _, decoded = REGISTRY.decode(*REGISTRY.encode("SystemRegistered", record))
    assert decoded["envelope"]["event_id"] == event_id
    assert type(decoded["envelope"]["event_id"]) is uuid.UUID
    assert decoded["envelope"]["occurred_at"] == occurred
    assert decoded["envelope"]["occurred_at"].tzinfo is not None
    assert decoded["envelope"]["occurred_at"].microsecond == 123456
    assert decoded["filed_on"] == dt.date(2023, 12, 31)
    assert type(decoded["filed_on"]) is dt.date


# --- the strategy itself covers every Avro construct --------------------------------------------

KITCHEN_SINK = {
    "type": "record",
    "name": "Sink",
    "namespace": "test",
    "fields": [
        {"name": "n", "type": "null"},
        {"name": "b", "type": "boolean"},
        {"name": "i", "type": "int"},
        {"name": "l", "type": "long"},
        {"name": "f", "type": "float"},
        {"name": "d", "type": "double"},
        {"name": "raw", "type": "bytes"},
        {"name": "s", "type": {"type": "string"}},
        {"name": "e", "type": {"type": "enum", "name": "E", "symbols": ["A", "B"]}},
        {"name": "e2", "type": "E"},
        {"name": "fx", "type": {"type": "fixed", "name": "F", "size": 5}},
        {"name": "arr", "type": {"type": "array", "items": ["null", "E"]}},
        {"name": "m", "type": {"type": "map", "values": "F"}},
        {"name": "u", "type": ["null", "string", "long"]},
        {"name": "id", "type": {"type": "string", "logicalType": "uuid"}},
        {"name": "ts", "type": {"type": "long", "logicalType": "timestamp-micros"}},
        {"name": "tms", "type": {"type": "long", "logicalType": "timestamp-millis"}},
        {"name": "day", "type": ["null", {"type": "int", "logicalType": "date"}]},
        {"name": "tm", "type": {"type": "long", "logicalType": "time-micros"}},
        {"name": "dec", "type": {"type": "bytes", "logicalType": "decimal", "precision": 9, "scale": 2}},
        {"name": "odd", "type": {"type": "int", "logicalType": "no-such-logical-type"}},
        {
            "name": "next",
            "type": [
                "null",
                {
                    "type": "record",
                    "name": "Node",
                    "fields": [{"name": "v", "type": "int"}, {"name": "next", "type": ["null", "Node"]}],
                },
            ],
        },
    ],
}


@SETTINGS
@given(avro_values(KITCHEN_SINK))
def test_strategy_values_round_trip_through_fastavro_for_every_construct(record: dict[str, Any]) -> None:
    """tests/strategies.avro_values generates values fastavro writes and reads back equal, for
    every primitive, named, complex and logical type, including a recursive record."""
    parsed = parse_schema(KITCHEN_SINK)
    out = io.BytesIO()
    fastavro.schemaless_writer(out, parsed, record)
    out.seek(0)
    assert fastavro.schemaless_reader(out, parsed, None) == record


# --- the SignedEvent wrapper --------------------------------------------------------------------

SIGNED_EVENT_SCHEMA = load_schema(str(SCHEMA_DIR / "liuhen.SignedEvent.avsc"), _write_hint=False)


def fastavro_signed_event(event: SignedEvent) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(
        out,
        SIGNED_EVENT_SCHEMA,
        {"schema": event.schema, "body": event.body, "signature": event.signature},
    )
    return out.getvalue()


@SETTINGS
@given(signed_events())
def test_signed_event_encode_equals_fastavro_and_round_trips(event: SignedEvent) -> None:
    """SignedEvent.encode is byte-identical to fastavro with liuhen.SignedEvent.avsc, fastavro
    reads it back, and decode(encode(x)) == x."""
    encoded = event.encode()
    assert encoded == fastavro_signed_event(event)
    assert fastavro.schemaless_reader(io.BytesIO(encoded), SIGNED_EVENT_SCHEMA, None) == {
        "schema": event.schema,
        "body": event.body,
        "signature": event.signature,
    }
    assert SignedEvent.decode(encoded) == event
    assert event.signed_message == b"liuhen/event/v1\n" + event.schema + event.body
    assert SIGNING_CONTEXT == b"liuhen/event/v1\n"


@pytest.mark.parametrize("size", [0, 63, 64, 8191, 8192, 70_000])
def test_signed_event_length_prefixes_match_fastavro_at_varint_boundaries(size: int) -> None:
    """Bodies whose length needs 1, 2 or 3 varint bytes encode and decode like fastavro."""
    event = SignedEvent(schema=bytes(range(32)), body=b"\x07" * size, signature=b"\x01" * 64)
    assert event.encode() == fastavro_signed_event(event)
    assert SignedEvent.decode(event.encode()) == event


ARBITRARY_MESSAGES = st.one_of(
    st.binary(max_size=120),
    st.tuples(FINGERPRINTS, st.binary(max_size=40)).map(lambda parts: parts[0] + parts[1]),
)


@SETTINGS
@given(ARBITRARY_MESSAGES)
def test_signed_event_decode_of_arbitrary_bytes_returns_or_raises_bad_avro(data: bytes) -> None:
    """Any bytes either parse as a SignedEvent or raise BadAvro (an IngestError): nothing else."""
    try:
        event = SignedEvent.decode(data)
    except BadAvro:
        return
    assert event.schema == data[:32]
    assert event.body in data
    assert event.signature in data
    assert len(data) >= 32 + 2 + len(event.body) + len(event.signature)


@SETTINGS
@given(signed_events(), st.data())
def test_signed_event_decode_of_a_corrupted_encoding_returns_or_raises_bad_avro(
    event: SignedEvent, data: st.DataObject
) -> None:
    """Flipping one byte of a valid encoding yields a SignedEvent or BadAvro, never a crash."""
    encoded = event.encode()
    pos = data.draw(st.integers(0, len(encoded) - 1))
    corrupted = encoded[:pos] + bytes([encoded[pos] ^ data.draw(st.integers(1, 255))]) + encoded[pos + 1 :]
    with contextlib.suppress(BadAvro):
        SignedEvent.decode(corrupted)


@SETTINGS
@given(signed_events(), st.binary(min_size=1, max_size=40))
def test_signed_event_decode_rejects_trailing_bytes(event: SignedEvent, extra: bytes) -> None:
    """A valid wrapper followed by anything is not exactly one wrapper: BadAvro."""
    with pytest.raises(BadAvro, match=rf"{len(extra)} unexpected bytes after the signed event"):
        SignedEvent.decode(event.encode() + extra)


@SETTINGS
@given(signed_events(), st.data())
def test_signed_event_decode_rejects_every_truncation(event: SignedEvent, data: st.DataObject) -> None:
    """Every proper prefix of a valid wrapper raises BadAvro."""
    encoded = event.encode()
    cut = data.draw(st.integers(0, len(encoded) - 1))
    with pytest.raises(BadAvro):
        SignedEvent.decode(encoded[:cut])


def test_signed_event_decode_rejects_negative_and_overlong_lengths() -> None:
    """A negative length (zig-zag odd) and a varint longer than 10 bytes are BadAvro."""
    with pytest.raises(BadAvro, match="claims -1 bytes") as caught:
        SignedEvent.decode(bytes(32) + b"\x01" + b"\x00" * 4)
    assert isinstance(caught.value, IngestError)
    assert caught.value.reason == "bad_avro"
    with pytest.raises(BadAvro, match="longer than 10 bytes"):
        SignedEvent.decode(bytes(32) + b"\xff" * 11 + b"\x00")
    with pytest.raises(BadAvro, match="ends inside a length prefix"):
        SignedEvent.decode(bytes(32) + b"\x00\x80")


def test_signed_event_decode_accepts_only_the_canonical_encoding() -> None:
    """0x80 0x00 is a two-byte encoding of length 0; only the one-byte 0x00 is canonical."""
    canonical = SignedEvent(schema=bytes(32), body=b"", signature=b"").encode()
    assert canonical == bytes(32) + b"\x00\x00"
    with pytest.raises(BadAvro):
        SignedEvent.decode(bytes(32) + b"\x80\x00" + b"\x00")


# --- registry decode failures -------------------------------------------------------------------


@SETTINGS
@given(FINGERPRINTS.filter(lambda fp: not REGISTRY.known(fp)), st.binary(max_size=64))
def test_decode_of_an_unknown_fingerprint_raises_unknown_schema(fp: bytes, body: bytes) -> None:
    """A fingerprint of no known schema version is UnknownSchema, naming the fingerprint."""
    with pytest.raises(UnknownSchema, match=fp.hex()) as caught:
        REGISTRY.decode(fp, body)
    assert caught.value.reason == "unknown_schema"


@pytest.mark.parametrize("name", ["FootageViewed", "SystemRegistered", "FootageInventoryReported"])
@SETTINGS
@given(data=st.data())
def test_decode_of_a_truncated_body_raises_bad_avro(name: str, data: st.DataObject) -> None:
    """Every proper prefix of a valid body is BadAvro."""
    schema_fingerprint, body = REGISTRY.encode(name, data.draw(event_record(REGISTRY, name)))
    cut = data.draw(st.integers(0, len(body) - 1))
    with pytest.raises(BadAvro, match=f"not a valid {name}"):
        REGISTRY.decode(schema_fingerprint, body[:cut])


@pytest.mark.parametrize("name", ["FootageViewed", "LedgerQueried"])
@SETTINGS
@given(data=st.data(), garbage=st.binary(min_size=1, max_size=32))
def test_decode_of_a_body_with_trailing_garbage_raises_bad_avro(
    name: str, data: st.DataObject, garbage: bytes
) -> None:
    """A valid body followed by extra bytes is BadAvro, counting the extra bytes."""
    schema_fingerprint, body = REGISTRY.encode(name, data.draw(event_record(REGISTRY, name)))
    with pytest.raises(BadAvro, match=rf"{len(garbage)} unexpected bytes after the {name} body"):
        REGISTRY.decode(schema_fingerprint, body + garbage)


@SETTINGS
@given(st.sampled_from(EVENT_TYPES), st.binary(max_size=200))
def test_decode_of_an_arbitrary_body_returns_a_record_or_raises_bad_avro(name: str, body: bytes) -> None:
    """Garbage under a known fingerprint either decodes to a record or raises BadAvro only."""
    try:
        event_type, record = REGISTRY.decode(REGISTRY.types[name].fingerprint, body)
    except BadAvro:
        return
    assert event_type.name == name
    assert isinstance(record, dict)


def test_encode_of_an_unknown_event_type_is_a_configuration_error() -> None:
    """Asking for an event type that does not exist names it."""
    with pytest.raises(ConfigurationError, match="NoSuchEvent"):
        REGISTRY.encode("NoSuchEvent", {})


# --- schema evolution ---------------------------------------------------------------------------

FOOTAGE_EXPORTED = SCHEMA_DIR / "liuhen.FootageExported.avsc"


@pytest.fixture(scope="module")
def evolved(tmp_path_factory: pytest.TempPathFactory) -> SchemaRegistry:
    """A copy of schemas/ where FootageExported gained a field; its old version is in history/."""
    directory = tmp_path_factory.mktemp("evolved") / "schemas"
    shutil.copytree(SCHEMA_DIR, directory)
    name, text = freeze(REGISTRY, "FootageExported")
    (directory / "history" / name).write_text(text)
    current = json.loads(FOOTAGE_EXPORTED.read_text())
    current["fields"].append({"name": "retention_note", "type": ["null", "string"], "default": None})
    current["liuhen.version"] = 2
    (directory / "liuhen.FootageExported.avsc").write_text(json.dumps(current, indent=2))
    return SchemaRegistry.load(directory)


def test_evolved_registry_knows_old_and_new_fingerprints(evolved: SchemaRegistry) -> None:
    """The new version has a new fingerprint; both it and the old one are known."""
    old_fp = REGISTRY.types["FootageExported"].fingerprint
    new_type = evolved.types["FootageExported"]
    assert new_type.fingerprint != old_fp
    assert new_type.version == 2
    assert evolved.known(old_fp)
    assert evolved.known(new_type.fingerprint)
    assert not REGISTRY.known(new_type.fingerprint)
    # Every other type is unchanged.
    for name in EVENT_TYPES:
        if name != "FootageExported":
            assert evolved.types[name].fingerprint == REGISTRY.types[name].fingerprint


@SETTINGS
@given(data=st.data())
def test_event_written_with_old_version_decodes_with_new_field_default(
    evolved: SchemaRegistry, data: st.DataObject
) -> None:
    """An event encoded under the old fingerprint decodes with the new registry as the current
    FootageExported, its new field taking the default and its plain fields unchanged."""
    record = data.draw(event_record(REGISTRY, "FootageExported"))
    old_fp, body = REGISTRY.encode("FootageExported", record)
    event_type, decoded = evolved.decode(old_fp, body)
    assert event_type.name == "FootageExported"
    assert event_type.fingerprint == evolved.types["FootageExported"].fingerprint
    assert decoded["retention_note"] is None
    assert set(decoded) == {*record, "retention_note"}
    for field in ("destination", "format", "watermark_id", "file_hash"):
        assert decoded[field] == record[field]
    assert decoded["envelope"]["actor"] == record["envelope"]["actor"]
    assert decoded["access"]["outcome"] == record["access"]["outcome"]


@SETTINGS
@given(data=st.data())
def test_event_written_with_old_version_decodes_equal_to_the_original(
    evolved: SchemaRegistry, data: st.DataObject
) -> None:
    """Apart from the new field, the old-version event decodes to exactly the record written,
    logical types included (uuid.UUID, aware UTC datetimes), as it does under the current schema."""
    record = data.draw(event_record(REGISTRY, "FootageExported"))
    _, decoded = evolved.decode(*REGISTRY.encode("FootageExported", record))
    decoded.pop("retention_note")
    assert decoded == record


@SETTINGS
@given(data=st.data())
def test_the_plain_registry_reads_an_old_version_too(evolved: SchemaRegistry, data: st.DataObject) -> None:
    """An event written under an old schema version decodes under the plain registry as well."""
    record = data.draw(event_record(REGISTRY, "FootageExported"))
    _, decoded = evolved.plain().decode(*REGISTRY.encode("FootageExported", record))
    assert decoded == {**plain_values(record), "retention_note": None}


@SETTINGS
@given(data=st.data(), note=st.none() | st.text(max_size=20))
def test_event_written_with_new_version_round_trips_and_is_unknown_to_old_registry(
    evolved: SchemaRegistry, data: st.DataObject, note: str | None
) -> None:
    """The new version round-trips with its new field; the old registry rejects its fingerprint."""
    record = {**data.draw(event_record(REGISTRY, "FootageExported")), "retention_note": note}
    new_fp, body = evolved.encode("FootageExported", record)
    assert evolved.decode(new_fp, body)[1] == record
    with pytest.raises(UnknownSchema):
        REGISTRY.decode(new_fp, body)


def test_history_schema_naming_no_current_type_is_a_configuration_error(tmp_path: Path) -> None:
    """A history file for an event type that no longer exists stops the registry from loading."""
    directory = tmp_path / "schemas"
    shutil.copytree(SCHEMA_DIR, directory)
    (directory / "history" / "liuhen.Gone.00000000.avsc").write_text(
        '{"name":"liuhen.Gone","type":"record","fields":[{"name":"x","type":"int"}]}'
    )
    with pytest.raises(ConfigurationError, match="names no current event type"):
        SchemaRegistry.load(directory)


_HISTORY_NAME = re.compile(r"^(liuhen\.[A-Za-z]+)\.([0-9a-f]{8})\.avsc$")


def test_repository_history_directory_loads_and_every_old_version_is_known() -> None:
    """schemas/history loads; each file is a self-contained schema (logical types kept), named
    <type>.<8 hex of its fingerprint>, for a current event type, and its fingerprint is known."""
    registry = SchemaRegistry.load(SCHEMA_DIR)
    assert set(registry.types) == set(REGISTRY.types)
    current = {t.full_name for t in registry.types.values()}
    for path in sorted(HISTORY_DIR.glob("*.avsc")):
        match = _HISTORY_NAME.match(path.name)
        assert match, f"{path.name} is not named <full name>.<8 hex>.avsc"
        parsed = parse_schema(json.loads(path.read_text()))
        old_fp = hashlib.sha256(to_parsing_canonical_form(parsed).encode()).digest()
        assert old_fp.hex()[:8] == match.group(2)
        assert parsed["name"] == match.group(1)
        assert match.group(1) in current
        assert registry.known(old_fp)


@SETTINGS
@given(data=st.data())
def test_envelope_key_reader_agrees_with_fastavro_for_every_event_type(data: st.DataObject) -> None:
    """The verifier's direct envelope reader returns what a full decode finds."""
    name = data.draw(st.sampled_from(sorted(REGISTRY.types)))
    record = data.draw(event_record(REGISTRY, name))
    _, body = REGISTRY.encode(name, record)
    key = read_envelope_key(body)
    envelope = record["envelope"]
    assert (key.source_system_id, key.source_seq, key.key_id) == (
        envelope["source_system_id"],
        envelope["source_seq"],
        envelope["key_id"],
    )


@SETTINGS
@given(data=st.data())
def test_envelope_key_reader_refuses_a_cut_or_damaged_envelope_with_bad_avro(data: st.DataObject) -> None:
    """Cut anywhere before its key id ends, or with a byte changed, an envelope reads as BadAvro or as a
    key; never another exception, and a cut one never as the whole key."""
    name = data.draw(st.sampled_from(sorted(REGISTRY.types)))
    record = data.draw(event_record(REGISTRY, name))
    _, body = REGISTRY.encode(name, record)
    whole = read_envelope_key(body)
    cut = data.draw(st.integers(0, len(body)))
    try:
        key = read_envelope_key(body[:cut])
    except BadAvro:
        pass
    else:
        assert key == whole  # the cut left the envelope whole
    position = data.draw(st.integers(0, len(body) - 1))
    flip = data.draw(st.integers(1, 255))
    damaged = body[:position] + bytes([body[position] ^ flip]) + body[position + 1 :]
    try:
        read = read_envelope_key(damaged)
    except BadAvro as refused:
        read = refused
    assert isinstance(read, (EnvelopeKey, BadAvro))
