"""The status command: where every unit stands, as a table, JSON or CSV."""

from __future__ import annotations

import json
from datetime import datetime
from typing import TYPE_CHECKING

import click

from mail_ingest.app import App
from mail_ingest.cli_common import Instant, aware, load_config
from parsers.text import escaped, printable

if TYPE_CHECKING:
    from mail_ingest.app import Standing
    from mail_ingest.config import Config


@click.command()
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


def _print_status(view: Standing, fmt: str, config: Config) -> None:
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
