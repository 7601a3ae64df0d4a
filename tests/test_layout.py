"""The import contract: which package may import which, checked from the source and in a fresh interpreter.

liuhen is layered (``DESIGN.md``, "Layout"): pure wire formats at the bottom, the offline verifier
on them alone, the producer SDK on them and Kafka, ingest (store, writer, broker, export) above,
projections beside ingest, the composition root (``ledger.app``) and the CLI on top. An auditor
installs the verifier with nothing but ``cryptography`` and ``fastavro``; a platform adapter the SDK
with Kafka's client. A witness (``ledger.witness``) serves on the wire formats alone and never reads
the operator's store; the operator's push client is in the composition root. The table below is
the contract; every import in the source, lazy ones inside functions included, must be allowed by
it.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PACKAGES = ("ledger", "projections", "schemas")

STDLIB = "stdlib"
ALLOWED: dict[str, set[str]] = {
    # liuhen's own layers, and the third-party distributions each may use
    "ledger": {STDLIB},  # the package root: a version and a docstring
    "ledger.errors": {STDLIB},
    "schemas": {STDLIB},
    "ledger.wire": {STDLIB, "cryptography", "fastavro", "ledger.errors", "ledger.wire", "schemas"},
    "ledger.verify": {
        STDLIB,
        "cryptography",
        "fastavro",
        "ledger.errors",
        "ledger.wire",
        "ledger.verify",
        "schemas",
    },
    "ledger.sdk": {STDLIB, "kafka", "ledger.errors", "ledger.wire", "ledger.sdk", "schemas"},
    # the witness service: on the wire formats alone, never the operator's store, Kafka or read models
    "ledger.witness": {STDLIB, "ledger.errors", "ledger.wire", "ledger.witness"},
    "ledger.simulate": {STDLIB, "ledger.errors", "ledger.wire", "ledger.sdk", "ledger.simulate"},
    "ledger.ingest": {
        STDLIB,
        "cryptography",
        "fastavro",
        "kafka",
        "eventsourcing",
        "psycopg",
        "ledger.errors",
        "ledger.wire",
        "ledger.ingest",
        "schemas",
    },
    "projections": {
        STDLIB,
        "sqlite_utils",
        "ledger.errors",
        "ledger.wire",
        "ledger.ingest",
        "projections",
    },
    "ledger.app": {
        STDLIB,
        "kafka",
        "eventsourcing",
        "sqlite_utils",
        "ledger.errors",
        "ledger.wire",
        "ledger.verify",
        "ledger.sdk",
        "ledger.ingest",
        "ledger.simulate",
        "ledger.witness",
        "ledger.app",
        "projections",
        "schemas",
    },
    "ledger.cli": {
        STDLIB,
        "ledger",
        "ledger.errors",
        "ledger.wire",
        "ledger.verify",
        "ledger.ingest",
        "ledger.sdk",
        "ledger.simulate",
        "ledger.witness",
        "ledger.app",
        "ledger.cli",
        "projections",
        "schemas",
    },
}
"""Layer -> what its modules may import (``stdlib`` stands for the standard library)."""

NEVER_LOADED = {
    # what importing each layer's modules must not load, in a fresh interpreter
    "ledger.wire": {"kafka", "eventsourcing", "sqlite_utils", "hypothesis", "psycopg"},
    "ledger.verify": {"kafka", "eventsourcing", "sqlite_utils", "hypothesis", "psycopg"},
    "ledger.witness": {"kafka", "eventsourcing", "sqlite_utils", "hypothesis", "psycopg"},
    "ledger.sdk": {"eventsourcing", "sqlite_utils", "hypothesis", "psycopg"},
    "ledger.simulate": {"eventsourcing", "sqlite_utils", "hypothesis", "psycopg"},
    "ledger.ingest": {"sqlite_utils", "hypothesis"},
    "projections": {"kafka", "hypothesis"},
}


@dataclass(frozen=True)
class Import:
    """One import statement of a module."""

    module: str
    """The importing module, e.g. ``ledger.verify.check``."""
    target: str
    """What it imports, fully resolved (``ledger.wire.keys``, ``kafka.errors``)."""
    names: tuple[str, ...]
    line: int


def module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_modules() -> Iterator[Path]:
    for package in PACKAGES:
        yield from sorted((REPO / package).rglob("*.py"))


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(module, alias.name, (), node.lineno)
        elif isinstance(node, ast.ImportFrom):
            target = node.module or ""
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join([*base, target] if target else base)
            if target == "__future__":
                continue
            yield Import(module, target, tuple(alias.name for alias in node.names), node.lineno)


def layer_of(module: str) -> str:
    """The most specific layer in :data:`ALLOWED` that ``module`` belongs to."""
    candidates = [layer for layer in ALLOWED if module == layer or module.startswith(layer + ".")]
    assert candidates, f"{module} belongs to no layer of the import contract: add it to ALLOWED"
    return max(candidates, key=len)


def kind_of(target: str) -> str:
    """What ``target`` counts as in :data:`ALLOWED`: ``stdlib``, a distribution, or a liuhen layer."""
    top = target.split(".", maxsplit=1)[0]
    if top in PACKAGES:
        return layer_of(target)
    if top in sys.stdlib_module_names:
        return STDLIB
    return top


def all_imports() -> list[Import]:
    return [found for path in source_modules() for found in imports_of(path)]


def test_every_module_belongs_to_a_layer() -> None:
    """A new package cannot slip past the contract: each module maps to one row of the table."""
    for path in source_modules():
        layer_of(module_name(path))


def test_every_import_is_allowed_by_the_contract() -> None:
    """Each import in ledger/, projections/ and schemas/ (lazy ones too) is one its layer may make."""
    breaches = [
        f"{found.module}:{found.line} imports {found.target} ({kind_of(found.target)})"
        for found in all_imports()
        if kind_of(found.target) not in ALLOWED[layer_of(found.module)]
    ]
    assert breaches == []


def test_nothing_imports_the_cli() -> None:
    """The CLI is the top: no other package reaches into it."""
    users = [f"{i.module}:{i.line}" for i in all_imports() if kind_of(i.target) == "ledger.cli"]
    assert [u for u in users if not u.startswith("ledger.cli")] == []


def test_ledger_reaches_projections_only_from_the_composition_root_and_cli() -> None:
    users = {i.module for i in all_imports() if i.target.split(".")[0] == "projections"}
    assert {u for u in users if u.startswith("ledger")} <= {
        m for m in users if layer_of(m) in {"ledger.app", "ledger.cli"}
    }


def test_no_module_imports_another_modules_private_names() -> None:
    """A name with a leading underscore is private to its module: no file reaches for another's."""
    private = [
        f"{i.module}:{i.line} imports {name} from {i.target}"
        for i in all_imports()
        if kind_of(i.target) != STDLIB and i.target.split(".")[0] in PACKAGES
        for name in i.names
        if name.startswith("_") and not name.startswith("__")
    ]
    assert private == []


