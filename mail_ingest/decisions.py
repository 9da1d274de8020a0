"""What the service tells people: acknowledgements, reminders and the daily report.

Deciding is pure: `decide` reads the store and statuses as of `now` (`--now` replays any
day) and returns Decisions (decision.py): idempotency key, recipients, what the mail is
built from. Acting is sending.py: a decision whose key is already in the outbox is
skipped before rendering; the others are rendered, recorded under their key, delivered.

- Acknowledgements answer a unit's mail that reached the store as a submission, within
  `ack_max_age` of its arrival: a first poll over a year-old mailbox answers nobody, and
  robots, bounces, lists and strangers never get one (their outcome is not submission).
- Reminders go on the working days derived from each requirement's `reminders`
  offsets, to units missing or incomplete at that moment, never within the hour after
  an acknowledgement to the same unit (`_not_after_ack`).
- The report goes once a day, with the workbook attached.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from datetime import date, datetime, time, timedelta
from email.utils import parseaddr

from mail_ingest import contexts, standing, thread, wording
from mail_ingest.archive import Archive
from mail_ingest.config import Config
from mail_ingest.decision import KINDS, PROVISIONAL, Decision, Kind, Sheet
from mail_ingest.delivery import DeliveryReport, Outgoing
from mail_ingest.holiday_cache import closed_days
from mail_ingest.outcomes import HELD
from mail_ingest.sending import XLSX, build_sheet, is_sent, render, send
from mail_ingest.store import MessageRow, Store
from rules.calendar import is_working_day, reminder_days
from rules.match_model import Guess
from rules.status import Submission, UnitStatus, needs_check
from rules.units import UnitDirectory, address_key

__all__ = [  # importers (the web page, app.py, tests) keep reading them from here
    "ACK_LABELS", "GROUP_LABELS", "KINDS", "PROVISIONAL", "XLSX", "Decision", "Kind",
    "Outgoing", "Sheet", "build_sheet", "decide", "due", "is_sent", "render", "send",
    "send_due",
]  # fmt: skip

log = logging.getLogger(__name__)

ACK_LABELS = wording.ACK_LABELS  # kept under their old names for the web page
GROUP_LABELS = wording.GROUP_LABELS
UNKNOWN_SHOWN = 20  # in the mail; the workbook has them all
MAX_CLOSED_RUN = timedelta(days=14)  # the longest run of closed days looked back over (Tết)


def acknowledgements(
    config: Config, store: Store, statuses: Sequence[UnitStatus], now: datetime, *,
    submissions: Mapping[str, list[Submission]] | None = None,
    messages: Sequence[MessageRow] | None = None,
) -> list[Decision]:  # fmt: skip
    """One receipt per recent submission, saying what was read and what is missing.

    Only to the From's single addr-spec parsed at arrival (MessageRow.sender_address),
    and only when it is the unit's own (listed, learned, or the board assigned the mail):
    a stranger who names a unit gets nothing, and the unit's addresses are told instead
    ("ack-provisional"), so nobody speaks for a unit without the unit knowing. A reply to
    one of our mails that carries no file (a thank-you) is not answered: a reply with the
    corrected file is a submission like any other, and is.
    """
    if not config.notify.acknowledge or config.smtp is None:
        return []
    learned = {a.address: a.unit_id for a in store.learned_addresses()}
    directory = UnitDirectory(config.units, learned)
    rows = {str(m.id): m for m in (store.messages() if messages is None else messages)}
    by_unit: dict[str, list[UnitStatus]] = {}  # a unit's statuses, found once
    for s in statuses:
        by_unit.setdefault(s.unit.id, []).append(s)
    titles = config.form_titles()
    archive = Archive(config.storage / "archive")
    own = address_key(config.smtp.sender)
    ours = store.own_message_ids()
    out = []
    for unit_id, sent in (store.submissions() if submissions is None else submissions).items():
        unit = directory.get(unit_id)
        for submission in sent:
            row = rows.get(submission.ref)  # manual corrections have no row: not mail
            if unit is None or row is None:
                continue
            if not now - config.notify.ack_max_age <= submission.received_at <= now:
                continue
            address = row.sender_address or ""
            if address_key(address) == own:
                continue
            if not submission.files and thread.answers_us(store, archive, row.id, ours):
                continue  # "đã nhận, cảm ơn" to our mail: conversation, not a new submission
            mine = by_unit.get(unit.id, [])
            found = contexts.problems(submission.files, mine, titles)
            context = dict(
                contexts.common(config), unit=unit, subject=row.subject or "",
                reply_subject=wording.reply_subject(row.subject or ""), sender=address,
                received=submission.received_at, now=now,
                files=contexts.summaries(submission.files, titles, config.check_below),
                problems=found,
                checking=any(needs_check(f, config.check_below) for f in submission.files),
                statuses=[contexts.ack_status(s) for s in mine],
                reply_welcome=bool(found) or any(
                    s.status in ("missing", "incomplete") for s in mine),
            )  # fmt: skip
            kind = "ack" if _speaks_for(directory, row, unit.id) else PROVISIONAL
            if kind == "ack":
                to: tuple[str, ...] = contexts.named(unit.name, (address,))
            else:  # the unit is told, never the stranger
                to = contexts.named(unit.name, (e for e in unit.emails if address_key(e) != own))
            if not to:
                continue
            out.append(
                Decision(
                    kind=kind, key=f"{kind}:{row.message_id or f'message-{row.id}'}", to=to,
                    template=kind, context=context, unit=unit.id, auto="auto-replied",
                    in_reply_to=row.message_id,
                    references=thread.references(store, archive, row.id, row.message_id),
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
    config: Config,
    statuses: Sequence[UnitStatus],
    now: datetime,
    *,
    force: bool = False,
    day: date | None = None,
) -> list[Decision]:
    """Reminders due today (in the district's zone) once `reminders_at` has passed; those
    of another `day` (a reminder carried over), worded as of `now`."""
    local = now.astimezone(config.timezone)
    on = day or local.date()
    if config.smtp is None or (local.time() < config.notify.reminders_at and not force):
        return []
    closed = closed_days(config, local.year)
    titles = config.form_titles()
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
            if r.day == on
        ]
        for r in today:
            context = dict(
                contexts.common(config), unit=s.unit, title=s.requirement.title,
                letter=contexts.citation(s), deadline=s.deadline_phrase, status=s.status,
                problems=[wording.name_forms(p, titles) for p in s.problems], now=now,
                overdue=now >= s.due,
                public_url=config.web.public_url if s.unit.leaders else None,
            )  # fmt: skip
            out.append(
                Decision(
                    kind="remind", key=f"remind:{s.unit.id}:{s.requirement.id}:{period}:{r.offset}",
                    to=contexts.named(s.unit.name, s.unit.emails), cc=s.unit.leaders,
                    template="reminder", context=context,
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
    rows = contexts.held_rows(held, config, guesses or {})
    sheet = Sheet(tuple(statuses), now, tuple(rows), notes, tuple(checks), tuple(unknown))
    counts = Counter(s.status for s in statuses)
    titles = config.form_titles()
    context = dict(
        contexts.common(config), now=now, total=len(statuses),
        counts={k: counts[k] for k in ("on_time", "late", "incomplete", "checking", "missing")},
        checks=checks, unknown=unknown[:UNKNOWN_SHOWN],
        groups=contexts.groups(statuses), sections=contexts.sections(statuses, titles),
        held=held, failing=failing,
        notes=[f"{s.unit.name}: {n}" for s in statuses for n in standing.notes_of(s, notes)],
        requirements=list(dict.fromkeys(
            f"{s.requirement.title}, {s.deadline_phrase}" for s in statuses
        )),
        public_url=config.web.public_url,
    )  # fmt: skip
    return Decision(
        kind="report", key=f"report:{day.isoformat()}",
        to=contexts.named(contexts.board(config), config.report_recipients),
        template="report", context=context, sheet=sheet,
        sheet_name=f"bao-cao-tinh-hinh-{day:%Y-%m-%d}.xlsx",
    )  # fmt: skip


def report(
    config: Config, store: Store, statuses: Sequence[UnitStatus], now: datetime, *,
    force: bool = False, messages: Sequence[MessageRow] | None = None,
) -> Decision:  # fmt: skip
    """The daily report as of `now`, read from the store (whether or not anyone gets it)."""
    messages = store.messages() if messages is None else messages
    held = [m for m in messages if m.outcome in HELD and m.received_at <= now]
    guesses = {a.id: a.guesses for a in store.attributions()}
    return daily_report(
        config, statuses, held, now, force=force, guesses=guesses,
        failing=contexts.failing(config, store.failing_addresses()),
        notes=standing.notes(config, store, messages),
        checks=standing.check_rows(config, store, now),
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
    submissions, messages = store.submissions(), store.messages()  # once, for every kind
    statuses = standing.compute(config, store, now, submissions=submissions)
    out: list[Decision] = []
    answers = "ack" in kinds or "remind" in kinds  # a reminder waits after an answer
    acks = acknowledgements(config, store, statuses, now, submissions=submissions,
                            messages=messages) if answers else []  # fmt: skip
    if "ack" in kinds:
        out += acks
    if "remind" in kinds:
        today = reminders(config, statuses, now, force=force)
        today += _carried(config, store, statuses, now, acks, today, force=force)
        out += _not_after_ack(store, today, acks, now)
    if (
        "report" in kinds
        and config.report_recipients
        and (force or report_is_due(config, store, now))
    ):
        out.append(report(config, store, statuses, now, force=force, messages=messages))
    return out


ACK_QUIET = timedelta(hours=1)


def _not_after_ack(
    store: Store, reminders: Sequence[Decision], acks: Sequence[Decision], now: datetime
) -> list[Decision]:
    """Reminders, less those to a unit answered within the hour (or being answered now).

    The acknowledgement already told the unit what is missing, in the same words; a
    reminder right behind it reads as a complaint about mail just sent. Deferred, not
    dropped: the reminder is decided again at every cycle, and goes at the first one past
    the hour (see `_carried` for an hour that crosses midnight). An acknowledgement
    always goes: it answers.
    """
    answering = {d.unit for d in acks if not is_sent(store, d)}
    out = []
    for r in reminders:
        if is_sent(store, r):
            out.append(r)
        elif r.unit in answering or _acked(store, _addresses(r, acks), now - ACK_QUIET, None):
            log.info("%s: deferred, the unit was acknowledged within the hour", r.key)
        else:
            out.append(r)
    return out


def _carried(
    config: Config,
    store: Store,
    statuses: Sequence[UnitStatus],
    now: datetime,
    acks: Sequence[Decision],
    today: Sequence[Decision],
    *,
    force: bool = False,
) -> list[Decision]:
    """Reminders that an acknowledgement in their day's last hour held past midnight.

    A unit acknowledged at 23:30 before that day's reminder went (the service was down,
    or the unit wrote every few minutes) would otherwise never get it: its day ended
    inside the quiet hour. A board expects the reminder still, but not at night and not
    on a closed day: it goes at the next working day's `reminders_at` under its own key
    (so once), if the unit still lacks something then, and not at all when one of
    today's own reminders says the same.
    """
    local = now.astimezone(config.timezone)
    closed = closed_days(config, local.year)
    if not is_working_day(local.date(), closed):
        return []
    planned = {(d.unit, d.requirement) for d in today}
    carried: list[Decision] = []
    day = local.date() - timedelta(days=1)
    while True:  # every day since the previous working day, that one included
        midnight = datetime.combine(day + timedelta(days=1), time(0), tzinfo=config.timezone)
        carried += [
            r
            for r in reminders(config, statuses, now, force=force, day=day)
            if (r.unit, r.requirement) not in planned
            and not is_sent(store, r)
            and _acked(store, _addresses(r, acks), midnight - ACK_QUIET, midnight)
        ]
        if is_working_day(day, closed) or local.date() - day > MAX_CLOSED_RUN:
            return carried
        day -= timedelta(days=1)


def _addresses(reminder: Decision, acks: Sequence[Decision]) -> set[str]:
    """Where the reminder's unit is written to: its addresses and those its recent
    acknowledgements went to (a learned or assigned sender is the unit's too)."""
    named = [*reminder.to, *(a for d in acks if d.unit == reminder.unit for a in d.to)]
    return {parseaddr(a)[1].lower() for a in named if parseaddr(a)[1]}


def _acked(store: Store, addresses: set[str], since: datetime, until: datetime | None) -> bool:
    """Whether an acknowledgement was recorded for one of the addresses in [since, until)."""
    for address in addresses:
        count = store.outbox_sent_to(address, since, "ack:", among=True)
        if until is not None:
            count -= store.outbox_sent_to(address, until, "ack:", among=True)
        if count > 0:
            return True
    return False


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


def send_due(config: Config, now: datetime, kinds: Collection[Kind] = KINDS) -> DeliveryReport:
    """One notification cycle for a deployment, under the store lock the poller takes too."""
    with Store(config.storage / "mail-ingest.sqlite3") as store, store.lock():
        return send(config, store, now, decide(config, store, now, kinds))
