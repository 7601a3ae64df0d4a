"""Malformed bundles: the verifier never raises, it exits 2 naming the file and the fault.

A bundle comes from whoever hands it to the auditor, so every byte of it is hostile input. The
named tests below are the crashes found before the reading boundary checked what it read (a
manifest that is an array, strings where numbers belong, an Avro file of another record type, a
block claiming 2^40 records, paths leading out of the bundle...). Each copies the golden bundle,
breaks one file the way an attacker or a damaged disk would, recomputes the manifest's file hashes
as an attacker would, and runs ``python -m ledger.verify`` in-process. The property tests at the
end mutate every file of the golden and the selective bundle at random (bytes, JSON values, Avro
block counts and sizes) and require the same of every mutation: exit 0, 1 or 2, 0 only when
nothing the verifier relies on changed, and 2 with one line naming a file of the bundle.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import re
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path, PurePath
from typing import Any

import fastavro
import pytest
from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st

from ledger.verify import Material, add_arguments, main, run
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


PROOF_ROWS: dict[str, str] = {
    "a hash that is not hex": '{"index": 0, "size": 40, "proof": ["zz"]}',
    "a hash of 31 bytes": '{"index": 0, "size": 40, "proof": ["' + "ab" * 31 + '"]}',
    "an index as a string": '{"index": "0", "size": 40, "proof": []}',
    "no size": '{"index": 0, "proof": []}',
    "a proof as an object": '{"index": 0, "size": 40, "proof": {"0": "ab"}}',
    "a huge index": '{"index": 1e400, "size": 40, "proof": []}',
}


CONSISTENCY_ROWS: dict[str, str] = {
    "no old size": '{"new": 40, "proof": []}',
    "a new size as a string": '{"old": 8, "new": "40", "proof": []}',
    "a hash that is not hex": '{"old": 8, "new": 40, "proof": ["zz"]}',
    "65 hashes": '{"old": 8, "new": 40, "proof": [' + ",".join(['"' + "ab" * 32 + '"'] * 65) + "]}",
}
BAD_ROWS = [
    *(pytest.param("golden", "checkpoints.jsonl", 2, row, id=name) for name, row in CHECKPOINT_ROWS.items()),
    *(pytest.param("selective", "proofs.jsonl", 0, row, id=name) for name, row in PROOF_ROWS.items()),
    *(
        pytest.param("selective", "consistency.jsonl", 0, row, id=name)
        for name, row in CONSISTENCY_ROWS.items()
    ),
]


@pytest.mark.parametrize(("kind", "file", "at", "row"), BAD_ROWS)
def test_a_line_of_the_wrong_types_is_unreadable(
    kind: str, file: str, at: int, row: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """One line of a checkpoints, proofs or consistency file replaced by one of the wrong shape."""
    bundle = copied(tmp_path, kind)
    path = bundle / "logs" / "0" / file
    lines = path.read_text().splitlines()
    assert len(lines) > at
    path.write_text("\n".join([*lines[:at], row, *lines[at + 1 :]]) + "\n")
    redigest(bundle)
    assert f"logs/0/{file} line {at + 1}" in unreadable(bundle, capsys)


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


def test_the_last_guard_reports_an_unexpected_error_as_a_bug_in_one_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """No bundle reaches it (the fuzzing below proves that); a bug in the verifier would."""

    def broken() -> Material:
        raise RuntimeError("a reader forgot\nto translate this")

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args([str(BUNDLES / "golden"), "--key", str(KEYS / "ledger.pub"), "--quiet"])
    assert run(args, broken) == 2
    (line,) = capsys.readouterr().err.splitlines()
    assert line.startswith("liuhen verify: unexpected RuntimeError (a reader forgot to translate this)")
    assert "a bug in the verifier" in line
    with pytest.raises(RuntimeError):  # liuhen verify --live: the CLI's boundary names store failures
        run(args, broken, last_guard=False)


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


@pytest.mark.parametrize("claim", ["records", "bytes"])
def test_an_avro_block_claiming_2_to_the_40_records_or_bytes_is_refused_unread(
    claim: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bundle = copied(tmp_path)
    path = bundle / "logs" / "0" / "entries.avro"
    data, count, size, start = first_block(path)
    if claim == "records":
        path.write_bytes(data[:count] + _zigzag(1 << 40) + data[size:])
    else:
        path.write_bytes(data[:size] + _zigzag(1 << 40) + data[start:])
    redigest(bundle)
    line = unreadable(bundle, capsys)
    assert "logs/0/entries.avro" in line
    assert f"1099511627776 {claim}" in line


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


# -- fuzzing every file of the golden and the selective bundle ------------------------------------
#
# One file of a copy of a fixture bundle is mutated, the manifest's hashes are left as they were
# (every other file is covered by them, so only a manifest change can leave the bundle valid), and
# the verifier runs in-process. Whatever the mutation: no exception escapes, the exit status is
# 0, 1 or 2, 0 only for a mutation that changes nothing the verifier relies on, and 2 comes with
# one line on stderr naming a file of the bundle.

TARGETS = [
    ("golden", "manifest.json"),
    ("golden", "keys/ledger.pub"),
    ("golden", "keys/rotations.jsonl"),
    ("golden", "logs/0/entries.avro"),
    ("golden", "logs/1/entries.avro"),
    ("golden", "logs/0/checkpoints.jsonl"),
    ("golden", "logs/1/checkpoints.jsonl"),
    ("selective", "manifest.json"),
    ("selective", "logs/0/entries.avro"),
    ("selective", "logs/0/proofs.jsonl"),
    ("selective", "logs/1/proofs.jsonl"),
]
ORIGINAL = {(name, file): (BUNDLES / name / file).read_bytes() for name, file in TARGETS}
FUZZ = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])

NESTED = st.integers(1, 5000).map(lambda depth: f"<<nested {depth}>>")
"""Arrays nested ``depth`` deep, put in by :func:`_dumps` (Python's own JSON recursion would not reach)."""
WEIRD: st.SearchStrategy[Any] = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([-1, 0, 2**31, 2**40, 2**63 - 1, 2**63, 2**64, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.sampled_from(
        ["../beside", "/etc/passwd", "logs/1", "logs/0/..", ".", "", "\x00", "\ud800", "a" * 300]
    ),
    st.sampled_from(["liuhen-bundle/1", "full", "selective", "00" * 32, "zz" * 32]),
    st.lists(st.one_of(st.integers(), st.text(max_size=5), st.none()), max_size=4),
    st.dictionaries(st.text(max_size=8), st.integers(), max_size=3),
    NESTED,
)


def _paths(value: Any, at: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (the root included)."""
    found = [at]
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*at, key))
    elif isinstance(value, list):
        for n, item in enumerate(value):
            found += _paths(item, (*at, n))
    return found


def mutate_json(data: st.DataObject, value: Any) -> Any:
    """``value`` with one place replaced by another type, a huge number or a deep nest, or removed."""
    at = data.draw(st.sampled_from(_paths(value)), label="where")
    action = data.draw(st.sampled_from(["replace", "replace", "remove", "add", "nest"]), label="action")
    if not at:
        return data.draw(WEIRD) if action != "nest" else [value]
    parent = value
    for step in at[:-1]:
        parent = parent[step]
    last = at[-1]
    if action == "replace":
        parent[last] = data.draw(WEIRD, label="value")
    elif action == "remove":
        del parent[last]
    elif action == "nest":
        parent[last] = data.draw(st.sampled_from([[parent[last]], {"x": parent[last]}]))
    elif isinstance(parent, dict):
        parent[data.draw(st.text(max_size=12), label="key")] = data.draw(WEIRD, label="value")
    else:
        parent.insert(last, data.draw(WEIRD, label="value"))
    return value


def _dumps(value: Any) -> bytes:
    text = json.dumps(value)
    return re.sub(r'"<<nested (\d+)>>"', lambda m: "[" * int(m[1]) + "]" * int(m[1]), text).encode()


def mutate_jsonl(data: st.DataObject, original: bytes, template: dict[str, Any]) -> bytes:
    """One line's JSON mutated, or lines dropped, repeated or added."""
    rows = [json.loads(line) for line in original.splitlines() if line.strip()] or [dict(template)]
    action = data.draw(st.sampled_from(["row", "row", "drop", "repeat", "raw"]), label="jsonl action")
    n = data.draw(st.integers(0, len(rows) - 1), label="line")
    if action == "row":
        rows[n] = mutate_json(data, rows[n])
    elif action == "drop":
        del rows[n]
    elif action == "repeat":
        rows.insert(n, rows[n])
    lines = [_dumps(row) for row in rows]
    if action == "raw":
        lines.insert(n, data.draw(st.binary(max_size=40), label="raw line").replace(b"\n", b""))
    return b"\n".join(lines) + b"\n"


def mutate_bytes(data: st.DataObject, original: bytes) -> bytes:
    """Byte flips, a truncation, random bytes over a range, or bytes inserted."""
    action = data.draw(st.sampled_from(["flip", "truncate", "overwrite", "insert", "empty"]), label="bytes")
    if action == "empty" or not original:
        return data.draw(st.binary(max_size=64), label="new content")
    at = data.draw(st.integers(0, len(original) - 1), label="at")
    if action == "flip":
        changed = bytearray(original)
        for offset in data.draw(st.lists(st.integers(0, 15), min_size=1, max_size=4), label="flips"):
            changed[(at + offset) % len(changed)] ^= data.draw(st.integers(1, 255), label="mask")
        return bytes(changed)
    if action == "truncate":
        return original[:at]
    new = data.draw(st.binary(min_size=1, max_size=64), label="bytes")
    return original[:at] + new + original[at + (len(new) if action == "overwrite" else 0) :]


def _long_end(data: bytes, at: int) -> int:
    while at < len(data) and data[at] & 0x80:
        at += 1
    return at + 1


def avro_numbers(original: bytes) -> list[tuple[int, int]]:
    """Where each block's record count and byte size sit in an entries file (start, end)."""
    sync = original[-16:]
    at = original.index(sync) + 16
    places = []
    while at < len(original):
        count_end = _long_end(original, at)
        size_end = _long_end(original, count_end)
        places += [(at, count_end), (count_end, size_end)]
        size = 0
        for shift, byte in enumerate(original[count_end:size_end]):
            size |= (byte & 0x7F) << (7 * shift)
        at = size_end + ((size >> 1) ^ -(size & 1)) + 16
    return places


HUGE = st.sampled_from([0, 1, -1, 2, 2**31, 2**40, 2**62, 2**63 - 1, -(2**63)])


def mutate_avro_block(data: st.DataObject, original: bytes) -> bytes:
    """A block's record count or byte size rewritten: huge, negative, off by one, or not ending."""
    start, end = data.draw(st.sampled_from(avro_numbers(original)), label="number")
    choice = data.draw(st.one_of(HUGE, st.integers(-3, 3), st.just("unending")), label="new number")
    if choice == "unending":
        return original[:start] + b"\xff" * 12 + original[end:]
    value = int(choice)
    if data.draw(st.booleans(), label="relative"):
        raw = 0
        for shift, byte in enumerate(original[start:end]):
            raw |= (byte & 0x7F) << (7 * shift)
        value += (raw >> 1) ^ -(raw & 1)
    return original[:start] + _zigzag(value) + original[end:]


def same_in_effect(original: bytes, mutated: bytes) -> bool:
    """Whether a mutated manifest names the same format and kind, and some of the same logs and hashes.

    A bundle of fewer logs is a valid bundle of those logs: only a checkpoint the auditor kept of
    a missing one tells (``missing_log``, in test_verify.py).
    """
    try:
        before, after = json.loads(original), json.loads(mutated)
        if not isinstance(after, dict) or not isinstance(after.get("files", {}), dict):
            return False
        logs = {(part["origin"], str(PurePath(part["directory"]))) for part in after["logs"]}
        files = {str(PurePath(name)): digest for name, digest in after.get("files", {}).items()}
    except (ValueError, TypeError, KeyError, RecursionError):
        return False
    return (
        (after.get("format"), after.get("kind")) == (before["format"], before["kind"])
        and logs <= {(part["origin"], part["directory"]) for part in before["logs"]}
        and files.items() <= before["files"].items()
    )


def run_verifier(bundle: Path) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        status = verify(bundle)
    return status, out.getvalue(), err.getvalue()


def check_mutated(target: tuple[str, str], mutated: bytes) -> None:
    name, file = target
    with tempfile.TemporaryDirectory() as directory:
        shutil.copytree(BUNDLES / "golden", Path(directory) / "beside")  # what a '..' path would reach
        bundle = Path(shutil.copytree(BUNDLES / name, Path(directory) / name))
        (bundle / file).write_bytes(mutated)
        status, out, err = run_verifier(bundle)
    note(f"exit {status}; stderr: {err!r}")
    assert status in {0, 1, 2}
    assert "a bug" not in err
    if status == 0:
        assert mutated == ORIGINAL[target] or (
            file == "manifest.json" and same_in_effect(ORIGINAL[target], mutated)
        ), "a changed bundle verified"
    if status == 2:
        lines = err.splitlines()
        assert len(lines) == 1, err
        assert out == ""
        named = file if file != "manifest.json" else f"{bundle}/"
        assert named in lines[0], "the message does not name the bundle's file"


@FUZZ
@given(target=st.sampled_from(TARGETS), data=st.data())
def test_any_byte_mutation_of_any_file_exits_0_1_or_2(target: tuple[str, str], data: st.DataObject) -> None:
    check_mutated(target, mutate_bytes(data, ORIGINAL[target]))


JSON_TARGETS = [t for t in TARGETS if t[1].endswith((".json", ".jsonl"))]
ROTATION = {"note": json.loads(ORIGINAL["golden", "logs/0/checkpoints.jsonl"].splitlines()[0])["note"]}


@settings(FUZZ, max_examples=150)
@given(target=st.sampled_from(JSON_TARGETS), data=st.data())
def test_any_json_mutation_of_any_file_exits_0_1_or_2(target: tuple[str, str], data: st.DataObject) -> None:
    original = ORIGINAL[target]
    if target[1] == "manifest.json":
        mutated = _dumps(mutate_json(data, json.loads(original)))
    else:
        mutated = mutate_jsonl(data, original, ROTATION)
    check_mutated(target, mutated)


AVRO_TARGETS = [t for t in TARGETS if t[1].endswith(".avro")]


@settings(FUZZ, max_examples=60)
@given(target=st.sampled_from(AVRO_TARGETS), data=st.data())
def test_any_avro_block_count_or_size_exits_0_1_or_2(target: tuple[str, str], data: st.DataObject) -> None:
    check_mutated(target, mutate_avro_block(data, ORIGINAL[target]))
