"""Where the config file is, apart from reading it: the command line's help names it
without importing the loader and the models."""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_PATH = Path("mail-ingest.toml")
ENV_VAR = "MAIL_INGEST_CONFIG"


def default_path() -> Path:
    return Path(os.environ.get(ENV_VAR) or DEFAULT_PATH)
