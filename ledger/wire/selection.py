"""Selection statements: what a selective bundle claims to hold, signed by the ledger key.

A selective bundle (one case, one person, one violation's evidence) proves that each entry it
holds is in the log; by itself it does not prove that it holds *every* entry the query matches. The
**selection statement** closes that gap: the ledger signs, as a C2SP signed note, the query, the
checkpoint of each log it searched, and the complete list of the ledger positions that matched::

    liuhen selection v1
    query case <number>                                   one of the three query lines
    query actor <user id> <from or -> <to or ->            (ISO 8601 times of the events' own clock)
    query evidence <violation id> <rule>
    log <origin> <tree size> <base64 root>                one line per log searched, in order
    match <origin> <index>,<index>,...                    one line per log with matches, indices ascending

Anyone can then check that every listed entry is in the bundle and really matches the query
(decoded: its case or application number, its actor and its own time), and that the bundle holds
no entry the statement does not list; and anyone holding the whole log can check the statement is
complete, by running the query over the log up to the checkpoint it names
(``liuhen verify FULL_BUNDLE --check-selection STATEMENT``). An operator who leaves evidence out of
a case is caught by its own signature. An ``evidence`` query (the ledger positions a violation
cites) cannot be run again offline: only the presence of its entries is checked.

The matching functions (:func:`matches`) are the exporter's and the verifier's both. Imports only
the standard library and :mod:`ledger.wire`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ledger.errors import VerificationError
from ledger.wire.keys import PublicKey, SigningKey
from ledger.wire.note import Note, sign_note

_TITLE = "liuhen selection v1"
HASH_SIZE = 32


@dataclass(frozen=True)
class Query:
    """What was selected: ``kind`` is ``case``, ``actor`` or ``evidence``, with its arguments."""

    kind: str
    number: str = ""
    user_id: str = ""
    start: datetime | None = None
    end: datetime | None = None
    violation: int = 0
    rule: str = ""

    def line(self) -> str:
        """The statement's ``query`` line."""
        if self.kind == "case":
            return f"query case {self.number}"
        if self.kind == "actor":
            when = [t.isoformat() if t is not None else "-" for t in (self.start, self.end)]
            return f"query actor {self.user_id} {when[0]} {when[1]}"
        return f"query evidence {self.violation} {self.rule}"

    @classmethod
    def parse(cls, line: str) -> Query:
        """Read a ``query`` line; raise :class:`VerificationError` if it is not one."""
        words = line.split(" ")
        try:
            if words[:2] == ["query", "case"] and len(words) == 3 and words[2]:
                return cls("case", number=words[2])
            if words[:2] == ["query", "actor"] and len(words) == 5 and words[2]:
                start, end = (None if w == "-" else datetime.fromisoformat(w) for w in words[3:])
                return cls("actor", user_id=words[2], start=start, end=end)
            if words[:2] == ["query", "evidence"] and len(words) == 4:
                return cls("evidence", violation=int(words[2]), rule=words[3])
        except ValueError as exc:
            raise VerificationError(f"selection query {line!r} is malformed: {exc}") from exc
        raise VerificationError(f"{line!r} is not a selection query (case, actor or evidence)")

    @property
    def recomputable(self) -> bool:
        """Whether the matches can be found again from the entries alone (not a violation's evidence)."""
        return self.kind in ("case", "actor")

    def describe(self) -> dict[str, Any]:
        """The query as the bundle's manifest and the reports show it."""
        return {"query": self.line().removeprefix("query ")}


def matches(query: Query, event_type: str, record: Mapping[str, Any]) -> bool:
    """Whether a decoded event answers ``query`` (never for an ``evidence`` query: it has no rule)."""
    if query.kind == "case":
        access = record.get("access") or {}
        return query.number in (
            record.get("case_number"),
            record.get("application_id"),
            access.get("case_number"),
            access.get("application_id"),
        )
    if query.kind == "actor":
        envelope = record["envelope"]
        if envelope["actor"]["user_id"] != query.user_id:
            return False
        when = envelope["occurred_at"]
        return (query.start is None or when >= query.start) and (query.end is None or when < query.end)
    return False


@dataclass(frozen=True)
class SearchedLog:
    """One log the selection searched, up to the checkpoint it names."""

    origin: str
    size: int
    root: bytes


def _searched(parts: Sequence[str]) -> SearchedLog:
    """A ``log <origin> <size> <root>`` line's values; ValueError if malformed."""
    root = binascii.a2b_base64(parts[2], strict_mode=True)
    if len(root) != HASH_SIZE:
        raise ValueError(f"a root is {HASH_SIZE} bytes")
    return SearchedLog(parts[0], int(parts[1]), root)


def _indices(text: str) -> tuple[int, ...]:
    """A ``match`` line's indices; ValueError unless they ascend, each once, from 0 up."""
    indices = tuple(int(i) for i in text.split(","))
    if list(indices) != sorted(set(indices)) or indices[0] < 0:
        raise ValueError("indices must ascend, each once")
    return indices


@dataclass(frozen=True)
class Statement:
    """A selection statement: the query, the logs searched, and every matching ledger position."""

    query: Query
    logs: tuple[SearchedLog, ...]
    matched: Mapping[str, tuple[int, ...]] = field(default_factory=dict)

    def text(self) -> str:
        """The signed note's text."""
        lines = [_TITLE, self.query.line()]
        lines += [f"log {log.origin} {log.size} {base64.b64encode(log.root).decode()}" for log in self.logs]
        lines += [
            f"match {log.origin} {','.join(map(str, self.matched[log.origin]))}"
            for log in self.logs
            if self.matched.get(log.origin)
        ]
        return "\n".join(lines) + "\n"

    def sign(self, key: SigningKey) -> bytes:
        """The statement as a note signed by the ledger key."""
        text = self.text()
        return Note(text=text, signatures=(sign_note(text, key),)).encode()

    @classmethod
    def parse(cls, data: bytes) -> tuple[Statement, Note]:
        """The statement and its note; raise :class:`VerificationError` unless well formed."""
        note = Note.parse(data)
        lines = note.text.rstrip("\n").split("\n")
        if len(lines) < 2 or lines[0] != _TITLE:
            raise VerificationError(f"not a liuhen selection statement (its first line is not {_TITLE!r})")
        query = Query.parse(lines[1])
        logs: list[SearchedLog] = []
        matched: dict[str, tuple[int, ...]] = {}
        for line in lines[2:]:
            word, _, rest = line.partition(" ")
            parts = rest.split(" ")
            try:
                if word == "log" and len(parts) == 3:
                    logs.append(_searched(parts))
                elif word == "match" and len(parts) == 2 and parts[0] not in matched:
                    matched[parts[0]] = _indices(parts[1])
                else:
                    raise VerificationError(f"selection line {line[:80]!r} is neither 'log' nor 'match'")
            except ValueError as exc:
                raise VerificationError(f"selection line {line[:80]!r} is malformed: {exc}") from exc
        searched = {log.origin: log.size for log in logs}
        for origin, indices in matched.items():
            if origin not in searched or indices[-1] >= searched[origin]:
                raise VerificationError(f"selection matches in {origin} lie outside the logs it searched")
        return cls(query, tuple(logs), matched), note

    def verify(self, note: Note, ledger_keys: Sequence[PublicKey]) -> None:
        """Return None if a ledger key signed the statement; else raise."""
        note.verify(keys=ledger_keys)
