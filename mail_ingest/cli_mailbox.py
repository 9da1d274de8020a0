"""Commands about the mailbox and what came from it: poll, messages, health."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

import click

from mail_ingest.cli_common import load_app
from mail_ingest.errors import MailIngestError
from mail_ingest.outcomes import HELD
from mail_ingest.service import refuse_beside_service
from parsers.text import printable

if TYPE_CHECKING:
    from mail_ingest.pipeline import Progress


@click.command()
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
    """A progress bar on a terminal; a log line every 100 messages otherwise (and rich is
    imported only for the bar)."""
    if not sys.stderr.isatty():

        def log_line(done: int, planned: int | None) -> None:
            if done % 100 == 0:
                logging.getLogger("mail_ingest.poll").info("%d of %s messages", done, planned)

        yield log_line
        return
    from rich.console import Console
    from rich.progress import MofNCompleteColumn
    from rich.progress import Progress as RichProgress

    columns = (*RichProgress.get_default_columns(), MofNCompleteColumn())
    with RichProgress(*columns, console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("polling", total=None)

        def advance(done: int, planned: int | None) -> None:
            bar.update(task, completed=done, total=planned)

        yield advance


def _size(n: int) -> str:
    return f"{n / 1048576:.1f} MB" if n >= 1048576 else f"{n / 1024:.0f} KB"


@click.command()
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


@click.command()
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
