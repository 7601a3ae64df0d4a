"""Checking a selection statement (:mod:`ledger.wire.selection`): in its bundle, and for completeness.

A statement is checked against the bundle that carries it, or against a full bundle of the same
ledger. For a selective bundle: the statement is signed by a ledger key; each log it searched is the
bundle's, at the bundle's newest checkpoint of that log (same size, same root); every position it
lists is in the bundle and, decoded, matches the query; and the bundle holds no entry it does not
list (besides the registry entries that prove the source keys). For a full bundle
(``--check-selection``): the query, run over each searched log up to the statement's checkpoint,
finds exactly the positions the statement lists — an operator who left evidence out is caught by
its own signature.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ledger.errors import ConfigurationError, IngestError, LedgerError
from ledger.verify.report import Problem
from ledger.wire.avro import SchemaRegistry, SignedEvent
from ledger.wire.keyring import KEY_EVENTS
from ledger.wire.keys import PublicKey
from ledger.wire.selection import Statement, matches


@dataclass
class SelectedLog:
    """What a selective bundle holds of one log: its decoded entries and its newest valid checkpoint."""

    origin: str
    newest: tuple[int, bytes] | None = None
    """Size and root of the newest checkpoint that verified."""
    decoded: dict[int, tuple[str, Mapping[str, Any]]] = field(default_factory=dict)
    """Index -> event type and decoded record, of every entry proven included."""
    ledger_logs: tuple[str, ...] | None = None
    """The origins of the ledger's logs its newest checkpoint names."""


def _statement(data: bytes | None, keys: Sequence[PublicKey], problems: list[Problem]) -> Statement | None:
    if data is None:
        problems.append(
            Problem(
                "unsigned_selection",
                "bundle",
                "selection",
                "the bundle carries no signed selection statement: nothing says these are all the entries "
                "its query matches",
            )
        )
        return None
    try:
        statement, note = Statement.parse(data)
        statement.verify(note, keys)
    except LedgerError as exc:
        problems.append(Problem("bad_selection", "bundle", "selection statement", f"does not verify: {exc}"))
        return None
    return statement


def check_selective(
    data: bytes | None, keys: Sequence[PublicKey], logs: Sequence[SelectedLog]
) -> tuple[list[Problem], Statement | None]:
    """Problems of a selective bundle's statement, against what the bundle holds.

    Also the statement, if its signature verified: what the bundle claims to be, for the report.
    """
    problems: list[Problem] = []
    statement = _statement(data, keys, problems)
    if statement is None:
        return problems, None
    searched = {log.origin: log for log in statement.logs}
    problems += _every_log_searched(statement, logs)
    for log in logs:
        found = searched.get(log.origin)
        if found is None:
            problems.append(
                Problem("selection_mismatch", log.origin, "selection statement", "does not name this log")
            )
            continue
        if log.newest != (found.size, found.root):
            problems.append(
                Problem(
                    "selection_mismatch",
                    log.origin,
                    "selection statement",
                    f"names the checkpoint of size {found.size}, not the bundle's newest valid one",
                    expected=f"{found.size} {found.root.hex()}",
                    actual=f"{log.newest[0]} {log.newest[1].hex()}" if log.newest else None,
                )
            )
        listed = set(statement.matched.get(log.origin, ()))
        problems.extend(
            Problem(
                "selection_incomplete",
                log.origin,
                f"index {index}",
                "the signed statement lists this entry as matching, and the bundle does not hold it "
                "(proven): evidence was left out",
                index=index,
            )
            for index in sorted(listed - set(log.decoded))
        )
        for index, (event_type, record) in sorted(log.decoded.items()):
            if index in listed:
                if statement.query.recomputable and not matches(statement.query, event_type, record):
                    problems.append(
                        Problem(
                            "selection_not_matching",
                            log.origin,
                            f"index {index}",
                            f"is listed, but its {event_type} does not match {statement.query.line()!r}",
                            index=index,
                        )
                    )
            elif event_type not in KEY_EVENTS:
                problems.append(
                    Problem(
                        "selection_unlisted",
                        log.origin,
                        f"index {index}",
                        "the bundle holds this entry, and the signed statement does not list it",
                        index=index,
                    )
                )
    return problems, statement


