"""The CLI surface: every command documented with an example, errors as one-line messages."""

from __future__ import annotations

from pathlib import Path

import click
import pytest
from alchemist_engine.cli import cli
from click.testing import CliRunner


def _commands() -> list[click.Command]:
    return list(cli.commands.values())


@pytest.mark.parametrize("command", _commands(), ids=lambda c: c.name)
def test_every_command_has_help_and_an_example(command: click.Command) -> None:
    assert command.help, f"{command.name} is missing its help"
    assert "Example" in command.help, f"{command.name}'s help has no Example block"
    result = CliRunner().invoke(cli, [command.name or "", "--help"])
    assert result.exit_code == 0, result.output


def test_top_level_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in cli.commands:
        assert name in result.output


def test_tasks_lists_builtins() -> None:
    result = CliRunner().invoke(cli, ["tasks"])
    assert result.exit_code == 0
    assert "youtube" in result.output and "finance" in result.output


def test_library_errors_are_one_line_messages(tmp_path: Path) -> None:
    bad = tmp_path / "d.csv"
    bad.write_bytes(b"id,body\n1,x\n")
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "apply", "--data", str(bad), "--task", "youtube"])
    assert result.exit_code == 1
    assert "missing column 'text'" in result.output
    assert "Traceback" not in result.output


def test_unknown_task_is_a_clear_error(tmp_path: Path) -> None:
    f = tmp_path / "d.csv"
    f.write_text("id,text\n1,x\n")
    result = CliRunner().invoke(cli, ["--workspace", str(tmp_path / "ws"), "apply", "--data", str(f)])
    assert result.exit_code == 1
    assert "pass --task" in result.output
