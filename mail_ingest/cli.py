"""The `mail-ingest` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error.

Each command's module is imported only when that command runs (click's lazy group): the
group lists the commands from COMMANDS, so `--help`, `health` and `poll` start without the
rules, tables and parsers other commands need."""

from __future__ import annotations

import logging
import os
from importlib import import_module
from pathlib import Path
from typing import Any

import click
from click.utils import make_default_short_help

from mail_ingest import __version__
from mail_ingest.config.paths import DEFAULT_PATH, ENV_VAR, default_path
from mail_ingest.errors import ConfigError, MailIngestError
from parsers.text import printable

# name -> ("module:attribute", the first paragraph of its help, which `--help` lists).
# tests/test_cli_help.py checks each against the command it names.
COMMANDS: dict[str, tuple[str, str]] = {
    "init": ("cli_setup:init", "Write a starter config file to edit."),
    "check-config": ("cli_setup:check_config", "Validate the config file and summarise it."),
    "poll": ("cli_mailbox:poll", "Run one ingestion cycle and record every new message."),
    "status": ("cli_status:status", "Where every unit stands against every requirement."),
    "messages": (
        "cli_mailbox:messages",
        "List recorded messages with their outcome and any error.",
    ),
    "demo": (
        "cli_setup:demo",
        "Build a Phong Thổ demo mailbox, ingest it, print the status table, and open the "
        "web page on it (a demo account is printed).",
    ),
    "health": (
        "cli_mailbox:health",
        "Exit 0 if a poll succeeded within three poll intervals and no mail needs a person; "
        "1 otherwise, saying what is wrong (for systemd or a monitor).",
    ),
    "run": (
        "cli_notify:run",
        "Run the service in the foreground (poll every [schedule].poll_minutes).",
    ),
    "remind": (
        "cli_notify:remind",
        "Send today's reminders to units that are missing or incomplete.",
    ),
    "report": (
        "cli_notify:report_command",
        "Send the daily status report (with its .xlsx) to [report].recipients.",
    ),
    "outbox": (
        "cli_notify:outbox",
        "List outgoing mail and its state (pending, sent, failed, unknown, cancelled), and "
        "bounced addresses.",
    ),
    "parse": (
        "cli_parse:parse",
        "Parse form files as if attached to a mail (zips unpacked, .doc/.xls converted) and "
        "print what was read (uses the config's form specs if any).",
    ),
    "review": (
        "cli_corrections:review",
        "List messages held for review, with the best guesses of their unit.",
    ),
    "assign": (
        "cli_corrections:assign",
        "Attribute MESSAGE (an id from `review` or `messages`, or a Message-ID) to UNIT.",
    ),
    "mark": (
        "cli_corrections:mark",
        "Record UNIT's paper or Zalo submission for REQUIREMENT; the status counts it.",
    ),
    "unmark": (
        "cli_corrections:unmark",
        "Stop counting UNIT's manual submissions for REQUIREMENT (kept in the audit).",
    ),
    "audit": ("cli_corrections:audit", "List the changes made by hand: who, when, what and why."),
    "accept": (
        "cli_doubt:accept",
        "Accept the reading of ATTACHMENT (an id from `review`) as it is.",
    ),
    "teach": (
        "cli_doubt:teach",
        "Teach the parsers what a header or a value means, for every later file.",
    ),
    "user": ("cli_web:user", "Manage who may log in to the web page."),
    "web": (
        "cli_web:web",
        "Serve the board's web page (waitress; put a TLS reverse proxy in front of it).",
    ),
}


class _Group(click.Group):
    """Loads a command's module when the command is asked for, and turns the service's own
    errors into a message and an exit code, not a traceback."""

    def __init__(self, *args: Any, lazy: dict[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = lazy

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in self.lazy and cmd_name not in self.commands:
            module, _, attribute = self.lazy[cmd_name][0].partition(":")
            command = getattr(import_module(f"mail_ingest.{module}"), attribute)
            if not isinstance(command, click.Command) or command.name != cmd_name:
                raise RuntimeError(f"{self.lazy[cmd_name][0]} is not the command {cmd_name}")
            self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """As click lists commands, from the summaries in COMMANDS (no module imported)."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            if name in self.lazy:
                rows.append((name, make_default_short_help(self.lazy[name][1], limit)))
            else:
                command = self.commands[name]
                if not command.hidden:
                    rows.append((name, command.get_short_help_str(limit)))
        with formatter.section("Commands"):
            formatter.write_dl(rows)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except MailIngestError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, lazy=COMMANDS, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Config file [default: ${ENV_VAR}, else ./{DEFAULT_PATH}].",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v: info, -vv: debug).")
@click.version_option(__version__, prog_name="mail-ingest")
@click.pass_context
def cli(ctx: click.Context, config_path: Path | None, verbose: int) -> None:
    """Collect the forms units email to the board, and report who has sent what."""
    # A belt: the store, archive and reports set their modes themselves. Restored at the
    # end, for callers that run commands in their own process (tests, scripts).
    previous = os.umask(0o077)
    ctx.call_on_close(lambda: os.umask(previous))
    level = [logging.WARNING, logging.INFO, logging.DEBUG][min(verbose, 2)]
    handler = logging.StreamHandler()
    handler.setFormatter(_LogFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logging.basicConfig(level=level, handlers=[handler])
    ctx.obj = config_path or default_path()


class _LogFormatter(logging.Formatter):
    """Log lines quote strangers (senders, subjects, file names, errors about them): what
    reaches the journal or a terminal is printable, whatever they wrote."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), newlines=True)


def main() -> None:
    cli(prog_name="mail-ingest")


if __name__ == "__main__":  # pragma: no cover
    main()
