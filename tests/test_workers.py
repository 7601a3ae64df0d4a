"""The worker processes that check source signatures for ingest: results, failures, stopping."""

from __future__ import annotations

import contextlib
import signal
import time
from collections.abc import Iterator
from concurrent.futures import Future
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from ledger.ingest.workers import VerifyingWorkers
from ledger.wire.keys import failed_raw_signatures


def _jobs(count: int, *, bad: set[int]) -> list[tuple[int, bytes, bytes, bytes]]:
    key = Ed25519PrivateKey.generate()
    raw = key.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    jobs = []
    for position in range(count):
        message = f"event {position}".encode()
        signature = key.sign(message)
        jobs.append((position, raw, signature, message + b"!" if position in bad else message))
    return jobs


@pytest.fixture
def workers() -> Iterator[VerifyingWorkers]:
    pool = VerifyingWorkers(2)
    yield pool
    pool.shutdown(cancel_futures=True)


def _ignores(pid: int, *signals: signal.Signals) -> bool:
    """Whether process ``pid`` ignores all of ``signals`` (its SigIgn mask in /proc)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("SigIgn:"):
            mask = int(line.split()[1], 16)
            return all(mask & (1 << (number - 1)) for number in signals)
    return False


def test_each_call_runs_in_a_worker_and_returns_its_result(workers: VerifyingWorkers) -> None:
    chunks = [_jobs(50, bad={3, 41}), _jobs(50, bad=set()), _jobs(10, bad={0, 9})]
    futures = [workers.submit(failed_raw_signatures, chunk) for chunk in chunks]
    assert [f.result(timeout=30) for f in futures] == [[3, 41], [], [0, 9]]


def test_an_exception_in_a_call_is_raised_by_its_future_and_the_worker_goes_on(
    workers: VerifyingWorkers,
) -> None:
    broken = workers.submit(failed_raw_signatures, [(0, b"not a key", b"", b"")])
    with pytest.raises(ValueError):
        broken.result(timeout=30)
    assert workers.submit(failed_raw_signatures, _jobs(5, bad={2})).result(timeout=30) == [2]


def test_a_worker_that_dies_fails_the_calls_instead_of_leaving_them_waiting(
    workers: VerifyingWorkers,
) -> None:
    victim = workers._processes[0]
    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=10)
    futures: list[Future[list[int]]] = []
    with contextlib.suppress(RuntimeError):  # refused once the death is noticed
        futures.extend(workers.submit(failed_raw_signatures, _jobs(20, bad=set())) for _ in range(10))
    outcomes = [f.exception(timeout=30) for f in futures]  # every call ends, one way or the other
    assert any(isinstance(outcome, RuntimeError) for outcome in outcomes)
    with pytest.raises(RuntimeError, match="worker process failed"):
        workers.submit(failed_raw_signatures, [])


@pytest.mark.skipif(not Path("/proc/self/status").is_file(), reason="reads signal masks from /proc")
def test_workers_ignore_the_signals_of_their_process_group_and_stop_at_shutdown() -> None:
    """SIGINT and SIGTERM reach the whole group; ingest finishes its batch, then stops the workers."""
    pool = VerifyingWorkers(2)
    processes = list(pool._processes)
    deadline = time.monotonic() + 30
    while not all(_ignores(p.pid, signal.SIGINT, signal.SIGTERM) for p in processes):  # started
        assert time.monotonic() < deadline, "the workers did not start"
        time.sleep(0.05)
    for process in processes:
        process.send_signal(signal.SIGINT)
        process.send_signal(signal.SIGTERM)
    assert pool.submit(failed_raw_signatures, _jobs(3, bad={1})).result(timeout=30) == [1]
    pool.shutdown()
    assert [process.poll() for process in processes] == [0, 0]
    with pytest.raises(RuntimeError):
        pool.submit(failed_raw_signatures, [])
