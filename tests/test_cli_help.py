"""The command line's help is its interface: every command's name, options and help text
stay the same however the commands are loaded (tests/cli_help.json holds them as they were
before the commands were loaded lazily)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import click
from click.testing import CliRunner

from mail_ingest.cli import COMMANDS, cli

ROOT = Path(__file__).resolve().parent.parent
SNAPSHOT = Path(__file__).with_name("cli_help.json")
WIDTH = 78  # what click makes of an 80-column terminal (it keeps 2 columns)


def _paths(
    group: click.Group, ctx: click.Context, prefix: tuple[str, ...]
) -> list[tuple[str, ...]]:
    paths = [prefix]
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, name
        if isinstance(command, click.Group):
            sub = click.Context(command, info_name=name, parent=ctx)
            paths += _paths(command, sub, (*prefix, name))
        else:
            paths.append((*prefix, name))
    return paths


def every_help() -> dict[str, str]:
    """`--help` of the group and of every command and subcommand, at a fixed width."""
    runner = CliRunner()
    with click.Context(cli, info_name="mail-ingest") as ctx:
        paths = _paths(cli, ctx, ())
    helps = {}
    for path in paths:
        result = runner.invoke(
            cli, [*path, "--help"], prog_name="mail-ingest", terminal_width=WIDTH
        )
        assert result.exit_code == 0, (path, result.output)
        helps[" ".join(path)] = result.output
    return helps


def test_every_commands_help_is_as_it_was() -> None:
    expected = json.loads(SNAPSHOT.read_text("utf-8"))
    assert every_help() == expected


def test_the_shells_help_lists_every_command_as_it_was() -> None:
    """Whole process, as a shell runs it: the listing comes from the lazy mapping."""
    env = {**os.environ, "COLUMNS": str(WIDTH + 2)}
    out = subprocess.run(
        [sys.executable, "-m", "mail_ingest", "--help"],
        cwd=ROOT, capture_output=True, text=True, check=True, env=env,
    )  # fmt: skip
    expected = json.loads(SNAPSHOT.read_text("utf-8"))[""]
    assert out.stdout == expected


if (
    __name__ == "__main__"
):  # only for a deliberate change: PYTHONPATH=. python tests/test_cli_help.py
    SNAPSHOT.write_text(json.dumps(every_help(), ensure_ascii=False, indent=1) + "\n", "utf-8")


def test_each_lazy_entry_names_its_command_and_its_summary() -> None:
    """COMMANDS lists each command without importing it: its summary must be the first
    paragraph of the command's own help, whatever the terminal's width."""
    with click.Context(cli, info_name="mail-ingest") as ctx:
        for name, (_, summary) in COMMANDS.items():
            command = cli.get_command(ctx, name)
            assert command is not None and command.name == name
            assert command.help is not None
            first = command.help.split("\n\n")[0]
            assert " ".join(summary.split()) == " ".join(first.split()), name
