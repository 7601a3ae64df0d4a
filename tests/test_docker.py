"""The Docker deployment (``docker/Dockerfile``, ``docker/compose.yaml``) checked against the code.

No Docker engine is needed: the compose file's environment is fed to ``Config.from_env``, every
command it runs is parsed by the real ``liuhen`` CLI, and the paths the Dockerfile copies are
those the package is built from.
"""

from __future__ import annotations

import fnmatch
import json
import re
import stat
import tomllib
from collections.abc import ItemsView, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml
from eventsourcing.postgres import PostgresFactory

from ledger.app.config import Config
from ledger.cli import main
from ledger.cli.parser import build_parser

REPO = Path(__file__).resolve().parent.parent
DOCKERFILE = REPO / "docker" / "Dockerfile"
COMPOSE = REPO / "docker" / "compose.yaml"
PYPROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())
LIUHEN_SERVICES = ("keys-init", "ingest", "projections")
HOME = "/var/lib/liuhen"


# -- reading the files ----------------------------------------------------------------------------


def dockerfile() -> list[tuple[str, str]]:
    """The Dockerfile's instructions as (KEYWORD, arguments), continuation lines joined."""
    text = re.sub(r"\\\n(\s*#[^\n]*\n)*", " ", DOCKERFILE.read_text())
    instructions = []
    for line in text.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            keyword, _, args = line.strip().partition(" ")
            instructions.append((keyword.upper(), args.strip()))
    return instructions


def instruction(keyword: str) -> list[str]:
    """The arguments of every ``keyword`` instruction, in order."""
    return [args for kw, args in dockerfile() if kw == keyword]


def exec_form(keyword: str) -> list[str]:
    """The JSON (exec form) arguments of the last ``keyword`` instruction."""
    value = json.loads(instruction(keyword)[-1])
    assert isinstance(value, list), f"{keyword} must use the exec (JSON) form"
    return [str(v) for v in value]


def interpolate(value: str, host: Mapping[str, str]) -> str:
    """Compose's ``${NAME}``, ``${NAME:-default}``, ``${NAME-default}`` and ``$$``, from ``host``."""

    def substitute(match: re.Match[str]) -> str:
        name, op, default = match.group("name", "op", "default")
        if match.group(0) == "$$":
            return "$"
        if op == ":-":
            return host.get(name) or default
        if op == "-":
            return host.get(name, default)
        return host.get(name, "")

    out = re.sub(r"\$\$|\$\{(?P<name>\w+)(?:(?P<op>:?-)(?P<default>[^}]*))?\}", substitute, value)
    assert "${" not in out, f"interpolation this test does not understand: {value!r}"
    return out


def resolved(node: Any, host: Mapping[str, str]) -> Any:
    """``node`` with every string interpolated as ``docker compose`` would."""
    if isinstance(node, str):
        return interpolate(node, host)
    if isinstance(node, list):
        return [resolved(item, host) for item in node]
    if isinstance(node, dict):
        return {key: resolved(item, host) for key, item in node.items()}
    return node


def compose(host: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file, merged (``<<``) and interpolated with the host environment ``host``."""
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    merged: dict[str, Any] = resolved(data, host or {})
    return merged


def service_env(service: dict[str, Any]) -> dict[str, str]:
    """A service's environment (mapping form, string values as the CLI receives them)."""
    env = service.get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping"
    assert all(isinstance(v, str) for v in env.values()), f"quote every value: {env}"
    return env


class RecordingEnv(Mapping[str, str]):
    """An environment that remembers which variables were looked up by name."""

    def __init__(self, data: Mapping[str, str]) -> None:
        self.data = dict(data)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)

    def items(self) -> ItemsView[str, str]:
        # Scanning everything (for the store's variables) is not reading a variable by name.
        return self.data.items()


def library_variables() -> set[str]:
    """The environment variables the eventsourcing PostgreSQL factory declares."""
    return {
        value
        for cls in PostgresFactory.__mro__
        for name, value in vars(cls).items()
        if name.isupper() and isinstance(value, str)
    }


# -- (a) the environment ----------------------------------------------------------------------------


@pytest.mark.parametrize("name", LIUHEN_SERVICES)
def test_every_variable_of_a_liuhen_service_is_read_by_config_or_the_store(name: str) -> None:
    env = service_env(compose()["services"][name])
    recording = RecordingEnv(env)
    config = Config.from_env(recording)
    to_library = {key for key in config.store_env if key in env} & library_variables()
    unread = set(env) - recording.read - to_library
    assert not unread, f"{name} sets variables nothing reads: {sorted(unread)}"


