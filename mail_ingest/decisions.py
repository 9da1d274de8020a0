"""What the service tells people: acknowledgements, reminders and the daily report.

Deciding is pure: `decide` reads the store and the statuses as of `now` (so `--now`
replays any day) and returns Decisions, each with its idempotency key, its recipients
and what its mail will be built from. Acting is `send`: a decision whose key is already
in the outbox is skipped before anything is rendered (no template, no workbook); the
others are rendered, recorded under their key and delivered (`delivery.enqueue` sends
each key at most once), and a sent report is kept under <storage>/reports/.

- Acknowledgements answer a unit's mail that reached the store as a submission, within
  `ack_max_age` of its arrival: a first poll over a year-old mailbox answers nobody, and
  robots, bounces, lists and strangers never get one (their outcome is not submission).
- Reminders go on the working days derived from each requirement's `reminders`
  offsets, to units missing or incomplete at that moment.
- The report goes once a day, with the workbook attached.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from email.utils import parseaddr
from typing import Any, Literal

from mail_ingest import standing
from mail_ingest.config import Config
from mail_ingest.delivery import DeliveryReport, Outgoing, deliver, enqueue, transport_for
from mail_ingest.files import private_dir, write_private
from mail_ingest.mime import Attachment
from mail_ingest.outcomes import HELD
from mail_ingest.render import Templates
from mail_ingest.store import MessageRow, Store, outbox_key
from parsers.model import ParsedFile
from parsers.text import printable
from rules.calendar import public_holidays, reminder_days
from rules.match_model import Guess
from rules.status import CHECK_BELOW, UnitStatus, needs_check
from rules.units import UnitDirectory, address_key

log = logging.getLogger(__name__)

ACK_LABELS = {
    "on_time": "đã đầy đủ, đúng hạn",
    "late": "đã đầy đủ nhưng trễ hạn",
    "incomplete": "chưa đầy đủ",
    "checking": "đã nhận hồ sơ, đang chờ kiểm tra",
    "missing": "chưa nhận được hồ sơ",
}
GROUP_LABELS = {
    "xa": "Khối xã, thị trấn",
    "co-quan": "Khối cơ quan",
    "doan-the": "Khối Mặt trận và các đoàn thể",
    "llvt": "Khối lực lượng vũ trang",
}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
Kind = Literal["ack", "remind", "report"]
PROVISIONAL = "ack-provisional"  # the key prefix and templates of notices to a unit about
# mail a stranger sent in its name
KINDS: tuple[Kind, ...] = ("ack", "remind", "report")
UNKNOWN_SHOWN = 20  # in the mail; the workbook has them all


@dataclass(frozen=True)
class FileSummary:
    filename: str
    summary: str


@dataclass(frozen=True)
class Sheet:
    """What the report's workbook is built from (built only when the report is rendered)."""

    statuses: tuple[UnitStatus, ...]
    now: datetime
    held: tuple[Mapping[str, str], ...]
    notes: standing.Notes | None
    checks: tuple[Mapping[str, str], ...]
    unknown: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class Decision:
    """One mail that is due: who gets it, why, and what it will be built from.

    `context` is the template's context as it is (render.Templates); nothing is rendered
    until `render`, so a decision whose key was sent costs no template and no workbook.
    """

    kind: str  # ack | ack-provisional | remind | report
    key: str  # the outbox's idempotency key
    to: tuple[str, ...]
    template: str  # ack | ack-provisional | reminder | report
    context: Mapping[str, Any] = field(default_factory=dict, repr=False)
    cc: tuple[str, ...] = ()
    unit: str | None = None  # the unit's id, for an acknowledgement or a reminder
    requirement: str | None = None  # the requirement's id, for a reminder
    auto: Literal["auto-replied", "auto-generated"] = "auto-generated"
    in_reply_to: str | None = None
    sheet: Sheet | None = field(default=None, repr=False)  # the report's workbook
    sheet_name: str | None = None


