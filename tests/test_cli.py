"""The ``liuhen`` command, called through ``main([...])`` as a user would type it."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from kafka import KafkaProducer

from ledger.app.config import Config
from ledger.app.simulation import DEMO_MARK, prepare_demo, reset_demo
from ledger.cli import main
from ledger.errors import ConfigurationError
from ledger.ingest.broker import ensure_topics, existing_topics
from tests.events import ACTOR, decode, ingest, publisher, stored_logs, viewed


@pytest.fixture
def cli_env(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return env


def test_help_names_every_command_and_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for verb in ("keys", "schemas", "ingest", "simulate", "status", "demo"):
        assert verb in out
    assert "Exit codes: 0 success, 1 a liuhen error" in out


def test_verify_keeps_the_verifiers_statuses_3_for_source_findings(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """0 intact, 1 invalid (integrity problems win over findings), 3 intact with a source's gap."""
    bundles = Path(__file__).resolve().parent / "fixtures" / "bundles"
    key = str(bundles / "keys" / "ledger.pub")
    for name, status in (("golden", 0), ("byte_flipped", 1), ("entries_swapped", 1), ("source_gap", 3)):
        assert main(["verify", str(bundles / name), "--key", key, "--quiet"]) == status, name
    out = capsys.readouterr().out
    assert "VALID, WITH FINDINGS: every integrity check holds; 1 source finding(s)" in out
    assert main(["verify", "--help"]) == 0
    assert "3 intact, with source findings" in " ".join(capsys.readouterr().out.split())


def test_usage_error_exits_2_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--until-idle", "soon"]) == 2
    err = capsys.readouterr().err
    assert (
        err == "liuhen ingest: argument --until-idle: 'soon' is not a number (see 'liuhen ingest --help')\n"
    )


def test_keys_are_created_private_and_never_overwritten(
    cli_env: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "init"]) == 0
    assert main(["keys", "new", "zz-metro"]) == 0
    keys = Path(cli_env["LIUHEN_HOME"]) / "keys"
    for name in ("ledger.key", "zz-metro.key"):
        assert stat.S_IMODE((keys / name).stat().st_mode) == 0o600
    capsys.readouterr()
    assert main(["keys", "new", "zz-metro"]) == 1
    assert "already exists" in capsys.readouterr().err
    assert main(["keys", "list"]) == 0
    listed = capsys.readouterr().out.split()
    assert len(listed) == 2
    assert all(line.count("+") >= 2 for line in listed)


