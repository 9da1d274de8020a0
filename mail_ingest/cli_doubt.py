"""The board settles the parsers' doubts: accept a reading, or teach a header or a value.

A file the parser was not sure of waits for the board (status "Chờ kiểm tra") and the unit
hears nothing of the doubt. `accept` takes the reading as it is; `teach` stores a mapping
(with the audit trail) that every later file of the district is read with.
"""

from __future__ import annotations

from collections.abc import Sequence

import click

from mail_ingest import config as config_module
from mail_ingest import corrections, standing
from mail_ingest.app import App
from mail_ingest.config import Config
from mail_ingest.errors import MailIngestError
from mail_ingest.store import FileCheck, StoredLesson
from parsers.text import printable

_BY = click.option("--by", help="Who makes the change [default: the OS user].")


def _config(ctx: click.Context) -> Config:
    return config_module.load(ctx.find_root().obj)


def echo_checks(checks: Sequence[FileCheck], config: Config) -> None:
    """The files waiting for the board's check, with what is doubtful in each."""
    if not checks:
        return
    click.echo(
        f"{len(checks)} file(s) need a check; settle one with: mail-ingest accept ID,"
        " or teach what it did not know: mail-ingest teach header|value ..."
    )
    names = {u.id: u.name for u in config.units}
    for c in checks:  # file names and notes quote strangers: printable only
        when = c.received_at.astimezone(config.timezone)
        unit = names.get(c.unit_id or "", c.unit_id or "-")
        click.echo(
            printable(
                f"[{c.id}] {when:%Y-%m-%d %H:%M}  message #{c.message}  {unit}  "
                f"{c.parsed.filename}  {c.parsed.form or '-'}  "
                f"confidence {c.parsed.confidence:.0%}"
            )
        )
        for line in standing.doubtful(c.parsed):
            click.echo(printable(f"    doubt: {line}"))
        for text in c.parsed.unknown:
            click.echo(printable(f"    unknown: {text}"))


@click.command()
@click.argument("attachment", type=int)
@click.option("--note", default="", help="Why (kept in the audit).")
@_BY
@click.pass_context
def accept(ctx: click.Context, attachment: int, note: str, by: str | None) -> None:
    """Accept the reading of ATTACHMENT (an id from `review`) as it is."""
    config = _config(ctx)
    try:
        changed = App(config).accept(attachment, actor=corrections.who(by), note=note)
    except KeyError:
        raise MailIngestError(f"no attached file has id {attachment}") from None
    if changed:
        click.echo(f"file {attachment} checked: its reading counts as read")
    else:
        click.echo(f"file {attachment} was already checked; nothing changed")


@click.command()
@click.argument("kind", type=click.Choice(["header", "value"]), required=False)
@click.argument("args", nargs=-1)
@click.option("--form", help="Only for this form (default: every form).")
@click.option("--list", "listing", is_flag=True, help="List the lessons in force.")
@click.option("--remove", type=int, help="Stop applying the lesson with this id.")
@click.option("--note", default="", help="Why (kept in the audit).")
@_BY
@click.pass_context
def teach(
    ctx: click.Context,
    kind: str | None,
    args: tuple[str, ...],
    form: str | None,
    listing: bool,
    remove: int | None,
    note: str,
    by: str | None,
) -> None:
    """Teach the parsers what a header or a value means, for every later file.

    \b
    mail-ingest teach header "TEXT" COLUMN [--form FORM]
    mail-ingest teach value "TEXT" VOCABULARY ID [--form FORM]   (kind | field | level)
    mail-ingest teach --list | --remove ID
    """
    app = App(_config(ctx))
    if listing:
        _echo_lessons(app.lessons())
        return
    if remove is not None:
        if not app.unteach(remove, actor=corrections.who(by), note=note):
            raise MailIngestError(f"no lesson {remove} is in force")
        click.echo(f"lesson {remove} removed: later files are read without it")
        return
    ident, new, text, meaning = app.learn(kind, args, form, actor=corrections.who(by), note=note)
    if new:
        click.echo(printable(f"lesson {ident} stored: “{text}” = {meaning}; later files use it"))
    else:
        click.echo(f"lesson {ident} already says so; nothing changed")


def _echo_lessons(lessons: Sequence[StoredLesson]) -> None:
    if not lessons:
        click.echo("Nothing taught yet.")
    for s in lessons:
        what = f"{s.vocabulary} = {s.meaning}" if s.vocabulary else f"column {s.meaning}"
        scope = f" (form {s.form})" if s.form else ""
        click.echo(
            printable(
                f"{s.id:>4}  {s.kind:<6} “{s.text}” → {what}{scope}  by {s.by}, {s.at:%Y-%m-%d}"
            )
        )


def lesson_names(lessons: Sequence[StoredLesson]) -> dict[str, str]:
    """Lesson id -> how `parse` names it when a reading used it."""
    return {
        str(s.id): f"{s.kind} “{s.text}” → {s.vocabulary + ' = ' if s.vocabulary else ''}"
        f"{s.meaning}"
        for s in lessons
    }
