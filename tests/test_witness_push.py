"""The operator's push client (ledger.app.witnessing) against liuhen's witness on a loopback port,
with ledgers in real SQLite stores: each log's newest checkpoint cosigned and stored, proofs from
the size the witness acknowledged, 409s followed, forks and longer histories reported, witnesses
that do not answer retried with backoff, and LIUHEN_WITNESSES read strictly."""

from __future__ import annotations

import socket
import threading
import time
from contextlib import closing
from pathlib import Path

import pytest

from ledger.app.assembly import open_store
from ledger.app.config import Config, parse_witnesses
from ledger.app.witnessing import (
    Failed,
    Pushed,
    WitnessClient,
    push_forever,
    push_once,
    tracking_name,
)
from ledger.cli import main
from ledger.errors import ConfigurationError, ProofRejected, WitnessUnavailable
from ledger.wire.appender import LogAppender
from ledger.wire.keys import SigningKey
from ledger.wire.note import SignedCheckpoint, cosigner_verifier_text
from ledger.witness.protocol import Submission
from tests.witnesses import RunningWitness, append_batches, running_witness

ORIGINS = ("liuhen/liuhen.audit/0", "liuhen/liuhen.audit/1")
KEYS = {origin: SigningKey.generate(origin) for origin in ORIGINS}


@pytest.fixture
def witness(tmp_path: Path) -> RunningWitness:
    with running_witness(tmp_path / "witness") as running:
        for origin, key in KEYS.items():
            running.state.add_log(origin, key.public)
        yield running


def ledger_config(home: Path, *witnesses: RunningWitness | str) -> Config:
    """A ledger in ``home`` whose operator pushes to ``witnesses`` (running ones, or URL=VKEY text)."""
    items = [w if isinstance(w, str) else f"{w.url}={w.vkey}" for w in witnesses]
    return Config.from_env({"LIUHEN_HOME": str(home), "LIUHEN_WITNESSES": ",".join(items)})


def new_log(origin: str = ORIGINS[0]) -> LogAppender:
    return LogAppender(origin=origin, key=KEYS[origin])


def pushed(config: Config) -> list[Pushed | Failed]:
    results: list[Pushed | Failed] = []
    push_once(config, report=results.append, sleep=lambda _: None)
    return results


def stored(config: Config, origin: str, size: int) -> SignedCheckpoint:
    """The store's checkpoint at ``size`` with the cosignatures stored beside it."""
    with closing(open_store(config)) as store:
        note = store.checkpoint_at(origin, size)
        assert note is not None
        signed = SignedCheckpoint.parse(note)
        for line in store.cosignatures(origin, size):
            signed = signed.with_signature(line.decode())
    return signed


def acknowledged(config: Config, origin: str) -> int | None:
    with closing(open_store(config)) as store:
        return store.tracked_offset(tracking_name(config.witnesses[0], origin))


def test_each_logs_newest_checkpoint_is_cosigned_then_proven_from_the_size_acknowledged(
    tmp_path: Path, witness: RunningWitness
) -> None:
    config = ledger_config(tmp_path / "home", witness)
    first, second = new_log(ORIGINS[0]), new_log(ORIGINS[1])
    append_batches(config, first, 5, 12)
    append_batches(config, second, 3)
    key_id = config.witnesses[0].key_id
    assert pushed(config) == [
        Pushed(ORIGINS[0], key_id, 12, 0, cosigned=True),
        Pushed(ORIGINS[1], key_id, 3, 0, cosigned=True),
    ]
    for origin, size in ((ORIGINS[0], 12), (ORIGINS[1], 3)):
        stored(config, origin, size).verify(
            ledger_keys=[KEYS[origin].public], witnesses=[witness.key.public], quorum=1
        )
        assert acknowledged(config, origin) == size
    # Nothing new: nothing is sent.
    records = len(list(witness.state.records()))
    assert pushed(config) == [
        Pushed(ORIGINS[0], key_id, 12, 12, cosigned=False),
        Pushed(ORIGINS[1], key_id, 3, 3, cosigned=False),
    ]
    assert len(list(witness.state.records())) == records
    # The log grows: the witness gets a consistency proof from the size it acknowledged.
    append_batches(config, first, 20, 31)
    assert pushed(config)[0] == Pushed(ORIGINS[0], key_id, 31, 12, cosigned=True)
    stored(config, ORIGINS[0], 31).verify(
        ledger_keys=[KEYS[ORIGINS[0]].public], witnesses=[witness.key.public], quorum=1
    )
    with closing(open_store(config)) as store:
        assert store.cosignatures(ORIGINS[0], 20) == []  # only the newest is submitted


def test_a_409_is_followed_to_the_size_the_witness_names(tmp_path: Path, witness: RunningWitness) -> None:
    """Another pusher (or a lost position) moved the witness: one 409, then a proof from its size."""
    config = ledger_config(tmp_path / "home", witness)
    log = new_log()
    append_batches(config, log, 7)
    with closing(open_store(config)) as store:
        _, note = store.latest_checkpoint(ORIGINS[0]) or (0, b"")
    WitnessClient(config.witnesses[0]).submit(
        Submission(old_size=0, proof=(), signed=SignedCheckpoint.parse(note))
    )
    append_batches(config, log, 15)
    (result, *_) = pushed(config)
    assert result == Pushed(ORIGINS[0], config.witnesses[0].key_id, 15, 7, cosigned=True)
    assert acknowledged(config, ORIGINS[0]) == 15


