"""Every verb driven into its failure paths: one line on stderr saying what to do, no traceback.

Each case runs ``liuhen`` in a process of its own, as a user types it, with a home of its own.
The line must name the verb (``liuhen VERB: ...``), say what went wrong, and the exit status
must be 1 (a liuhen error) or 2 (a usage error); nothing may be created where nothing was asked
for.
"""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from ledger.wire.keys import SigningKey
from tests.events import ACTOR, OfflineLedger, viewed

REPO = Path(__file__).resolve().parent.parent
KEYS = REPO / "tests/fixtures/bundles/keys"


@dataclass(frozen=True)
class Case:
    """One failure: the command line, what the home holds first, what must be said."""

    argv: tuple[str, ...]
    status: int
    says: str
    env: dict[str, str] = field(default_factory=dict)
    home: str = "empty"
    """``empty`` (no folder), ``file`` (LIUHEN_HOME is a file), ``junk-ledger``, ``junk-views``,
    ``keys`` (only the ledger key), ``ledger`` (the ledger key and a small ledger, not projected)."""


CASES = {
    # missing or unreadable input files
    "register a missing public key file": Case(
        ("keys", "register", "zz-metro", "--public-key", "{tmp}/nowhere.pub"), 1, "cannot read public key"
    ),
    "consistency of missing notes": Case(
        ("consistency", "{tmp}/old.note", "{tmp}/new.note"), 1, "cannot read checkpoint {tmp}/old.note"
    ),
    "consistency of a folder": Case(("consistency", "{tmp}", "{tmp}"), 1, "cannot read checkpoint {tmp}"),
    "consistency of binary junk": Case(
        ("consistency", "{tmp}/junk.bin", "{tmp}/junk.bin"), 1, "liuhen consistency:", home="keys"
    ),
    "witness with a missing key": Case(
        ("witness", "serve", "--key", "{tmp}/nowhere.key", "--state", "{tmp}/w"), 1, "cannot read private key"
    ),
    "verify a missing bundle": Case(
        ("verify", "{tmp}/nowhere", "--key", str(KEYS / "ledger.pub")), 2, "no manifest.json"
    ),
    "verify with a missing key file": Case(
        ("verify", "{tmp}/nowhere", "--key", "{tmp}/nowhere.pub"), 2, "no key file {tmp}/nowhere.pub"
    ),
    # usage errors: one line, exit 2
    "a key name with a path separator": Case(("keys", "new", "../x"), 2, "must be letters, digits"),
    "a key name that is a path": Case(("keys", "new", "/etc/x"), 2, "must be letters, digits"),
    "a source id with a path separator": Case(("keys", "register", "a/b"), 2, "must be letters, digits"),
    "batch size 0": Case(("ingest", "--batch-size", "0"), 2, "--batch-size: 0 is not at least 1"),
    "batch size 0 from the environment": Case(
        ("status",), 1, "LIUHEN_BATCH_SIZE=0 must be at least 1", env={"LIUHEN_BATCH_SIZE": "0"}
    ),
    "negative days": Case(("simulate", "--days", "-1"), 2, "--days: -1 is not more than 0"),
    "days that are not a number": Case(("demo", "--days", "nan"), 2, "'nan' is not a number"),
    "a time that is not a time": Case(
        ("who", "--camera", "1", "--from", "yesterday", "--to", "today"),
        2,
        "'yesterday' is not an ISO 8601 time",
    ),
    "a window that ends before it starts": Case(
        ("who", "--camera", "1", "--from", "2026-05-03T15:00", "--to", "2026-05-03T14:00"),
        2,
        "is not after --from",
    ),
    "an actor's window backwards": Case(
        ("actor", "u1", "--from", "2026-06-01", "--to", "2026-05-01"), 2, "is not after --from"
    ),
    "a negative page": Case(
        ("actor", "u1", "--from", "2026-05-01", "--to", "2026-06-01", "--limit", "-1"), 2, "-1"
    ),
    "export --from without --actor": Case(
        ("export", "--out", "{tmp}/b", "--from", "2026-05-01"), 2, "give --actor too"
    ),
    "export --case with --actor": Case(
        ("export", "--out", "{tmp}/b", "--case", "A-7", "--actor", "u1"),
        2,
        "not allowed with argument --case",
    ),
    "export --violation 0": Case(("export", "--out", "{tmp}/b", "--violation", "0"), 2, "is not at least 1"),
    "verify --live with a bundle": Case(
        ("verify", "{tmp}", "--live", "--key", str(KEYS / "ledger.pub")), 2, "not both"
    ),
    "verify with neither": Case(("verify", "--key", str(KEYS / "ledger.pub")), 2, "name a bundle folder"),
    "prove what is not an event id": Case(("prove", "12345"), 2, "is not an event id"),
    "an unknown verb": Case(("destroy",), 2, "invalid choice: 'destroy'"),
    "project --follow --rebuild": Case(("project", "--follow", "--rebuild"), 2, "not allowed with"),
    # the home, the store, the read models
    "LIUHEN_HOME is a file": Case(("status",), 1, "is a file, not a folder", home="file"),
    "LIUHEN_HOME is a file, for keys": Case(("keys", "init"), 1, "is a file, not a folder", home="file"),
    "a corrupt ledger.db": Case(("status",), 1, "file is not a database", home="junk-ledger"),
    "a corrupt views.db": Case(
        ("who", "--camera", "1", "--from", "2026-05-03T14:00", "--to", "2026-05-03T15:00"),
        1,
        "is not a liuhen read-model database",
        home="junk-views",
    ),
    "a corrupt views.db, for violations": Case(
        ("violations",), 1, "move it aside and run 'liuhen project'", home="junk-views"
    ),
    "an unknown PERSISTENCE_MODULE": Case(
        ("status",),
        1,
        "PERSISTENCE_MODULE='eventsourcing.nothing'",
        env={"PERSISTENCE_MODULE": "eventsourcing.nothing"},
    ),
    "an in-memory PERSISTENCE_MODULE": Case(
        ("status",), 1, "liuhen keeps its ledger with", env={"PERSISTENCE_MODULE": "eventsourcing.popo"}
    ),
    # nothing reports success for nothing
    "status of a home without a ledger": Case(("status",), 1, "has no ledger yet"),
    "verify --live of a home without a ledger": Case(
        ("verify", "--live", "--key", str(KEYS / "ledger.pub")), 2, "has no ledger yet"
    ),
    "prove in a home without a ledger": Case(
        ("prove", "00000000-0000-0000-0000-000000000001"), 1, "no ledger key", home="empty"
    ),
    "prove with a key but no ledger": Case(
        ("prove", "00000000-0000-0000-0000-000000000001"), 1, "has no ledger yet", home="keys"
    ),
    "export from a home without a ledger": Case(
        ("export", "--out", "{tmp}/b"), 1, "has no ledger yet", home="keys"
    ),
    "project a home without a ledger": Case(("project",), 1, "has no ledger yet"),
    "who in a home without read models": Case(
        ("who", "--camera", "1", "--from", "2026-05-03T14:00", "--to", "2026-05-03T15:00"),
        1,
        "run 'liuhen project'",
    ),
    "revoke a key the ledger does not hold": Case(
        ("keys", "revoke", "zz-metro", "zz-metro+00000000", "--reason", "lost"),
        1,
        "is not registered for zz-metro",
    ),
    "register without a ledger key": Case(
        ("keys", "register", "zz-metro", "--public-key", str(KEYS / "zz-metro.pub")), 1, "no ledger key"
    ),
    "rotate without a ledger key": Case(("keys", "rotate-ledger"), 1, "no ledger key"),
    "demo --fresh on a home it did not make": Case(
        ("demo", "--fresh"), 1, "was not created by 'liuhen demo'", home="keys"
    ),
    # with a ledger
    "export into a folder under a file": Case(
        ("export", "--out", "{tmp}/junk.bin/bundle"),
        1,
        "cannot write the bundle to {tmp}/junk.bin/",
        home="ledger",
    ),
    "export into a folder that holds files": Case(
        ("export", "--out", "{tmp}"), 1, "is not an empty folder", home="ledger"
    ),
    "export a case nothing names": Case(
        ("export", "--out", "{tmp}/b", "--case", "Z-404"),
        1,
        "no entry under a signed checkpoint",
        home="ledger",
    ),
    "prove an event the ledger does not hold": Case(
        ("prove", "00000000-0000-0000-0000-000000000001"), 1, "is not in the ledger", home="ledger"
    ),
    "who before the ledger is projected": Case(
        ("who", "--camera", "1", "--from", "2026-05-03T14:00", "--to", "2026-05-03T15:00"),
        1,
        "run 'liuhen project' first",
        home="ledger",
    ),
    "revoke a key of another source": Case(
        ("keys", "revoke", "zz-bus", "{zz-metro key}", "--reason", "lost"),
        1,
        "is not registered for zz-bus",
        home="ledger",
    ),
    # Kafka down: one line, not a page of client errors
    "ingest with the broker down": Case(
        ("ingest", "--until-idle", "1"),
        1,
        "no Kafka broker answers at 127.0.0.1:1",
        env={"LIUHEN_KAFKA_BOOTSTRAP": "127.0.0.1:1", "LIUHEN_KAFKA_CONNECT_TIMEOUT": "1"},
    ),
    "simulate with the broker down": Case(
        ("simulate", "--days", "0.01"),
        1,
        "no Kafka broker answers at 127.0.0.1:1",
        env={"LIUHEN_KAFKA_BOOTSTRAP": "127.0.0.1:1"},
    ),
}


