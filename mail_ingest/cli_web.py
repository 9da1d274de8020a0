"""`mail-ingest user add|list|remove` and `mail-ingest web`: accounts and the web page.

Kept apart from cli.py, which names them in its COMMANDS (and applies its error handling)."""

from __future__ import annotations

import logging
from datetime import datetime

import click

from mail_ingest import config as config_module
from mail_ingest import corrections
from mail_ingest.app import App
from mail_ingest.cli_common import Instant, aware
from mail_ingest.config import Config

log = logging.getLogger(__name__)
ROLES = ("leader", "staff", "admin")  # web.accounts.ROLES: importing it hashes (argon2)


def _config(ctx: click.Context) -> Config:
    return config_module.load(ctx.find_root().obj)


@click.group()
def user() -> None:
    """Manage who may log in to the web page."""


@user.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(ROLES), required=True,
              help="leader: reads; staff: acts; admin: also manages users.")  # fmt: skip
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@click.option("--by", help="Who makes the change [default: the OS user].")
@click.pass_context
def user_add(
    ctx: click.Context, name: str, role: str, password_stdin: bool, by: str | None
) -> None:
    """Create user NAME (the password is prompted twice, or read from stdin)."""

    if password_stdin:
        password = click.get_text_stream("stdin").readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    App(_config(ctx)).user_add(name, role, password, actor=corrections.who(by))
    click.echo(f"user {name.strip()} added ({role})")


@user.command("list")
@click.pass_context
def user_list(ctx: click.Context) -> None:
    """List the users and their roles."""
    rows = App(_config(ctx)).users()
    if not rows:
        click.echo("No user yet: mail-ingest user add NAME --role staff")
    for u in rows:
        state = "  (disabled)" if u.disabled else ""
        click.echo(f"{u.name:<24} {u.role:<7} since {u.created_at:%Y-%m-%d}{state}")


@user.command("remove")
@click.argument("name")
@click.option("--by", help="Who makes the change [default: the OS user].")
@click.pass_context
def user_remove(ctx: click.Context, name: str, by: str | None) -> None:
    """Remove user NAME: their sessions end at their next request."""
    App(_config(ctx)).user_remove(name, actor=corrections.who(by))
    click.echo(f"user {name} removed")


@click.command()
@click.option("--host", help="Address to listen on [default: [web].host, 127.0.0.1].")
@click.option("--port", type=click.IntRange(1, 65535), help="[default: [web].port, 8080].")
@click.option("--now", type=Instant(), help="Show and act as of this instant (the demo).")
@click.pass_context
def web(ctx: click.Context, host: str | None, port: int | None, now: datetime | None) -> None:
    """Serve the board's web page (waitress; put a TLS reverse proxy in front of it)."""
    from mail_ingest.web.serve import serve_forever

    config = _config(ctx)
    serve_forever(config, host, port, aware(now, config) if now else None)
