"""The deployment's configuration: one TOML file, validated completely at load.

Every problem names the key it is about ("units[3].emails[0]: 'abc' is not an email
address") and all of them are reported at once, so a board's IT helper fixes the file
in one pass. Secrets never live in the file: `password_env` names a variable.

`loading` reads the file and assembles the sections (`sections`, `requirements`) from
typed getters (`table`) and value checks (`checks`) into the dataclasses of `model`,
whose defaults are the only ones; `secrets` reads passwords and tokens when connecting.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from mail_ingest.config.paths import DEFAULT_PATH, ENV_VAR, default_path
from mail_ingest.errors import ConfigError

if TYPE_CHECKING:
    from mail_ingest.config.loading import MAX_DEPTH, MAX_FILE_BYTES, MAX_LINE_CHARS, load, parse
    from mail_ingest.config.model import (
        Config,
        MailboxConfig,
        NotifyConfig,
        SmtpConfig,
        WebConfig,
    )
    from mail_ingest.config.table import FIRST_DAY, LAST_DAY, SECRET_KEYS

# The rest is imported on first use: `mail-ingest --help` names the config file without
# the loader, the models and the rules they pull in.
_LAZY = {
    **dict.fromkeys(("MAX_DEPTH", "MAX_FILE_BYTES", "MAX_LINE_CHARS", "load", "parse"), "loading"),
    **dict.fromkeys(("Config", "MailboxConfig", "NotifyConfig", "SmtpConfig"), "model"),
    **dict.fromkeys(("WebConfig",), "model"),
    **dict.fromkeys(("FIRST_DAY", "LAST_DAY", "SECRET_KEYS"), "table"),
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{_LAZY[name]}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DEFAULT_PATH",
    "ENV_VAR",
    "FIRST_DAY",
    "LAST_DAY",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "MAX_LINE_CHARS",
    "SECRET_KEYS",
    "Config",
    "ConfigError",
    "MailboxConfig",
    "NotifyConfig",
    "SmtpConfig",
    "WebConfig",
    "default_path",
    "load",
    "parse",
]