def acknowledgements(
    config: Config, store: Store, statuses: Sequence[UnitStatus], now: datetime
) -> list[Decision]:
    """One receipt per recent submission, saying what was read and what is missing.

    Only to the From's single addr-spec parsed at arrival (MessageRow.sender_address),
    and only when it is the unit's own (listed, learned, or the board assigned the mail):
    a stranger who names a unit gets nothing, and the unit's addresses are told instead
    ("ack-provisional"), so nobody speaks for a unit without the unit knowing.
    """
    if not config.notify.acknowledge or config.smtp is None:
        return []
    learned = {a.address: a.unit_id for a in store.learned_addresses()}
    directory = UnitDirectory(config.units, learned)
    rows = {str(m.id): m for m in store.messages()}
    board = _board(config)
    own = address_key(config.smtp.sender)
    out = []
    for unit_id, submissions in store.submissions().items():
        unit = directory.get(unit_id)
        for submission in submissions:
            row = rows.get(submission.ref)  # manual corrections have no row: not mail
            if unit is None or row is None:
                continue
            if not now - config.notify.ack_max_age <= submission.received_at <= now:
                continue
            address = row.sender_address or ""
            if address_key(address) == own:
                continue
            mine = [s for s in statuses if s.unit.id == unit.id]
            context = dict(
                unit=unit, board=board, subject=row.subject or "", sender=address,
                received=submission.received_at, now=now,
                files=_summaries(submission.files, config.form_titles(), config.check_below),
                problems=_problems(submission.files, mine),
                checking=any(needs_check(f, config.check_below) for f in submission.files),
                statuses=[_ack_status(s) for s in mine],
            )  # fmt: skip
            kind = "ack" if _speaks_for(directory, row, unit.id) else PROVISIONAL
            if kind == "ack":
                to: tuple[str, ...] = (address,)
            else:  # the unit is told, never the stranger
                to = tuple(e for e in unit.emails if address_key(e) != own)
            if not to:
                continue
            out.append(
                Decision(
                    kind=kind, key=f"{kind}:{row.message_id or f'message-{row.id}'}", to=to,
                    template=kind, context=context, unit=unit.id, auto="auto-replied",
                    in_reply_to=row.message_id,
                )
            )  # fmt: skip
    return out


def _speaks_for(directory: UnitDirectory, row: MessageRow, unit_id: str) -> bool:
    """Whether the mail's own parsed address is the unit's, or the board said it is."""
    if row.evidence == "assigned":
        return row.sender_address is not None
    found = directory.lookup(row.sender_address or "")
    return found is not None and found[0].id == unit_id


def reminders(
    config: Config, statuses: Sequence[UnitStatus], now: datetime, *, force: bool = False
) -> list[Decision]:
    """Reminders due today (in the district's zone) once `reminders_at` has passed."""
    local = now.astimezone(config.timezone)
    if config.smtp is None or (local.time() < config.notify.reminders_at and not force):
        return []
    closed = public_holidays(range(local.year - 1, local.year + 2), config.notify.closed_days)
    out = []
    for s in statuses:
        if s.status not in ("missing", "incomplete") or not s.unit.emails:
            continue
        due_day = s.deadline.due_day()
        period = s.period.id if s.period and s.period.id else due_day.isoformat()
        today = [
            r
            for r in reminder_days(
                due_day,
                s.requirement.reminders,
                closed,
                config.notify.reminder_shift,  # type: ignore[arg-type]
            )
            if r.day == local.date()
        ]
        for r in today:
            context = dict(
                unit=s.unit, board=_board(config), title=s.requirement.title,
                deadline=s.deadline_phrase, status=s.status,
                problems=s.problems, now=now, overdue=now >= s.due,
            )  # fmt: skip
            out.append(
                Decision(
                    kind="remind", key=f"remind:{s.unit.id}:{s.requirement.id}:{period}:{r.offset}",
                    to=s.unit.emails, cc=s.unit.leaders, template="reminder", context=context,
                    unit=s.unit.id, requirement=s.requirement.id,
                )
            )  # fmt: skip
    return out


def daily_report(
    config: Config,
    statuses: Sequence[UnitStatus],
    held: Sequence[MessageRow],
    now: datetime,
    *,
    failing: Sequence[str] = (),
    force: bool = False,
    guesses: Mapping[int, Sequence[Guess]] | None = None,
    notes: standing.Notes | None = None,
    checks: Sequence[Mapping[str, str]] = (),
    unknown: Sequence[tuple[str, int]] = (),
) -> Decision:
    """The report for the latest `report_at` that has passed, as of `now`; its workbook is
    built when it is rendered.

    Keyed by that day: after days of downtime the board gets one report, not one per
    missed day; `force` (the command line) reports on `now`'s own day.
    """
    day = report_day(config, now, force=force)
    rows = [_held_row(m, config, (guesses or {}).get(m.id, ())) for m in held]
    sheet = Sheet(tuple(statuses), now, tuple(rows), notes, tuple(checks), tuple(unknown))
    counts = Counter(s.status for s in statuses)
    context = dict(
        board=_board(config), now=now, total=len(statuses),
        counts={k: counts[k] for k in ("on_time", "late", "incomplete", "checking", "missing")},
        checks=checks, unknown=unknown[:UNKNOWN_SHOWN],
        groups=_groups(statuses), sections=_sections(statuses), held=held, failing=failing,
        notes=[f"{s.unit.name}: {n}" for s in statuses for n in standing.notes_of(s, notes)],
        requirements=list(dict.fromkeys(
            f"{s.requirement.title}, {s.deadline_phrase}" for s in statuses
        )),
    )  # fmt: skip
    return Decision(
        kind="report", key=f"report:{day.isoformat()}", to=config.report_recipients,
        template="report", context=context, sheet=sheet,
        sheet_name=f"bao-cao-tinh-hinh-{day:%Y-%m-%d}.xlsx",
    )  # fmt: skip


