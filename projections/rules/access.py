"""Detection rules about access to footage: its trace, its scope, copies, shares, approvals.

=====  ==================================================================  ==================
rule   violation                                                           article
=====  ==================================================================  ==================
R4     view/copy/export missing reason, unit or name; an investigator's    ZZ 12(4), 13
       access missing legal basis or case number
R5     access under an authorization or Art. 14 application outside its    ZZ 13, 14, 16(2)
       cameras, footage window, validity or grantee, or citing one the
       ledger does not hold (judged again when it is logged)
R6     export, copy or download without watermark or file hash             ZZ 12(4), 15(4)
R7     share or public release without a desensitization profile           ZZ 13, 16(1)
R13    an authorization approved by its own requester                      separation of duties
=====  ==================================================================  ==================

R4 to R7 judge the access row of every view, copy, export and share as it is projected: they are
on the projector's hottest path. R13 judges the authorization when it is granted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from projections.feed import ACCESS_COLUMNS, AccessRow
from projections.rules.base import Fact, Position, RulesBase, Subject, fold
from projections.rules.catalog import R4, R5, R6, R7, R13

VIEWS = frozenset({"FootageViewed", "FootageCopied", "FootageExported", "FootageDownloaded"})
COPIES = frozenset({"FootageExported", "FootageCopied", "FootageDownloaded"})
SHARES = frozenset({"FootageShared", "FootageReleased"})
INVESTIGATOR_ROLES = frozenset({"investigator", "police"})


def role_key(role: str) -> str:
    """A role as the rules compare it: :func:`~projections.rules.base.fold`."""
    return fold(role)


class AccessRules(RulesBase):
    """R4, R5, R6, R7 and R13 (see the module docstring)."""

    def _r4_trace(self, row: AccessRow) -> None:
        investigator = role_key(row.role) in INVESTIGATOR_ROLES
        if row.reason and row.unit and row.actor_name and not investigator:
            return  # the common case, decided without building a list
        missing = [
            name
            for name, value in (("reason", row.reason), ("unit", row.unit), ("name", row.actor_name))
            if not value
        ]
        if investigator:
            missing += [
                name
                for name, value in (("legal_basis", row.legal_basis), ("case_number", row.case_number))
                if not value
            ]
        if not missing or row.actor_kind != "PERSON":
            return
        self.violation(
            rule=R4,
            record=row,
            camera_id=row.camera_id,
            explanation=f"{row.event_type} of camera {row.camera_id} by {row.actor_id} does not "
            f"record {', '.join(missing)}: every viewing must leave a trace of reason, unit and name, and "
            f"state organs must cite their legal basis and case ({R4.article}).",
            evidence=[Position(row.origin, row.idx)],
        )

    def _r5_scope(self, row: AccessRow, fact: Fact | None = None) -> None:
        """R5 on one access that cites an authorization or application (again, if ``fact`` granted it late).

        A grant the ledger does not hold is a violation until it is logged (from another log, or
        late: R14 then shows it).
        """
        if row.outcome != "ALLOWED" or not (row.authorization_id or row.application_id):
            return
        when = row.occurred_at
        found = []
        for kind, key, grant_id, table, person, since in (
            (
                "authorization",
                "authorization_id",
                row.authorization_id,
                "authorizations",
                "grantee_id",
                "granted_at",
            ),
            ("application", "application_id", row.application_id, "applications", "handler_id", "decided_at"),
        ):
            if not grant_id:
                continue
            grant = self.db.execute(
                f"SELECT camera_ids, footage_start, footage_end, expires_at, {person}, {since}, origin, idx "  # noqa: S608
                f"FROM {table} WHERE {key} = ? AND camera_ids IS NOT NULL",
                [grant_id],
            ).fetchone()
            evidence = [Position(row.origin, row.idx)]
            if grant is None:
                faults = [
                    f"the ledger holds no {'approved ' if kind == 'application' else ''}{kind} {grant_id}"
                ]
            else:
                cameras, start, end, expires, grantee, granted, origin, idx = grant
                evidence.append(Position(origin, idx))
                faults = []
                if row.camera_id not in json.loads(cameras):
                    faults.append(f"camera {row.camera_id} is not one of its cameras")
                if (row.footage_start or 0) < start or (row.footage_end or 0) > end:
                    faults.append("the footage lies outside its window")
                if when > expires or (granted is not None and when < granted):
                    faults.append("it was not in force at the time")
                if row.actor_id != grantee:
                    faults.append(f"it was granted to {grantee}, not {row.actor_id}")
            if not faults:
                continue
            found.append(
                self.verdict(
                    rule=R5,
                    record=row,
                    camera_id=row.camera_id,
                    explanation=f"{row.event_type} by {row.actor_id} under {kind} {grant_id}, but "
                    f"{'; '.join(faults)}: access is lawful only within the scope granted ({R5.article}).",
                    evidence=evidence,
                )
            )
        what = f"{row.actor_id}'s {row.event_type} of camera {row.camera_id}"
        subject = Subject(Position(row.origin, row.idx), when, row.logged_at, what)
        self.judged(R5, subject, found, camera_id=row.camera_id, fact=fact)

    def _r5_late_grant(self, at: Position, event_type: str, record: Mapping[str, Any]) -> None:
        """An authorization or an application's decision was logged: judge the accesses that cite it."""
        if event_type == "AccessAuthorized":
            column, grant_id, what = "authorization_id", record["authorization_id"], "authorization"
        else:
            column, grant_id, what = "application_id", record["application_id"], "the decision on application"
        self.pending.flush()
        fact = self.fact(at, record, f"{what} {grant_id}")
        rows = self.db.execute(
            f"SELECT {', '.join(ACCESS_COLUMNS)}, 'PERSON', 0 FROM access WHERE {column} = ? ORDER BY id",  # noqa: S608
            [grant_id],
        ).fetchall()
        for row in rows:
            self._r5_scope(AccessRow._make(row), fact)

    def _r6_watermark(self, row: AccessRow) -> None:
        missing = [
            name
            for name, value in (("watermark_id", row.watermark_id), ("file_hash", row.file_hash))
            if not value
        ]
        if not missing or row.outcome != "ALLOWED":
            return
        self.violation(
            rule=R6,
            record=row,
            camera_id=row.camera_id,
            explanation=f"{row.event_type} of camera {row.camera_id} footage to "
            f"{row.destination} has no {' and no '.join(missing)}: a copy that leaves the system "
            f"must be traceable ({R6.article}).",
            evidence=[Position(row.origin, row.idx)],
        )

    def _r7_desensitization(self, row: AccessRow) -> None:
        if row.desensitization_profile or row.outcome != "ALLOWED":
            return
        self.violation(
            rule=R7,
            record=row,
            camera_id=row.camera_id,
            explanation=f"{row.event_type} of camera {row.camera_id} footage without desensitization "
            f"(脱敏): shared footage must be desensitized ({R7.article}).",
            evidence=[Position(row.origin, row.idx)],
        )

    def _r13_self_approval(self, at: Position, record: Mapping[str, Any]) -> None:
        if record["approver_user_id"] != record["requester_user_id"]:
            return
        self.violation(
            rule=R13,
            record=record,
            explanation=f"Authorization {record['authorization_id']} was approved by "
            f"{record['approver_user_id']}, who also requested it: no one may approve their own request "
            f"({R13.article}).",
            evidence=[at],
        )
