"""Witnessing with programs that are not liuhen's, both ways (marker ``interop``; in ``make test``).

* litewitness, the C2SP witness of the Go module filippo.io/torchwood v0.6.1, cosigns the
  checkpoints of a liuhen log that liuhen's push client submits (a log key named after the origin,
  as litewitness expects), follows it through a 409 and refuses a fork; liuhen's verifiers accept
  its cosignatures (``SignedCheckpoint.verify`` and the offline bundle verifier).
* A Go client built on golang.org/x/mod/sumdb/{note,tlog} (``docker/interop/witness-client``),
  with a log and a note key of its own, gets cosignatures from ``liuhen witness serve`` and checks
  them with the witness's type 0x04 verifier key, and sees each misbehaviour refused (stale size,
  fork, split view, roll-back, vanished log, forged signature, unknown origin).
* A Go program built on golang.org/x/mod/sumdb/{note,tlog} alone (``docker/interop/proof-check``)
  checks the c2sp.org/tlog-proof ``liuhen prove --tlog-proof`` writes: the checkpoint's signature
  with the log's note verifier key, the inclusion of the record the proof carries.

The Go programs are built once into ``.cache/go/bin`` by ``docker/interop/build.sh`` (the first
build fetches about a dozen modules through the Go module proxy; later runs reuse the binaries).
litewitness signs through an ssh-agent: each test starts one on a key of its own and stops it.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import pytest

from ledger.app.assembly import open_store
from ledger.app.config import Config
from ledger.app.keys import ensure_key
from ledger.app.witnessing import Failed, Pushed, WitnessClient, push_once
from ledger.cli import main
from ledger.errors import ProofRejected
from ledger.ingest.export import export_full
from ledger.wire.appender import LogAppender
from ledger.wire.keys import SigningKey
from ledger.wire.merkle import consistency_proof
from ledger.wire.note import SignedCheckpoint, cosigner_from_verifier_text, log_key
from ledger.witness.protocol import Submission
from tests.events import ACTOR, OfflineLedger, viewed
from tests.witnesses import append_batches

pytestmark = pytest.mark.interop

REPO = Path(__file__).resolve().parent.parent
BUILD = REPO / "docker" / "interop" / "build.sh"
ORIGIN = "liuhen.example/liuhen.audit/0"


@pytest.fixture(scope="session")
def go_bin() -> Path:
    """litewitness, witnessctl and witness-client, built (once) by docker/interop/build.sh."""
    if shutil.which("go") is None:
        pytest.fail("the interop tests need the Go toolchain (go 1.24 or later) to build litewitness")
    started = time.monotonic()
    built = subprocess.run([str(BUILD)], capture_output=True, text=True, timeout=1200, check=False)
    assert built.returncode == 0, built.stderr[-3000:]
    sys.stderr.write(f"\ninterop: Go programs ready in {time.monotonic() - started:.1f} s\n")
    return Path(built.stdout.strip().splitlines()[-1])


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_for(
    path: Path, pattern: str, process: subprocess.Popen[bytes], timeout: float = 30
) -> re.Match[str]:
    """The first match of ``pattern`` in the log file ``path`` that ``process`` writes."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(pattern, path.read_text(errors="replace")) if path.exists() else None
        if found:
            return found
        if process.poll() is not None:
            break
        time.sleep(0.05)
    pytest.fail(f"no {pattern!r} from {process.args!r}: {path.read_text(errors='replace')[-2000:]}")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Litewitness:
    url: str
    vkey: str
    """Its verifier key as it logs it: ``example.org/witness+<id>+<base64(0x04 || key)>``."""