def report(
    config: Config,
    store: Store,
    statuses: Sequence[UnitStatus],
    now: datetime,
    *,
    force: bool = False,
) -> Decision:
    """The daily report as of `now`, read from the store (whether or not anyone gets it)."""
    held = [m for m in store.messages() if m.outcome in HELD and m.received_at <= now]
    guesses = {a.id: a.guesses for a in store.attributions()}
    return daily_report(
        config, statuses, held, now, force=force, guesses=guesses,
        failing=_failing(config, store.failing_addresses()),
        notes=standing.notes(config, store), checks=standing.check_rows(config, store, now),
        unknown=standing.unknown(store, now),
    )  # fmt: skip


def report_day(config: Config, now: datetime, *, force: bool = False) -> date:
    """The day of the latest `report_at` passed by `now` (`force`: `now`'s own day)."""
    local = now.astimezone(config.timezone)
    if local.time() < config.notify.report_at and not force:
        return local.date() - timedelta(days=1)
    return local.date()


def report_is_due(config: Config, store: Store, now: datetime) -> bool:
    """Whether the latest report day began after this deployment started.

    A service first started at 10:00 owes no report for yesterday's 17:00: its first
    report is at the first `report_at` after its first poll. A missed one after that
    (the machine was off) is owed. An instant before the first poll (a replay) is not
    judged by it.
    """
    first = store.first_poll()
    if first is None or first > now:
        return True
    day = report_day(config, now)
    return datetime.combine(day, config.notify.report_at, tzinfo=config.timezone) >= first


def decide(
    config: Config,
    store: Store,
    now: datetime,
    kinds: Collection[Kind] = KINDS,
    *,
    force: bool = False,
) -> list[Decision]:
    """Every mail that should have gone out by `now`, sent or not (`send` skips those whose
    key is in the outbox). Reads the store, writes nothing, renders nothing.

    `force` ignores the times of day ([schedule]), for a person asking from the command line.
    """
    statuses = standing.compute(config, store, now)
    out: list[Decision] = []
    if "ack" in kinds:
        out += acknowledgements(config, store, statuses, now)
    if "remind" in kinds:
        out += reminders(config, statuses, now, force=force)
    if (
        "report" in kinds
        and config.report_recipients
        and (force or report_is_due(config, store, now))
    ):
        out.append(report(config, store, statuses, now, force=force))
    return out


def due(
    config: Config,
    store: Store,
    now: datetime,
    kinds: Collection[Kind] = KINDS,
    *,
    force: bool = False,
) -> list[Outgoing]:
    """The decisions of `decide`, rendered: what each mail would say (tests, previews)."""
    return [render(config, d) for d in decide(config, store, now, kinds, force=force)]


def is_sent(store: Store, decision: Decision | Outgoing) -> bool:
    """Whether the decision's key is already in the outbox (sent, waiting or failed)."""
    return store.outbox_has(outbox_key(decision.key))


def render(config: Config, decision: Decision) -> Outgoing:
    """The mail a decision calls for: its template rendered, a report's workbook built."""
    text = Templates(config.timezone, config.notify.templates).render(
        decision.template, **decision.context
    )
    attachments: tuple[Attachment, ...] = ()
    if decision.sheet is not None:
        name = decision.sheet_name or "bao-cao.xlsx"
        attachments = (Attachment(name, XLSX, build_sheet(config, decision.sheet)),)
    return Outgoing(
        key=decision.key, to=decision.to, cc=decision.cc, subject=text.subject, text=text.text,
        html=text.html, attachments=attachments, auto=decision.auto,
        in_reply_to=decision.in_reply_to,
    )  # fmt: skip


