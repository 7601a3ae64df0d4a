"""Worker processes that check source signatures for ingest (:class:`VerifyingWorkers`)."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from concurrent.futures import Executor, Future
from multiprocessing.connection import Connection
from typing import Any, TypeVar

T = TypeVar("T")
_Call = tuple[Future[Any], Callable[..., Any], tuple[Any, ...]]
"""A call waiting for a worker: its future, the function, the arguments."""
_WORKER = "import sys, ledger.ingest.workers as w; w.serve_calls(int(sys.argv[1]), int(sys.argv[2]))"
"""What a worker process runs (``python -c``), given its two pipes' file descriptors."""


class VerifyingWorkers(Executor):
    """Worker processes that check source signatures for ingest (any picklable call, in fact).

    Not threads: ``cryptography`` releases the GIL while it verifies, but a verifying thread must
    take the GIL back between two signatures, and while the main thread decodes and appends (pure
    Python, most of its time) it waits for the interpreter's switch interval (5 ms) to get it: on
    two cores, a quarter of the CPU stood idle during ingest with two verifying threads. Worker
    processes have interpreters of their own.

    Each worker is a fresh interpreter (``python -c``, see :func:`serve_calls`), started now so it
    is ready by the first batch, with two pipes: calls in, results out. One thread of this process
    per worker sends it a call, waits for the result (the GIL released) and completes the call's
    future; the calls wait in one queue, so an idle worker takes the next. Not
    ``multiprocessing``: its pools re-import the main module in every worker and keep a resource
    tracker process alongside; these workers need neither. A worker ignores SIGINT and SIGTERM,
    which a terminal or a service manager sends to the whole process group (ingest stops its
    workers itself, after finishing the batch in hand), and exits when its pipe of calls closes:
    at :meth:`shutdown`, or when the ingest process dies.
    """

    def __init__(self, workers: int) -> None:
        self._calls: queue.SimpleQueue[_Call | None] = queue.SimpleQueue()
        self._broken = ""
        self._stopped = False
        self._processes: list[subprocess.Popen[bytes]] = []
        self._threads: list[threading.Thread] = []
        for n in range(workers):
            calls_in, calls_out = os.pipe()
            results_in, results_out = os.pipe()
            try:
                process = subprocess.Popen(  # noqa: S603 - this interpreter, running liuhen's worker loop
                    [sys.executable, "-c", _WORKER, str(calls_in), str(results_out)],
                    stdin=subprocess.DEVNULL,
                    pass_fds=(calls_in, results_out),
                )
            finally:
                os.close(calls_in)
                os.close(results_out)
            calls, results = Connection(calls_out, readable=False), Connection(results_in, writable=False)
            thread = threading.Thread(
                target=self._feed, args=(process, calls, results), name=f"verify-{n}", daemon=True
            )
            thread.start()
            self._processes.append(process)
            self._threads.append(thread)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]:
        """Run ``fn(*args)`` in the next idle worker; ``fn`` and its arguments must pickle."""
        if kwargs:
            raise TypeError("worker calls take positional arguments only")
        if self._stopped:
            raise RuntimeError("cannot run calls after shutdown")
        if self._broken:
            raise RuntimeError(f"a verifying worker process failed: {self._broken}")
        future: Future[T] = Future()
        self._calls.put((future, fn, args))
        return future

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        """Stop the workers once the calls submitted are done (``cancel_futures``: drop those not started)."""
        self._stopped = True
        if cancel_futures:
            self._fail_waiting(None)
        for _ in self._threads:
            self._calls.put(None)
        if wait:
            for thread in self._threads:
                thread.join()
            for process in self._processes:
                process.wait()

    def _feed(self, process: subprocess.Popen[bytes], calls: Connection, results: Connection) -> None:
        """One worker's thread: send it the calls one at a time, complete their futures."""
        with calls, results:  # closing the calls' pipe ends the worker
            while (call := self._calls.get()) is not None:
                future, fn, args = call
                if not future.set_running_or_notify_cancel():
                    continue
                if self._broken:
                    future.set_exception(RuntimeError(f"a verifying worker process failed: {self._broken}"))
                    continue
                try:
                    calls.send((fn, args))
                    ok, value = results.recv()
                except (OSError, EOFError) as exc:
                    self._broken = f"worker {process.pid} ended ({exc!r}, exit status {process.poll()})"
                    future.set_exception(RuntimeError(f"a verifying worker process failed: {self._broken}"))
                    self._fail_waiting(self._broken)
                    return
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _fail_waiting(self, reason: str | None) -> None:
        """Fail (or, without a reason, cancel) the calls no worker has taken yet."""
        while True:
            try:
                call = self._calls.get_nowait()
            except queue.Empty:
                return
            if call is None:  # a stop for one of the threads: leave it for them
                self._calls.put(None)
                return
            future = call[0]
            if reason is None:
                future.cancel()
            elif future.set_running_or_notify_cancel():
                future.set_exception(RuntimeError(f"a verifying worker process failed: {reason}"))


def serve_calls(calls_fd: int, results_fd: int) -> None:
    """A worker process of :class:`VerifyingWorkers`: run each call received, send back its result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    with Connection(calls_fd, writable=False) as calls, Connection(results_fd, readable=False) as results:
        while True:
            try:
                fn, args = calls.recv()
            except EOFError:  # the ingest process closed the pipe, or died
                return
            try:
                reply: tuple[bool, Any] = (True, fn(*args))
            except Exception as exc:  # handed to the caller: its future raises it
                reply = (False, exc)
            results.send(reply)