def test_the_contract_is_not_vacuous() -> None:
    """The checks above see real imports: the verifier's on wire, ingest's on the event store."""
    found = {(layer_of(i.module), kind_of(i.target)) for i in all_imports()}
    assert ("ledger.verify", "ledger.wire") in found
    assert ("ledger.ingest", "eventsourcing") in found
    assert ("ledger.sdk", "kafka") in found
    assert ("projections", "sqlite_utils") in found
    assert kind_of("kafka.errors") == "kafka"
    assert kind_of("ledger.wire.keys") == "ledger.wire"
    assert "kafka" not in ALLOWED["ledger.verify"]
    assert ("ledger.witness", "ledger.wire") in found
    assert ("ledger.app", "ledger.witness") in found


def modules_of(layer: str) -> list[str]:
    return [
        module_name(path)
        for path in source_modules()
        if layer_of(module_name(path)) == layer and path.name != "__main__.py"
    ]


@pytest.mark.parametrize("layer", sorted(NEVER_LOADED))
def test_importing_a_layer_loads_nothing_it_must_not(layer: str) -> None:
    """In a fresh interpreter, importing every module of a layer loads nothing it must stand without."""
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules_of(layer)!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True)
    loaded = set(json.loads(run.stdout))
    assert modules_of(layer)
    assert loaded & NEVER_LOADED[layer] == set()
