"""One error tree: every exception liuhen defines is a LedgerError drawn in ledger/errors.py, and
the errors of a failed proof carry their evidence."""

from __future__ import annotations

import hashlib
import importlib
import inspect
import re
from functools import partial
from pathlib import Path

import pytest

from ledger import errors
from ledger.errors import Inconsistent, LedgerError, NotIncluded, VerificationError
from ledger.wire.format import leaf_hash
from ledger.wire.merkle import (
    consistency_proof,
    inclusion_proof,
    root_of_leaves,
    verify_consistency,
    verify_inclusion,
)

REPO = Path(__file__).resolve().parent.parent


def defined_exceptions() -> dict[str, type[BaseException]]:
    """Every exception class defined in a module of ledger/ or projections/, by name."""
    found: dict[str, type[BaseException]] = {}
    for path in sorted([*(REPO / "ledger").rglob("*.py"), *(REPO / "projections").rglob("*.py")]):
        if path.name == "__main__.py":
            continue
        parts = list(path.relative_to(REPO).with_suffix("").parts)
        module = importlib.import_module(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
        found |= {
            name: value
            for name, value in vars(module).items()
            if inspect.isclass(value)
            and issubclass(value, BaseException)
            and value.__module__ == module.__name__
        }
    return found


TREE = set(re.findall(r"[─└├]── (\w+)", errors.__doc__ or ""))
"""The classes ledger/errors.py draws in its docstring."""


def test_every_exception_class_is_a_ledger_error_drawn_in_the_tree() -> None:
    """The CLI's one boundary can rely on LedgerError; the tree in errors.py is the whole list."""
    defined = defined_exceptions()
    assert {"BrokerError", "BundleInvalid", "DuplicateEvents", "UsageError"} <= set(defined)
    for name, cls in defined.items():
        assert issubclass(cls, LedgerError), f"{name} ({cls.__module__}) is not a LedgerError"
    assert set(defined) - {"LedgerError"} == TREE


def test_a_failed_inclusion_proof_carries_both_roots() -> None:
    leaves = [leaf_hash(bytes([n])) for n in range(13)]
    root = root_of_leaves(leaves)
    node = partial(
        lambda hs, height, index: root_of_leaves(hs[index << height : (index + 1) << height]), leaves
    )
    proof = inclusion_proof(5, 13, node)
    verify_inclusion(leaves[5], 5, 13, proof, root)
    wrong = hashlib.sha256(b"another root").digest()
    with pytest.raises(NotIncluded) as failed:
        verify_inclusion(leaves[5], 5, 13, proof, wrong)
    assert (failed.value.index, failed.value.size, failed.value.expected, failed.value.actual) == (
        5,
        13,
        wrong,
        root,
    )
    assert isinstance(failed.value, VerificationError)


def test_an_inconsistency_carries_both_checkpoints_roots_and_the_proof() -> None:
    leaves = [leaf_hash(bytes([n])) for n in range(20)]
    node = partial(
        lambda hs, height, index: root_of_leaves(hs[index << height : (index + 1) << height]), leaves
    )
    old_root, new_root = root_of_leaves(leaves[:7]), root_of_leaves(leaves)
    proof = consistency_proof(7, 20, node)
    verify_consistency(7, 20, old_root, new_root, proof)
    rewritten = root_of_leaves([*leaves[:3], leaf_hash(b"rewritten"), *leaves[4:7]])
    with pytest.raises(Inconsistent) as failed:
        verify_consistency(7, 20, rewritten, new_root, proof)
    e = failed.value
    assert (e.old_size, e.new_size, e.old_root, e.new_root, e.proof) == (
        7,
        20,
        rewritten,
        new_root,
        tuple(proof),
    )
    with pytest.raises(Inconsistent) as same_size:
        verify_consistency(20, 20, rewritten, new_root, [])
    assert same_size.value.old_root == rewritten