def test_a_dead_broker_is_a_clear_error_not_a_traceback(cli_env: dict[str, str]) -> None:
    # In a process of its own, as a user runs it (kafka-python also leaves the failed socket behind).
    run = subprocess.run(
        [sys.executable, "-m", "ledger.cli", "ingest", "--until-idle", "1"],
        env={**os.environ, "LIUHEN_KAFKA_BOOTSTRAP": "127.0.0.1:1", "LIUHEN_KAFKA_CONNECT_TIMEOUT": "3"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 1
    waiting, error = run.stderr.strip().splitlines()
    assert waiting == (
        "Kafka at 127.0.0.1:1 does not answer yet; waiting up to 3 s for it (LIUHEN_KAFKA_CONNECT_TIMEOUT)"
    )
    assert error.startswith(
        "liuhen ingest: no Kafka broker answers at 127.0.0.1:1 (KafkaTimeoutError, waited 3 s)"
    ), error


def test_bad_configuration_is_named(cli_env: dict[str, str], monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.setenv("LIUHEN_BATCH_SIZE", "lots")
    assert main(["status"]) == 1
    assert "LIUHEN_BATCH_SIZE='lots' is not a whole number" in capsys.readouterr().err


@pytest.mark.kafka
def test_rotation_and_status(
    cli_env: dict[str, str], config: Config, capsys: pytest.CaptureFixture[str]
) -> None:
    """A rotated-out key is refused from the rotation on; the new key is accepted; status shows it all."""
    assert main(["keys", "init"]) == 0
    assert main(["keys", "new", "zz-metro"]) == 0
    assert main(["keys", "register", "zz-metro"]) == 0
    with publisher(config) as pub:
        old_id = pub.key.public.key_id
        pub.publish("FootageViewed", viewed(0), actor=ACTOR)
    ingest(config)  # the registration is in the ledger: now it can be rotated
    assert main(["keys", "new", "zz-metro.2026"]) == 0
    new_pub = Path(cli_env["LIUHEN_HOME"]) / "keys" / "zz-metro.2026.pub"
    assert main(["keys", "register", "zz-metro", "--public-key", str(new_pub), "--replaces", old_id]) == 0
    with publisher(config) as pub:  # still signing with the old key
        pub.publish("FootageViewed", viewed(1), actor=ACTOR)
    ingest(config)
    capsys.readouterr()
    assert main(["keys", "register", "zz-metro", "--public-key", str(new_pub)]) == 1
    assert "is already registered for zz-metro" in capsys.readouterr().err
    assert main(["keys", "revoke", "zz-metro", old_id, "--reason", "again"]) == 1
    assert f"key {old_id} of zz-metro is already revoked" in capsys.readouterr().err
    assert main(["keys", "register", "zz-metro"]) == 1  # the revoked key, never again
    assert "was revoked" in capsys.readouterr().err
    with publisher(config, key_name="zz-metro.2026") as pub:
        new_id = pub.key.public.key_id
        pub.publish("FootageViewed", viewed(2), actor=ACTOR)
    ingest(config)
    (entries,) = stored_logs(config).values()
    kinds = [decode(e.entry) for e in entries]
    assert [name for name, _ in kinds] == [
        "SourceKeyRegistered",
        "FootageViewed",
        "SourceKeyRegistered",
        "EventRejected",
        "FootageViewed",
    ]
    assert kinds[3][1]["reason"] == "revoked_key"
    assert kinds[4][1]["envelope"]["key_id"] == new_id
    capsys.readouterr()
    assert main(["status", "--json"]) == 0
    status = json.loads(capsys.readouterr().out)
    (row,) = status["logs"]
    assert (row["size"], row["rejected"], row["lag"]) == (5, 1, 0)
    assert row["chain_head"] == entries[-1].chain_hash.hex()
    assert main(["status"]) == 0
    table = capsys.readouterr().out
    assert row["origin"] in table
    assert "+08:00" in table


@pytest.mark.kafka
def test_demo_fresh_deletes_only_its_own_home_and_the_topics_it_created(config: Config) -> None:
    """The demo marks its home with the topics it created; --fresh deletes just those, never others."""
    bootstrap, topic, rejected = config.ingest.bootstrap, config.ingest.topic, config.ingest.rejected_topic
    prepare_demo(config)
    mark = json.loads((config.home / DEMO_MARK).read_text())
    assert mark == {"created_topics": [topic, rejected]}
    assert reset_demo(config) is True
    assert not config.home.exists()
    assert {topic, rejected} & existing_topics(bootstrap) == set()

    # An audit topic someone else made (empty) is used, but --fresh leaves it alone.
    ensure_topics(bootstrap, [(topic, 1)])
    prepare_demo(config)
    assert json.loads((config.home / DEMO_MARK).read_text()) == {"created_topics": [rejected]}
    assert reset_demo(config) is True
    assert topic in existing_topics(bootstrap)
    assert rejected not in existing_topics(bootstrap)

    # An audit topic holding events the demo did not publish is refused: no synthetic events in it.
    producer = KafkaProducer(bootstrap_servers=bootstrap)
    producer.send(topic, b"a real platform's event").get(timeout=30)
    producer.close()
    with pytest.raises(
        ConfigurationError, match=f"topic {topic} .* already holds 1 events the demo did not publish"
    ):
        prepare_demo(config)
    assert not config.home.exists()


def test_demo_fresh_refuses_a_home_it_did_not_make(config: Config) -> None:
    config.home.mkdir(parents=True)
    (config.home / "ledger.db").write_bytes(b"someone's ledger")
    with pytest.raises(ConfigurationError, match="was not created by 'liuhen demo'"):
        reset_demo(config)
    assert (config.home / "ledger.db").read_bytes() == b"someone's ledger"