def make_home(kind: str, home: Path) -> None:
    if kind == "file":
        home.write_text("not a folder\n")
        return
    if kind == "empty":
        return
    home.mkdir()
    if kind == "junk-ledger":
        (home / "ledger.db").write_bytes(b"this is not an SQLite database, " * 100)
    elif kind == "junk-views":
        (home / "views.db").write_bytes(os.urandom(4096))
    if kind in ("keys", "ledger"):
        subprocess.run(
            [sys.executable, "-m", "ledger.cli", "keys", "init"],
            env={**os.environ, "LIUHEN_HOME": str(home)},
            check=True,
            capture_output=True,
        )
    if kind == "ledger":
        ledger = OfflineLedger(home, ledger_key=SigningKey.load(home / "keys" / "ledger.key"))
        pub = ledger.publisher("zz-metro")
        for n in range(3):
            pub.publish("FootageViewed", viewed(n), actor=ACTOR)
        assert ledger.ingest().appended == 4
        (home / "zz-metro.key-id").write_text(pub.signer.key.public.key_id)


def liuhen(argv: list[str | bytes], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ledger.cli", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,  # a guard against a hang, not a measure of speed
        check=False,
    )


@pytest.mark.parametrize("name", list(CASES))
def test_failure_is_one_line_and_no_traceback(name: str, tmp_path: Path) -> None:
    case = CASES[name]
    home = tmp_path / "home"
    make_home(case.home, home)
    (tmp_path / "junk.bin").write_bytes(bytes(range(256)) * 4)
    before = sorted(p.name for p in home.iterdir()) if home.is_dir() else None
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LIUHEN_", "POSTGRES_", "PERSISTENCE_"))},
        "LIUHEN_HOME": str(home),
        **case.env,
    }
    key_id = (home / "zz-metro.key-id").read_text() if case.home == "ledger" else ""
    argv = [arg.replace("{tmp}", str(tmp_path)).replace("{zz-metro key}", key_id) for arg in case.argv]
    run = liuhen(list(argv), env)
    lines = run.stderr.splitlines()
    verb = " ".join(argv[:2]) if argv[0] in ("keys", "witness") else argv[0]
    assert run.returncode == case.status, run.stderr
    assert len(lines) == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert lines[0].startswith(f"liuhen {verb}:") or lines[0].startswith("liuhen:"), lines[0]
    assert case.says.replace("{tmp}", str(tmp_path)) in lines[0]
    after = sorted(p.name for p in home.iterdir()) if home.is_dir() else None
    assert after == before, "a failed command created or removed something in the home"
    assert not list(tmp_path.rglob("*partial*")), "a failed export left a partial bundle behind"


