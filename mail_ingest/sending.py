"""Acting on decisions: render each new one, record it under its key, deliver the outbox.

A decision whose key is already in the outbox is skipped before it is rendered (no
template, no workbook); `delivery.enqueue` records each key at most once, and a sent
report is kept under <storage>/reports/, so that folder holds exactly what was sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime, timedelta
from email.utils import parseaddr
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from mail_ingest.config import Config
from mail_ingest.decision import PROVISIONAL, Decision, Sheet
from mail_ingest.delivery import DeliveryReport, Outgoing, deliver, enqueue
from mail_ingest.files import private_dir, write_private
from mail_ingest.mime import Attachment
from mail_ingest.store import Store, outbox_key
from mail_ingest.transports import transport_for
from parsers.text import printable

if TYPE_CHECKING:
    from mail_ingest.render import Templates

log = logging.getLogger(__name__)

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def is_sent(store: Store, decision: Decision | Outgoing) -> bool:
    """Whether the decision's key is already in the outbox (sent, waiting or failed)."""
    return store.outbox_has(outbox_key(decision.key))


def render(config: Config, decision: Decision) -> Outgoing:
    """The mail a decision calls for: its template rendered, a report's workbook built."""
    text = _templates(config.timezone, config.notify.templates).render(
        decision.template, **decision.context
    )
    attachments: tuple[Attachment, ...] = ()
    if decision.sheet is not None:
        name = decision.sheet_name or "bao-cao.xlsx"
        attachments = (Attachment(name, XLSX, build_sheet(config, decision.sheet)),)
    return Outgoing(
        key=decision.key, to=decision.to, cc=decision.cc, subject=text.subject, text=text.text,
        html=text.html, attachments=attachments, auto=decision.auto,
        in_reply_to=decision.in_reply_to, references=decision.references,
    )  # fmt: skip


@cache
def _templates(tz: ZoneInfo, folder: Path | None) -> Templates:
    """One jinja2 environment per deployment: it compiles each template once (~3 ms),
    not once per mail, and still reloads a district's template edited on disk. jinja2 is
    imported here: a day with nothing to send does without it."""
    from mail_ingest.render import Templates

    return Templates(tz, folder)


def build_sheet(config: Config, sheet: Sheet) -> bytes:
    """The report workbook's bytes."""
    from mail_ingest import workbook  # here: openpyxl costs every other command 0.3 s to import

    return workbook.build(
        sheet.statuses, sheet.now, config.timezone, sheet.held, sheet.notes, sheet.checks,
        sheet.unknown, config.form_titles(),
    )  # fmt: skip


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
