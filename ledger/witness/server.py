"""The witness's HTTP service (``liuhen witness serve``): c2sp.org/tlog-witness on the standard library.

=====================================  ================================================================
``POST /add-checkpoint``               a checkpoint with a consistency proof (:mod:`ledger.witness.protocol`):
                                       200 the cosignature lines; 400, 403, 404, 409 (``text/x.tlog.size``),
                                       422 refusals; 411 without a length, 413 over 64 KiB; 500 if the
                                       witness cannot read or write its folder
``GET /``                              plain text: the witness's name and verifier key, each log it
                                       witnesses, the size it cosigned last and the log's keys
``GET /<sha256 of origin>/checkpoint``  the monitoring call: the newest checkpoint of that log it cosigned,
                                       with the log's signatures it verified and its cosignature; 404 if none
=====================================  ================================================================

Each request is served on its own thread (``ThreadingHTTPServer``), with HTTP/1.1 keep-alive.
Submissions of one origin are serialised by a lock of that origin held from reading what the
witness cosigned last to the moment the new checkpoint is on disk, so two concurrent
submissions can never both pass the size check against the same old checkpoint (tlog-witness's
"rollback race"); submissions of different origins run side by side. One process serves a folder
(:meth:`WitnessState.hold`). A witness stopped at any moment, even by ``kill -9``, starts again
knowing everything it has answered 200 for: it answers only once the checkpoint is durable.
"""

from __future__ import annotations

import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ledger.errors import ConfigurationError, LedgerError, ProofRejected, SizeConflict, WitnessError
from ledger.wire.keys import SigningKey
from ledger.wire.note import NoteSignature, cosign, cosigner_key_id, cosigner_verifier_text
from ledger.witness.protocol import (
    ADD_CHECKPOINT,
    SIZE_TYPE,
    TEXT_TYPE,
    Submission,
    authenticate,
    check_consistency,
    check_ledger,
    cosignature_body,
    size_body,
)
from ledger.witness.state import WitnessState

MAX_BODY = 64 * 1024
"""The largest request body read: a checkpoint with a hundred signature lines and 63 proof lines fits."""
_LINGER_SECONDS = 2.0  # how long a refused client may go on sending the body left unread
_LINGER_BYTES = 1024 * 1024
DEFAULT_LISTEN = "127.0.0.1:7380"
_CHECKPOINT_PATH = re.compile(r"/([0-9a-f]{64})/checkpoint")
_log = logging.getLogger("ledger.witness")


