"""The board's commands for decisions by hand: review, assign, mark, unmark, audit.

Kept apart from cli.py so that each stays short; cli.py names them in its COMMANDS,
whose error handling (messages and exit codes) applies here too.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import click

from mail_ingest import cli_doubt, corrections, wording
from mail_ingest import config as config_module
from mail_ingest.app import App, open_store
from mail_ingest.config import Config
from mail_ingest.store import Attribution, LearnedAddress
from parsers.text import printable

_BY = click.option("--by", help="Who makes the change [default: the OS user].")


def _config(ctx: click.Context) -> Config:
    return config_module.load(ctx.find_root().obj)


def _instant(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    """ISO 8601; without an offset, the configured timezone (as `status --now`)."""
    if value is None:
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO 8601 date or time, e.g. 2024-02-01T08:00+07:00"
        ) from None


@click.command()
@click.pass_context
def review(ctx: click.Context) -> None:
    """List messages held for review, with the best guesses of their unit."""
    config = _config(ctx)
    with open_store(config) as store:
        held = store.attributions()
        learned = store.learned_addresses()
        reasons = {m.id: m.review_reason for m in store.messages() if m.review_reason}
        checks = store.checks(config.check_below)
    if not held:
        click.echo("No message is waiting for review.")
    else:
        click.echo(
            f"{len(held)} message(s) held; settle one with: mail-ingest assign ID UNIT [--remember]"
        )
    names = {u.id: u.name for u in config.units}
    for m in held:  # senders and subjects are strangers' text: printable only
        click.echo(printable(_held_line(m, config.timezone)))
        if m.id in reasons:  # held although a unit was found (forged sender, disguised name)
            click.echo(printable(f"    reason: {reasons[m.id]}"))
        for guess in m.guesses:
            click.echo(
                printable(
                    f"    guess: {guess.unit_id} ({names.get(guess.unit_id, '?')}) "
                    f"{guess.score:.0f}% from the {guess.evidence}"
                )
            )
        if not m.guesses:
            click.echo("    guess: none (no unit's name found)")
    cli_doubt.echo_checks(checks, config)  # files the parsers doubt: the board checks them
    echo_learned(learned)


def _held_line(m: Attribution, tz: ZoneInfo) -> str:
    forms = ",".join(m.forms) or "-"
    return (
        f"#{m.id:<5} {m.received_at.astimezone(tz):%Y-%m-%d %H:%M}  {m.outcome:<14} "
        f"{m.sender or '-'}  {forms}  {m.subject or ''}"
    )


def echo_learned(learned: list[LearnedAddress]) -> None:
    if learned:
        click.echo("Learned addresses (copy them into the unit's `emails` in the config):")
    for a in learned:
        click.echo(printable(f"    {a.unit_id}: {a.address}  (by {a.by}, {a.learned_at:%Y-%m-%d})"))


@click.command()
@click.argument("message")
@click.argument("unit")
@click.option(
    "--remember", is_flag=True, help="Also recognise this sender's address as the unit's."
)
@click.option("--note", default="", help="Why (kept in the audit).")
@_BY
@click.pass_context
def assign(
    ctx: click.Context, message: str, unit: str, remember: bool, note: str, by: str | None
) -> None:
    """Attribute MESSAGE (an id from `review` or `messages`, or a Message-ID) to UNIT."""
    done = App(_config(ctx)).assign(
        message, unit, remember=remember, actor=corrections.who(by), note=note
    )
    ident = done.message.id
    if done.changed:
        click.echo(f"message {ident} is now a submission of {unit}")
    else:
        click.echo(f"message {ident} was already assigned to {unit}; nothing changed")
    if done.learned:
        click.echo(f"learned {done.learned} as {unit}'s address: its next mail counts directly")
    for other in done.also_held:
        click.echo(printable(f"also held from this address: #{other.id} {other.subject or ''}"))


@click.command()
@click.argument("unit")
@click.argument("requirement")
@click.option(
    "--received", required=True, callback=_instant, help="When the board received it (ISO)."
)
@click.option("--note", required=True, help="Why, and what was received (kept and shown).")
@click.option(
    "--form",
    "forms",
    multiple=True,
    help="A form received (repeatable) [default: every form of REQUIREMENT].",
)
@click.option(
    "--via", type=click.Choice(sorted(wording.VIA_NOTES)), default="paper", show_default=True
)
@_BY
@click.pass_context
def mark(ctx: click.Context, **options: Any) -> None:
    """Record UNIT's paper or Zalo submission for REQUIREMENT; the status counts it."""
    config = _config(ctx)
    received = _aware(options["received"], config.timezone)
    ident, created = App(config).mark(
        options["unit"], options["requirement"], received,
        forms=options["forms"], via=options["via"], note=options["note"],
        actor=corrections.who(options["by"]),
    )  # fmt: skip
    what = "recorded" if created else "already recorded; nothing changed:"
    click.echo(f"{what} manual:{ident} for {options['unit']} ({options['requirement']})")


@click.command()
@click.argument("unit")
@click.argument("requirement")
@click.option("--form", "forms", multiple=True, help="Only marks with this form (repeatable).")
@click.option("--note", default="", help="Why (kept in the audit).")
@_BY
@click.pass_context
def unmark(
    ctx: click.Context,
    unit: str,
    requirement: str,
    forms: tuple[str, ...],
    note: str,
    by: str | None,
) -> None:
    """Stop counting UNIT's manual submissions for REQUIREMENT (kept in the audit)."""
    removed = App(_config(ctx)).unmark(
        unit, requirement, forms=forms, actor=corrections.who(by), note=note
    )
    click.echo(f"no longer counted: {', '.join(f'manual:{i}' for i in removed)}")


@click.command()
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.pass_context
def audit(ctx: click.Context, limit: int) -> None:
    """List the changes made by hand: who, when, what and why."""
    config = _config(ctx)
    with open_store(config) as store:
        rows = store.audit(limit)
    for r in rows:
        click.echo(
            printable(
                f"{r.at.astimezone(config.timezone):%Y-%m-%d %H:%M}  {r.by:<12} {r.action:<13} "
                f"{r.unit_id or '-':<16} {r.subject}  {r.note}"
            )
        )


def _aware(instant: datetime, tz: ZoneInfo) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=tz)