def test_liuhen_services_use_kafka_postgres_and_the_home_volume() -> None:
    services = compose()["services"]
    for name in LIUHEN_SERVICES:
        config = Config.from_env(service_env(services[name]))
        assert config.ingest.bootstrap == "kafka:9092"
        assert config.ingest.topic == "liuhen.audit"
        assert config.partitions == 3
        assert config.passphrase is None
        assert config.home == Path(HOME)
        assert config.views_path == Path(HOME) / "views.db"
        assert config.ledger_key_path == Path(HOME) / "keys" / "ledger.key"
        assert config.store_env == {
            "PERSISTENCE_MODULE": "eventsourcing.postgres",
            "POSTGRES_HOST": "postgres",
            "POSTGRES_PORT": "5432",
            "POSTGRES_DBNAME": "liuhen",
            "POSTGRES_USER": "liuhen",
            "POSTGRES_PASSWORD": "liuhen",
        }
        mounts = {volume.rsplit(":", 1)[1] for volume in services[name]["volumes"]}
        assert mounts == {HOME}, f"{name} must keep its data in the LIUHEN_HOME volume"


def test_only_ingest_and_keys_init_share_the_volume_with_the_private_keys() -> None:
    services = compose()["services"]
    volume = {name: services[name]["volumes"][0].split(":")[0] for name in LIUHEN_SERVICES}
    assert volume["keys-init"] == volume["ingest"] != volume["projections"]


def test_the_store_settings_match_the_postgres_service_whatever_the_password() -> None:
    services = compose({"POSTGRES_PASSWORD": "s3cret"})["services"]
    database = service_env(services["postgres"])
    for name in LIUHEN_SERVICES:
        store = Config.from_env(service_env(services[name])).store_env
        assert store["POSTGRES_HOST"] in services
        assert store["POSTGRES_HOST"] == "postgres"
        assert store["POSTGRES_DBNAME"] == database["POSTGRES_DB"]
        assert store["POSTGRES_USER"] == database["POSTGRES_USER"]
        assert store["POSTGRES_PASSWORD"] == database["POSTGRES_PASSWORD"] == "s3cret"


