"""docker/: the production deployment is valid Compose and names only what Garde has.

No container engine runs here, so the files themselves are checked: compose.yaml against the
Compose Specification's JSON schema (vendored in tests/data, see its NOTICE), every `garde ...`
command against the command line, every Garde variable against those Garde reads, the image's
hardening, and the proxy's and Prometheus' targets against the services.
"""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path
from typing import Any

import click
import jsonschema_rs
import pytest
import yaml

from garde.cli import main

ROOT = Path(__file__).parents[1]
DOCKER = ROOT / "docker"
COMPOSE_TEXT = (DOCKER / "compose.yaml").read_text()
COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_TEXT)
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
DOCKERFILE = (DOCKER / "Dockerfile").read_text()
PROMETHEUS: dict[str, Any] = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
CADDYFILE = (DOCKER / "Caddyfile").read_text()
# Where Garde reads its environment: every package the project installs.
PACKAGES = ("garde", "web", "dicom", "workflows", "activities", "rosters")
VARIABLE = re.compile(r"\b(?:GARDE|TWILIO)_[A-Z0-9_]+\b")


def garde_variables() -> set[str]:
    """The variables Garde reads: every one is named by a string literal in its source."""
    literal = re.compile(r"""["']((?:GARDE|TWILIO)_[A-Z0-9_]+)["']""")
    return {
        name
        for package in PACKAGES
        for path in (ROOT / package).rglob("*.py")
        for name in literal.findall(path.read_text())
    }


def unknown_variables(names: set[str]) -> set[str]:
    return names - garde_variables()


def command_problem(args: list[str]) -> str | None:
    """Why `garde ARGS` would not run (no such command, a bad argument), or None. Parses the
    arguments as click would, without running anything."""
    if args[:1] != ["garde"]:
        return f"{args} does not start with garde"
    command: click.Command = main
    path, rest = ["garde"], args[1:]
    while isinstance(command, click.Group):
        if not rest:
            return f"{' '.join(path)} needs a subcommand"
        sub = command.get_command(click.Context(command, info_name=" ".join(path)), rest[0])
        if sub is None:
            return f"{' '.join(path)} has no command {rest[0]!r}"
        command, path, rest = sub, [*path, rest[0]], rest[1:]
    try:
        command.make_context(" ".join(path), list(rest))
    except click.ClickException as e:
        return f"{' '.join(args)}: {e.format_message()}"
    return None


def is_garde(service: dict[str, Any]) -> bool:
    return "build" in service


def one_shots() -> set[str]:
    """Services others wait to see finish (setup steps), not to see healthy."""
    return {
        name
        for service in SERVICES.values()
        for name, condition in (service.get("depends_on") or {}).items()
        if condition["condition"] == "service_completed_successfully"
    }


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    joined = re.sub(r"\\\n\s*", " ", DOCKERFILE)
    lines = (line.strip() for line in joined.splitlines())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def health_command(test: list[str]) -> list[str]:
    assert test[0] == "CMD", f"{test}: a command, not a shell line"
    return test[1:]


def test_compose_file_follows_the_compose_specification() -> None:
    schema = json.loads((ROOT / "tests" / "data" / "compose-spec.json").read_text())
    errors = [
        f"{'/'.join(map(str, e.instance_path))}: {e.message}"
        for e in jsonschema_rs.Draft7Validator(schema).iter_errors(COMPOSE)
    ]
    assert errors == []


def test_every_dollar_is_an_interpolation_or_escaped() -> None:
    # Compose reads `$name` in a shell command as its own variable: a shell's `$` is `$$`.
    text = COMPOSE_TEXT.replace("$$", "")
    interpolation = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?+][^}]*)?\}")
    assert "$" not in interpolation.sub("", text)


def test_every_garde_command_exists() -> None:
    commands = [service["command"] for service in SERVICES.values() if is_garde(service)]
    commands += [
        health_command(service["healthcheck"]["test"])
        for service in SERVICES.values()
        if is_garde(service) and "healthcheck" in service
    ]
    for instruction, arguments in dockerfile_instructions():
        if instruction == "CMD":
            commands.append(json.loads(arguments))
        elif instruction == "HEALTHCHECK":
            commands.append(json.loads(arguments.split(" CMD ", 1)[1]))
    assert {" ".join(c): command_problem(c) for c in commands} == {
        " ".join(c): None for c in commands
    }


def test_every_garde_variable_is_read_by_garde() -> None:
    named = set(VARIABLE.findall(COMPOSE_TEXT))
    for service in SERVICES.values():
        if is_garde(service):
            named |= set(service["environment"])
    assert unknown_variables(named) == set()


@pytest.mark.parametrize(
    "args", [["garde", "wroker"], ["garde", "health", "wbe"], ["garde", "db"], ["gard", "web"]]
)
def test_a_misspelt_command_is_caught(args: list[str]) -> None:
    assert command_problem(args) is not None


def test_a_misspelt_variable_is_caught() -> None:
    assert unknown_variables({"GARDE_WEB_PROT", "GARDE_WEB_PORT"}) == {"GARDE_WEB_PROT"}


