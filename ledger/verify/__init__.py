"""The offline verifier: is this ledger whole and unmodified, and are these events really in it.

Runs with only the standard library, ``cryptography`` and ``fastavro`` installed (never Kafka,
eventsourcing or sqlite-utils)::

    python -m ledger.verify BUNDLE --key LEDGER_PUBKEY [--witness KEY ...] [--quorum K]
                                   [--checkpoint KEPT_NOTE ...] [--skip-signatures] [--json]

For every log of a **full** bundle it checks, streaming (memory stays flat):

* indices contiguous from 0 (a missing range is named);
* every entry's bytes against its chain hash, and the chain link by link (the first broken index
  is named with the expected and the stored hash);
* every checkpoint's ledger signature, and that its tree size, Merkle root and chain head are
  those recomputed from the entries; two checkpoints of one size with different roots (a split
  view); a checkpoint beyond the entries (a truncated or rolled-back log); witness cosignatures
  on the newest checkpoint (``--quorum`` of the ``--witness`` keys);
* every source signature against the source keys registered in the log itself (registry entries
  signed by the ledger key), and the ledger's own rejection entries against the ledger key;
* each source's sequence numbers: gaps (named as ranges, with the index of the entry after the
  gap) and repeats. These are **findings**, reported apart from the problems: they say what a
  source sent (events it numbered that never reached the ledger, a number used twice), not that
  the ledger was altered, which the checks above catch whatever the numbers say.

For a **selective** bundle it checks each entry's inclusion proof against its signed checkpoint
and its source signature. Checkpoints the auditor kept from earlier (``--checkpoint``) must be
consistent with the bundle: a bundle behind a kept checkpoint is a rolled-back ledger.

Exit status (also of ``liuhen verify``):

===  ==========================================================================================
0    intact: every check holds, and no source finding
1    invalid: integrity problems, each named with where it is (findings, if any, are listed too)
2    the bundle cannot be read (one line names the file and the fault), or a usage error
3    intact, with source findings: the ledger verifies, and a source's sequence numbers have
     gaps or repeats (each named with the source, the range and the ledger index)
===  ==========================================================================================

Integrity problems win over findings: a bundle with both exits 1.
"""

from ledger.verify.bundle import Material, bundle_rotations, bundle_sources, verify_bundle
from ledger.verify.command import add_arguments, main, print_report, run, run_proof, trust_from
from ledger.verify.logcheck import PROCESSES_AFTER, LogSource, Progress, Trust, verify_logs
from ledger.verify.report import BundleInvalid, Finding, LogReport, Problem, Report

__all__ = [
    "PROCESSES_AFTER",
    "BundleInvalid",
    "Finding",
    "LogReport",
    "LogSource",
    "Material",
    "Problem",
    "Progress",
    "Report",
    "Trust",
    "add_arguments",
    "bundle_rotations",
    "bundle_sources",
    "main",
    "print_report",
    "run",
    "run_proof",
    "trust_from",
    "verify_bundle",
    "verify_logs",
]