def test_a_witness_that_has_seen_a_longer_history_is_an_error(
    tmp_path: Path, witness: RunningWitness
) -> None:
    """Another store signed the same log further: this store is behind what the witness cosigned."""
    ahead = ledger_config(tmp_path / "ahead", witness)
    append_batches(ahead, new_log(), 20)
    pushed(ahead)
    behind = ledger_config(tmp_path / "behind", witness)
    append_batches(behind, new_log(), 12)
    (result, *_) = pushed(behind)
    assert isinstance(result, Failed)
    assert "has cosigned size 20" in str(result.error)
    assert "beyond this ledger's newest checkpoint (12)" in str(result.error)


def test_a_fork_is_refused_by_the_witness_and_reported(tmp_path: Path, witness: RunningWitness) -> None:
    honest = ledger_config(tmp_path / "honest", witness)
    append_batches(honest, new_log(), 10)
    pushed(honest)
    forked = ledger_config(tmp_path / "forked", witness)
    append_batches(forked, new_log(), 15, tag="forged")
    (result, *_) = pushed(forked)
    assert isinstance(result, Failed)
    assert isinstance(result.error, ProofRejected)
    assert (result.error.old_size, result.error.new_size) == (10, 15)
    with closing(open_store(forked)) as store:
        assert store.cosignatures(ORIGINS[0], 15) == []


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_a_witness_that_does_not_answer_is_retried_with_backoff_and_the_others_still_served(
    tmp_path: Path,
    witness: RunningWitness,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dead_key = SigningKey.generate("dead.example/witness")
    dead = f"http://127.0.0.1:{closed_port()}={cosigner_verifier_text(dead_key.public)}"
    config = ledger_config(tmp_path / "home", dead, witness)
    append_batches(config, new_log(), 4)
    pauses: list[float] = []
    results: list[Pushed | Failed] = []
    assert not push_once(config, report=results.append, sleep=pauses.append)
    assert pauses == [0.5, 1.0]
    failed, ok = results
    assert isinstance(failed, Failed)
    assert isinstance(failed.error, WitnessUnavailable)
    assert failed.witness.startswith("dead.example/witness+")
    assert ok == Pushed(ORIGINS[0], config.witnesses[1].key_id, 4, 0, cosigned=True)
    # The command: exit 1, one line for the failure, one for the cosignature.
    monkeypatch.setenv("LIUHEN_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("LIUHEN_WITNESSES", f"{dead},{witness.url}={witness.vkey}")
    monkeypatch.setattr(time, "sleep", lambda _: None)
    capsys.readouterr()
    assert main(["witness", "push", "--once"]) == 1
    captured = capsys.readouterr()
    assert f"witness push: {ORIGINS[0]} to dead.example/witness+" in captured.err
    assert f"up to date {ORIGINS[0]} at size 4 by witness.example/w1+" in captured.out


def test_the_push_loop_keeps_up_with_ingest_until_stopped(tmp_path: Path, witness: RunningWitness) -> None:
    config = ledger_config(tmp_path / "home", witness)
    log = new_log()
    append_batches(config, log, 3)
    stop = threading.Event()
    results: list[Pushed | Failed] = []
    loop = threading.Thread(
        target=push_forever,
        kwargs={"config": config, "stop": stop, "interval": 0.05, "report": results.append},
    )
    loop.start()
    try:
        for size in (9, 14, 40):
            append_batches(config, log, size)
            deadline = time.monotonic() + 10
            while acknowledged(config, ORIGINS[0]) != size and time.monotonic() < deadline:
                time.sleep(0.02)
            assert acknowledged(config, ORIGINS[0]) == size
    finally:
        stop.set()
        loop.join(timeout=10)
    assert not loop.is_alive()
    assert not [r for r in results if isinstance(r, Failed)]
    stored(config, ORIGINS[0], 40).verify(
        ledger_keys=[KEYS[ORIGINS[0]].public], witnesses=[witness.key.public], quorum=1
    )


def test_no_witness_configured_is_a_configuration_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="LIUHEN_WITNESSES"):
        push_once(Config.from_env({"LIUHEN_HOME": str(tmp_path)}))


def test_liuhen_witnesses_is_url_equals_verifier_key() -> None:
    """Comma-separated URL=VKEY: the cosigner key (type 0x04) or the witness's Ed25519 verifier key."""
    w1, w2 = SigningKey.generate("witness.example/w1").public, SigningKey.generate("w2").public
    one, two = parse_witnesses(f" https://w.example/prefix/={cosigner_verifier_text(w1)} , "
                               f"http://127.0.0.1:7380={w2.verifier_text}")  # fmt: skip
    assert (one.url, one.key, two.url, two.key) == (
        "https://w.example/prefix",
        w1,
        "http://127.0.0.1:7380",
        w2,
    )
    assert one.key_id == f"witness.example/w1+{cosigner_verifier_text(w1).split('+')[1]}"
    assert parse_witnesses("") == ()
    for bad in (
        cosigner_verifier_text(w1),  # no URL
        f"ftp://w.example={cosigner_verifier_text(w1)}",
        f"https://w.example/?x=1={cosigner_verifier_text(w1)}",
        "https://w.example=not-a-key",
        f"https://a.example={cosigner_verifier_text(w1)},https://b.example={w1.verifier_text}",  # twice
    ):
        with pytest.raises(ConfigurationError):
            parse_witnesses(bad)
