"""The hostile corpus end to end: one mailbox of strangers' mail, one poll, one send cycle.

The poll runs as the real command in a child process under a memory limit and a time
limit, so a regression costs a failed test, not the machine. Then the acknowledgements
and the daily report are decided and written (file transport), and every case is held
to its own outcome and to what must hold for all: nothing lost, nothing sent to a third
party, no live formula, no control character where people read, nothing written
outside the store.
"""

from __future__ import annotations

import email
import io
import os
import resource
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from click.testing import CliRunner

from mail_ingest import config as config_module
from mail_ingest import decisions
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.store import OutboxItem
from parsers.text import printable

from hostile_mail import CONFIG, REPORT_TO, Case, corpus

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
FIRST = datetime(2024, 1, 20, 8, 0, tzinfo=TZ)
NOW = datetime(2024, 1, 21, 17, 30, tzinfo=TZ)  # every case within ack_max_age, report due
MEMORY_LIMIT = 4 * 2**30  # address space of the poll and everything it starts
PEAK_RSS_LIMIT = 1536 * 2**20  # the largest resident set of the poll or one of its children
POLL_SECONDS = 420
REPO = Path(__file__).resolve().parent.parent
CASES = corpus()
PWNED = Path(tempfile.gettempdir()) / "mail-ingest-pwned.txt"


@dataclass
class Run:
    root: Path
    cases: dict[str, tuple[Case, str]]  # name -> (case, Maildir key)
    rows: dict[str, dict[str, object]]  # Maildir key -> the message row
    forms: dict[int, set[str]]
    failing: set[str]
    outbox: list[OutboxItem]
    returncode: int
    stderr: str
    seconds: float
    peak_rss: int  # bytes
    files_before: set[Path]


def _limits() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


# Runs the poll as a grandchild, so that RUSAGE_CHILDREN measures only it (and what it
# started), not the other tests' subprocesses.
_MEASURE = (
    "import resource, subprocess, sys\n"
    "done = subprocess.run(sys.argv[1:])\n"
    "sys.stderr.write(f'\\nPEAK_RSS_KB={resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss}\\n')\n"
    "sys.exit(done.returncode)\n"
)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    root = tmp_path_factory.mktemp("hostile")
    config_path = root / "mail-ingest.toml"
    config_path.write_text(CONFIG, encoding="utf-8")
    for folder in ("new", "cur", "tmp"):
        (root / "mail" / folder).mkdir(parents=True)
    cases: dict[str, tuple[Case, str]] = {}
    for i, case in enumerate(CASES):
        key = f"{1705700000 + i}.hostile{i:03d}.corpus"
        path = root / "mail" / "new" / key
        path.write_bytes(case.raw(f"<hostile-{i}@corpus.example>"))
        stamp = (FIRST + timedelta(minutes=i)).timestamp()
        os.utime(path, (stamp, stamp))
        cases[case.name] = (case, key)
    files_before = set(root.rglob("*"))
    PWNED.unlink(missing_ok=True)
    scratch = root / "tmp"  # the poll's own TMPDIR: what it leaves there is its own
    scratch.mkdir()

    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, sys.executable, "-m", "mail_ingest", "-v",
         "--config", str(config_path), "poll"],
        cwd=root, env={**os.environ, "PYTHONPATH": str(REPO), "TMPDIR": str(scratch)},
        preexec_fn=_limits,
        capture_output=True, text=True, timeout=POLL_SECONDS,
    )  # fmt: skip
    seconds = time.monotonic() - started
    peak = int(done.stderr.rpartition("PEAK_RSS_KB=")[2].split()[0] or 0) * 1024

    config = config_module.load(config_path)
    with open_store(config) as store:
        decisions.send(config, store, NOW, decisions.due(config, store, NOW))
        outbox = store.outbox()
        failing = set(store.failing_addresses())
        db = store._db
        db.row_factory = _dict_row
        source = f"maildir:{(root / 'mail').resolve()}"
        rows = {
            r["uid"]: r
            for r in db.execute(
                "SELECT l.uid, m.* FROM locations l JOIN messages m ON m.id = l.message"
                " WHERE l.source = ?",
                (source,),
            )
        }
        forms: dict[int, set[str]] = {}
        for r in db.execute("SELECT message, form FROM attachments"):
            forms.setdefault(int(r["message"]), set()).add(r["form"])
    yield Run(
        root, cases, rows, forms, failing, outbox, done.returncode, done.stderr, seconds, peak,
        files_before,
    )  # fmt: skip
    PWNED.unlink(missing_ok=True)


def _dict_row(cursor: object, row: tuple[object, ...]) -> dict[str, object]:
    return {d[0]: value for d, value in zip(cursor.description, row, strict=True)}  # type: ignore[attr-defined]


def test_the_corpus_is_large_and_covers_every_group() -> None:
    assert len(CASES) >= 70
    assert {c.group for c in CASES} == set(range(1, 10))


