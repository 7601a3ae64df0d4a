"""The rules' catalog is the one table of rules: the README, the rule code and the tests agree with it.

No Kafka: these read the catalog, the README and the source of the rules and of their tests.
"""

from __future__ import annotations

import ast
import re
import typing
from collections import Counter
from pathlib import Path

from projections.rules import RULES as EXPORTED
from projections.rules import catalog
from projections.rules.catalog import RULES, Rule

REPO = Path(__file__).resolve().parent.parent
RULES_DIR = REPO / "projections" / "rules"
RULE_MODULES = sorted(p for p in RULES_DIR.glob("*.py") if p.name != "catalog.py")
ENTRIES = {name: value for name, value in vars(catalog).items() if isinstance(value, Rule)}
"""Each entry of the catalog by the name of its constant (``R9_OUTAGE``)."""


def number(rule: Rule) -> int:
    return int(rule.id.removeprefix("R"))


def readme_rules() -> list[tuple[str, ...]]:
    """The rows of the README's table of rules, each as its cells."""
    text = (REPO / "README.md").read_text()
    section = re.search(r"^## For investigators.*?(?=^## )", text, re.S | re.M)
    assert section, "README.md has no 'For investigators' section"
    table = re.search(
        r"^\| rule \| severity \| article \| violation \|\n\|[-|]+\|\n((?:\|.*\n)*)", section[0], re.M
    )
    assert table, "the 'For investigators' section has no table | rule | severity | article | violation |"
    return [
        tuple(cell.strip() for cell in row.strip().strip("|").split("|")) for row in table[1].splitlines()
    ]


def render(rules: tuple[Rule, ...]) -> str:
    return "\n".join(f"| {r.id} | {r.severity} | {r.article} | {r.title} |" for r in rules)


def docstring_rules(path: Path) -> list[tuple[str, str]]:
    """The (rule, article) rows of the table of rules in a module's docstring, if it has one.

    The table's columns are rule, violation and article; a row's first line names its rule and
    article, the lines after it continue its violation.
    """
    doc = ast.get_docstring(ast.parse(path.read_text())) or ""
    table = re.search(
        r"^=+ +=+ +=+\nrule +violation +article\n=+ +=+ +=+\n(.*?)^=+ +=+ +=+$", doc, re.S | re.M
    )
    if table is None:
        return []
    rows = [
        re.fullmatch(r"(R\d+) +(.*?) {2,}(\S.*)", line) for line in table[1].splitlines() if line[:1] != " "
    ]
    assert all(rows), f"{path.name}: a row without rule or article in {table[1]}"
    return [(row[1], row[3]) for row in rows if row]


def non_docstring_strings(tree: ast.Module) -> list[str]:
    """Every string constant of a module but its docstrings (f-strings' literal parts included).

    A docstring is a string standing as a statement: a module's, class's or function's, or an
    attribute's after its assignment.
    """
    docstrings = {
        id(node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
    }
    return [
        node.value
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docstrings
    ]


def test_catalog_is_in_rule_order_with_one_entry_per_id_severity_and_article() -> None:
    assert [number(r) for r in RULES] == sorted(number(r) for r in RULES)
    assert {number(r) for r in RULES} == set(range(1, max(number(r) for r in RULES) + 1))
    # A violation row tells which entry it is of: no two entries share id, severity and article.
    keys = [(r.id, r.severity, r.article) for r in RULES]
    assert len(set(keys)) == len(keys)
    assert set(RULES) == set(ENTRIES.values())  # every entry is named, every named one listed
    assert len(ENTRIES) == len(RULES)
    assert {r.severity for r in RULES} <= set(typing.get_args(catalog.Severity))
    for rule in RULES:
        assert rule.title
        assert rule.article
        assert "|" not in rule.title + rule.article  # they are cells of the README's table
    assert EXPORTED is RULES


def test_readme_table_of_rules_is_the_catalog() -> None:
    rows = readme_rules()
    assert [row[0] for row in rows] == [r.id for r in RULES], "the README's rule ids and their order"
    expected = [(r.id, r.severity, r.article, r.title) for r in RULES]
    assert rows == expected, "README.md's table of rules should read:\n" + render(RULES)


def test_module_docstrings_document_each_rule_once_with_its_catalog_article() -> None:
    documented = {path.name: docstring_rules(path) for path in RULE_MODULES}
    rows = [row for table in documented.values() for row in table]
    assert set(rows) == {(r.id, r.article) for r in RULES}
    owners = {rule: {name for name, table in documented.items() if rule in dict(table)} for rule, _ in rows}
    assert all(len(names) == 1 for names in owners.values()), owners


def test_rule_code_takes_rule_severity_and_article_from_the_catalog_only() -> None:
    """No rule id, severity or article written out: every violation row's come from an entry."""
    severities = set(typing.get_args(catalog.Severity))
    articles = {r.article for r in RULES}
    for path in RULE_MODULES:
        for text in non_docstring_strings(ast.parse(path.read_text())):
            assert text not in severities, f"{path.name}: severity {text!r} written out"
            assert not re.search(r"\bR\d+\b", text), f"{path.name}: rule id in {text!r}"
            named = [a for a in articles if a in text]
            assert not named, f"{path.name}: article {named} written out in {text!r}"


def test_every_catalog_entry_is_recorded_by_the_rule_code() -> None:
    """Each entry is named by the code that records its violations (none is left unused)."""
    used = set()
    for path in RULE_MODULES:
        tree = ast.parse(path.read_text())
        used |= {node.id for node in ast.walk(tree) if isinstance(node, ast.Name) and node.id in ENTRIES}
    assert used == set(ENTRIES), f"never recorded: {sorted(set(ENTRIES) - used)}"


SCENARIOS = ("test_rules.py", "test_late_evidence.py")


def test_every_catalog_entry_is_checked_by_a_scenario_of_test_rules() -> None:
    """A scenario test names the entry, or the id of a rule that has only that entry."""
    trees = [ast.parse((REPO / "tests" / name).read_text()) for name in SCENARIOS]
    names: set[str] = set()
    strings: set[str] = set()
    for test in (node for tree in trees for node in tree.body):
        if isinstance(test, ast.FunctionDef) and test.name.startswith("test_"):
            for node in ast.walk(test):
                if isinstance(node, ast.Name):
                    names.add(node.id)
                elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                    strings.add(node.value)
    facets = Counter(r.id for r in RULES)
    unchecked = [
        name
        for name, rule in ENTRIES.items()
        if name not in names and not (facets[rule.id] == 1 and rule.id in strings)
    ]
    assert not unchecked, f"no scenario of {' or '.join(SCENARIOS)} checks {unchecked}"