def build_sheet(config: Config, sheet: Sheet) -> bytes:
    """The report workbook's bytes."""
    from mail_ingest import workbook  # here: openpyxl costs every other command 0.3 s to import

    return workbook.build(
        sheet.statuses, sheet.now, config.timezone, sheet.held, sheet.notes, sheet.checks,
        sheet.unknown,
    )  # fmt: skip


def send_due(config: Config, now: datetime, kinds: Collection[Kind] = KINDS) -> DeliveryReport:
    """One notification cycle for a deployment, under the store lock the poller takes too."""
    with Store(config.storage / "mail-ingest.sqlite3") as store, store.lock():
        return send(config, store, now, decide(config, store, now, kinds))


def send(
    config: Config, store: Store, now: datetime, items: Iterable[Decision | Outgoing]
) -> DeliveryReport:
    """Record each mail under its key (once, within the daily cap), then deliver the outbox.

    A decision whose key is in the outbox is skipped before it is rendered. One mail that
    cannot be rendered or composed (a header `email` refuses, a bug) is recorded as
    failed with its reason; it never stops the others.
    """
    assert config.smtp is not None
    for item in items:
        if is_sent(store, item):
            continue
        mail = item if isinstance(item, Outgoing) else _unrendered(item)
        mail = replace(mail, key=outbox_key(mail.key))  # bounded and printable, for logs too
        try:
            if isinstance(item, Decision):
                mail = replace(render(config, item), key=mail.key)
            _record(config, store, mail, now)
        except Exception as exc:
            log.exception("outbox %s: cannot compose this mail", mail.key)
            why = str(exc) if isinstance(exc, ValueError) else f"{type(exc).__name__}: {exc}"
            _record_failure(store, mail, f"cannot compose this mail: {why}", now)
    return deliver(store, transport_for(config.smtp), config.smtp.sender, now)


def _record(config: Config, store: Store, mail: Outgoing, now: datetime) -> None:
    """Enqueue one mail unless sent before, to bounced addresses only, or over the cap."""
    assert config.smtp is not None
    if store.outbox_has(mail.key):
        return
    unreachable = store.failing_addresses()
    if any(parseaddr(r)[1].lower() in unreachable for r in (*mail.to, *mail.cc)):
        log.warning("not sending %s to addresses that bounced: %s", mail.key, mail.to)
        to, cc = (
            tuple(r for r in rs if parseaddr(r)[1].lower() not in unreachable)
            for rs in (mail.to, mail.cc)
        )
        if not to:
            return
        mail = replace(mail, to=to, cc=cc)
    if mail.auto == "auto-replied" or mail.key.startswith("remind:"):
        # Each mail is in the outbox once enqueued (committed), so the count includes
        # those of this very run: counting them here as well would halve the cap.
        since = now - timedelta(days=1)
        recipients = [parseaddr(r)[1].lower() for r in mail.to]
        # Notices about strangers' mail have a cap of their own: a flood of them must not
        # use up the unit's acknowledgements and reminders.
        provisional = mail.key.startswith(f"{PROVISIONAL}:")
        if any(
            store.outbox_sent_to(r, since, f"{PROVISIONAL}:", among=provisional)
            >= config.notify.daily_cap
            for r in recipients
        ):
            log.warning("daily cap reached for %s; not sending %s", recipients, mail.key)
            return
    if enqueue(store, mail, config.smtp.sender, now) and mail.key.startswith("report:"):
        try:
            _keep(config, mail)
        except OSError:  # the mail still goes; only the copy on disk is missing
            log.exception("%s: cannot keep its files under %s", mail.key, config.storage)


def _unrendered(decision: Decision) -> Outgoing:
    """A decision's mail before rendering: enough to record its failure if rendering fails."""
    subject = f"({decision.kind}: {decision.unit or decision.key})"
    return Outgoing(key=decision.key, to=decision.to, cc=decision.cc, subject=subject, text="")


def _record_failure(store: Store, mail: Outgoing, reason: str, now: datetime) -> None:
    """The outbox shows the board what could not be sent and why; if even that fails, the
    log does, and the other mails still go."""
    try:
        recipients = [printable(a) for r in (*mail.to, *mail.cc) if (a := parseaddr(r)[1])]
        store.outbox_failed(mail.key, recipients, printable(mail.subject), reason, now)
    except Exception:
        log.exception("outbox %s: cannot even record the failure; skipped", mail.key)