def test_the_poll_survives_within_its_bounds(run: Run) -> None:
    assert run.returncode == 0, run.stderr[-3000:]
    assert "Traceback" not in run.stderr
    assert run.seconds < POLL_SECONDS
    assert run.peak_rss < PEAK_RSS_LIMIT, f"peak RSS {run.peak_rss / 2**20:.0f} MB"
    print(f"hostile corpus: {len(CASES)} mails polled in {run.seconds:.1f} s, "
          f"peak RSS {run.peak_rss / 2**20:.0f} MB")  # fmt: skip


def test_nothing_is_lost(run: Run) -> None:
    missing = [name for name, (_, key) in run.cases.items() if key not in run.rows]
    assert not missing


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_case(run: Run, case: Case) -> None:
    row = run.rows[run.cases[case.name][1]]
    assert row["outcome"] in case.outcome, (row["outcome"], row["error"])
    if case.unit is not None:
        assert row["unit_id"] == case.unit
    if case.not_by_address:
        assert row["evidence"] not in ("address", "learned-address")
    if case.error:
        assert case.error in (row["error"] or "").lower()
    if case.review_reason:
        assert row["review_reason"]
    if case.forms is not None:
        assert set(case.forms) <= run.forms.get(int(row["id"]), set())  # type: ignore[call-overload]
    if case.acks is not None:
        got = {r.lower() for item in _acks(run, row) for r in item.recipients}
        assert got == {a.lower() for a in case.acks}
    if "not_failing" in case.extra:
        assert case.extra["not_failing"] not in run.failing


def _acks(run: Run, row: dict[str, object]) -> list[OutboxItem]:
    """The acknowledgements written about one message (keys name its Message-ID or id)."""
    names = {f"message-{row['id']}", f"message:{row['id']}"}
    if row["message_id"]:
        names.add(str(row["message_id"]))
    return [
        i for i in run.outbox
        if i.key.startswith("ack") and any(i.key.endswith(n) or f"{n}:" in i.key for n in names)
    ]  # fmt: skip


def test_no_mail_goes_to_a_third_party_or_a_stranger(run: Run) -> None:
    recipients = {r.lower() for item in run.outbox for r in item.recipients}
    assert recipients
    assert not {r for r in recipients if r.endswith(("@victim.example", "@attacker.example"))}


def test_every_outgoing_header_is_clean(run: Run) -> None:
    assert run.outbox and all(i.status == "sent" for i in run.outbox), [
        (i.key, i.status, i.last_error) for i in run.outbox if i.status != "sent"
    ]
    for item in run.outbox:
        message = email.message_from_bytes(item.raw, policy=policy.default)
        for name, value in message.items():
            assert printable(str(value)) == str(value), (item.key, name)
        assert len(message.get_all("To") or []) == 1
        assert message.get("Bcc") is None


def test_the_report_workbook_holds_no_formula_and_no_control_character(run: Run) -> None:
    report = next(i for i in run.outbox if i.key.startswith("report:"))
    assert report.recipients == (REPORT_TO,)
    message = email.message_from_bytes(report.raw, policy=policy.default)
    data = next(p.get_content() for p in message.iter_attachments())
    book = openpyxl.load_workbook(io.BytesIO(data))
    seen = 0
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                assert cell.data_type != "f", (sheet.title, cell.coordinate, cell.value)
                if isinstance(cell.value, str):
                    seen += cell.value.startswith(("=", "+", "-", "@"))
                    assert printable(cell.value, newlines=True) == cell.value
    assert seen >= 4  # the formulas are there, as text
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        sheets = [n for n in package.namelist() if n.startswith("xl/worksheets/")]
        assert not any(b"<f>" in package.read(n) or b"<f " in package.read(n) for n in sheets)


@pytest.mark.parametrize(
    "command",
    [
        ["messages", "--limit", "500"],
        ["review"],
        ["status"],
        ["status", "--format", "json"],
        ["status", "--format", "csv"],
        ["outbox"],
        ["audit"],
    ],
)
def test_what_the_terminal_shows_is_clean(run: Run, command: list[str]) -> None:
    result = CliRunner().invoke(cli, ["--config", str(run.root / "mail-ingest.toml"), *command])
    assert result.exit_code == 0, result.output
    assert printable(result.output, newlines=True) == result.output.replace("\r", "")


def test_nothing_is_written_outside_the_store(run: Run) -> None:
    allowed = {"mail", "data", "outbox", "tmp", "mail-ingest.toml"}
    new = set(run.root.rglob("*")) - run.files_before
    assert {p.relative_to(run.root).parts[0] for p in new} <= allowed
    assert not PWNED.exists() and not (run.root / "tmp" / PWNED.name).exists()
    assert not list((run.root / "tmp").iterdir())  # conversions leave nothing behind


def test_the_store_is_private(run: Run) -> None:
    data = run.root / "data"
    assert data.stat().st_mode & 0o077 == 0
    for path in data.rglob("*"):
        assert path.stat().st_mode & 0o077 == 0, path


def test_log_lines_are_printable(run: Run) -> None:
    """The poll ran with its log on stderr: senders and subjects quoted there act on nothing."""
    assert printable(run.stderr, newlines=True) == run.stderr
