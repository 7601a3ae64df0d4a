"""Malformed bundles: the verifier never raises, it exits 2 naming the file and the fault.

A bundle comes from whoever hands it to the auditor, so every byte of it is hostile input. The
named tests below are the crashes found before the reading boundary checked what it read (a
manifest that is an array, strings where numbers belong, an Avro file of another record type, a
block claiming 2^40 records, paths leading out of the bundle...). Each copies the golden bundle,
breaks one file the way an attacker or a damaged disk would, recomputes the manifest's file hashes
as an attacker would, and runs ``python -m ledger.verify`` in-process.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import fastavro
import pytest

from ledger.verify import main
from ledger.wire.bundle import file_digest

REPO = Path(__file__).resolve().parent.parent
BUNDLES = REPO / "tests" / "fixtures" / "bundles"
KEYS = BUNDLES / "keys"
MAX_MANIFEST = 8 << 20


def copied(tmp_path: Path, name: str = "golden") -> Path:
    """A copy of a fixture bundle to break."""
    return Path(shutil.copytree(BUNDLES / name, tmp_path / name))


def redigest(bundle: Path) -> None:
    """Recompute the manifest's file hashes, as an attacker editing a bundle would."""
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["files"] = {name: file_digest(bundle / name) for name in manifest["files"]}
    (bundle / "manifest.json").write_text(json.dumps(manifest, indent=2))


def edit_manifest(bundle: Path, change: Callable[[dict[str, Any]], object]) -> None:
    manifest = json.loads((bundle / "manifest.json").read_text())
    change(manifest)
    (bundle / "manifest.json").write_text(json.dumps(manifest))


def verify(bundle: Path, *extra: str | Path) -> int:
    return main([str(bundle), "--key", str(KEYS / "ledger.pub"), "--quiet", *map(str, extra)])


def unreadable(bundle: Path, capsys: pytest.CaptureFixture[str], *extra: str | Path) -> str:
    """Verify ``bundle``: exit status 2 and one line on stderr; return that line."""
    assert verify(bundle, *extra) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""
    assert "a bug" not in lines[0]  # the last guard of run() is not what answered
    return lines[0]


# -- manifest.json ------------------------------------------------------------------------------

MANIFESTS: dict[str, Callable[[dict[str, Any]], Any]] = {
    "an array": lambda m: [m],
    "a string": lambda m: "liuhen-bundle/1",
    "files as a list": lambda m: {**m, "files": list(m["files"])},
    "a file hash as a number": lambda m: {**m, "files": {**m["files"], "keys/ledger.pub": 7}},
    "a log directory as a number": lambda m: {**m, "logs": [{**m["logs"][0], "directory": 0}, m["logs"][1]]},
    "an origin as a number": lambda m: {**m, "logs": [{**m["logs"][0], "origin": 0}, m["logs"][1]]},
    "an entry count as a string": lambda m: {**m, "logs": [{**m["logs"][0], "entries": "40"}, m["logs"][1]]},
    "an unknown kind": lambda m: {**m, "kind": "partial"},
}


