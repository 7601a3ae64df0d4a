"""Auditor bundles: the on-disk format, written by ``liuhen export`` and read by the verifier.

A bundle is a directory::

    manifest.json                   what is in it (format, kind, logs, selection, file hashes)
    selection.note                  selective bundles only: the signed selection statement
                                    (:mod:`ledger.wire.selection`)
    keys/ledger.pub                 the ledger's public key(s) at export, verifier-key text, one a line
    keys/rotations.jsonl            the ledger key's rotations: {"note": "<signed rotation>"} a line
    logs/<n>/entries.avro           Avro container of liuhen.BundleEntry (schema embedded), by index
    logs/<n>/checkpoints.jsonl      {"size": n, "note": "<signed note>", "cosignatures": [...]} a line
    logs/<n>/proofs.jsonl           selective bundles only: {"index": i, "size": n, "proof": [hex...]}
    logs/<n>/consistency.jsonl      selective bundles only: {"old": m, "new": n, "proof": [hex...]}

``kind`` is ``full`` (every entry of each log from index 0, and every checkpoint) or
``selective`` (only the entries an investigation needs, each with an inclusion proof against
the first checkpoint that covers it, plus the log's source-key registry entries so that source
signatures can be checked; the checkpoints used, the one before each, and the log's newest, with
a consistency proof from each to the newest). Nothing in a bundle is trusted for being there:
trust comes from the ledger key the auditor holds, checkpoint signatures, hashes and proofs. The
manifest's file hashes only catch accidental damage early.

Every byte of a bundle is hostile input, so the readers here check what they read and raise
:class:`~ledger.errors.BundleError`, one line naming the file and the fault, for anything else:

* ``manifest.json`` is a JSON object of at most :data:`MAX_MANIFEST` bytes, with the fields and
  types :class:`Manifest` names. Its paths (``logs[].directory``, the keys of ``files``) are
  relative, without ``..``, and every file read resolves inside the bundle (:func:`bundle_file`).
* A ``.jsonl`` line is at most :data:`MAX_LINE` bytes of UTF-8 holding one JSON object of its
  file's fields: sizes and indices are integers in ``[0, 2**63)``, hashes 64 hex digits.
* ``entries.avro`` is an Avro object container whose header (at most :data:`MAX_AVRO_HEADER`
  bytes) holds the ``liuhen.BundleEntry`` schema, uncompressed (codec ``null``); its block
  framing is checked before a record is decoded (each block's size within the file, at most one
  record per :data:`MIN_RECORD` bytes, the file's sync marker after it), so no count or length
  read from the file makes the reader allocate or loop beyond the file's own size. Records are
  then streamed by fastavro; an index must be >= 0.

Imports only the standard library and ``fastavro``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePath
from typing import IO, Any, BinaryIO, cast

import fastavro
from fastavro.schema import to_parsing_canonical_form

from ledger.errors import BundleError
from ledger.wire.avro import load_schema_file
from ledger.wire.format import StoredEntry

FORMAT = "liuhen-bundle/1"
SELECTION_FILE = "selection.note"
KINDS = ("full", "selective")

MAX_MANIFEST = 8 << 20
"""Bytes a ``manifest.json`` may hold (a bundle of a thousand logs needs a few hundred KiB)."""
MAX_LINE = 1 << 20
"""Bytes a ``.jsonl`` line may hold (a cosigned checkpoint, or a proof of 64 hashes, is a few KiB)."""
MAX_AVRO_HEADER = 1 << 20
"""Bytes an ``entries.avro`` header may hold (the schema and metadata take about 1 KiB)."""
MIN_RECORD = 36
"""The fewest bytes a ``liuhen.BundleEntry`` record takes: three one-byte longs, 32 hash bytes, a length."""
MAX_POSITION = (1 << 63) - 1
"""The largest index or tree size a bundle may name (an Avro ``long``)."""
MAX_PROOF = 64
"""The most hashes an inclusion proof can hold (a tree of fewer than 2**64 leaves)."""
_HEX_HASH = re.compile(r"[0-9a-fA-F]{64}")
_DIGEST = re.compile(r"[0-9a-f]{64}")
_AVRO_MAGIC = b"Obj\x01"
_SYNC_SIZE = 16


def entry_schema() -> Any:
    """The parsed ``liuhen.BundleEntry`` schema."""
    from schemas import SCHEMA_DIR  # noqa: PLC0415 - keeps this importable from a bare checkout

    return load_schema_file(SCHEMA_DIR / "liuhen.BundleEntry.avsc")


@dataclass(frozen=True)
class LogPart:
    """One log's files in a bundle."""

    origin: str
    directory: str
    entries: int
    first_index: int
    last_index: int


