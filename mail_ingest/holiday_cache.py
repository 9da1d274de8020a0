"""Vietnam's official holidays, kept in the storage folder between commands.

The holidays package imports all of its ~280 countries to give one calendar: 0.1 s of
CPU, a fifth of `remind` at 500 units, paid by every command that decides a working
day. A few years of dates are a few hundred bytes of JSON. The key names the installed
package (its __init__'s path, size and mtime, found without importing it) and the years,
so an upgraded package is asked afresh (mail_ingest.cache_files).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
from datetime import date
from pathlib import Path

from mail_ingest import cache_files
from mail_ingest.config import Config
from rules.calendar import Official, official_holidays, public_holidays

log = logging.getLogger(__name__)
PREFIX, SUFFIX = "holidays.", ".json"


def closed_days(config: Config, year: int) -> frozenset[date]:
    """The days offices are closed around `year` (the one before and after too: a shift
    crosses New Year), the official ones kept: one set of years, so one cache file."""
    years = range(year - 1, year + 2)
    return public_holidays(years, config.notify.closed_days, official(config.storage))


def official(storage: Path) -> Official:
    """official_holidays, through a cache file in `storage` when it is a folder."""

    def ask(years: tuple[int, ...]) -> frozenset[date]:
        path = _path(storage, years)
        if path is None:
            return official_holidays(years)
        cached = _read(path)
        if cached is not None:
            return cached
        dates = official_holidays(years)
        data = json.dumps(sorted(d.isoformat() for d in dates)).encode()
        cache_files.write(path, data, PREFIX, SUFFIX)
        return dates

    return ask


def _path(storage: Path, years: tuple[int, ...]) -> Path | None:
    spec = importlib.util.find_spec("holidays")
    if spec is None or spec.origin is None or not storage.is_dir():
        return None
    try:
        stat = Path(spec.origin).stat()
    except OSError:
        return None
    source = f"{spec.origin}\0{stat.st_size}\0{stat.st_mtime_ns}\0{years}"
    return storage / f"{PREFIX}{hashlib.sha256(source.encode()).hexdigest()[:32]}{SUFFIX}"


def _read(path: Path) -> frozenset[date] | None:
    data = cache_files.read(path)
    if data is None:
        return None
    try:
        return frozenset(date.fromisoformat(day) for day in json.loads(data))
    except (ValueError, TypeError) as exc:  # damaged: asked afresh
        log.debug("holiday cache %s unreadable (%s)", path, exc)
        return None
