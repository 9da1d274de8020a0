"""Commands that set a deployment up: init, check-config, demo."""

from __future__ import annotations

from collections import Counter
from importlib import resources
from pathlib import Path

import click

from mail_ingest.app import App
from mail_ingest.cli_common import load_config
from mail_ingest.errors import ConfigError


@click.command()
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


@click.command("check-config")
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
    from mail_ingest.cli_corrections import echo_learned

    echo_learned(App(config).learned())  # never creates a store
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


@click.command()
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