@dataclass
class Manifest:
    """``manifest.json``."""

    kind: str
    logs: list[LogPart]
    created_at: str
    selection: dict[str, Any] = field(default_factory=dict)
    files: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        """The manifest as written to disk."""
        return json.dumps(
            {
                "format": FORMAT,
                "kind": self.kind,
                "created_at": self.created_at,
                "selection": self.selection,
                "logs": [vars(part) for part in self.logs],
                "files": self.files,
            },
            indent=2,
            ensure_ascii=False,
        )

    @classmethod
    def load(cls, bundle: Path) -> Manifest:
        """Read and check ``manifest.json``; raise :class:`BundleError` naming what is wrong."""
        path = bundle / "manifest.json"
        if not path.exists() and not path.is_symlink():
            raise BundleError(f"{bundle} is not a liuhen bundle: it has no manifest.json")
        path = bundle_file(bundle, "manifest.json")
        with _open(path) as stream:
            raw = stream.read(MAX_MANIFEST + 1)
        if len(raw) > MAX_MANIFEST:
            raise BundleError(f"{path} is larger than {MAX_MANIFEST >> 20} MiB: not a bundle's manifest")
        data = _json(raw, f"{path}")
        if not isinstance(data, dict):
            raise BundleError(f"{path} is not a JSON object but {_kind(data)}")
        if data.get("format") != FORMAT:
            raise BundleError(f"{path} is format {_short(data.get('format'))}; this verifier reads {FORMAT}")
        kind = data.get("kind")
        if kind not in KINDS:
            raise BundleError(f"{path}: kind {_short(kind)} is neither 'full' nor 'selective'")
        created_at = _field(data, "created_at", str, f"{path}")
        selection = data.get("selection", {})
        if not isinstance(selection, dict):
            raise BundleError(f"{path}: selection is {_kind(selection)}, not an object")
        logs = _field(data, "logs", list, f"{path}")
        files = data.get("files", {})
        if not isinstance(files, dict):
            raise BundleError(f"{path}: files is {_kind(files)}, not an object of path to SHA-256")
        for name, digest in files.items():
            _relative(name, f"{path}: files")
            if not isinstance(digest, str) or not _DIGEST.fullmatch(digest):
                shown = f"{_short(name, 300)} has {_short(digest, 80)}"
                raise BundleError(f"{path}: files: {shown}, not a SHA-256 in hex")
        parts = [_log_part(part, f"{path}: logs[{n}]") for n, part in enumerate(logs)]
        origins = [part.origin for part in parts]
        directories = [str(PurePath(part.directory)) for part in parts]
        for what, names in (("origin", origins), ("directory", directories)):
            seen: set[str] = set()
            for name in names:
                if name in seen:
                    raise BundleError(f"{path}: two logs have the {what} {_short(name, 300)}")
                seen.add(name)
        return cls(
            kind=kind,
            logs=parts,
            created_at=created_at,
            selection=selection,
            files=files,
        )


def _log_part(part: object, where: str) -> LogPart:
    if not isinstance(part, dict):
        raise BundleError(f"{where} is {_kind(part)}, not an object")
    names = {f.name for f in LogPart.__dataclass_fields__.values()}
    if set(part) != names:
        wrong = ", ".join(_short(name) for name in sorted(set(part) ^ names)[:5])
        raise BundleError(f"{where} lacks or misnames a field: {wrong}")
    origin = _text(_field(part, "origin", str, where), f"{where}: origin").decode()
    directory = _relative(part["directory"], f"{where}: directory")
    entries = _position(part["entries"], f"{where}: entries")
    first, last = (_integer(part[name], f"{where}: {name}") for name in ("first_index", "last_index"))
    return LogPart(origin, directory, entries, first, last)


