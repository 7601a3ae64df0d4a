"""The README's two commands, run as a new user would on a fresh clone."""

from __future__ import annotations

import csv
import io
import os
import re
import shlex
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def investigator_commands() -> list[str]:
    """The commands of the README's investigators' block (after ``liuhen project``)."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## For investigators.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no investigators' block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def readme_commands() -> list[str]:
    """The commands of the README's "Two commands" block."""
    text = (REPO / "README.md").read_text()
    block = re.search(r"## Two commands.*?```sh\n(.*?)```", text, re.S)
    assert block, "README.md has no 'Two commands' block"
    return [line.split("#")[0].strip() for line in block.group(1).splitlines() if line.strip()]


def test_readme_names_a_demo_command_and_the_test_command_ci_runs() -> None:
    assert readme_commands() == ["make demo", "make test"]
    ci = (REPO / ".ci/run").read_text()
    assert re.search(r"^make test$", ci, re.M), ".ci/run must run the README's test command"


@pytest.mark.kafka
@pytest.mark.slow
def test_demo_command_works_on_a_fresh_clone(tmp_path: Path, kafka_bootstrap: str) -> None:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.fail("the README test needs git and a git checkout")
    clone = tmp_path / "liuhen"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    run = uuid.uuid4().hex[:8]
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("LIUHEN_", "VIRTUAL_ENV"))},
        "LIUHEN_TOPIC": f"readme.{run}.audit",  # the README's command, on topics of its own
        "LIUHEN_REJECTED_TOPIC": f"readme.{run}.rejected",
        "LIUHEN_KAFKA_BOOTSTRAP": kafka_bootstrap,
    }
    env["PATH"] = os.pathsep.join(p for p in env["PATH"].split(os.pathsep) if ".venv" not in p)
    demo = subprocess.run(
        readme_commands()[0].split(),
        cwd=clone,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    out = demo.stdout
    published = int(re.search(r"published\s+(\d+) signed events", out).group(1))
    ingested = int(re.search(r"ingested\s+(\d+) entries \((\d+) rejected", out).group(1))
    assert published > 10_000
    assert ingested == published + 3  # plus the three sources' key registrations
    assert out.count("chain ok") >= 1
    assert (clone / "var/demo/ledger.db").exists()

    # The demo's ledger is intact: the live check finds no problem (its planted source gaps are
    # findings, exit 3, apart from integrity).
    def demo_liuhen(*args: str) -> subprocess.CompletedProcess[str]:
        """The clone's ``liuhen`` on the demo's home."""
        return subprocess.run(
            [str(clone / ".venv/bin/liuhen"), *args],
            cwd=clone,
            env={**env, "LIUHEN_HOME": "var/demo"},
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )

    live = demo_liuhen("verify", "--live", "--key", "var/demo/keys/ledger.pub", "--quiet")
    assert live.returncode in (0, 3), live.stdout[-3000:] + live.stderr[-3000:]
    assert "INVALID" not in live.stdout

    # The investigators' examples, as the README gives them, on the demo's ledger: each answers.
    commands = investigator_commands()
    assert commands[0] == "liuhen project"
    assert len(commands) >= 5
    for command in commands:
        words = shlex.split(command)
        run_ = demo_liuhen(*words[1:])
        assert run_.returncode == 0, f"{command}: {run_.stderr}"
        answer = run_.stdout.strip()
        assert answer, f"{command} answered nothing"
        assert "nothing found" not in answer, command
        assert "no violations found" not in answer, command
        if "--csv" in words:
            rows = list(csv.reader(io.StringIO(run_.stdout)))
            assert rows[0][:3] == ["id", "rule", "severity"]
            assert len(rows) > 1
