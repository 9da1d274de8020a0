"""The queries `status`, `remind` and `report` run are answered from indexes.

At 500 units × 5,000 messages a table scan, or a sort of a whole table, is what turns a
half-second command into seconds. The demo's store is real (its pipeline ran on real
mail); every SELECT the three commands run is recorded as SQLite ran it and asked for its
plan (EXPLAIN QUERY PLAN)."""

from __future__ import annotations

import io
import re
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner
from rich.console import Console

from mail_ingest import demo
from mail_ingest.cli import cli

BIG = ("messages", "attachments", "entries", "outbox")  # grow with the district's mail
# A whole table read without an index: "SCAN messages", "SCAN m" (an alias), not
# "SCAN messages USING INDEX ..." (read in an index's order, nothing sorted).
BARE_SCAN = re.compile(r"^SCAN (\w+)(?: AS \w+)?$")


def selects(monkeypatch: pytest.MonkeyPatch, config: Path, *args: str) -> set[str]:
    """The SELECT statements one command runs, with their values bound."""
    seen: set[str] = set()
    real = sqlite3.connect

    def traced(*a: object, **k: object) -> sqlite3.Connection:
        db = real(*a, **k)  # type: ignore[arg-type]
        db.set_trace_callback(lambda q: seen.add(q) if q.lstrip().upper()[:6] == "SELECT" else None)
        return db

    monkeypatch.setattr(sqlite3, "connect", traced)
    done = CliRunner().invoke(cli, ["--config", str(config), *args])
    monkeypatch.undo()
    assert done.exit_code == 0, done.output
    return seen


def test_status_remind_and_report_scan_no_big_table(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = demo.run(tmp_path / "demo", Console(file=io.StringIO())).config
    now = demo.NOW.isoformat()
    queries = set()
    for args in (
        ("status", "--format", "json", "--now", now),
        ("remind", "--dry-run", "--now", now),
        ("report", "--dry-run", "--now", now, "--output", str(tmp_path / "r.xlsx")),
    ):
        queries |= selects(monkeypatch, config, *args)
    db = sqlite3.connect(tmp_path / "demo" / "data" / "mail-ingest.sqlite3")
    aliases = {"m": "messages", "a": "attachments", "e": "entries", "o": "outbox"}
    scans = []
    for query in sorted(queries):
        for row in db.execute(f"EXPLAIN QUERY PLAN {query}"):
            found = BARE_SCAN.match(row[3])
            if found and aliases.get(found[1], found[1]) in BIG:
                scans.append((row[3], " ".join(query.split())[:160]))
    assert len(queries) >= 8  # the commands' reads were seen
    assert scans == []
