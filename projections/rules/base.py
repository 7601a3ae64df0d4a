"""What every rule shares: ledger positions, the configurable thresholds, and recording a violation.

:class:`RulesBase` is the base of the rule mixins (:mod:`~projections.rules.retention`,
:mod:`~projections.rules.access`, :mod:`~projections.rules.registry`,
:mod:`~projections.rules.operations`, :mod:`~projections.rules.duty`) that
:class:`projections.rules.Rules` combines. It holds the read models, the state kept in memory for
one batch (each mixin adds its own in :meth:`~RulesBase.begin` and writes it in
:meth:`~RulesBase.flush`), and :meth:`~RulesBase.violation`, which writes a violation row with the
rule id, severity and article of its entry in :mod:`projections.rules.catalog`, and
:meth:`~RulesBase.settle`, which judges an act again when a fact it depends on was logged after it:

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R14    a fact that would clear a violation reached the ledger more than    ZZ 15(2), 16
       ``late_evidence_us`` after the act: the violation stays, marked
       ``cleared_late``, and R14 cites both entries with their four times
=====  ==================================================================  ==================
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from projections.feed import AccessRow
from projections.rules.catalog import R14

if TYPE_CHECKING:
    import sqlite_utils

    from projections.rules.catalog import Rule
    from projections.tables import PendingAccess

HOUR_US = 3_600 * 1_000_000
DAY_US = 24 * HOUR_US
CHINA = timezone(timedelta(hours=8))


_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff\u00ad"))
"""Zero-width characters (and the soft hyphen): a text written with one must not pass as another."""


def fold(text: str) -> str:
    """Text as rules and searches compare it: NFKC, zero-width characters removed, case folded, trimmed.

    A look-alike (full-width digits, a zero-width space, other case) folds to the same key.
    """
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold().strip()


def iso(us: int) -> str:
    """A time of the read models as the explanations write it (China time, to the minute)."""
    return datetime.fromtimestamp(us / 1e6, CHINA).isoformat(timespec="minutes")


def span_text(us: int) -> str:
    """A duration as an explanation writes it: minutes, hours or days."""
    hours = us / HOUR_US
    if hours >= 48:
        return f"{hours / 24:.1f} days"
    if hours >= 1:
        return f"{hours:.1f} hours"
    if us >= 60_000_000:
        return f"{us / 60_000_000:.0f} minutes"
    return f"{us / 1_000_000:.0f} seconds"


@dataclass(frozen=True, slots=True)
class Thresholds:
    """The rules' configurable limits, with their documented defaults."""

    outage_us: int = 2 * HOUR_US
    """R9: a camera off line longer than this needs a ticket."""
    clock_tolerance_ms: int = 5_000
    """R11: clock corrections up to this (NTP) need no ticket."""
    bulk_factor: float = 5.0
    """R12: an hour with this many times the actor's usual hourly accesses is bulk access..."""
    bulk_minimum: int = 150
    """R12: ...if it also holds at least this many (above any patrol operator's normal pace)."""
    baseline_days: int = 30
    """R12: how far back the actor's usual pace is measured."""
    late_evidence_us: int = HOUR_US
    """R14: a fact that clears a violation but reached the ledger longer than this after the act
    it covers does not clear it (it is shown, marked as cleared only by late evidence)."""
    clock_ahead_us: int = 5 * 60 * 1_000_000
    """R15: an event dated more than this after it reached the ledger comes from the future."""
    clock_behind_us: int = DAY_US
    """R15: an event that reached the ledger more than this after its own time is backdated (or was
    withheld that long)."""


@dataclass(frozen=True, slots=True)
class Position:
    """A ledger position: log origin and entry index."""

    origin: str
    idx: int


@dataclass(frozen=True, slots=True)
class Fact:
    """A fact that makes rules judge again what it touches: its entry, both its times, what it is."""

    at: Position
    occurred_at: int
    logged_at: int
    what: str
    """Its name in an explanation: "deletion order O-17", "duty shift of p3301"."""
    actor_id: str | None
    system_id: str


