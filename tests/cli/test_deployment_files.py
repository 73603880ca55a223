"""The container and service files name commands, paths and users that really exist (no engine runs here:
`docker build` is checked where one is, see README "Containers")."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import yaml
from typer.main import get_command

from bot.cli import app

ROOT = Path(__file__).parents[2]


def cli_command(arguments: list[str]) -> None:
    """Fail unless `m3bot ARGUMENTS` parses (command and options exist)."""
    command = get_command(app)
    context = command.make_context("m3bot", list(arguments))
    name, sub, rest = command.resolve_command(context, list(arguments))
    sub.make_context(name, rest, parent=context)


def test_compose_runs_existing_commands_against_postgresql():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    services = compose["services"]
    assert {"bot", "scheduler", "postgres"} <= set(services)
    for name in ("bot", "scheduler"):
        cli_command(services[name]["command"])
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
    assert services["bot"]["ports"] == ["127.0.0.1:3000:3000"]  # only the local reverse proxy reaches it


def test_the_image_runs_as_an_unprivileged_user_and_probes_liveness():
    dockerfile = (ROOT / "Dockerfile").read_text()
    users = re.findall(r"^USER (\S+)", dockerfile, flags=re.MULTILINE)
    assert users and users[-1] not in ("root", "0")
    assert "/healthz" in dockerfile
    copied = re.findall(r"^COPY (\w+) \1$", dockerfile, flags=re.MULTILINE)
    for package in copied:
        assert (ROOT / package / "__init__.py").is_file()
    # Every package the wheel ships (with its YAML texts) is in the image's source.
    shipped = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]["find"]["include"]
    assert {pattern.removesuffix("*") for pattern in shipped} <= set(copied)
    cli_command(yaml.safe_load(re.search(r"^CMD (.+)$", dockerfile, flags=re.MULTILINE).group(1)))


def test_systemd_units_start_existing_commands():
    for unit in (ROOT / "docs" / "deploy").glob("*.service"):
        start = re.search(r"^ExecStart=\S+/m3bot (.+)$", unit.read_text(), flags=re.MULTILINE)
        assert start, unit.name
        cli_command(start.group(1).split())