def _every_log_searched(statement: Statement, logs: Sequence[SelectedLog]) -> list[Problem]:
    """Problems unless the statement searched every log of the ledger.

    The first ``n`` logs it names must be the ``n`` logs a signed checkpoint of the bundle says the
    ledger had: a log left out of the search, and out of the bundle, could hold what the query
    matches.
    """
    origins = tuple(log.origin for log in statement.logs)
    problems = []
    for log in logs:
        if log.ledger_logs is None:
            continue
        names = log.ledger_logs
        if origins[: len(names)] != names:
            left_out = [name for name in names if name not in origins]
            problems.append(
                Problem(
                    "selection_logs_missing",
                    log.origin,
                    "selection statement",
                    f"the ledger had {len(names)} logs by this log's newest checkpoint, and the signed "
                    f"statement did not search {', '.join(left_out) or 'them in order'}: "
                    "a log was left out of the search",
                    expected=" ".join(names),
                    actual=" ".join(origins),
                )
            )
    return problems


def rerunnable(data: bytes) -> Statement:
    """The statement ``data`` holds, if its query can be run again over full logs (its signature unchecked).

    :class:`ConfigurationError` (a usage error) for bytes that are not a statement, or a statement
    of a violation's evidence: a list of positions, which no query can find again.
    """
    try:
        statement, _ = Statement.parse(data)
    except LedgerError as exc:
        raise ConfigurationError(f"this is not a selection statement: {exc}") from exc
    if not statement.query.recomputable:
        raise ConfigurationError(
            f"the statement's {statement.query.line()!r} names a violation's evidence, which no query "
            "can find again: verify its selective bundle instead (every entry it lists is checked there)"
        )
    return statement


def check_complete(
    data: bytes,
    keys: Sequence[PublicKey],
    entries: Mapping[str, Iterable[Mapping[str, Any]]],
    checkpoints: Mapping[str, Mapping[int, bytes]],
    registry: SchemaRegistry,
) -> list[Problem]:
    """Problems of a statement run against a full bundle's logs: what the query finds that it omits.

    ``entries`` are each log's records in index order, ``checkpoints`` each log's verified roots by
    size (the full bundle has been verified first). A statement of a violation's evidence has no
    query to run again: :class:`ConfigurationError` (a usage error, exit 2).
    """
    problems: list[Problem] = []
    statement = _statement(data, keys, problems)
    if statement is None:
        return problems
    rerunnable(data)
    for log in statement.logs:
        if checkpoints.get(log.origin, {}).get(log.size) != log.root:
            problems.append(
                Problem(
                    "selection_mismatch",
                    log.origin,
                    f"checkpoint at size {log.size}",
                    "the statement's checkpoint is not one of this full bundle's: another ledger, or "
                    "another history",
                )
            )
            continue
        found = []
        for record in entries.get(log.origin, ()):
            if record["index"] >= log.size:
                break
            try:
                signed = SignedEvent.decode(record["entry"])
                event_type, decoded = registry.decode(signed.schema, signed.body)
            except IngestError:
                continue  # the full bundle's own verification names an unreadable entry
            if event_type.name not in KEY_EVENTS and matches(statement.query, event_type.name, decoded):
                found.append(record["index"])
        listed = statement.matched.get(log.origin, ())
        problems.extend(
            Problem(
                "selection_omits",
                log.origin,
                f"index {index}",
                f"matches {statement.query.line()!r} and the signed statement leaves it out",
                index=index,
            )
            for index in sorted(set(found) - set(listed))
        )
        problems.extend(
            Problem(
                "selection_not_matching",
                log.origin,
                f"index {index}",
                "the signed statement lists it, and it does not match the query",
                index=index,
            )
            for index in sorted(set(listed) - set(found))
        )
    return problems
