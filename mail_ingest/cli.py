"""The `mail-ingest` command. Exit codes: 0 ok, 1 runtime failure, 2 usage or config error."""

from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.progress import MofNCompleteColumn
from rich.progress import Progress as RichProgress
from rich.table import Table
from rich.text import Text

import parsers
from mail_ingest import __version__, cli_corrections, cli_doubt, cli_web, mime, notices, report
from mail_ingest import config as config_module
from mail_ingest.attachments import read_attachment
from mail_ingest.config import Config
from mail_ingest.errors import ConfigError, MailIngestError
from mail_ingest.pipeline import Progress, open_store, poll_config
from mail_ingest.service import refuse_beside_service
from mail_ingest.store import StoredLesson, as_taught
from parsers.model import FIELD_LABELS, KIND_LABELS, LEVEL_LABELS, ParsedFile
from parsers.text import escaped, printable


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


class _Instant(click.ParamType):
    """An ISO 8601 instant; without an offset it is read in the configured timezone."""

    name = "ISO"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time, e.g. 2024-02-01T08:00+07:00")


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


def _config(ctx: click.Context) -> Config:
    return config_module.load(ctx.find_root().obj)


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
    config = _config(ctx)
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
    if (config.storage / "mail-ingest.sqlite3").exists():  # never create a store here
        with open_store(config) as store:
            cli_corrections._echo_learned(store.learned_addresses())
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
    config = _config(ctx)
    refuse_beside_service(config)
    with _progress() as progress:
        result = poll_config(config, progress)
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(result.outcomes.items())) or "nothing new"
    click.echo(f"fetched {result.fetched}, new {result.new}: {outcomes}")
    click.echo(f"downloaded {_size(result.downloaded)}")
    held = result.outcomes["needs-review"] + result.outcomes["unknown-sender"]
    if held:
        click.echo(f"{held} new message(s) held for review: mail-ingest review")