def _keep(config: Config, mail: Outgoing) -> None:
    """A report as sent, under the storage folder too: written once it is in the outbox,
    never by a dry run or a decision, so the folder holds exactly what was sent."""
    folder = private_dir(config.storage / "reports")
    [attachment] = mail.attachments
    stem = attachment.filename.removesuffix(".xlsx")
    write_private(folder / f"{stem}.xlsx", attachment.data)
    write_private(folder / f"{stem}.html", (mail.html or "").encode("utf-8"))


def _failing(config: Config, failing: Mapping[str, datetime]) -> list[str]:
    """Units' addresses that bounced, as the report lists them for the board to fix."""
    owners = {e.lower(): u.name for u in config.units for e in u.emails}
    return [
        f"{owners.get(address, 'không thuộc đơn vị nào')}: {address} "
        f"(thư báo lỗi từ {since.astimezone(config.timezone):%d/%m/%Y})"
        for address, since in sorted(failing.items())
    ]


def _board(config: Config) -> str:
    """The board's name as it signs: the display name of the sender address."""
    name = parseaddr(config.smtp.sender)[0] if config.smtp else ""
    return name or "Ban Dân vận Huyện ủy"


# Problems that only inform (a scan was received and will be looked at): said next to the
# file, never under "Đề nghị đơn vị kiểm tra, bổ sung", which asks the unit to act.
INFORMATIONAL = frozenset({"scan-needs-review"})
CHECKING = "đã nhận, đang chờ cán bộ kiểm tra nội dung"


def _summaries(
    files: Sequence[ParsedFile], titles: dict[str, str], check_below: float = CHECK_BELOW
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
    parsed: ParsedFile, titles: dict[str, str], siblings: Sequence[ParsedFile] = ()
) -> FileSummary:
    if parsed.form is None:
        return FileSummary(parsed.filename, _unread(parsed, siblings))
    kinds = Counter(e.kind for e in parsed.entries)
    text = titles.get(parsed.form, parsed.form)
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


def _problems(files: Iterable[ParsedFile], statuses: Sequence[UnitStatus]) -> list[str]:
    """Only what the parser is sure of: a doubt goes to the board, never to the unit."""
    found = [
        p.message for f in files for p in f.problems if p.certain and p.code not in INFORMATIONAL
    ]
    found += [p for s in statuses if s.status == "incomplete" for p in s.problems]
    return list(dict.fromkeys(found))


@dataclass(frozen=True)
class _AckStatus:
    title: str
    deadline: str
    label: str


def _ack_status(s: UnitStatus) -> _AckStatus:
    return _AckStatus(s.requirement.title, s.deadline_phrase, ACK_LABELS[s.status])


@dataclass(frozen=True)
class _Group:
    name: str
    done: int
    total: int


def _groups(statuses: Sequence[UnitStatus]) -> list[_Group]:
    groups: dict[str, list[UnitStatus]] = {}
    for s in statuses:
        groups.setdefault(s.unit.group, []).append(s)
    return [
        _Group(
            GROUP_LABELS.get(g, g), sum(s.status in ("on_time", "late") for s in rows), len(rows)
        )
        for g, rows in groups.items()
    ]


@dataclass(frozen=True)
class _Row:
    unit: str
    requirement: str
    deadline: str
    problems: tuple[str, ...]


@dataclass(frozen=True)
class _Section:
    title: str
    rows: list[_Row]


def _sections(statuses: Sequence[UnitStatus]) -> list[_Section]:
    def rows(status: str) -> list[_Row]:
        return [
            _Row(
                s.unit.name,
                s.requirement.title,
                s.deadline_phrase,
                (*s.problems, *standing.doubts(s)),
            )
            for s in statuses
            if s.status == status
        ]

    return [
        _Section("Đơn vị chưa gửi", rows("missing")),
        _Section("Đơn vị gửi chưa đầy đủ", rows("incomplete")),
        _Section("Đơn vị chờ kiểm tra hồ sơ (chưa báo đơn vị)", rows("checking")),
        _Section("Đơn vị gửi trễ hạn", rows("late")),
    ]


def _held_row(m: MessageRow, config: Config, guesses: Sequence[Guess]) -> dict[str, str]:
    names = {u.id: u.name for u in config.units}
    return {
        "received": f"{m.received_at.astimezone(config.timezone):%H:%M %d/%m/%Y}",
        "sender": m.sender or "",
        "subject": m.subject or "",
        "guesses": "; ".join(
            f"{names.get(g.unit_id, g.unit_id)} ({g.score:.0f}%)" for g in guesses
        ),
    }
