"""The composition root: one deployment's store and mailbox, and every action a person
or the scheduler takes on them, each with one code path.

The CLI, the scheduler, the demo and the web page are faces on these functions: they
take plain values (an `actor` names who acts, for the audit) and return records, never
printed text. Heavy modules (the parsers, openpyxl, jinja2) are imported by the actions
that need them, so `--help` and `health` start fast.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from mail_ingest.app_records import (
    Health,
    NotFound,
    Outbox,
    Pending,
    Review,
    Standing,
    StoredFile,
    UnitHistory,
)
from mail_ingest.config import Config
from mail_ingest.deployment import open_store, poll_config
from mail_ingest.store import (
    AuditRow,
    LearnedAddress,
    ManualSubmission,
    MessageRow,
    OutboxItem,
    Store,
    StoredLesson,
)

if TYPE_CHECKING:
    from mail_ingest.corrections import Assigned
    from mail_ingest.decisions import Decision, Kind
    from mail_ingest.delivery import DeliveryReport
    from mail_ingest.pipeline import PollResult, Progress
    from mail_ingest.web.accounts import User
    from parsers.model import Entry
    from rules.status import UnitStatus

log = logging.getLogger(__name__)

STUCK = timedelta(hours=6)  # pending longer than the longest retry wait: a person looks
ALL_KINDS: tuple[Kind, ...] = ("ack", "remind", "report")


class App:
    """One deployment. Each call opens the store for itself: callers hold no state."""

    def __init__(self, config: Config) -> None:
        self.config = config

    @contextmanager
    def store(self) -> Iterator[Store]:
        with open_store(self.config) as store:
            yield store

    def has_store(self) -> bool:
        """Whether the store exists (looking never creates one)."""
        return (self.config.storage / "mail-ingest.sqlite3").exists()

    # -- ingestion ---------------------------------------------------------------------
    def poll(self, progress: Progress | None = None) -> PollResult:
        return poll_config(self.config, progress)

    # -- what is due, and sending it ---------------------------------------------------
    def decide(
        self, now: datetime, kinds: Collection[Kind] = ALL_KINDS, *, force: bool = False
    ) -> list[Pending]:
        """Every mail due by `now` and whether it already went; writes and renders nothing."""
        from mail_ingest import decisions

        with self.store() as store:
            found = decisions.decide(self.config, store, now, kinds, force=force)
            return [Pending(d, decisions.is_sent(store, d)) for d in found]

    def send_due(
        self, now: datetime, kinds: Collection[Kind] = ALL_KINDS, *, force: bool = False
    ) -> DeliveryReport:
        """Decide, then act, under the store lock the poller takes too: each new decision
        is rendered, recorded under its key and delivered; sent keys cost nothing."""
        from mail_ingest import decisions

        with self.store() as store, store.lock():
            due = decisions.decide(self.config, store, now, kinds, force=force)
            return decisions.send(self.config, store, now, due)

    def render(self, decision: Decision) -> tuple[str, str, tuple[tuple[str, bytes], ...]]:
        """(subject, text, attachments as (name, bytes)) of a decision: a preview."""
        from mail_ingest import decisions

        mail = decisions.render(self.config, decision)
        return mail.subject, mail.text, tuple((a.filename, a.data) for a in mail.attachments)

    def report_workbook(self, now: datetime) -> tuple[str, bytes]:
        """(file name, bytes) of the report workbook as of `now`; sends and keeps nothing."""
        from mail_ingest import decisions, standing

        with self.store() as store:
            statuses = standing.compute(self.config, store, now)
            decision = decisions.report(self.config, store, statuses, now, force=True)
        assert decision.sheet is not None and decision.sheet_name is not None
        return decision.sheet_name, decisions.build_sheet(self.config, decision.sheet)

    # -- looking ----------------------------------------------------------------------
    def status(self, now: datetime, requirement: str | None = None) -> Standing:
        from mail_ingest import standing

        with self.store() as store:
            return Standing(
                now,
                standing.compute(self.config, store, now, requirement),
                standing.notes(self.config, store),
                len(store.attributions()),
            )

    def messages(self, limit: int = 50) -> list[MessageRow]:
        with self.store() as store:
            return store.messages(limit)

    def review(self) -> Review:
        with self.store() as store:
            return Review(
                store.attributions(),
                {m.id: m.review_reason for m in store.messages() if m.review_reason},
                store.checks(self.config.check_below),
                store.learned_addresses(),
            )

    def learned(self) -> list[LearnedAddress]:
        if not self.has_store():
            return []
        with self.store() as store:
            return store.learned_addresses()

    def lessons(self) -> list[StoredLesson]:
        if not self.has_store():
            return []
        with self.store() as store:
            return store.lessons()

    def audit(self, limit: int = 50) -> list[AuditRow]:
        with self.store() as store:
            return store.audit(limit)

    def outbox(self, limit: int | None = 30) -> Outbox:
        with self.store() as store:
            return Outbox(store.outbox(limit), store.failing_addresses())

    def health(self, now: datetime, max_age: timedelta | None = None) -> Health:
        """Good if a poll succeeded within `max_age` (3 poll intervals) and no mail needs
        a person (failed, interrupted, or pending longer than STUCK)."""
        limit = max_age if max_age is not None else timedelta(minutes=3 * self.config.poll_minutes)
        with self.store() as store:
            good, last = store.last_good_poll(), store.last_poll()
            attention = tuple(store.outbox_attention(now - STUCK))
        problems = []
        if good is None:
            problems.append("no poll has succeeded yet")
        elif now - good > limit:
            problems.append(f"no successful poll since {self.when(good)} (limit {_span(limit)})")
        problems += [self._attention(item) for item in attention[:10]]
        if len(attention) > 10:
            problems.append(f"and {len(attention) - 10} more: mail-ingest outbox")
        failure = (last[0], last[2]) if last is not None and last[2] else None
        return Health(not problems, good, failure, tuple(problems), attention)

    def when(self, instant: datetime) -> str:
        """An instant as the board reads its clock: local time, with the zone's offset."""
        local = instant.astimezone(self.config.timezone)
        offset = local.strftime("%z")
        return f"{local:%Y-%m-%d %H:%M} (UTC{offset[:3]}:{offset[3:5]})"

    def _attention(self, item: OutboxItem) -> str:
        if item.status == "pending":
            what = f"pending since {self.when(item.created_at)}"
        else:
            what = f"{item.status} ({item.last_error or 'no reason recorded'})"
        return f"mail {item.key} {what}: outbox --retry KEY or --cancel KEY"

    # -- deciding by hand (each kept in the store's audit) -----------------------------
    def assign(
        self, ref: str, unit_id: str, *, remember: bool, actor: str, note: str = ""
    ) -> Assigned:
        from mail_ingest import corrections

        with self.store() as store:
            return corrections.assign(
                self.config, store, ref, unit_id, remember=remember, by=actor, note=note
            )

    def mark(
        self,
        unit_id: str,
        requirement_id: str,
        received_at: datetime,
        *,
        forms: tuple[str, ...],
        via: str,
        note: str,
        actor: str,
    ) -> tuple[int, bool]:
        """A paper or Zalo submission; (its id, False if it was already recorded)."""
        from mail_ingest import corrections

        with self.store() as store:
            return corrections.mark(
                self.config, store, unit_id, requirement_id, received_at,
                forms=forms, via=via, note=note, by=actor,
            )  # fmt: skip

    def unmark(
        self, unit_id: str, requirement_id: str, *, forms: tuple[str, ...], actor: str, note: str
    ) -> list[int]:
        from mail_ingest import corrections

        with self.store() as store:
            return corrections.unmark(
                self.config, store, unit_id, requirement_id, forms=forms, by=actor, note=note
            )

    def accept(self, attachment: int, *, actor: str, note: str = "") -> bool:
        """The board accepts a file's reading as it is; KeyError if there is no such file."""
        with self.store() as store:
            return store.accept(attachment, actor, note)

    def teach(
        self,
        kind: str,
        text: str,
        meaning: str,
        vocabulary: str | None,
        form: str | None,
        *,
        actor: str,
        note: str = "",
    ) -> tuple[int, bool]:
        with self.store() as store:
            return store.teach(kind, text, meaning, vocabulary, form, actor, note)

    def unteach(self, ident: int, *, actor: str, note: str = "") -> bool:
        with self.store() as store:
            return store.unteach(ident, actor, note)

    # -- the outbox by hand --------------------------------------------------------------
    def retry(self, key: str, *, actor: str) -> bool:
        """Queue a failed or interrupted mail again (the board checked it never arrived)."""
        with self.store() as store:
            return store.outbox_retry(key, actor)

    def cancel(self, key: str, *, actor: str) -> bool:
        """Never send a waiting, failed or interrupted mail."""
        with self.store() as store:
            return store.outbox_cancel(key, actor)

    def clear_failing(self, address: str, *, actor: str) -> bool:
        """Send to an address that bounced again (the unit fixed its mailbox)."""
        with self.store() as store:
            return store.clear_failing(address, actor)

    # -- lessons, checked once for the CLI and the page ---------------------------------
    def learn(
        self, kind: str | None, args: Sequence[str], form: str | None, *, actor: str,
        note: str = "",
    ) -> tuple[int, bool, str, str]:  # fmt: skip
        """A lesson as `teach header|value` takes it: checked (CorrectionError, nothing
        stored), then taught; (its id, whether it is new, its text, its meaning)."""
        from mail_ingest import lessons

        text, meaning, vocabulary = lessons.check(self.config, kind, args, form)
        ident, new = self.teach(kind or "", text, meaning, vocabulary, form, actor=actor,
                                note=note)  # fmt: skip
        return ident, new, text, meaning

    # -- one unit, downloads, recent polls (the page's reads) ---------------------------
    def unit_history(self, unit_id: str) -> UnitHistory:
        """Every message of a unit with what was read in each file, its marks and audit."""
        if not any(u.id == unit_id for u in self.config.units):
            raise NotFound(unit_id)
        with self.store() as store:
            messages = [m for m in store.messages() if m.unit_id == unit_id]
            files = {m.id: [StoredFile(ident, m.id, size, parsed, checked)
                            for ident, size, parsed, checked in store.message_files(m.id)]
                     for m in messages}  # fmt: skip
            marks = [s for s in store.manual_submissions(removed=True) if s.unit_id == unit_id]
            audit = [a for a in store.audit() if a.unit_id == unit_id]
        return UnitHistory(messages, files, marks, audit)

    def marks(self) -> list[ManualSubmission]:
        """Every paper or Zalo submission recorded, removed ones included."""
        with self.store() as store:
            return store.manual_submissions(removed=True)

    def polls(self, limit: int = 10) -> list[dict[str, object]]:
        with self.store() as store:
            return store.polls(limit)

    def counts(self) -> dict[str, int]:
        with self.store() as store:
            return {t: store.count(t) for t in ("messages", "attachments", "outbox", "audit")}

    def raw_message(self, message: int) -> tuple[str, bytes]:
        """(file name, bytes) of a message as received; NotFound if only its header was kept."""
        from mail_ingest.archive import Archive

        with self.store() as store:
            digest = store.message_digest(message)
        if digest is None:
            raise NotFound(str(message))
        return f"thu-{message}.eml", Archive(self.config.storage / "archive").get(digest)

    def attachment(self, ident: int) -> tuple[str, bytes]:
        """The original bytes of a stored file, found again in its archived message by
        digest (a file inside a .zip unpacked the way ingestion did): never by a path."""
        from mail_ingest import mime
        from mail_ingest.archive import sha256
        from parsers.bundle import expand

        with self.store() as store:
            ref = store.attachment_ref(ident)
        if ref is None:
            raise NotFound(str(ident))
        message, name, digest = ref
        for part in mime.parse(self.raw_message(message)[1]).attachments:
            if sha256(part.data) == digest:
                return name, part.data
            for item in expand(part.filename, part.data):
                if sha256(item.data) == digest:
                    return name, item.data
        raise NotFound(str(ident))

    def report_rows(self, now: datetime) -> list[tuple[UnitStatus, Entry]]:
        """The consolidated list: every registered entry with its unit, as the workbook's
        second sheet orders them (field, group, unit)."""
        rows = [(s, e) for s in self.status(now).statuses for e in s.entries]
        rows.sort(key=lambda r: (r[1].field or "~", str(r[0].unit.group), str(r[0].unit.name)))
        return rows

    # -- web accounts (the `user` commands and the Tài khoản page) ----------------------
    def users(self) -> list[User]:
        from mail_ingest.web import accounts

        with self.store() as store:
            return accounts.users(store)

    def user_add(self, name: str, role: str, password: str, *, actor: str) -> User:
        from mail_ingest.web import accounts

        with self.store() as store:
            return accounts.add(store, name, role, password, actor)

    def user_remove(self, name: str, *, actor: str) -> None:
        from mail_ingest.web import accounts

        with self.store() as store:
            accounts.remove(store, name, actor)


def _span(span: timedelta) -> str:
    minutes = int(span.total_seconds() // 60)
    return f"{minutes // 60} h {minutes % 60} min" if minutes >= 60 else f"{minutes} min"


def dry_run_lines(pending: Sequence[Pending]) -> list[str]:
    """The decisions as a person reads them, one line each, without rendering a mail."""
    return [
        f"{'sent ' if p.sent else 'due  '} {p.decision.key} -> {', '.join(p.decision.to)}"
        for p in pending
    ]