@contextmanager
def _progress() -> Iterator[Progress]:
    """A progress bar on a terminal; a log line every 100 messages otherwise."""
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
@click.option(
    "--once", is_flag=True, help="Poll, send what is due, and exit (for cron or a timer)."
)
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the service in the foreground (poll every [schedule].poll_minutes)."""
    from mail_ingest import scheduler

    config = _config(ctx)
    if not logging.getLogger().isEnabledFor(logging.INFO):
        logging.getLogger().setLevel(logging.INFO)
    if once:
        if not scheduler.once(config):
            raise MailIngestError("the poll or the sending failed; see the log above")
        return
    scheduler.run(config)


@cli.command()
@click.option("--requirement", help="Only this requirement id.")
@click.option("--format", "fmt", type=click.Choice(["table", "json", "csv"]), default="table")
@click.option("--now", type=_Instant(), help="Status as of this instant [default: now].")
@click.pass_context
def status(ctx: click.Context, requirement: str | None, fmt: str, now: datetime | None) -> None:
    """Where every unit stands against every requirement."""
    config = _config(ctx)
    if requirement and requirement not in {r.id for r in config.requirements}:
        raise click.BadParameter(
            f"no requirement {requirement!r} in the config", param_hint="--requirement"
        )
    instant = _aware(now, config) if now else datetime.now(config.timezone)
    with open_store(config) as store:
        statuses = report.compute(config, store, instant, requirement)
        notes = report.notes(config, store)
        held = len(store.attributions())
    _print_status(statuses, fmt, config, instant, notes)
    if held and fmt == "table":
        click.echo(
            f"Có {held} thư chưa xác định được đơn vị gửi, đang chờ xem xét (mail-ingest review)."
        )


def _print_status(
    statuses: list[Any], fmt: str, config: Config, now: datetime, notes: report.Notes
) -> None:
    if fmt == "json":
        payload = report.as_json(statuses, now, notes)
        click.echo(escaped(json.dumps(payload, ensure_ascii=False, indent=2)))
    elif fmt == "csv":
        click.echo(printable(report.as_csv(statuses, notes), newlines=True), nl=False)
    else:
        Console().print(report.as_table(statuses, config.timezone, now, notes))


@cli.command()
@click.option("--limit", default=50, show_default=True, help="How many, newest first.")
@click.pass_context
def messages(ctx: click.Context, limit: int) -> None:
    """List recorded messages with their outcome and any error."""
    config = _config(ctx)
    with open_store(config) as store:
        rows = store.messages(limit)
    for m in rows:
        error = f"  error: {m.error}" if m.error else ""
        click.echo(  # subjects and errors quote strangers: no escape sequence passes
            printable(
                f"#{m.id:<5} {m.received_at.astimezone(config.timezone):%Y-%m-%d %H:%M}  "
                f"{m.outcome:<14} {m.unit_id or '-':<16} {','.join(m.forms) or '-':<14} "
                f"{m.subject or ''}{error}"
            )
        )


@cli.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def parse(ctx: click.Context, files: tuple[Path, ...], fmt: str) -> None:
    """Parse form files as if attached to a mail (zips unpacked, .doc/.xls converted) and
    print what was read (uses the config's form specs if any)."""
    path: Path = ctx.find_root().obj
    config = config_module.load(path) if path.exists() else None
    specs = config.forms if config else parsers.builtin_specs()
    lessons: list[StoredLesson] = []
    if config and (config.storage / "mail-ingest.sqlite3").exists():  # never create a store
        with open_store(config) as store:
            lessons = store.lessons()
    taught = as_taught(lessons)
    rows = [
        (f, row.parsed)
        for f in files
        for row in read_attachment(
            mime.Attachment(f.name, "", f.read_bytes()), "", specs, None, taught
        )
    ]
    names = cli_doubt.lesson_names(lessons)
    if fmt == "json":
        payload = [_parsed_json(str(f.parent / r.filename), r, names) for f, r in rows]
        text = json.dumps(payload if len(payload) > 1 else payload[0], ensure_ascii=False, indent=2)
        click.echo(escaped(text))
        return
    titles = {spec.id: spec.title for spec in specs}
    console = Console()
    for f, r in rows:  # what files say is data: printable, and never read as rich markup
        form = f"{titles.get(r.form, r.form)} ({r.form})" if r.form else "not recognised"
        name = _shown(f.parent / r.filename)
        console.print(f"[bold]{escape(name)}[/]: {escape(_shown(form))}", highlight=False)
        for key, value in r.fields.items():
            console.print(Text(_shown(f"  {key}: {value}")), highlight=False)
        if r.entries:
            console.print(_entries_table(r))
        _echo_doubt(console, r, names)


def _echo_doubt(console: Console, r: ParsedFile, names: dict[str, str]) -> None:
    """What was inferred rather than read, what the parser doubts, which lessons it used."""
    if r.confidence < 1.0:
        console.print(Text(f"  confidence: {r.confidence:.0%}"), highlight=False)
    for note in r.inferred:
        console.print(Text("  ") + Text("~", "cyan") + Text(f" inferred: {_shown(note)}"))
    for problem in r.problems:
        mark, how = ("!", "yellow") if problem.certain else ("?", "cyan")
        doubt = "" if problem.certain else "doubt (for the board, not the unit): "
        console.print(Text("  ") + Text(mark, how) + Text(f" {doubt}{_shown(problem.message)}"))
    for text in r.unknown:
        console.print(Text("  ") + Text("?", "cyan") + Text(f" unknown: {_shown(text)}"))
    for ident in r.taught:
        lesson = names.get(ident, "(removed)")
        console.print(Text(f"  taught #{_shown(ident)}: {_shown(lesson)}"), highlight=False)


def _entries_table(r: ParsedFile) -> Table:
    table = Table(show_lines=False, pad_edge=False)
    for title in ("STT", "Tên", "Tập thể/Cá nhân", "Lĩnh vực", "Cấp", "Tên mô hình"):
        table.add_column(title)
    for i, e in enumerate(r.entries, start=1):
        table.add_row(*(Text(_shown(v)) for v in (
            str(i), e.name, KIND_LABELS.get(e.kind or "", ""), FIELD_LABELS.get(e.field or "", ""),
            LEVEL_LABELS.get(e.level or "", ""), e.extra.get("model", ""),
        )))  # fmt: skip
    return table


def _shown(value: object) -> str:
    """Outside text as a terminal may show it: no control or escape sequence left."""
    return printable(str(value))


def _parsed_json(name: str, r: ParsedFile, names: dict[str, str]) -> dict[str, Any]:
    return {
        "file": name,
        "form": r.form,
        "fields": dict(r.fields),
        "entries": [
            {"name": e.name, "kind": e.kind, "field": e.field, "level": e.level, **_extra(e.extra)}
            for e in r.entries
        ],
        "problems": [p.message for p in r.problems],
        "doubts": [p.message for p in r.problems if not p.certain],  # for the board only
        "confidence": r.confidence,
        "inferred": list(r.inferred),
        "unknown": list(r.unknown),
        "taught": [{"id": i, "lesson": names.get(i)} for i in r.taught],
    }


def _extra(extra: Any) -> dict[str, Any]:
    return {"extra": dict(extra)} if extra else {}


@cli.command()
@click.option(
    "--workspace",
    type=click.Path(path_type=Path, file_okay=False),
    help="Where to build the demo [default: a new temporary folder].",
)
def demo(workspace: Path | None) -> None:
    """Build a Phong Thổ demo mailbox, ingest it, and print the status table."""
    from mail_ingest import demo as demo_module

    demo_module.run(workspace)


@cli.command()
@click.option("--now", type=_Instant(), help="As of this instant [default: now].")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
@click.pass_context
def remind(ctx: click.Context, now: datetime | None, dry_run: bool) -> None:
    """Send today's reminders to units that are missing or incomplete."""
    _notify(ctx, now, dry_run, "remind")


@cli.command("report")
@click.option("--now", type=_Instant(), help="As of this instant [default: now].")
@click.option("--dry-run", is_flag=True, help="Print what would be sent; send nothing.")
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
    mails = _notify(ctx, now, dry_run, "report")
    if output and mails and mails[0].attachments:  # sent before or not: the file is asked for
        output.write_bytes(mails[0].attachments[0].data)
        click.echo(f"wrote {output}")


def _notify(
    ctx: click.Context, now: datetime | None, dry_run: bool, kind: notices.Kind
) -> list[notices.Outgoing]:
    """Decide, then send what is new; every mail decided is returned (for --output).

    An instant in the future is a preview: sending then would record a send time that has
    not come and use up that day's key.
    """
    config = _config(ctx)
    if config.smtp is None:
        raise ConfigError(f"{config.path}: [smtp] is needed to send mail")
    real = datetime.now(config.timezone)
    instant = _aware(now, config) if now else real
    if instant > real and not dry_run:
        click.echo("--now is in the future: a preview; nothing is sent or recorded")
        dry_run = True
    if not dry_run:
        refuse_beside_service(config)
    with open_store(config) as store, nullcontext() if dry_run else store.lock():
        mails = notices.due(config, store, instant, (kind,), force=True)
        fresh = [m for m in mails if not store.outbox_has(m.key)]
        if dry_run:
            for mail in fresh:
                click.echo(printable(f"--- {mail.key}"))
                click.echo(printable(f"To: {', '.join(mail.to)}"))
                click.echo(printable(f"Subject: {mail.subject}") + "\n")
                click.echo(printable(mail.text, newlines=True))
                for a in mail.attachments:
                    click.echo(printable(f"[attachment: {a.filename}, {len(a.data)} bytes]"))
            already = len(mails) - len(fresh)
            click.echo(f"{len(fresh)} mail(s) would be sent; {already} already were")
            return mails
        result = notices.send(config, store, instant, fresh)
    click.echo(f"sent {result.sent}, to retry {result.retrying}, failed {result.failed}")
    return mails


@cli.command()
@click.option("--limit", default=30, show_default=True, help="How many, newest first.")
@click.option("--retry", "retry_key", help="Queue this key again (check it never arrived).")
@click.option("--cancel", "cancel_key", help="Never send this waiting or failed mail.")
@click.option("--clear-failing", "address", help="Send to this bounced address again.")
@click.pass_context
def outbox(
    ctx: click.Context,
    limit: int,
    retry_key: str | None,
    cancel_key: str | None,
    address: str | None,
) -> None:
    """List outgoing mail and its state (pending, sent, failed, unknown, cancelled), and
    bounced addresses."""
    config = _config(ctx)
    with open_store(config) as store:
        if cancel_key:
            if not store.outbox_cancel(cancel_key):
                raise click.ClickException(
                    f"no pending, failed or interrupted mail with key {cancel_key!r}"
                )
            click.echo(f"cancelled {cancel_key}: it will not be sent")
            return
        if retry_key:
            if not store.outbox_retry(retry_key):
                raise click.ClickException(f"no failed or interrupted mail with key {retry_key!r}")
            click.echo(f"queued {retry_key} again")
            return
        if address:
            if not store.clear_failing(address):
                raise click.ClickException(f"{address!r} is not marked as failing")
            click.echo(f"mail to {address} will be sent again")
            return
        for failing, since in store.failing_addresses().items():
            day = f"{since.astimezone(config.timezone):%Y-%m-%d}"
            click.echo(printable(f"bounced since {day}: {failing}"))
        for item in store.outbox(limit):
            when = item.sent_at or item.created_at
            error = f"  ({item.last_error})" if item.last_error and item.status != "sent" else ""
            click.echo(
                printable(
                    f"{when.astimezone(config.timezone):%Y-%m-%d %H:%M}  {item.status:8} "
                    f"{item.key}  -> {', '.join(item.recipients)}{error}"
                )
            )


@cli.command()
@click.option("--max-age", type=int, help="Minutes [default: 3 x poll_minutes].")
@click.pass_context
def health(ctx: click.Context, max_age: int | None) -> None:
    """Exit 0 if a poll succeeded within three poll intervals and no mail needs a person;
    1 otherwise, saying what is wrong (for systemd or a monitor)."""
    config = _config(ctx)
    limit = timedelta(minutes=3 * config.poll_minutes if max_age is None else max_age)
    now = datetime.now(config.timezone)
    with open_store(config) as store:
        good, last = store.last_good_poll(), store.last_poll()
        attention = store.outbox_attention(now - STUCK)
    problems = []
    if good is None:
        problems.append("no poll has succeeded yet")
    elif now - good > limit:
        problems.append(f"no successful poll since {_when(good, config)} (limit {_span(limit)})")
    if last is not None and last[2]:  # the latest poll failed: say why, even while in time
        click.echo(printable(f"last poll ({_when(last[0], config)}) failed: {last[2]}"))
    problems += [_attention(item, now, config) for item in attention[:10]]
    if len(attention) > 10:
        problems.append(f"and {len(attention) - 10} more: mail-ingest outbox")
    if problems:
        raise MailIngestError("\n".join(problems))
    assert good is not None
    click.echo(f"ok: last successful poll {_when(good, config)}")


STUCK = timedelta(hours=6)  # pending longer than the longest retry wait: a person looks


def _attention(item: Any, now: datetime, config: Config) -> str:
    if item.status == "pending":
        what = f"pending since {_when(item.created_at, config)}"
    else:
        what = f"{item.status} ({item.last_error or 'no reason recorded'})"
    advice = "outbox --retry KEY or --cancel KEY"
    return printable(f"mail {item.key} {what}: {advice}")


def _when(instant: datetime, config: Config) -> str:
    """An instant as the board reads its clock: local time, with the zone's offset."""
    local = instant.astimezone(config.timezone)
    offset = local.strftime("%z")
    return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:5]})"


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def _aware(instant: datetime, config: Config) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=config.timezone)


for _command in (*cli_corrections.COMMANDS, *cli_doubt.COMMANDS, *cli_web.COMMANDS):
    cli.add_command(_command)  # review, assign, mark, unmark, audit; accept, teach; user, web


def main() -> None:
    cli(prog_name="mail-ingest")


if __name__ == "__main__":  # pragma: no cover
    main()