def test_arguments_that_are_not_utf8_are_a_usage_error(tmp_path: Path) -> None:
    env = {**os.environ, "LIUHEN_HOME": str(tmp_path / "home")}
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "ledger.cli",
            "who",
            "--camera",
            b"\xff\xfe",
            "--from",
            "2026-05-03",
            "--to",
            "2026-05-04",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert run.returncode == 2
    assert run.stderr.splitlines() == ["liuhen: argument 3 (\\xff\\xfe) is not valid UTF-8"]


def test_debug_shows_the_traceback_too(tmp_path: Path) -> None:
    env = {**os.environ, "LIUHEN_HOME": str(tmp_path / "home")}
    run = liuhen(["--debug", "status"], env)
    assert run.returncode == 1
    assert "Traceback" in run.stderr
    assert run.stderr.splitlines()[-1].startswith("liuhen status: no ledger at")


@pytest.mark.postgres
def test_an_unreachable_postgresql_says_it_is_trying_then_fails_in_one_line(tmp_path: Path) -> None:
    env = {
        **os.environ,
        "LIUHEN_HOME": str(tmp_path / "home"),
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_HOST": "127.0.0.1",
        "POSTGRES_PORT": "1",
        "POSTGRES_DBNAME": "liuhen",
        "POSTGRES_USER": "liuhen",
        "POSTGRES_PASSWORD": "liuhen",
        "POSTGRES_CONNECT_TIMEOUT": "3",
    }
    run = liuhen(["status"], env)
    lines = run.stderr.splitlines()
    assert run.returncode == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert (
        lines[0]
        == "liuhen: waiting for the event store at postgresql://liuhen@127.0.0.1:1/liuhen (up to 3 s)"
    )
    assert len(lines) == 2
    assert lines[1].startswith(
        "liuhen status: cannot open the event store postgresql://liuhen@127.0.0.1:1/liuhen"
    )
