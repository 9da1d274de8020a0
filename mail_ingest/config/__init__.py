"""The deployment's configuration: one TOML file, validated completely at load.

Every problem names the key it is about ("units[3].emails[0]: 'abc' is not an email
address") and all of them are reported at once, so a board's IT helper fixes the file
in one pass. Secrets never live in the file: `password_env` names a variable.

`loading` reads the file and assembles the sections (`sections`, `requirements`) from
typed getters (`table`) and value checks (`checks`) into the dataclasses of `model`,
whose defaults are the only ones; `secrets` reads passwords and tokens when connecting.
"""

from mail_ingest.config.loading import (
    DEFAULT_PATH,
    ENV_VAR,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_LINE_CHARS,
    default_path,
    load,
    parse,
)
from mail_ingest.config.model import Config, MailboxConfig, NotifyConfig, SmtpConfig, WebConfig
from mail_ingest.config.table import FIRST_DAY, LAST_DAY, SECRET_KEYS
from mail_ingest.errors import ConfigError

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
