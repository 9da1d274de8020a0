"""The `mail-ingest` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from mail_ingest import __version__, cli_corrections, cli_doubt, cli_notify, cli_parse, cli_web
from mail_ingest import config as config_module
from mail_ingest.app import App
from mail_ingest.cli_common import Instant, aware, load_app, load_config
from mail_ingest.errors import ConfigError, MailIngestError
from mail_ingest.outcomes import HELD
from mail_ingest.service import refuse_beside_service
from parsers.text import escaped, printable

if TYPE_CHECKING:
    from mail_ingest.app import Standing
    from mail_ingest.pipeline import Progress


class _Group(click.Group):
    """Turns the service's own errors into a message and an exit code, not a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except ConfigError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(2)
        except MailIngestError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Config file [default: ${config_module.ENV_VAR}, else ./{config_module.DEFAULT_PATH}].",
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
    ctx.obj = config_path or config_module.default_path()


class _LogFormatter(logging.Formatter):
    """Log lines quote strangers (senders, subjects, file names, errors about them): what
    reaches the journal or a terminal is printable, whatever they wrote."""

    def format(self, record: logging.LogRecord) -> str:
        return printable(super().format(record), newlines=True)


@cli.command()
@click.option("--force", is_flag=True, help="Overwrite an existing file.")
@click.pass_context
def init(ctx: click.Context, force: bool) -> None:
    """Write a starter config file to edit."""
    path: Path = ctx.find_root().obj
    if path.exists() and not force:
        raise click.ClickException(f"{path} already exists (use --force to overwrite it)")
    text = resources.files("mail_ingest").joinpath("config.example.toml").read_text("utf-8")
    path.write_text(text, encoding="utf-8")
    click.echo(f"wrote {path}; edit it, then run: mail-ingest --config {path} check-config")


@cli.command("check-config")
@click.pass_context
def check_config(ctx: click.Context) -> None:
    """Validate the config file and summarise it."""
    config = load_config(ctx)
    box = config.mailbox
    where = (
        str(box.path)
        if box.kind == "maildir"
        else f"{box.username}@{box.host}:{box.port}/{', '.join(box.folders)}"
    )
    groups = Counter(u.group for u in config.units)
    click.echo(f"config:    {config.path} is valid")
    click.echo(f"timezone:  {config.timezone.key}")
    click.echo(f"mailbox:   {box.kind} {where}")
    click.echo(f"storage:   {config.storage}")
    click.echo(
        f"units:     {len(config.units)} ({', '.join(f'{g} {n}' for g, n in groups.items())})"
    )
    click.echo(f"forms:     {', '.join(spec.id for spec in config.forms)}")
    for r in config.requirements:
        applies = sum(1 for u in config.units if r.applies_to(u))
        click.echo(
            f"requirement {r.id}: {', '.join(r.forms)} {r.schedule.phrase()}, {applies} units"
        )
    cli_corrections.echo_learned(App(config).learned())  # never creates a store
    if box.kind == "imap":
        try:
            box.credentials()
        except ConfigError as exc:
            click.echo(f"warning: {exc} (needed to poll)", err=True)
    if config.smtp is not None and config.smtp.kind == "smtp" and config.smtp.username:
        try:
            config.smtp.password()
        except ConfigError as exc:
            click.echo(f"warning: {exc} (needed to send mail)", err=True)


@cli.command()
@click.pass_context
def poll(ctx: click.Context) -> None:
    """Run one ingestion cycle and record every new message."""
    app = load_app(ctx)
    refuse_beside_service(app.config)
    with _progress() as progress:
        result = app.poll(progress)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "nothing new"
    click.echo(f"fetched {result.fetched}, new {result.new}: {outcomes}")
    click.echo(f"downloaded {_size(result.downloaded)}")
    held = sum(result.outcomes[o] for o in HELD)
    if held:
        click.echo(f"{held} new message(s) held for review: mail-ingest review")


@contextmanager
def _progress() -> Iterator[Progress]:
    """A progress bar on a terminal; a log line every 100 messages otherwise."""
    from rich.console import Console
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress as RichProgress

    if not sys.stderr.isatty():

        def log_line(done: int, planned: int | None) -> None:
            if done % 100 == 0:
                logging.getLogger("mail_ingest.poll").info("%d of %s messages", done, planned)

        yield log_line
        return
    columns = (*RichProgress.get_default_columns(), MofNCompleteColumn())
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("polling", total=None)

        def advance(done: int, planned: int | None) -> None:
            bar.update(task, completed=done, total=planned)

        yield advance


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} KB"


