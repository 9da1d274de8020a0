"""`run`, `remind`, `report` and `outbox`: sending, and looking before sending.

A dry run shows the decisions (and what their mails would say) and writes nothing: not
the store, not the outbox, not <storage>/reports/.
"""

from __future__ import annotations

import logging
from datetime import datetime
from pathlib import Path

import click

from mail_ingest.app import App, Pending
from mail_ingest.cli_common import Instant, aware, load_app
from mail_ingest.corrections import who
from mail_ingest.errors import ConfigError, MailIngestError
from mail_ingest.service import refuse_beside_service
from parsers.text import printable

_NOW = click.option("--now", type=Instant(), help="As of this instant [default: now].")
_DRY = click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")


@click.command()
@click.option(
    "--once", is_flag=True, help="Poll, send what is due, and exit (for cron or a timer)."
)
@_DRY
@click.pass_context
def run(ctx: click.Context, once: bool, dry_run: bool) -> None:
    """Run the service in the foreground (poll every [schedule].poll_minutes)."""
    app = load_app(ctx)
    if dry_run:  # a first start: what the first cycle would send, without polling
        _preview(app, datetime.now(app.config.timezone), force=False)
        return
    from mail_ingest import scheduler

    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
    if once:
        if not scheduler.once(app.config):
            raise MailIngestError("the poll or the sending failed; see the log above")
        return
    scheduler.run(app.config)


@click.command()
@_NOW
@_DRY
@click.pass_context
def remind(ctx: click.Context, now: datetime | None, dry_run: bool) -> None:
    """Send today's reminders to units that are missing or incomplete."""
    _notify(ctx, now, dry_run, "remind")


@click.command("report")
@_NOW
@_DRY
@click.option(
    "--output", type=click.Path(dir_okay=False, path_type=Path), help="Also save the .xlsx here."
)
@click.pass_context
def report_command(
    ctx: click.Context, now: datetime | None, dry_run: bool, output: Path | None
) -> None:
    """Send the daily status report (with its .xlsx) to [report].recipients."""
    if output and not output.parent.is_dir():
        raise click.BadParameter(
            f"folder {str(output.parent)!r} does not exist", param_hint="--output"
        )
    app, instant, shown = _notify(ctx, now, dry_run, "report")
    if output:  # sent before or not, recipients or not: the file is asked for
        built = [data for name, data in shown if name.endswith(".xlsx")]
        data = built[0] if built else app.report_workbook(instant)[1]  # built once, not twice
        output.write_bytes(data)
        click.echo(f"wrote {output}")


def _notify(
    ctx: click.Context, now: datetime | None, dry_run: bool, kind: str
) -> tuple[App, datetime, list[tuple[str, bytes]]]:
    """Decide, then send what is new (or, dry, print it, and return the files shown).

    An instant in the future is a preview: sending then would record a send time that has
    not come and use up that day's key.
    """
    app = load_app(ctx)
    config = app.config
    if config.smtp is None:
        raise ConfigError(f"{config.path}: [smtp] is needed to send mail")
    real = datetime.now(config.timezone)
    instant = aware(now, config) if now else real
    if instant > real and not dry_run:
        click.echo("--now is in the future: a preview; nothing is sent or recorded")
        dry_run = True
    if dry_run:
        shown: list[tuple[str, bytes]] = []
        _preview(app, instant, kinds=(kind,), shown=shown)
        return app, instant, shown
    refuse_beside_service(config)
    result = app.send_due(instant, (kind,), force=True)  # type: ignore[arg-type]
    click.echo(f"sent {result.sent}, to retry {result.retrying}, failed {result.failed}")
    return app, instant, []


def _preview(
    app: App,
    now: datetime,
    kinds: tuple[str, ...] = ("ack", "remind", "report"),
    *,
    force: bool = True,
    shown: list[tuple[str, bytes]] | None = None,
) -> list[Pending]:
    """The decisions and what their new mails would say; nothing written anywhere. The
    attachments rendered are added to `shown`."""
    pending = app.decide(now, kinds, force=force)  # type: ignore[arg-type]
    fresh = [p for p in pending if not p.sent]
    for p in fresh:
        subject, text, files = app.render(p.decision)
        click.echo(printable(f"--- {p.decision.key}"))
        click.echo(printable(f"To: {', '.join(p.decision.to)}"))
        if p.decision.cc:
            click.echo(printable(f"Cc: {', '.join(p.decision.cc)}"))
        click.echo(printable(f"Subject: {subject}") + "\n")
        click.echo(printable(text, newlines=True))
        for name, data in files:
            click.echo(printable(f"[attachment: {name}, {len(data)} bytes]"))
        if shown is not None:
            shown.extend(files)
    click.echo(f"{len(fresh)} mail(s) would be sent; {len(pending) - len(fresh)} already were")
    return pending


@click.command()
@click.option("--limit", default=30, show_default=True, help="How many, newest first.")
@click.option("--retry", "retry_key", help="Queue this key again (check it never arrived).")
@click.option("--cancel", "cancel_key", help="Never send this waiting or failed mail.")
@click.option("--clear-failing", "address", help="Send to this bounced address again.")
@click.option("--by", help="Who makes the change [default: the OS user].")
@click.pass_context
def outbox(
    ctx: click.Context,
    limit: int,
    retry_key: str | None,
    cancel_key: str | None,
    address: str | None,
    by: str | None,
) -> None:
    """List outgoing mail and its state (pending, sent, failed, unknown, cancelled), and
    bounced addresses."""
    app = load_app(ctx)
    tz = app.config.timezone
    if cancel_key:
        if not app.cancel(cancel_key, actor=who(by)):
            raise click.ClickException(
                f"no pending, failed or interrupted mail with key {cancel_key!r}"
            )
        click.echo(f"cancelled {cancel_key}: it will not be sent")
        return
    if retry_key:
        if not app.retry(retry_key, actor=who(by)):
            raise click.ClickException(f"no failed or interrupted mail with key {retry_key!r}")
        click.echo(f"queued {retry_key} again")
        return
    if address:
        if not app.clear_failing(address, actor=who(by)):
            raise click.ClickException(f"{address!r} is not marked as failing")
        click.echo(f"mail to {address} will be sent again")
        return
    view = app.outbox(limit)
    for failing, since in view.failing.items():
        click.echo(printable(f"bounced since {since.astimezone(tz):%Y-%m-%d}: {failing}"))
    for item in view.items:
        when = item.sent_at or item.created_at
        error = f"  ({item.last_error})" if item.last_error and item.status != "sent" else ""
        click.echo(
            printable(
                f"{when.astimezone(tz):%Y-%m-%d %H:%M}  {item.status:8} "
                f"{item.key}  -> {', '.join(item.recipients)}{error}"
            )
        )