@pytest.mark.parametrize("name", sorted(MANIFESTS))
def test_a_manifest_of_the_wrong_shape_is_unreadable(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    (bundle / "manifest.json").write_text(json.dumps(MANIFESTS[name](manifest)))
    assert "manifest.json" in unreadable(bundle, capsys)


def test_a_manifest_larger_than_a_few_megabytes_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    with (bundle / "manifest.json").open("a") as stream:
        stream.write(" " * MAX_MANIFEST)  # still the same JSON object
    line = unreadable(bundle, capsys)
    assert "manifest.json" in line
    assert "larger than" in line


def test_a_deeply_nested_manifest_is_unreadable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = copied(tmp_path)
    manifest = json.loads((bundle / "manifest.json").read_text())
    manifest["selection"] = "NESTED"
    nested = "[" * 100_000 + "]" * 100_000
    (bundle / "manifest.json").write_text(json.dumps(manifest).replace('"NESTED"', nested))
    assert "manifest.json" in unreadable(bundle, capsys)


# -- paths in the manifest ----------------------------------------------------------------------


@pytest.mark.parametrize("where", ["directory", "files"])
def test_a_manifest_path_with_dot_dot_is_refused(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``../golden/logs/0`` names a genuine log beside the bundle: it must not be read."""
    shutil.copytree(BUNDLES / "golden", tmp_path / "beside")
    bundle = copied(tmp_path)
    if where == "directory":
        edit_manifest(bundle, lambda m: m["logs"][0].update(directory="../beside/logs/0"))
    else:
        edit_manifest(bundle, lambda m: m["files"].update({"../beside/manifest.json": "00" * 32}))
    line = unreadable(bundle, capsys)
    assert "manifest.json" in line
    assert "../beside/" in line


@pytest.mark.parametrize("where", ["directory", "files"])
def test_an_absolute_manifest_path_is_refused(
    where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = Path(shutil.copytree(BUNDLES / "golden", tmp_path / "outside"))
    bundle = copied(tmp_path)
    if where == "directory":
        edit_manifest(bundle, lambda m: m["logs"][0].update(directory=str(outside / "logs" / "0")))
    else:
        edit_manifest(bundle, lambda m: m["files"].update({str(outside / "manifest.json"): "00" * 32}))
    line = unreadable(bundle, capsys)
    assert "manifest.json" in line
    assert str(outside) in line


def test_a_log_directory_that_is_a_link_out_of_the_bundle_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = Path(shutil.copytree(BUNDLES / "golden", tmp_path / "outside"))
    bundle = copied(tmp_path)
    shutil.rmtree(bundle / "logs" / "0")
    (bundle / "logs" / "0").symlink_to(outside / "logs" / "0")
    line = unreadable(bundle, capsys)
    assert "logs/0" in line
    assert "outside the bundle" in line


# -- checkpoints.jsonl, proofs.jsonl, rotations.jsonl ---------------------------------------------

CHECKPOINT_ROWS: dict[str, str] = {
    "a size as a string": '{"size": "8", "note": "x", "cosignatures": []}',
    "no size": '{"note": "x", "cosignatures": []}',
    "no note": '{"size": 8, "cosignatures": []}',
    "a note as a number": '{"size": 8, "note": 8, "cosignatures": []}',
    "an infinite size": '{"size": 1e999, "note": "x", "cosignatures": []}',
    "a size beyond 2^63": '{"size": 99999999999999999999999, "note": "x", "cosignatures": []}',
    "a negative size": '{"size": -8, "note": "x", "cosignatures": []}',
    "a size of true": '{"size": true, "note": "x", "cosignatures": []}',
    "cosignatures as a string": '{"size": 8, "note": "x", "cosignatures": "abc"}',
    "an array": "[8]",
    "a note with a lone surrogate": '{"size": 8, "note": "\\ud800", "cosignatures": []}',
}


@pytest.mark.parametrize("name", sorted(CHECKPOINT_ROWS))
def test_a_checkpoint_line_of_the_wrong_types_is_unreadable(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    path = bundle / "logs" / "0" / "checkpoints.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([*lines[:2], CHECKPOINT_ROWS[name], *lines[2:]]) + "\n")
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "logs/0/checkpoints.jsonl line 3" in line


PROOF_ROWS: dict[str, str] = {
    "a hash that is not hex": '{"index": 0, "size": 40, "proof": ["zz"]}',
    "a hash of 31 bytes": '{"index": 0, "size": 40, "proof": ["' + "ab" * 31 + '"]}',
    "an index as a string": '{"index": "0", "size": 40, "proof": []}',
    "no size": '{"index": 0, "proof": []}',
    "a proof as an object": '{"index": 0, "size": 40, "proof": {"0": "ab"}}',
    "a huge index": '{"index": 1e400, "size": 40, "proof": []}',
}


@pytest.mark.parametrize("name", sorted(PROOF_ROWS))
def test_a_proof_line_of_the_wrong_types_is_unreadable(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path, "selective")
    path = bundle / "logs" / "0" / "proofs.jsonl"
    lines = path.read_text().splitlines()
    path.write_text("\n".join([PROOF_ROWS[name], *lines[1:]]) + "\n")
    redigest(bundle)
    assert "logs/0/proofs.jsonl line 1" in unreadable(bundle, capsys)


@pytest.mark.parametrize("name", ["logs/0/checkpoints.jsonl", "keys/rotations.jsonl", "logs/1/proofs.jsonl"])
def test_a_binary_jsonl_file_is_unreadable(
    name: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path, "selective")
    (bundle / name).write_bytes(b'{"note": "\xff\xfe"}\n')
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert f"{name} line 1" in line
    assert "UTF-8" in line


def test_a_jsonl_line_longer_than_any_row_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    path = bundle / "keys" / "rotations.jsonl"
    path.write_bytes(b" " * (4 << 20) + b"\n")  # blank, but longer than any checkpoint or proof
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "keys/rotations.jsonl line 1" in line
    assert "longer than" in line


def test_a_binary_kept_checkpoint_file_is_named(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    kept = tmp_path / "kept.note"
    kept.write_bytes(b"\xff\xfe\x00binary")
    line = unreadable(BUNDLES / "golden", capsys, "--checkpoint", kept)
    assert str(kept) in line


# -- entries.avro -------------------------------------------------------------------------------


def _zigzag(value: int) -> bytes:
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _long_at(data: bytes, at: int) -> int:
    """Where the Avro long starting at ``at`` ends."""
    while data[at] & 0x80:
        at += 1
    return at + 1


def first_block(path: Path) -> tuple[bytes, int, int, int]:
    """The file's bytes, and the positions of its first block's count, size and data."""
    data = path.read_bytes()
    with path.open("rb") as stream:
        sync = fastavro.reader(stream)._header["sync"]
    count = data.index(sync) + 16
    size = _long_at(data, count)
    return data, count, size, _long_at(data, size)


def test_an_avro_file_of_another_record_type_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    other = {
        "type": "record",
        "name": "Visit",
        "namespace": "elsewhere",
        "fields": [{"name": "index", "type": "string"}, {"name": "entry", "type": "bytes"}],
    }
    with (bundle / "logs" / "1" / "entries.avro").open("wb") as stream:
        fastavro.writer(stream, other, [{"index": "0", "entry": b"x"}])
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "logs/1/entries.avro" in line
    assert "elsewhere.Visit" in line


def test_an_avro_block_claiming_2_to_the_40_records_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    path = bundle / "logs" / "0" / "entries.avro"
    data, count, size, _ = first_block(path)
    path.write_bytes(data[:count] + _zigzag(1 << 40) + data[size:])
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "logs/0/entries.avro" in line
    assert "1099511627776 records" in line


def test_an_avro_block_claiming_2_to_the_40_bytes_is_refused_unread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    path = bundle / "logs" / "0" / "entries.avro"
    data, _, size, start = first_block(path)
    path.write_bytes(data[:size] + _zigzag(1 << 40) + data[start:])
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "logs/0/entries.avro" in line
    assert "1099511627776 bytes" in line


def test_an_avro_record_with_a_negative_index_is_unreadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    path = bundle / "logs" / "0" / "entries.avro"
    data, _, _, start = first_block(path)
    assert data[start] == 0  # the first record's index, 0
    path.write_bytes(data[:start] + _zigzag(-1) + data[start + 1 :])
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "logs/0/entries.avro" in line
    assert "index -1" in line
