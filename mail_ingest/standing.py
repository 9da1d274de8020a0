"""Where every unit stands, as the board reads it: a table, JSON or CSV.

Status is never stored: it is computed from the recorded messages for the instant
asked about, so `--now` replays any past day and a corrected rule applies at once.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from mail_ingest import corrections, wording
from mail_ingest.config import Config
from mail_ingest.outcomes import Outcome
from mail_ingest.store import MessageRow, Store
from parsers.model import ParsedFile
from parsers.text import printable
from rules.status import STATUSES, Submission, UnitStatus, evaluate_all

if TYPE_CHECKING:  # rich draws the table only: JSON, CSV and the report do without it
    from rich.table import Table

# Submission ref -> a sentence about a decision by hand (mail_ingest.corrections.notes)
# or about mail that counts only provisionally (`provisional`).
Notes = Mapping[str, str]
# Where a unit's name was read when its address was not the unit's (rules.matching.SOURCES).
NAMED_IN = {
    "subject": "tiêu đề thư", "form": "biểu mẫu", "filename": "tên tệp", "body": "nội dung thư",
}  # fmt: skip
STYLES = {
    "missing": "bold red", "incomplete": "yellow", "checking": "cyan", "on_time": "green",
    "late": "magenta",
}  # fmt: skip


def compute(
    config: Config,
    store: Store,
    now: datetime,
    requirement: str | None = None,
    submissions: Mapping[str, list[Submission]] | None = None,
) -> list[UnitStatus]:
    """Every unit's status as of `now`; `submissions` (Store.submissions) when the caller
    read them already for another use, so the store is read once."""
    requirements = [r for r in config.requirements if requirement in (None, r.id)]
    return evaluate_all(
        requirements, config.units, store.submissions() if submissions is None else submissions,
        now, config.timezone, config.form_titles(), config.check_below,
    )  # fmt: skip


def notes(
    config: Config, store: Store, messages: Sequence[MessageRow] | None = None
) -> dict[str, str]:
    """Every note shown beside a status: decisions by hand and provisional submissions.
    `messages` (Store.messages) when the caller read them already."""
    return {**provisional(config, store, messages), **corrections.notes(store, config.timezone)}


def provisional(
    config: Config, store: Store, messages: Sequence[MessageRow] | None = None
) -> dict[str, str]:
    """Mail that counts for a unit by its name only, from an address the unit never used.

    It counts, and the board reads so beside the status (the unit was told by
    decisions.acknowledgements, if it has an address).
    """
    emails = {u.id: u.emails for u in config.units}
    result = {}
    named = store.messages(evidence=tuple(NAMED_IN)) if messages is None else messages
    for m in named:
        if m.outcome != Outcome.SUBMISSION or m.evidence not in NAMED_IN or m.unit_id is None:
            continue
        told = "đã báo đơn vị để xác nhận" if emails.get(m.unit_id) else (
            "đơn vị chưa có địa chỉ thư để báo, đề nghị Ban liên hệ xác nhận")  # fmt: skip
        result[str(m.id)] = (
            f"Ghi nhận tạm thời: thư nhận lúc {wording.clock(m.received_at, config.timezone)} từ "
            f"{m.sender_address or 'địa chỉ không xác định'}, không phải địa chỉ của đơn vị; "
            f"xác định đơn vị theo tên trong {NAMED_IN[m.evidence]}; {told}"
        )
    return result


def as_json(
    statuses: Sequence[UnitStatus], generated_at: datetime, notes: Notes | None = None
) -> dict[str, Any]:
    return {
        "generated_at": generated_at.isoformat(),
        "rows": [_row(s, notes) for s in statuses],
    }


def as_csv(statuses: Sequence[UnitStatus], notes: Notes | None = None) -> str:
    out = io.StringIO()
    columns = ["unit", "unit_name", "requirement", "due", "deadline", "status", "completed_at",
               "forms", "entries", "problems", "doubts", "checks", "period", "corrections",
               "notes"]  # fmt: skip
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    for status in statuses:
        row = _row(status, notes)
        del row["manual"]  # the notes say it
        row["forms"] = " ".join(row["forms"])
        row["problems"] = "; ".join(row["problems"])
        row["doubts"] = "; ".join(row["doubts"])
        row["checks"] = "; ".join(row["checks"])
        row["notes"] = "; ".join(row["notes"])
        row["corrections"] = "; ".join(row["corrections"])
        writer.writerow({k: _inert(v) if isinstance(v, str) else v for k, v in row.items()})
    return out.getvalue()


def _inert(cell: str) -> str:
    """A CSV cell a spreadsheet will not run: a leading = + - @ tab or CR gets a quote
    (OWASP's rule), since names and problems quote what strangers wrote."""
    return f"'{cell}" if cell[:1] in ("=", "+", "-", "@", "\t", "\r") else cell


def as_table(
    statuses: Sequence[UnitStatus],
    tz: ZoneInfo,
    now: datetime,
    notes: Notes | None = None,
    titles: Mapping[str, str] | None = None,
) -> Table:
    """A rich table in Vietnamese, one row per unit and requirement, coloured by status."""
    from rich.table import Table
    from rich.text import Text

    noted = [notes_of(s, notes) for s in statuses]
    several = len({s.requirement.id for s in statuses}) > 1
    table = Table(
        title=f"Tình hình gửi biểu mẫu tính đến {wording.clock(now, tz)}",
        caption=summary(statuses),
        show_lines=False,
        expand=False,
    )
    table.add_column("Đơn vị", no_wrap=False)
    if several:
        table.add_column("Yêu cầu")
    table.add_column("Hạn gửi")
    table.add_column("Trạng thái")
    table.add_column("Hoàn thành lúc")
    table.add_column("Biểu mẫu đã nhận")
    table.add_column("Số nội dung", justify="right")
    table.add_column("Vấn đề cần khắc phục")
    if any(noted):  # something decided by hand (mail_ingest.corrections)
        table.add_column("Ghi chú")
    for i, s in enumerate(statuses):  # Text: data is never read as rich markup
        cells: list[str | Text] = [s.unit.name]
        if several:
            cells.append(s.requirement.title)
        cells += [
            _deadline_cell(s),
            Text(wording.STATUS_LABELS[s.status], style=STYLES[s.status]),
            wording.stamp(s.completed_at, tz) if s.completed_at else "",
            wording.form_names(s.forms, titles or {}),
            str(len(s.entries)) if s.forms else "",
            wording.name_forms(
                "\n".join([f"• {p}" for p in s.problems] + [f"? {d}" for d in doubts(s)]),
                titles or {},
            ),
        ]
        if any(noted):
            cells.append("\n".join(noted[i]))
        table.add_row(
            *(c if isinstance(c, Text) else Text(printable(c, newlines=True)) for c in cells)
        )
    return table


def summary(statuses: Sequence[UnitStatus]) -> str:
    counts = Counter(s.status for s in statuses)
    parts = [f"{wording.STATUS_LABELS[k]}: {counts[k]}" for k in STATUSES]
    return f"Tổng số {len(statuses)} — " + ", ".join(parts)


def _deadline_cell(s: UnitStatus) -> str:
    """The period and its deadline ("Quý III/2024: trước ngày 20/09/2024"), or the phrase."""
    label = s.period.label if s.period else ""
    return f"{label}: {s.deadline_phrase}" if label else s.deadline_phrase


# The daily report lists what the parsers did not know in the files of this many days.
UNKNOWN_DAYS = 31


def check_rows(config: Config, store: Store, now: datetime) -> list[dict[str, str]]:
    """Files received by `now` that wait for the board's check, with what is doubtful."""
    names = {u.id: u.name for u in config.units}
    rows = []
    for c in store.checks(config.check_below):
        if c.received_at > now:
            continue
        rows.append({
            "id": str(c.id),
            "received": wording.stamp(c.received_at, config.timezone),
            "unit": names.get(c.unit_id or "", c.unit_id or ""),
            "filename": c.parsed.filename,
            "confidence": f"{c.parsed.confidence:.0%}",
            "doubts": "\n".join(doubtful(c.parsed)),
        })  # fmt: skip
    return rows


def doubtful(parsed: ParsedFile) -> list[str]:
    """What the board should look at in a file: what was inferred, what is uncertain."""
    return [*parsed.inferred, *(p.message for p in parsed.problems if not p.certain)]


def unknown(store: Store, now: datetime) -> list[tuple[str, int]]:
    """Headers and values the parsers met and did not know lately, most frequent first."""
    return store.unknown(now - timedelta(days=UNKNOWN_DAYS))


def doubts(s: UnitStatus) -> list[str]:
    """What the board must check for this unit (never told to the unit)."""
    files = [f"Cần kiểm tra tệp “{name}”" for name in s.checks] if s.status != "missing" else []
    return files + list(s.doubts)


def notes_of(s: UnitStatus, notes: Notes | None) -> list[str]:
    """The notes about the submissions this status counts."""
    return [notes[ref] for ref in s.sources if ref in notes] if notes else []


def _row(s: UnitStatus, notes: Notes | None = None) -> dict[str, Any]:
    return {
        "unit": s.unit.id,
        "unit_name": s.unit.name,
        "requirement": s.requirement.id,
        "due": s.due.isoformat(),
        "deadline": s.deadline_phrase,  # this unit's: an extension shows here
        "period": s.period.id if s.period and s.period.id else None,  # "2024-Q3"; None: once
        "status": s.status,
        # In the district's timezone, like the due time, whatever the source recorded.
        "completed_at": s.completed_at.astimezone(s.due.tzinfo).isoformat()
        if s.completed_at
        else None,
        "forms": list(s.forms),
        "entries": len(s.entries),
        "problems": list(s.problems),  # certain: what the unit is told
        "doubts": list(s.doubts),  # the parser is not sure: for the board only
        "checks": list(s.checks),  # files whose reading the board should check
        "corrections": list(s.corrections),  # which copy replaced which (rules.status)
        "notes": notes_of(s, notes),  # decided by hand, or counted provisionally
        "manual": s.manual,
    }