def test_secrets_come_from_the_environment() -> None:
    secret = re.compile(r"PASSWORD|PWD|SECRET|TOKEN|_KEYS?$")
    literal = {
        f"{name}.{key}": value
        for name, service in SERVICES.items()
        for key, value in (service.get("environment") or {}).items()
        if secret.search(key) and not str(value).startswith("${")
    }
    assert literal == {}
    required = ("GARDE_SECRET_KEY", "GARDE_PAYLOAD_KEYS", "GARDE_METRICS_TOKEN")
    garde_environment = SERVICES["web"]["environment"]
    assert all(garde_environment[name].startswith(f"${{{name}:?") for name in required)


def test_every_long_running_service_has_a_health_check() -> None:
    setup = one_shots()
    assert {"temporal-schema", "temporal-namespace", "migrate"} <= setup
    unchecked = [
        name
        for name, service in SERVICES.items()
        if name not in setup
        and (
            not service.get("healthcheck", {}).get("test") or service["healthcheck"].get("disable")
        )
    ]
    assert unchecked == []
    # A setup step that failed is reported, never restarted forever.
    assert all(SERVICES[name].get("restart", "no") == "no" for name in setup)


def test_images_are_pinned_by_version() -> None:
    pulled = {name: s["image"] for name, s in SERVICES.items() if not is_garde(s)}
    unpinned = {
        name: image
        for name, image in pulled.items()
        if not re.fullmatch(r"[\w./-]+:v?\d+\.\d+[\w.-]*", image)
    }
    assert unpinned == {}
    assert SERVICES["temporal"]["image"].startswith("temporalio/server:")  # not auto-setup
    assert {"temporal-ui", "proxy", "prometheus", "gateway"} <= set(SERVICES)
    assert SERVICES["web"]["deploy"]["replicas"] >= 2
    assert SERVICES["worker"]["deploy"]["replicas"] >= 2


def test_the_image_is_pinned_unprivileged_checked_and_complete() -> None:
    instructions = dockerfile_instructions()
    stages = {args.split()[-1] for op, args in instructions if op == "FROM" and " AS " in args}
    bases = [args.split()[0] for op, args in instructions if op == "FROM"]
    assert all(
        base in stages or re.fullmatch(r"[\w./-]+:\d+\.\d+\.\d+[\w.-]*", base) for base in bases
    ), bases
    users = [args for op, args in instructions if op == "USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0")
    assert any(op == "HEALTHCHECK" for op, _ in instructions)
    # Every package pyproject installs is copied in (the dicom/ package once was not).
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    packages = {
        p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]
    }
    copied = {args.split()[0] for op, args in instructions if op == "COPY" and "--from" not in args}
    assert packages <= copied


def test_the_namespace_garde_uses_is_created() -> None:
    namespace = SERVICES["web"]["environment"]["GARDE_TEMPORAL_NAMESPACE"]
    setup = SERVICES["temporal-namespace"]["command"][0]
    assert f"namespace create --namespace {namespace} " in setup
    assert SERVICES["temporal-ui"]["environment"]["TEMPORAL_DEFAULT_NAMESPACE"] == namespace


def serves_port(service: dict[str, Any], port: int) -> bool:
    """The service listens on `port` by its environment (a port, or a host:port)."""
    values = [str(v) for v in (service.get("environment") or {}).values()]
    return any(v == str(port) or v.endswith(f":{port}") for v in values)


def test_prometheus_scrapes_services_that_exist_on_their_ports() -> None:
    targets: list[tuple[str, int]] = []
    for job in PROMETHEUS["scrape_configs"]:
        for static in job.get("static_configs", []):
            targets += [(t.split(":")[0], int(t.split(":")[1])) for t in static["targets"]]
        for dns in job.get("dns_sd_configs", []):
            targets += [(name, dns["port"]) for name in dns["names"]]
    assert {"web", "worker"} <= {host for host, _ in targets}
    wrong = [(h, p) for h, p in targets if h not in SERVICES or not serves_port(SERVICES[h], p)]
    assert wrong == []


def test_prometheus_sends_the_metrics_token_garde_expects() -> None:
    (garde_job,) = [j for j in PROMETHEUS["scrape_configs"] if "authorization" in j]
    secret = Path(garde_job["authorization"]["credentials_file"]).name
    assert secret in SERVICES["prometheus"]["secrets"]
    assert COMPOSE["secrets"][secret] == {"environment": "GARDE_METRICS_TOKEN"}


def test_the_proxy_is_the_only_way_to_the_web_replicas() -> None:
    # Garde trusts X-Forwarded-For (who is throttled at login) only because no one else can
    # reach the web processes: the proxy sets it, and the web publishes no port.
    web = SERVICES["web"]
    assert web["environment"]["GARDE_BEHIND_PROXY"] == "1" and "ports" not in web
    (upstream,) = re.findall(r"dynamic a (\S+) (\d+)", CADDYFILE)
    assert upstream[0] == "web" and serves_port(web, int(upstream[1]))
    mounted = {c["source"] for c in SERVICES["proxy"]["configs"]}
    assert COMPOSE["configs"].keys() >= mounted
    assert all((DOCKER / c["file"]).is_file() for c in COMPOSE["configs"].values())