@contextmanager
def litewitness(go_bin: Path, logs: dict[str, str]) -> Iterator[Litewitness]:
    """litewitness on a free loopback port, witnessing ``logs`` (origin -> log verifier key).

    Its key lives in an ssh-agent started here (socket paths are short: a folder under /tmp).
    """
    folder = Path(tempfile.mkdtemp(prefix="lw-"))
    agent = None
    witness = None
    try:
        key = folder / "wkey"
        keygen = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "liuhen-interop", "-f", str(key)]
        subprocess.run(keygen, check=True)
        listed = subprocess.run(
            ["ssh-keygen", "-lf", f"{key}.pub"], check=True, capture_output=True, text=True
        )
        fingerprint = listed.stdout.split()[1]
        sock = folder / "agent.sock"
        agent = subprocess.Popen(
            ["ssh-agent", "-D", "-a", str(sock)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not sock.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        agent_env = {**os.environ, "SSH_AUTH_SOCK": str(sock)}
        subprocess.run(["ssh-add", "-q", str(key)], env=agent_env, check=True, capture_output=True)
        db = folder / "witness.db"
        for origin, vkey in logs.items():
            for command in (["add-log", "-db", str(db), "-origin", origin],
                            ["add-key", "-db", str(db), "-origin", origin, "-key", vkey]):  # fmt: skip
                subprocess.run([str(go_bin / "witnessctl"), *command], check=True, capture_output=True)
        port = free_port()
        log = folder / "litewitness.log"
        with log.open("wb") as output:
            command = ["-db", str(db), "-name", "example.org/witness", "-key", fingerprint,
                       "-ssh-agent", str(sock), "-listen", f"127.0.0.1:{port}"]  # fmt: skip
            witness = subprocess.Popen([str(go_bin / "litewitness"), *command], stdout=output, stderr=output)
        vkey = wait_for(log, r'vkey=("?)(\S+?)\1\s', witness).group(2)
        wait_for(log, r"msg=listening", witness)
        yield Litewitness(f"http://127.0.0.1:{port}", vkey)
    finally:
        if witness is not None:
            stop(witness)
        if agent is not None:
            stop(agent)
        shutil.rmtree(folder, ignore_errors=True)


def cosigned(config: Config, size: int, witness_vkey: str, key: SigningKey) -> SignedCheckpoint:
    """The store's checkpoint of ORIGIN at ``size`` with its stored cosignatures, verified (quorum 1)."""
    with closing(open_store(config)) as store:
        note = store.checkpoint_at(ORIGIN, size)
        assert note is not None
        signed = SignedCheckpoint.parse(note)
        lines = store.cosignatures(ORIGIN, size)
    assert len(lines) == 1
    signed = signed.with_signature(lines[0].decode())
    signed.verify(ledger_keys=[key.public], witnesses=[cosigner_from_verifier_text(witness_vkey)], quorum=1)
    return signed


def test_litewitness_cosigns_what_liuhen_pushes_and_liuhen_verifies_it(go_bin: Path, tmp_path: Path) -> None:
    log_key = SigningKey.generate(ORIGIN)  # litewitness expects the log key named after the origin
    other_origin = "liuhen.example/liuhen.audit/1"
    other_key = SigningKey.generate(other_origin)  # a log litewitness was never told about
    with litewitness(go_bin, {ORIGIN: log_key.public.verifier_text}) as witness:
        env = {"LIUHEN_HOME": str(tmp_path / "home"), "LIUHEN_WITNESSES": f"{witness.url}={witness.vkey}"}
        config = Config.from_env(env)
        (endpoint,) = config.witnesses
        log = LogAppender(origin=ORIGIN, key=log_key)
        append_batches(config, log, 5, 12)
        results: list[Pushed | Failed] = []
        assert push_once(config, report=results.append)
        assert results == [Pushed(ORIGIN, endpoint.key_id, 12, 0, cosigned=True)]
        cosigned(config, 12, witness.vkey, log_key)

        # Grown: a consistency proof from the size litewitness acknowledged.
        append_batches(config, log, 20)
        results.clear()
        push_once(config, report=results.append)
        assert results[0] == Pushed(ORIGIN, endpoint.key_id, 20, 12, cosigned=True)
        signed = cosigned(config, 20, witness.vkey, log_key)
        assert signed.checkpoint.chain_head == log.head  # the liuhen-chain extension line, cosigned

        # Someone else moved litewitness on (size 27): liuhen's client follows its 409.
        append_batches(config, log, 27)
        with closing(open_store(config)) as store:
            _, note = store.latest_checkpoint(ORIGIN) or (0, b"")
            proof = store.with_nodes(ORIGIN, partial(consistency_proof, 20, 27))
        WitnessClient(endpoint).submit(
            Submission(old_size=20, proof=tuple(proof), signed=SignedCheckpoint.parse(note))
        )
        append_batches(config, log, 40)
        results.clear()
        push_once(config, report=results.append)
        assert results[0] == Pushed(ORIGIN, endpoint.key_id, 40, 27, cosigned=True)
        cosigned(config, 40, witness.vkey, log_key)

        # A log litewitness was never told about: refused (v0.6.1 answers 403, the current spec 404).
        strangers = Config.from_env({**env, "LIUHEN_HOME": str(tmp_path / "strangers")})
        append_batches(strangers, LogAppender(origin=other_origin, key=other_key), 3)
        results.clear()
        assert not push_once(strangers, report=results.append)
        assert isinstance(results[0], Failed)
        assert "answered 403" in str(results[0].error)

        # A fork of the log, signed by the same key, pushed from another store: litewitness refuses it.
        forked = Config.from_env({**env, "LIUHEN_HOME": str(tmp_path / "forked")})
        append_batches(forked, LogAppender(origin=ORIGIN, key=log_key), 45, tag="forged")
        results.clear()
        assert not push_once(forked, report=results.append)
        assert isinstance(results[0], Failed)
        assert isinstance(results[0].error, ProofRejected)

    # The offline verifier counts litewitness's cosignature on the newest checkpoint.
    bundle = tmp_path / "bundle"
    with closing(open_store(config)) as store:
        export_full(store, bundle, ledger_keys=[log_key.public])
    (tmp_path / "log.pub").write_text(log_key.public.verifier_text + "\n")
    verify = ["--key", str(tmp_path / "log.pub"), "--witness", witness.vkey, "--skip-signatures", "--quiet"]
    checked = subprocess.run(
        [sys.executable, "-m", "ledger.verify", str(bundle), *verify, "--json"],
        cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stdout[-3000:] + checked.stderr[-2000:]


def test_a_go_client_that_is_not_liuhens_is_served_by_liuhens_witness(go_bin: Path, tmp_path: Path) -> None:
    origin = "go.example/interop-log"
    keys = subprocess.run(
        [str(go_bin / "witness-client"), "keygen", "-origin", origin],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.split()
    skey, vkey = keys
    state = tmp_path / "witness"
    assert main(["witness", "add-log", "--state", str(state), "--origin", origin, "--key", vkey]) == 0
    witness_key = tmp_path / "witness.key"
    SigningKey.generate("witness.liuhen.example/w1").save(witness_key)
    log = tmp_path / "serve.log"
    with log.open("wb") as output:
        serving = subprocess.Popen(
            [sys.executable, "-m", "ledger.cli", "-v", "witness", "serve", "--key", str(witness_key),
             "--state", str(state), "--listen", f"127.0.0.1:{free_port()}"],
            cwd=REPO, env={**os.environ, "PYTHONPATH": str(REPO)}, stdout=output, stderr=output,
        )  # fmt: skip
    try:
        url = wait_for(log, r"serves (http://\S+)", serving).group(1)
        witness_vkey = wait_for(log, r"verifier key (\S+)", serving).group(1)
        run = subprocess.run(
            [str(go_bin / "witness-client"), "run", "-url", url, "-skey", skey, "-witness", witness_vkey],
            capture_output=True, text=True, timeout=120, check=False,
        )  # fmt: skip
    finally:
        stop(serving)
    steps = run.stdout.splitlines()
    assert run.returncode == 0, run.stdout + run.stderr
    assert len(steps) == 12
    assert all(step.startswith("ok ") for step in steps)
    assert "ok fork refused: proof from the fork's size 20" in steps
    assert serving.returncode == 0


def proof_check(go_bin: Path, vkey: str, proof: Path) -> subprocess.CompletedProcess[str]:
    command = [str(go_bin / "proof-check"), "-vkey", vkey, str(proof)]
    return subprocess.run(command, capture_output=True, text=True, check=False)


def test_a_generic_go_tool_checks_the_tlog_proof_liuhen_prints(
    go_bin: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("LIUHEN_HOME", str(home))
    config = Config.from_env()
    key, _ = ensure_key(config, "ledger")
    ledger = OfflineLedger(home, ledger_key=key)
    source = ledger.publisher()
    published = [source.publish("FootageViewed", viewed(n), actor=ACTOR) for n in range(37)]
    ledger.ingest()
    with closing(ledger.open_store()) as store:
        (origin,) = store.origins()
    vkey = log_key(key.public, origin).verifier_text  # the note verifier key of the log: its origin's name
    checked = []
    for n in (0, 20, 36):
        capsys.readouterr()
        assert main(["prove", str(published[n].event_id), "--tlog-proof"]) == 0
        proof = tmp_path / f"{n}.tlog-proof"
        proof.write_text(capsys.readouterr().out)
        check = subprocess.run(
            [str(go_bin / "proof-check"), "-vkey", vkey, str(proof)],
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stdout + check.stderr
        checked.append(check.stdout.strip())
    assert checked == [f"ok {origin} index {n + 1} size 38" for n in (0, 20, 36)]  # index 0: the key
    forged = proof.read_text().replace(f"index {37}", "index 36")
    proof.write_text(forged)
    check = proof_check(go_bin, vkey, proof)
    assert check.returncode == 1
    assert check.stdout.startswith("FAIL: inclusion")