def test_the_kafka_service_is_a_single_kraft_node_advertising_the_bootstrap_address() -> None:
    services = compose()["services"]
    kafka = service_env(services["kafka"])
    assert services["kafka"]["image"].startswith("apache/kafka:")
    assert kafka["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert kafka["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{kafka['KAFKA_NODE_ID']}@kafka:9093"
    bootstrap = Config.from_env(service_env(services["ingest"])).ingest.bootstrap
    assert f"://{bootstrap}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    # The host listener is liuhen's default bootstrap, so SDK clients on the host need no setting.
    default = Config.from_env({}).ingest.bootstrap
    assert f"://{default}" in kafka["KAFKA_ADVERTISED_LISTENERS"]
    assert f"{default}:{default.rsplit(':', 1)[1]}" in services["kafka"]["ports"]


def test_services_start_in_order_behind_healthchecks() -> None:
    services = compose()["services"]
    for name in ("kafka", "postgres"):
        assert services[name]["healthcheck"]["test"][0] == "CMD"
    assert services["ingest"]["depends_on"] == {
        "keys-init": {"condition": "service_completed_successfully"},
        "kafka": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    assert services["projections"]["depends_on"]["postgres"] == {"condition": "service_healthy"}
    assert services["keys-init"]["restart"] == "no"


# -- (b) the commands -----------------------------------------------------------------------------


def test_the_image_runs_the_liuhen_console_script() -> None:
    assert exec_form("ENTRYPOINT") == ["liuhen"]
    assert PYPROJECT["project"]["scripts"]["liuhen"] == "ledger.cli:main"


@pytest.mark.parametrize(
    "command",
    [pytest.param(exec_form("CMD"), id="Dockerfile CMD")]
    + [pytest.param(compose()["services"][name]["command"], id=name) for name in LIUHEN_SERVICES],
)
def test_each_command_is_a_real_liuhen_verb(command: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert isinstance(command, list), "use the exec (list) form"
    if command != ["--help"]:
        args = build_parser().parse_args(command)
        assert args.run  # a verb, not a group of verbs
    assert main([*command, "--help"]) == 0
    assert "usage: liuhen" in capsys.readouterr().out


def test_compose_runs_the_images_entrypoint_with_the_verbs_of_the_readme() -> None:
    services = compose()["services"]
    assert {name: services[name]["command"] for name in LIUHEN_SERVICES} == {
        "keys-init": ["keys", "init"],
        "ingest": ["ingest"],
        "projections": ["project", "--follow"],
    }
    for name in LIUHEN_SERVICES:
        assert "entrypoint" not in services[name]
        assert services[name]["build"] == {"context": "..", "dockerfile": "docker/Dockerfile"}
        assert (COMPOSE.parent / services[name]["build"]["context"]).resolve() == REPO


def test_the_key_init_service_creates_a_private_ledger_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    service = compose()["services"]["keys-init"]
    for name, value in {**service_env(service), "LIUHEN_HOME": str(tmp_path)}.items():
        monkeypatch.setenv(name, value)
    assert main(service["command"]) == 0
    assert "ledger key" in capsys.readouterr().out
    assert stat.S_IMODE((tmp_path / "keys" / "ledger.key").stat().st_mode) == 0o600
    assert main(service["command"]) == 0, "a restarted one-shot must not fail on an existing key"


# -- (c) the image -----------------------------------------------------------------------------------


def copied_sources() -> list[str]:
    """The build-context paths the Dockerfile copies (COPY without --from)."""
    sources = []
    for args in instruction("COPY"):
        words = args.split()
        if any(word.startswith("--from") for word in words):
            continue
        sources += [word for word in words if not word.startswith("--")][:-1]
    return sources


def test_the_dockerfile_copies_what_the_package_is_built_from() -> None:
    sources = copied_sources()
    for source in sources:
        assert (REPO / source).exists(), f"COPY {source}: no such path in the repository"
    copied = {source.rstrip("/") for source in sources}
    packages = set(PYPROJECT["tool"]["hatch"]["build"]["targets"]["wheel"]["packages"])
    assert packages | {"pyproject.toml", PYPROJECT["project"]["readme"]} <= copied


def test_the_dockerfile_installs_the_server_and_postgres_extras_as_a_non_root_user() -> None:
    runs = " ".join(instruction("RUN"))
    assert '".[server,postgres]"' in runs
    assert '"liuhen[server,postgres]"' in runs
    # psycopg needs libpq: from its binary wheel, else the image has to install the system's.
    postgres = PYPROJECT["project"]["optional-dependencies"]["postgres"]
    assert any(re.match(r"psycopg\[[^]]*binary", req) for req in postgres) or "libpq5" in runs
    user = instruction("USER")[-1]
    assert user.split(":")[0] not in {"0", "root"}
    assert f"LIUHEN_HOME={HOME}" in " ".join(instruction("ENV"))
    assert json.loads(instruction("VOLUME")[-1]) == [HOME]


def test_the_image_runs_the_python_version_the_project_is_checked_with() -> None:
    version = next(a.split("=", 1)[1] for a in instruction("ARG") if a.startswith("PYTHON_VERSION="))
    assert all(f.startswith("python:${PYTHON_VERSION}-slim") for f in instruction("FROM"))
    assert PYPROJECT["project"]["requires-python"] == f">={version}"
    assert PYPROJECT["tool"]["mypy"]["python_version"] == version
    assert PYPROJECT["tool"]["ruff"]["target-version"] == "py" + version.replace(".", "")


def test_dockerignore_keeps_no_package_file_out_of_the_build_context() -> None:
    patterns = [
        line.strip()
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith(("#", "!"))
    ]

    def ignored(path: str) -> bool:
        parts = path.split("/")
        prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
        return any(
            fnmatch.fnmatch(prefix, pattern) or fnmatch.fnmatch(prefix, pattern.removeprefix("**/"))
            for pattern in patterns
            for prefix in prefixes
        )

    for pattern in (".venv", ".cache", "var", ".git"):
        assert pattern in patterns
    files = []
    for source in copied_sources():
        root = REPO / source
        files += [root] if root.is_file() else [p for p in root.rglob("*") if p.is_file()]
    kept = [p.relative_to(REPO).as_posix() for p in files if "__pycache__" not in p.parts]
    assert kept
    assert not [path for path in kept if ignored(path)]