def _relative(name: object, where: str) -> str:
    """``name`` if it is a relative path without ``..`` (a path the manifest may name), else raise."""
    shown = _short(name, 300)
    if not isinstance(name, str):
        raise BundleError(f"{where}: {shown} is not a path")
    path = PurePath(name)
    if not name or len(name) > 1024 or "\x00" in name or any(len(part) > 255 for part in path.parts):
        raise BundleError(f"{where}: {shown} is not a path inside the bundle")
    try:
        os.fsencode(name)
    except UnicodeEncodeError as exc:
        raise BundleError(f"{where}: {shown} is not a file name this system can hold") from exc
    if path.is_absolute() or path.anchor:
        raise BundleError(f"{where}: {shown} is an absolute path; a bundle names its files from itself")
    if ".." in path.parts:
        raise BundleError(f"{where}: {shown} climbs out with '..'; a bundle names files inside itself")
    return name


def bundle_file(bundle: Path, name: str) -> Path:
    """The file or folder ``name`` of the bundle, once it resolves inside the bundle (links followed)."""
    _relative(name, f"{bundle}")
    path = bundle / name
    try:
        root, resolved = bundle.resolve(), path.resolve()
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symbolic link loop (Python 3.11)
        raise BundleError(f"{path}: cannot resolve the path: {exc}") from exc
    if not resolved.is_relative_to(root):
        raise BundleError(f"{path} leads outside the bundle (to {resolved}); a bundle holds its own files")
    return path


# -- JSON and JSON lines ------------------------------------------------------------------------


_KINDS = {dict: "an object", list: "an array", str: "a string", int: "an integer", bool: "a boolean"}


def _kind(value: object) -> str:
    return "null" if value is None else _KINDS.get(type(value), "a number")