@dataclass(frozen=True, slots=True)
class Subject:
    """The act a verdict is about: its entry, both its times, and what it is."""

    at: Position
    occurred_at: int
    logged_at: int
    what: str


_FROM_RECORD = "\x00from the record"
_VERDICT = "SELECT id, explanation, evidence, cleared_late FROM violations WHERE subject_origin = ? "
_VERDICT += "AND subject_idx = ? AND rule = ? AND article = ? AND camera_id IS ?"


class RulesBase:
    """The read models, the batch's state and the violation writer the rule mixins share."""

    db: sqlite_utils.Database
    thresholds: Thresholds
    pending: PendingAccess
    logged_at: int = 0
    """When the entry being projected reached the ledger (the projector sets it for each)."""
    current: Position = Position("", 0)
    """The entry being projected (for an access row, the row names its own)."""

    def begin(self) -> None:
        """Start a batch: forget the state of any batch that was rolled back."""
        self.pending.discard()
        self._cameras: dict[str, tuple[str | None, str | None]] = {}  # forgotten when one registers

    def flush(self) -> None:
        """Write the batch's access rows and the state held in memory."""
        self.pending.flush()

    def violation(
        self,
        *,
        rule: Rule,
        record: Mapping[str, Any] | AccessRow,
        explanation: str,
        evidence: list[Position],
        camera_id: str | None = None,
        system_id: str | None = None,
        actor_id: str | None = _FROM_RECORD,
        dated: int | None = None,
    ) -> None:
        """Record one violation of ``rule`` (an entry of the catalog) with the positions of its evidence.

        See :meth:`verdict`; the violation is about the entry being projected.
        """
        self.db.table("violations").insert(
            self.verdict(
                rule=rule,
                record=record,
                explanation=explanation,
                evidence=evidence,
                camera_id=camera_id,
                system_id=system_id,
                actor_id=actor_id,
                dated=dated,
            )
        )

    def verdict(
        self,
        *,
        rule: Rule,
        record: Mapping[str, Any] | AccessRow,
        explanation: str,
        evidence: list[Position],
        camera_id: str | None = None,
        system_id: str | None = None,
        actor_id: str | None = _FROM_RECORD,
        dated: int | None = None,
        subject: Position | None = None,
        logged_at: int | None = None,
    ) -> dict[str, Any]:
        """The row of one violation of ``rule`` (an entry of the catalog) about one ledger entry.

        The actor is the event's (``record``, or its access row), unless ``actor_id`` names
        another (``None``: no one is known); it is dated by the event's own time unless ``dated``
        says otherwise. The entry it is about (``subject``, and when it reached the ledger) is
        the access row's, or else the entry being projected.
        """
        actor: str | None
        if isinstance(record, AccessRow):
            actor, source, when = record.actor_id, record.source_system_id, record.occurred_at
            subject = subject or Position(record.origin, record.idx)
            logged_at = record.logged_at if logged_at is None else logged_at
        else:
            envelope = record["envelope"]
            actor, source, when = (
                (envelope.get("actor") or {}).get("user_id"),
                envelope["source_system_id"],
                envelope["occurred_at"],
            )
        subject = subject or self.current
        return {
            "rule": rule.id,
            "severity": rule.severity,
            "article": rule.article,
            "actor_id": actor if actor_id == _FROM_RECORD else actor_id,
            "system_id": system_id or source,
            "camera_id": camera_id,
            "occurred_at": when if dated is None else dated,
            "logged_at": self.logged_at if logged_at is None else logged_at,
            "explanation": explanation,
            "evidence": json.dumps([[p.origin, p.idx] for p in evidence]),
            "subject_origin": subject.origin,
            "subject_idx": subject.idx,
        }

    def judged(
        self,
        rule: Rule,
        subject: Subject,
        verdicts: list[dict[str, Any]],
        *,
        camera_id: str | None = None,
        fact: Fact | None = None,
    ) -> None:
        """Record the verdicts on an act: judged the first time (no ``fact``), or again (:meth:`settle`).

        The first time nothing was found before: the rows are written, with no look-up.
        """
        if fact is None:
            for verdict in verdicts:
                self.db.table("violations").insert(verdict)
            return
        self.settle(rule, subject, verdicts, camera_id=camera_id, fact=fact)

    def settle(
        self,
        rule: Rule,
        subject: Subject,
        verdicts: list[dict[str, Any]],
        *,
        camera_id: str | None = None,
        fact: Fact | None = None,
    ) -> None:
        """Make ``verdicts`` the violations of ``rule`` about ``subject`` (for ``camera_id``).

        Judging an act again (a fact it depends on reached the ledger after it) replaces what was
        found before, unless the fact clears a violation and reached the ledger later than the
        tolerance after the act: the violation then stays, marked as cleared only by late
        evidence, and R14 names both entries and their four times.
        """
        earlier = self.db.execute(
            _VERDICT, [subject.at.origin, subject.at.idx, rule.id, rule.article, camera_id]
        ).fetchall()
        if [(e, v) for _, e, v, _ in earlier] == [(v["explanation"], v["evidence"]) for v in verdicts]:
            return
        late = fact is not None and fact.logged_at - subject.logged_at > self.thresholds.late_evidence_us
        if earlier and not verdicts and late:
            assert fact is not None
            self._late_evidence(rule, subject, fact, [row[0] for row in earlier if row[3] is None], camera_id)
            return
        for row in earlier:
            self.db.execute("DELETE FROM violations WHERE id = ?", [row[0]])
        for row in verdicts:
            self.db.table("violations").insert(row)

    def fact(self, at: Position, record: Mapping[str, Any], what: str) -> Fact:
        """The entry being projected, as a fact that makes rules judge again what it touches."""
        envelope = record["envelope"]
        return Fact(
            at,
            envelope["occurred_at"],
            self.logged_at,
            what,
            envelope["actor"]["user_id"],
            envelope["source_system_id"],
        )

    def _late_evidence(
        self, rule: Rule, subject: Subject, fact: Fact, ids: list[int], camera_id: str | None
    ) -> None:
        """Keep violations a late fact would clear; mark them and record R14 (see :meth:`settle`)."""
        if not ids:
            return  # marked already (by this fact or an earlier one)
        mark = json.dumps([fact.at.origin, fact.at.idx])
        for row_id in ids:
            self.db.execute("UPDATE violations SET cleared_late = ? WHERE id = ?", [mark, row_id])
        delay = span_text(fact.logged_at - subject.logged_at)
        tolerance = span_text(self.thresholds.late_evidence_us)
        self.db.table("violations").insert(
            {
                "rule": R14.id,
                "severity": R14.severity,
                "article": R14.article,
                "actor_id": fact.actor_id,
                "system_id": fact.system_id,
                "camera_id": camera_id,
                "occurred_at": fact.logged_at,
                "logged_at": fact.logged_at,
                "explanation": (
                    f"{fact.what[:1].upper()}{fact.what[1:]} (dated {iso(fact.occurred_at)}, logged "
                    f"{iso(fact.logged_at)}) would clear the {rule.id} violation of {subject.what} (dated "
                    f"{iso(subject.occurred_at)}, logged {iso(subject.logged_at)}), but it reached the "
                    f"ledger {delay} after that act, beyond the {tolerance} tolerance: the "
                    f"{rule.id} violation stands, cleared only by late evidence. Operating records may not "
                    f"be made after the fact ({R14.article})."
                ),
                "evidence": json.dumps([[subject.at.origin, subject.at.idx], [fact.at.origin, fact.at.idx]]),
                "subject_origin": subject.at.origin,
                "subject_idx": subject.at.idx,
            }
        )

    def camera(self, camera_id: str) -> tuple[str | None, str | None]:
        """A registered camera's system and the day it went live (``None``, ``None``: not registered)."""
        known = self._cameras.get(camera_id)
        if known is None:
            row = self.db.execute(
                "SELECT system_id, went_live_on FROM cameras WHERE camera_id = ?", [camera_id]
            ).fetchone()
            known = self._cameras[camera_id] = (row[0], row[1]) if row else (None, None)
        return known

    def _forget_camera(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        self._cameras.pop(record["camera_id"], None)  # registered again: read it anew