@cli.command()
@click.option("--requirement", help="Only this requirement id.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--now", type=Instant(), help="Status as of this instant [default: now].")
@click.pass_context
def status(ctx: click.Context, requirement: str | None, fmt: str, now: datetime | None) -> None:
    """Where every unit stands against every requirement."""
    config = load_config(ctx)
    if requirement and requirement not in {r.id for r in config.requirements}:
        raise click.BadParameter(
            f"no requirement {requirement!r} in the config", param_hint="--requirement"
        )
    instant = aware(now, config) if now else datetime.now(config.timezone)
    view = App(config).status(instant, requirement)
    _print_status(view, fmt, config)
    held = view.held
    if held and fmt == "table":
        click.echo(
            f"Có {held} thư chưa xác định được đơn vị gửi, đang chờ xem xét (mail-ingest review)."
        )


def _print_status(view: Standing, fmt: str, config: config_module.Config) -> None:
    from mail_ingest import standing

    statuses, now, notes = view.statuses, view.now, view.notes
    if fmt == "json":
        payload = standing.as_json(statuses, now, notes)
        click.echo(escaped(json.dumps(payload, ensure_ascii=False, indent=2)))
    elif fmt == "csv":
        click.echo(printable(standing.as_csv(statuses, notes), newlines=True), nl=False)
    else:
        from rich.console import Console

        table = standing.as_table(statuses, config.timezone, now, notes, config.form_titles())
        Console().print(table)


@cli.command()
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.pass_context
def messages(ctx: click.Context, limit: int) -> None:
    """List recorded messages with their outcome and any error."""
    app = load_app(ctx)
    config = app.config
    for m in app.messages(limit):
        error = f"  error: {m.error}" if m.error else ""
        click.echo(  # subjects and errors quote strangers: no escape sequence passes
            printable(
                f"#{m.id:<5} {m.received_at.astimezone(config.timezone):%Y-%m-%d %H:%M}  "
                f"{m.outcome:<14} {m.unit_id or '-':<16} {','.join(m.forms) or '-':<14} "
                f"{m.subject or ''}{error}"
            )
        )


@cli.command()
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to build the demo [default: a new temporary folder].",
)
@click.option(
    "--serve/--no-serve", default=None,
    help="Serve the web page on it [default: when the output is a terminal].",
)  # fmt: skip
def demo(workspace: Path | None, serve: bool | None) -> None:
    """Build a Phong Thổ demo mailbox, ingest it, print the status table, and open the
    web page on it (a demo account is printed)."""
    from mail_ingest import demo as demo_module
    from mail_ingest.web.demo import interactive

    demo_module.run(workspace, web=interactive() if serve is None else serve)


@cli.command()
@click.option("--max-age", type=int, help="Minutes [default: 3 x poll_minutes].")
@click.pass_context
def health(ctx: click.Context, max_age: int | None) -> None:
    """Exit 0 if a poll succeeded within three poll intervals and no mail needs a person;
    1 otherwise, saying what is wrong (for systemd or a monitor)."""
    app = load_app(ctx)
    span = None if max_age is None else timedelta(minutes=max_age)
    health = app.health(datetime.now(app.config.timezone), span)
    if health.last_failure is not None:  # the latest poll failed: say why, even while in time
        at, why = health.last_failure
        click.echo(printable(f"last poll ({app.when(at)}) failed: {why}"))
    if not health.ok:
        raise MailIngestError(printable("\n".join(health.problems), newlines=True))
    assert health.last_good_poll is not None
    click.echo(f"ok: last successful poll {app.when(health.last_good_poll)}")


for _command in (
    *cli_notify.COMMANDS,
    *cli_parse.COMMANDS,
    *cli_corrections.COMMANDS,
    *cli_doubt.COMMANDS,
    *cli_web.COMMANDS,
):  # run, remind, report, outbox; parse; review, assign, mark, unmark, audit; accept, teach;
    # user, web
    cli.add_command(_command)


def main() -> None:
    cli(prog_name="mail-ingest")


if __name__ == "__main__":  # pragma: no cover
    main()