def _json(raw: bytes, where: str) -> Any:
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{where} is not UTF-8 text (byte {exc.start}: {exc.reason})") from exc
    try:
        return json.loads(text)
    except ValueError as exc:
        raise BundleError(f"{where} is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise BundleError(f"{where} is JSON nested too deeply to be a bundle's") from exc


def _field(row: dict[str, Any], name: str, kind: type, where: str) -> Any:
    if name not in row:
        raise BundleError(f"{where} has no {name!r}")
    value = row[name]
    if not isinstance(value, kind) or isinstance(value, bool):
        raise BundleError(f"{where}: {name} is {_kind(value)} ({_short(value)}), not {_KINDS[kind]}")
    return value


def _short(value: object, limit: int = 40) -> str:
    """``value`` shown in a message: bounded, one line, and never a deep structure's repr."""
    if isinstance(value, dict | list):
        return f"{_kind(value)} of {len(value)}"
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _integer(value: object, where: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise BundleError(f"{where} is {_kind(value)} ({_short(value)}), not an integer")
    return value


def _position(value: object, where: str) -> int:
    number = _integer(value, where)
    if not 0 <= number <= MAX_POSITION:
        raise BundleError(f"{where} is {_short(number)}, outside 0..2**63-1")
    return number


def _text(value: object, where: str) -> bytes:
    if not isinstance(value, str):
        raise BundleError(f"{where} is {_kind(value)} ({_short(value)}), not a string")
    try:
        return value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise BundleError(f"{where} is not UTF-8 text ({exc.reason} at {exc.start})") from exc


def read_jsonl(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """The JSON objects of a ``.jsonl`` file, each with ``"<path> line <n>"`` (missing file: none)."""
    if not _present(path):
        return
    with _open(path) as stream:
        number = 0
        while line := _line(stream, path, number):
            number += 1
            where = f"{path} line {number}"
            if len(line) > MAX_LINE:
                raise BundleError(f"{where} is longer than {MAX_LINE >> 20} MiB: not a bundle's line")
            if not line.strip():
                continue
            row = _json(line, where)
            if not isinstance(row, dict):
                raise BundleError(f"{where} is {_kind(row)}, not a JSON object")
            yield where, row


def _line(stream: BinaryIO, path: Path, before: int) -> bytes:
    try:
        return stream.readline(MAX_LINE + 1)
    except OSError as exc:
        raise BundleError(f"cannot read {path} after line {before}: {exc.strerror or exc}") from exc


def read_checkpoints(path: Path) -> list[tuple[int, bytes, list[str]]]:
    """``checkpoints.jsonl``: (size, signed note, cosignature lines) a line (missing file: none)."""
    rows = []
    for where, row in read_jsonl(path):
        size = _position(_field(row, "size", int, where), f"{where}: size")
        note = _text(row.get("note"), f"{where}: note")
        cosignatures = row.get("cosignatures", [])
        if not isinstance(cosignatures, list):
            raise BundleError(f"{where}: cosignatures is {_kind(cosignatures)}, not an array")
        for line in cosignatures:
            _text(line, f"{where}: cosignature")
        rows.append((size, note, cosignatures))
    return rows


def _proof(row: dict[str, Any], where: str) -> list[bytes]:
    """A row's ``proof``: at most :data:`MAX_PROOF` hashes of 64 hex digits."""
    hashes = _field(row, "proof", list, where)
    if len(hashes) > MAX_PROOF:
        raise BundleError(f"{where}: proof holds {len(hashes)} hashes; a proof needs {MAX_PROOF} at most")
    for digest in hashes:
        if not isinstance(digest, str) or not _HEX_HASH.fullmatch(digest):
            raise BundleError(f"{where}: proof hash {_short(digest)} is not 64 hex digits")
    return [bytes.fromhex(digest) for digest in hashes]


def read_proofs(path: Path) -> dict[int, tuple[int, list[bytes]]]:
    """``proofs.jsonl``: index -> (checkpoint size, inclusion proof) (missing file: none)."""
    proofs = {}
    for where, row in read_jsonl(path):
        index = _position(_field(row, "index", int, where), f"{where}: index")
        size = _position(_field(row, "size", int, where), f"{where}: size")
        proofs[index] = (size, _proof(row, where))
    return proofs


def read_consistency(path: Path) -> dict[tuple[int, int], list[bytes]]:
    """``consistency.jsonl``: (old size, new size) -> consistency proof (missing file: none)."""
    proofs = {}
    for where, row in read_jsonl(path):
        old = _position(_field(row, "old", int, where), f"{where}: old")
        new = _position(_field(row, "new", int, where), f"{where}: new")
        proofs[old, new] = _proof(row, where)
    return proofs


def read_selection(bundle: Path) -> bytes | None:
    """A bundle's ``selection.note`` (at most :data:`MAX_LINE` bytes), or None if it carries none."""
    path = bundle_file(bundle, SELECTION_FILE)
    if not _present(path):
        return None
    with _open(path) as stream:
        data = stream.read(MAX_LINE + 1)
    if len(data) > MAX_LINE:
        raise BundleError(f"{path} is larger than {MAX_LINE} bytes: it is not a selection statement")
    return data


def read_rotations(path: Path) -> list[bytes]:
    """``keys/rotations.jsonl``: the signed rotation statements, in order (missing file: none)."""
    return [_text(row.get("note"), f"{where}: note") for where, row in read_jsonl(path)]


def _present(path: Path) -> bool:
    """Whether ``path`` exists (a file the bundle may leave out); raise if that cannot be told."""
    try:
        path.stat()
    except FileNotFoundError:
        return False
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return True


def _open(path: Path) -> BinaryIO:
    """``path`` opened for reading, if it is a regular file (never a device, pipe or folder)."""
    if not _present(path):
        raise BundleError(f"bundle file {path} is missing")
    if not path.is_file():
        raise BundleError(f"bundle file {path} is not a regular file")
    try:
        return path.open("rb")
    except OSError as exc:
        raise BundleError(f"cannot read {path}: {exc.strerror or exc}") from exc


# -- entries.avro -------------------------------------------------------------------------------


def entry_record(stored: StoredEntry) -> dict[str, Any]:
    """The ``liuhen.BundleEntry`` record of a stored entry."""
    return {
        "index": stored.index,
        "kafka_offset": stored.kafka_offset,
        "ingested_at_us": stored.ingested_at_us,
        "chain_hash": stored.chain_hash,
        "entry": stored.entry,
    }


def file_digest(path: Path) -> str:
    """SHA-256 hex of a file, read in chunks."""
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def read_entries(path: Path) -> Iterator[dict[str, Any]]:
    """The ``liuhen.BundleEntry`` records of an entries file, in file order, streamed.

    The header and the block framing are checked first (see the module docstring); then fastavro
    decodes the records, and what it raises on a record that does not decode becomes a
    :class:`BundleError` naming the file and the record.
    """
    with _open(path) as stream:
        sync, blocks = _check_container(stream, path)
        number = 0
        try:
            stream.seek(blocks)
            behind = cast(IO[bytes], _Behind(_header(sync), stream))
            records = cast(Iterator[dict[str, Any]], iter(fastavro.reader(behind)))
            for number, record in enumerate(records):
                if record["index"] < 0:
                    raise BundleError(f"{path}: record {number} has index {record['index']}, below 0")
                yield record
        except (ValueError, EOFError, IndexError, OverflowError, OSError) as exc:
            raise BundleError(f"{path}: record {number} is not a liuhen.BundleEntry: {exc}") from exc


def _header(sync: bytes) -> bytes:
    """A container header of ``liuhen.BundleEntry`` with ``sync``, written here from the schema file."""
    out = io.BytesIO()
    fastavro.writer(out, entry_schema(), [], sync_marker=sync)
    return out.getvalue()


class _Behind:
    """A header written here, then the blocks of the file: fastavro never parses the file's own header.

    The file's header was only checked to name the same schema; decoding with the schema file's
    own copy keeps whatever else the file's copy says (defaults, aliases, docs) out of fastavro.
    """

    def __init__(self, header: bytes, stream: BinaryIO) -> None:
        self.header, self.stream = io.BytesIO(header), stream
        self.read: Callable[[int], bytes] = self._read_header

    def _read_header(self, size: int = -1) -> bytes:
        data = self.header.read(size)
        if size < 0 or len(data) < size:
            self.read = self.stream.read  # the header is read: the file's blocks from here, directly
            data += self.stream.read(size if size < 0 else size - len(data))
        return data


class _Cursor:
    """An Avro container's header read from bytes, refusing to run past them."""

    def __init__(self, data: bytes, where: str) -> None:
        self.data, self.pos, self.where = data, 0, where

    def take(self, size: int) -> bytes:
        if not 0 <= size <= len(self.data) - self.pos:
            raise BundleError(f"{self.where} is cut short (wanted {size} bytes at byte {self.pos})")
        self.pos += size
        return self.data[self.pos - size : self.pos]

    def long(self) -> int:
        try:
            value, self.pos = _long(self.data, self.pos)
        except IndexError:
            raise BundleError(f"{self.where} is cut short (a number at byte {self.pos})") from None
        except ValueError:
            raise BundleError(f"{self.where}: the number at byte {self.pos} overflows an Avro long") from None
        return value


def _check_container(stream: BinaryIO, path: Path) -> tuple[bytes, int]:
    """Check the header (schema, codec) and every block's framing of an entries file; read no record.

    Return the file's sync marker and where its first block starts.
    """
    size = os.fstat(stream.fileno()).st_size
    head = _Cursor(stream.read(min(size, MAX_AVRO_HEADER)), f"{path}")
    if head.take(4) != _AVRO_MAGIC:
        raise BundleError(f"{path} is not a readable Avro container (no 'Obj\\x01' at its start)")
    meta: dict[str, str] = {}
    while count := head.long():
        if count < 0:  # a block of -count entries, preceded by its size in bytes
            head.long()
            count = -count
        for _ in range(count):
            key = head.take(head.long())
            value = head.take(head.long())
            try:
                meta[key.decode()] = value.decode()
            except UnicodeDecodeError as exc:
                raise BundleError(f"{path}: header metadata {key[:40]!r} is not UTF-8 text") from exc
    sync = head.take(_SYNC_SIZE)
    codec = meta.get("avro.codec", "null")
    if codec != "null":
        raise BundleError(f"{path} is compressed with {codec[:40]!r}; bundles are written uncompressed")
    _check_schema(meta.get("avro.schema"), path)
    position = blocks = head.pos
    fd = stream.fileno()
    following = os.pread(fd, 20, position)  # a block starts with two longs: 20 bytes at most
    while position < size:
        try:
            records, at = _long(following, 0)
            length, at = _long(following, at)
        except (IndexError, ValueError):
            raise BundleError(f"{path}: the block at byte {position} starts with no count and size") from None
        start = position + at
        if records <= 0 or length < records * MIN_RECORD or length > size - start - _SYNC_SIZE:
            raise BundleError(_bad_block(path, position, records, length, size - start))
        tail = os.pread(fd, _SYNC_SIZE + 20, start + length)  # its sync, then the next block's longs
        if tail[:_SYNC_SIZE] != sync:
            raise BundleError(f"{path}: the block at byte {position} is not followed by the sync marker")
        position, following = start + length + _SYNC_SIZE, tail[_SYNC_SIZE:]
    return sync, blocks


def _long(data: bytes, pos: int) -> tuple[int, int]:
    """The Avro long at ``pos`` and where it ends; IndexError past the data, ValueError past 10 bytes."""
    value = shift = 0
    while shift < 70:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return (value >> 1) ^ -(value & 1), pos
        shift += 7
    raise ValueError("longer than an Avro long")


def _bad_block(path: Path, position: int, records: int, length: int, after: int) -> str:
    where = f"{path}: the block at byte {position}"
    if records <= 0 or length < records * MIN_RECORD:
        return f"{where} claims {records} records in {length} bytes"
    return f"{where} claims {length} bytes; the file holds {after} after it"


_KEPT = ("type", "name", "fields", "items", "values", "symbols", "size", "logicalType")
"""What decides how a schema decodes: the Parsing Canonical Form's attributes and the logical type."""


def _canonical(node: Any, namespace: str = "") -> Any:
    """A schema as JSON, reduced to what decides how it decodes, with full names (Avro's PCF rules)."""
    if isinstance(node, list):
        return [_canonical(item, namespace) for item in node]
    if not isinstance(node, dict):
        return node
    name, space = node.get("name"), node.get("namespace", namespace)
    if isinstance(name, str) and "." not in name and isinstance(space, str) and space:
        name = f"{space}.{name}"
    inner = name.rpartition(".")[0] if isinstance(name, str) else namespace
    out = {key: node[key] for key in _KEPT if key in node}
    if "name" in out:
        out["name"] = name
    for key in ("type", "items", "values"):
        if key in out:
            out[key] = _canonical(out[key], inner)
    if isinstance(out.get("fields"), list):
        out["fields"] = [
            {"name": f.get("name"), "type": _canonical(f.get("type"), inner)} if isinstance(f, dict) else f
            for f in out["fields"]
        ]
    return out["type"] if list(out) == ["type"] else out


_EXPECTED: list[Any] = []


def _check_schema(text: str | None, path: Path) -> None:
    """Raise unless the container's writer schema is ``liuhen.BundleEntry`` (to how it decodes)."""
    if not _EXPECTED:
        _EXPECTED.append(json.loads(to_parsing_canonical_form(entry_schema())))
    if text is None:
        raise BundleError(f"{path} has no Avro schema in its header")
    try:
        schema = _canonical(json.loads(text))
    except ValueError as exc:
        raise BundleError(f"{path}: its Avro schema is not JSON: {exc}") from exc
    except RecursionError as exc:
        raise BundleError(f"{path}: its Avro schema is nested too deeply to be liuhen.BundleEntry") from exc
    if schema != _EXPECTED[0]:
        name = schema.get("name") if isinstance(schema, dict) else None
        shown = name if isinstance(name, str) else "something"
        raise BundleError(f"{path} holds {shown[:80]!r} records, not liuhen.BundleEntry")
