"""`parse`: what the parsers read in form files, for the board and for whoever writes a
form spec. The parsers (and python-docx, openpyxl) are imported when the command runs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

from mail_ingest import cli_doubt
from mail_ingest import config as config_module
from mail_ingest.app import App
from mail_ingest.store import as_taught
from parsers.model import FIELD_LABELS, KIND_LABELS, LEVEL_LABELS, ParsedFile
from parsers.text import escaped, printable


@click.command()
@click.argument(
    "files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path)
)
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_context
def parse(ctx: click.Context, files: tuple[Path, ...], fmt: str) -> None:
    """Parse form files as if attached to a mail (zips unpacked, .doc/.xls converted) and
    print what was read (uses the config's form specs if any)."""
    import parsers  # the parsers, python-docx and openpyxl: only for this command
    from mail_ingest import mime
    from mail_ingest.attachments import read_attachment

    path: Path = ctx.find_root().obj
    config = config_module.load(path) if path.exists() else None
    specs = config.forms if config else parsers.builtin_specs()
    lessons = App(config).lessons() if config else []  # never creates a store
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
