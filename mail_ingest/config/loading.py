"""Reading the config file: bounded bytes, decoded TOML, then every section checked."""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from mail_ingest.config.checks import email_address, time_zone, url
from mail_ingest.config.model import Config, WebConfig
from mail_ingest.config.requirements import read_requirement
from mail_ingest.config.sections import (
    read_forms,
    read_mailbox,
    read_matching,
    read_notify,
    read_score,
    read_smtp,
    read_unit,
    unique,
    unique_emails,
)
from mail_ingest.config.table import Table
from mail_ingest.errors import ConfigError

# Bounds on the file itself: a real deployment's file is tens of KB. tomllib's memory
# grows with the square of a dotted key's depth, and a key is one line, so the line
# length bounds it (4,000 characters: about 25 MB at worst).
MAX_FILE_BYTES = 1024 * 1024
MAX_LINE_CHARS = 4000
MAX_DEPTH = 8  # [[requirements]] > rules > min_entries > group is the deepest needed


def load(path: Path) -> Config:
    """Read and validate a config file; raises ConfigError listing every problem."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no such config file (create one with `mail-ingest init`)"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror or exc}") from None
    data = _toml(path, raw)
    if (deepest := _depth(data)) > MAX_DEPTH:
        raise ConfigError(f"{path}: values nested {deepest} levels deep (at most {MAX_DEPTH})")
    return parse(data, base=path.parent, path=path)


def _toml(path: Path, raw: bytes) -> dict[str, Any]:
    """Decoded TOML, or a ConfigError saying where the file is unusable."""
    if len(raw) > MAX_FILE_BYTES:
        raise ConfigError(f"{path}: larger than {MAX_FILE_BYTES // 1024} KB; is it the config?")
    try:
        text = raw.decode("utf-8-sig")  # Windows editors may start the file with a BOM
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"{path}: line {line} is not UTF-8 text (save the file as UTF-8)"
        ) from None
    for number, line_text in enumerate(text.splitlines(), start=1):
        if len(line_text) > MAX_LINE_CHARS:
            raise ConfigError(f"{path}: line {number} is longer than {MAX_LINE_CHARS} characters")
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: values nested too deeply (at most {MAX_DEPTH})") from None
    except (ValueError, MemoryError) as exc:  # e.g. an integer of thousands of digits
        raise ConfigError(f"{path}: not a usable TOML file ({type(exc).__name__})") from None


def _depth(data: object) -> int:
    """How deeply tables and arrays nest, without recursion (the data may be hostile)."""
    deepest, stack = 0, [(data, 0)]
    while stack:
        value, level = stack.pop()
        deepest = max(deepest, level)
        if isinstance(value, dict):
            stack += [(v, level + 1) for v in value.values()]
        elif isinstance(value, list):
            stack += [(v, level + 1) for v in value]
    return deepest


def parse(data: Mapping[str, Any], base: Path, path: Path) -> Config:
    """Validate already-decoded TOML; relative paths are taken from `base`."""
    errors: list[str] = []
    root = Table(data, "", errors, base)
    tz = root.get("timezone", str, "Asia/Ho_Chi_Minh", check=time_zone)
    mailbox = read_mailbox(root.table("mailbox", required=True))
    smtp = read_smtp(root.table("smtp")) if "smtp" in data else None
    storage = root.path("storage.path", root.table("storage").get("path", str, "data"))
    recipients = root.table("report").strings("recipients", check=email_address)
    schedule = root.table("schedule")
    poll_minutes = schedule.number("poll_minutes", 5, 1, 24 * 60)
    notify = read_notify(root.table("notify"), schedule)
    forms = read_forms(root.table("forms"), storage)
    units = tuple(read_unit(t) for t in root.tables("units"))
    matching_table = root.table("matching")
    matching = read_matching(matching_table)
    check_below = read_score(matching_table, "check_below", Config.check_below * 100) / 100
    known_forms = {spec.id for spec in forms}
    requirements = tuple(
        read_requirement(t, known_forms, units, forms) for t in root.tables("requirements")
    )
    has_web = root.get("web", dict) is not None
    web_table = root.table("web")
    web = WebConfig(
        web_table.get("host", str, WebConfig.host),
        web_table.number("port", WebConfig.port, 1, 65535),
        web_table.get("public_url", str, None, check=url),
        web_table.get("proxied", bool, WebConfig.proxied),
        web_table.get("serve", bool, has_web),
    )
    unique(errors, "units", [u.id for u in units])
    unique(errors, "requirements", [r.id for r in requirements])
    unique_emails(errors, units)
    root.finish()
    if errors:
        raise ConfigError("\n".join([f"{path}: {len(errors)} problem(s)", *errors]))
    return Config(
        path=path,
        timezone=ZoneInfo(tz),
        mailbox=mailbox,
        smtp=smtp,
        storage=storage,
        report_recipients=tuple(recipients),
        poll_minutes=poll_minutes,
        units=units,
        requirements=requirements,
        forms=forms,
        matching=matching,
        notify=notify,
        check_below=check_below,
        web=web,
    )
