"""What each mail says, as its template's context: built from statuses and parsed files.

decisions.py decides who gets which mail; this module words it (through wording.py),
so every mail names forms by their names, cites the letter and the contact person, and
never tells a unit of the parser's doubt.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from email.headerregistry import Address
from email.utils import parseaddr

from mail_ingest import standing, wording
from mail_ingest.config import Config
from mail_ingest.store import MessageRow
from parsers.model import ParsedFile
from rules.match_model import Guess
from rules.status import CHECK_BELOW, UnitStatus, needs_check

# Problems that only inform (a scan was received and will be looked at): said next to the
# file, never under "Đề nghị đơn vị kiểm tra, bổ sung", which asks the unit to act.
INFORMATIONAL = frozenset({"scan-needs-review"})
CHECKING = wording.CHECKING


@dataclass(frozen=True)
class FileSummary:
    filename: str
    summary: str


def board(config: Config) -> str:
    """The board's name as it signs: the display name of the sender address."""
    name = parseaddr(config.smtp.sender)[0] if config.smtp else ""
    return name or wording.DEFAULT_BOARD


def named(name: str, addresses: Iterable[str]) -> tuple[str, ...]:
    """Each address with a display name (the unit's, the board's) unless it has one;
    `delivery.compose` encodes it."""
    out = []
    for a in addresses:
        shown, address = parseaddr(a)
        if shown or "@" not in address:
            out.append(a)
        else:  # unencoded: delivery.compose encodes the header once
            local, _, domain = address.rpartition("@")
            out.append(str(Address(display_name=name, username=local, domain=domain)))
    return tuple(out)


def common(config: Config) -> dict[str, object]:
    """What every mail carries: who signs and whom to contact."""
    return {"board": board(config), "contact": config.notify.contact}


def citation(s: UnitStatus) -> str:
    """ "Công văn số ... về ..." for the status's requirement, or ""."""
    return wording.letter_phrase(s.requirement.letter, s.requirement.title)


def failing(config: Config, failing: Mapping[str, datetime]) -> list[str]:
    """Units' addresses that bounced, as the report lists them for the board to fix."""
    owners = {e.lower(): u.name for u in config.units for e in u.emails}
    return [
        f"{owners.get(address, 'không thuộc đơn vị nào')}: {address} "
        f"(thư báo lỗi từ {wording.day(since, config.timezone)})"
        for address, since in sorted(failing.items())
    ]


def summaries(
    files: Sequence[ParsedFile], titles: Mapping[str, str], check_below: float = CHECK_BELOW
) -> list[FileSummary]:
    """What the unit is told of each file; of one the parser doubts, only that it arrived
    (a count read wrongly would be a complaint in disguise)."""
    return [
        FileSummary(f.filename, CHECKING)
        if needs_check(f, check_below)
        else _summary(f, titles, files)
        for f in files
    ]


def _summary(
    parsed: ParsedFile, titles: Mapping[str, str], siblings: Sequence[ParsedFile] = ()
) -> FileSummary:
    if parsed.form is None:
        return FileSummary(parsed.filename, _unread(parsed, siblings))
    kinds = Counter(e.kind for e in parsed.entries)
    text = wording.form_name(parsed.form, titles)
    if parsed.entries:
        text += f", {len(parsed.entries)} nội dung đăng ký"
        if kinds["tap-the"] or kinds["ca-nhan"]:
            text += f" ({kinds['tap-the']} tập thể, {kinds['ca-nhan']} cá nhân)"
    return FileSummary(parsed.filename, text)


def _unread(parsed: ParsedFile, siblings: Sequence[ParsedFile]) -> str:
    """What to say of a file that is not a form: opened archive, scan, or truly unread."""
    inside = [f for f in siblings if f.filename.startswith(f"{parsed.filename}/")]
    asks = [p for p in parsed.problems if p.code not in INFORMATIONAL]
    if inside and not asks:
        return f"tệp nén, đã mở và đọc {len(inside)} tệp bên trong (kết quả từng tệp ở dưới)"
    if parsed.problems and not asks:
        return "bản chụp/bản scan, đã nhận; Ban Dân vận sẽ xem trực tiếp"
    if asks:
        return "chưa đọc được tự động (xem đề nghị bên dưới)"
    return "chưa đọc được tự động; Ban Dân vận sẽ xem trực tiếp"


def problems(
    files: Iterable[ParsedFile], statuses: Sequence[UnitStatus], titles: Mapping[str, str]
) -> list[str]:
    """Only what the parser is sure of: a doubt goes to the board, never to the unit."""
    found = [
        p.message for f in files for p in f.problems if p.certain and p.code not in INFORMATIONAL
    ]
    found += [p for s in statuses if s.status == "incomplete" for p in s.problems]
    return list(dict.fromkeys(wording.name_forms(p, titles) for p in found))


@dataclass(frozen=True)
class AckStatus:
    title: str
    deadline: str
    label: str
    letter: str  # "Công văn số ... về ...", or ""


def ack_status(s: UnitStatus) -> AckStatus:
    return AckStatus(
        s.requirement.title, s.deadline_phrase, wording.ACK_LABELS[s.status], citation(s)
    )


@dataclass(frozen=True)
class Group:
    name: str
    done: int
    total: int


def groups(statuses: Sequence[UnitStatus]) -> list[Group]:
    by_group: dict[str, list[UnitStatus]] = {}
    for s in statuses:
        by_group.setdefault(s.unit.group, []).append(s)
    return [
        Group(
            wording.GROUP_LABELS.get(g, g),
            sum(s.status in ("on_time", "late") for s in rows),
            len(rows),
        )
        for g, rows in by_group.items()
    ]


@dataclass(frozen=True)
class Row:
    unit: str
    requirement: str
    deadline: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class Section:
    title: str
    rows: list[Row]


def sections(statuses: Sequence[UnitStatus], titles: Mapping[str, str]) -> list[Section]:
    def rows(status: str) -> list[Row]:
        return [
            Row(
                s.unit.name,
                s.requirement.title,
                s.deadline_phrase,
                tuple(wording.name_forms(p, titles) for p in (*s.problems, *standing.doubts(s))),
            )
            for s in statuses
            if s.status == status
        ]

    return [
        Section("Đơn vị chưa gửi", rows("missing")),
        Section("Đơn vị gửi chưa đầy đủ", rows("incomplete")),
        Section("Đơn vị chờ kiểm tra hồ sơ (chưa báo đơn vị)", rows("checking")),
        Section("Đơn vị gửi trễ hạn", rows("late")),
    ]


def held_rows(
    held: Sequence[MessageRow], config: Config, guesses: Mapping[int, Sequence[Guess]]
) -> list[dict[str, str]]:
    """The messages waiting for the board, as the report lists them with their guesses."""
    names = {u.id: u.name for u in config.units}  # once, not once a message
    return [held_row(m, config, guesses.get(m.id, ()), names) for m in held]


def held_row(
    m: MessageRow,
    config: Config,
    guesses: Sequence[Guess],
    names: Mapping[str, str] | None = None,
) -> dict[str, str]:
    if names is None:
        names = {u.id: u.name for u in config.units}
    return {
        "received": wording.stamp(m.received_at, config.timezone),
        "sender": m.sender or "",
        "subject": m.subject or "",
        "guesses": "; ".join(
            f"{names.get(g.unit_id, g.unit_id)} ({g.score:.0f}%)" for g in guesses
        ),
    }