class Witness:
    """A witness's decisions, on its folder and key, without HTTP."""

    def __init__(
        self, *, key: SigningKey, state: WitnessState, clock: Callable[[], float] = time.time
    ) -> None:
        self.key = key
        self.state = state
        self._clock = clock
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    @property
    def verifier_text(self) -> str:
        """The witness's verifier key, type 0x04: what clients and auditors trust its cosignatures by."""
        return cosigner_verifier_text(self.key.public)

    def _lock(self, origin: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(origin, threading.Lock())

    def _now(self) -> int:
        return max(1, int(self._clock()))  # tlog-witness: the timestamp is never zero

    def add_checkpoint(self, body: bytes) -> list[NoteSignature]:
        """Check a request body and cosign its checkpoint; raise :class:`WitnessError` to refuse it."""
        submission = Submission.parse(body)
        origin = submission.checkpoint.origin
        verified = authenticate(submission.signed, self.state.keys(origin))
        with self._lock(origin):
            latest = self.state.latest(origin)
            try:
                check_consistency(submission, latest.checkpoint if latest else None)
                check_ledger(submission.checkpoint, latest.checkpoint if latest else None)
            except ProofRejected as exc:
                self.state.record_refusal(
                    verified, old_size=submission.old_size, timestamp=self._now(), reason=str(exc)
                )
                raise
            timestamp = self._now()
            cosignature = cosign(verified.checkpoint, self.key, timestamp=timestamp)
            self.state.remember(
                verified.with_signature(cosignature), old_size=submission.old_size, timestamp=timestamp
            )
        _log.info(
            "cosigned %s at size %d (from %d)", origin, submission.checkpoint.tree_size, submission.old_size
        )
        return [cosignature]

    def checkpoint(self, hashed: str) -> bytes | None:
        """The newest cosigned checkpoint of the log whose origin hashes to ``hashed``, or None."""
        for origin in self.state.logs():
            if self.state.checkpoint_path(origin).name == hashed:
                latest = self.state.latest(origin)
                return latest.encode() if latest else None
        return None

    def index(self) -> str:
        """``GET /``: who the witness is and what it witnesses."""
        lines = [
            f"liuhen witness {self.key.name}",
            f"verifier key {self.verifier_text}",
            f"submit: POST {ADD_CHECKPOINT} (c2sp.org/tlog-witness)",
            "",
        ]
        logs = self.state.logs()
        if not logs:
            lines.append("no log yet: liuhen witness add-log --state DIR --origin ORIGIN --key VKEY")
        for origin, keys in logs.items():
            latest = self.state.latest(origin)
            if latest is None:
                seen = "not cosigned yet"
            else:
                stamps = [s for s in latest.signatures if s.key_id == cosigner_key_id(self.key.public)]
                when = ""
                if stamps and len(stamps[-1].signature) > 8:
                    at = int.from_bytes(stamps[-1].signature[:8], "big")
                    when = f" at {datetime.fromtimestamp(at, UTC).isoformat()}"
                seen = f"cosigned size {latest.checkpoint.tree_size}{when}"
            lines.append(f"{origin}\t{seen}\tkeys {' '.join(key.key_id for key in keys)}")
        return "\n".join(lines) + "\n"


class _Handler(BaseHTTPRequestHandler):
    server: WitnessServer
    protocol_version = "HTTP/1.1"  # keep-alive, as tlog-witness recommends
    server_version = "liuhen-witness"
    sys_version = ""
    timeout = 30  # seconds a connection may stay silent

    def _send(self, status: int, body: bytes, content_type: str = TEXT_TYPE) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self, status: int, message: str) -> None:
        self._send(status, (message + "\n").encode())

    def _refuse_unread(self, status: int, message: str) -> None:
        """Refuse a request whose body is left unread, then close gently.

        Writing stops and what the client still sends is drained (bounded), so that it reads the
        refusal instead of a reset connection.
        """
        self.close_connection = True
        self._refuse(status, message)
        try:
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_WR)
            self.connection.settimeout(_LINGER_SECONDS)
            drained = 0
            while drained < _LINGER_BYTES:
                chunk = self.connection.recv(65536)
                if not chunk:
                    break
                drained += len(chunk)
        except OSError:  # the client is gone, or slower than the linger allows: nothing more to do
            pass

    def do_POST(self) -> None:
        """``POST /add-checkpoint``."""
        if self.path != ADD_CHECKPOINT:
            self._refuse(HTTPStatus.NOT_FOUND, f"no such call: POST {self.path} (submit to {ADD_CHECKPOINT})")
            return
        length = self.headers.get("Content-Length")
        if length is None or not length.isdigit() or self.headers.get("Transfer-Encoding"):
            self._refuse_unread(HTTPStatus.LENGTH_REQUIRED, "send the request with a Content-Length")
            return
        if int(length) > MAX_BODY:
            self._refuse_unread(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"a request is at most {MAX_BODY} bytes")
            return
        body = self.rfile.read(int(length))
        try:
            lines = self.server.witness.add_checkpoint(body)
        except SizeConflict as exc:
            self._send(HTTPStatus.CONFLICT, size_body(exc.known), SIZE_TYPE)
        except WitnessError as exc:
            _log.info("refused (%d): %s", exc.status, exc)
            self._refuse(exc.status, str(exc))
        except (LedgerError, OSError) as exc:  # the folder cannot be read or written: refuse, loudly
            _log.error("cannot witness: %s", exc)
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, "the witness cannot read or write its state")
        else:
            self._send(HTTPStatus.OK, cosignature_body(lines))

    def do_GET(self) -> None:
        """``GET /`` and the monitoring call."""
        try:
            if self.path == "/":
                self._send(HTTPStatus.OK, self.server.witness.index().encode())
                return
            matched = _CHECKPOINT_PATH.fullmatch(self.path)
            note = self.server.witness.checkpoint(matched.group(1)) if matched else None
        except (LedgerError, OSError) as exc:
            _log.error("cannot read the witness's state: %s", exc)
            self._refuse(HTTPStatus.INTERNAL_SERVER_ERROR, "the witness cannot read its state")
            return
        if note is None:
            self._refuse(HTTPStatus.NOT_FOUND, "no such log cosigned here (GET / lists them)")
        else:
            self._send(HTTPStatus.OK, note)

    def log_message(self, format: str, *args: object) -> None:
        """Requests go to the ``ledger.witness`` logger, not straight to stderr."""
        _log.info("%s %s", self.address_string(), format % args)


class WitnessServer(ThreadingHTTPServer):
    """The HTTP service of one :class:`Witness`; ``serve_forever`` serves until ``shutdown``."""

    daemon_threads = True  # a request cut short by the process ending is a crash the state survives

    def __init__(self, address: tuple[str, int], witness: Witness) -> None:
        self.witness = witness
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)

    def server_close(self) -> None:
        """Close the socket and let another process serve the witness's folder."""
        try:
            super().server_close()
        finally:
            self.witness.state.release()

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket (the port chosen, when asked for port 0)."""
        host, port = self.socket.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        return f"http://{shown}:{port}"


def parse_listen(text: str) -> tuple[str, int]:
    """``HOST:PORT`` (``[::1]:PORT`` for IPv6) as a socket address; raise :class:`ConfigurationError`."""
    host, _, port = text.rpartition(":")
    host = host.removeprefix("[").removesuffix("]")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ConfigurationError(f"--listen {text!r} is not HOST:PORT (e.g. {DEFAULT_LISTEN})")
    return host, int(port)


def serve(key: SigningKey, state: WitnessState, listen: str) -> WitnessServer:
    """A server for ``key`` on ``state``, listening on ``listen``; the folder is held until it closes."""
    state.hold()
    try:
        return WitnessServer(parse_listen(listen), Witness(key=key, state=state))
    except OSError as exc:
        state.release()
        raise ConfigurationError(f"cannot listen on {listen}: {exc.strerror or exc}") from exc
