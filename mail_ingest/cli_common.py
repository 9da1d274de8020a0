"""What the command modules share: the config of the invocation, instants, the actor."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from mail_ingest import config as config_module
from mail_ingest.app import App
from mail_ingest.config import Config


class Instant(click.ParamType):
    """An ISO 8601 instant; without an offset it is read in the configured timezone."""

    name = "ISO"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date or time, e.g. 2024-02-01T08:00+07:00")


def load_config(ctx: click.Context) -> Config:
    return config_module.load(ctx.find_root().obj)


def load_app(ctx: click.Context) -> App:
    return App(load_config(ctx))


def aware(instant: datetime, config: Config) -> datetime:
    return instant if instant.tzinfo else instant.replace(tzinfo=config.timezone)
