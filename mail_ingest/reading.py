"""One message read: from its raw bytes to the record the store keeps.

MIME, robots and bounces, size, the attached forms (parsed in the sandbox), who sent it
and whether the board must look. Whatever goes wrong is this message's error alone.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING

import parsers
from mail_ingest import mime
from mail_ingest.classify import classify
from mail_ingest.mailbox import FetchedMessage
from mail_ingest.outcomes import Outcome
from mail_ingest.store import MessageRecord, StoredAttachment
from parsers.vocabulary import NOTHING_TAUGHT, Taught
from rules import authres
from rules.units import UnitDirectory

if TYPE_CHECKING:  # at run time imported by the first message: a poll with nothing new,
    # the service's usual one, loads neither the name matcher nor the parsers
    from mail_ingest.sandboxed import Read
    from rules.matching import UnitMatcher

log = logging.getLogger(__name__)

MIME_SECONDS = 30.0  # a unit's mail is read in milliseconds
_BODY_HEAD, _BODY_TAIL = 3000, 1500  # the greeting and the signature; not every quoted reply


def unread(fetched: FetchedMessage, digest: str) -> MessageRecord:
    """What is known of a message before it is read: an error until reading says more."""
    return MessageRecord(
        sha256=digest,
        size=fetched.size,
        message_id=None,
        sender=None,
        subject=None,
        received_at=fetched.received_at,
        unit_id=None,
        outcome=Outcome.ERROR,
        headers_only=fetched.partial is not None,
        gm_msgid=fetched.gm_msgid,
        header_sha256=mime.header_digest(fetched.raw),
    )


def process(
    fetched: FetchedMessage,
    digest: str,
    units: UnitDirectory | UnitMatcher,
    specs: Sequence[parsers.FormSpec],
    *,
    authserv_id: str | None = None,
    taught: Taught = NOTHING_TAUGHT,
) -> MessageRecord:
    """Everything about one message; never raises (a failure becomes an 'error' record)."""
    from mail_ingest.attachments import read_attachments
    from rules.matching import UnitMatcher

    matcher = units if isinstance(units, UnitMatcher) else UnitMatcher(units)
    base = unread(fetched, digest)
    mail, ready = (fetched.header, ()) if fetched.header else _read(fetched, specs, taught)
    if isinstance(mail, str):
        return replace(base, error=mail)
    for note in mail.notes:
        log.warning("%s uid=%s: %s", fetched.source, fetched.uid, note)
    # The address alone first: a robot writing from a unit's address stays traceable to it.
    # Only the From's parsed addr-spec: its decoded text may spell any address.
    known = matcher.directory.lookup(mail.sender_address or "")
    base = replace(
        base, message_id=mail.message_id, sender=mail.sender, subject=mail.subject,
        sender_address=mail.sender_address, reported_ids=mail.reported_ids,
        unit_id=known[0].id if known else None, evidence=known[1] if known else None,
    )  # fmt: skip
    if mail.structure_error is not None:
        return replace(base, error=mail.structure_error)
    if fetched.partial == "ours":  # our own report or receipt, back in All Mail
        return replace(base, outcome=Outcome.IGNORED)
    robot = classify(mail.headers)
    if robot is not None:
        return replace(base, outcome=Outcome(robot), failed_recipients=mail.failed_recipients)
    if fetched.partial == "too-large":
        return replace(base, outcome=Outcome.TOO_LARGE, error=_too_large(fetched.size))
    if fetched.partial is not None:  # a copy is recorded as the message it copies
        return replace(base, outcome=Outcome.IGNORED)
    subject = mail.subject or ""
    # One budget for the message's files; an archive adds a row per file inside it.
    attachments = read_attachments(mail.attachments, subject, specs, taught, ready)
    record = _attribute(base, mail, attachments, matcher)
    # The board's server says the From may be forged: held, even from a unit's address.
    forged = authres.review_reason(authres.header_fields(fetched.raw), authserv_id)
    if forged:
        outcome = Outcome.NEEDS_REVIEW if record.outcome == Outcome.SUBMISSION else record.outcome
        reason = "; ".join(r for r in (record.review_reason, forged) if r)
        record = replace(record, outcome=outcome, review_reason=reason)
    return replace(record, attachments=attachments)


def _read(fetched: FetchedMessage, specs: Sequence[parsers.FormSpec], taught: Taught) -> Read:
    """The message's structure and its plain files, read in one sandbox call
    (mail_ingest.sandboxed); when that fails, the structure alone, and the files later
    one by one, so that what failed is recorded against the part that caused it."""
    from mail_ingest import attachments, sandbox, sandboxed

    try:
        return sandbox.run(
            sandboxed.read,
            fetched.raw,
            shared=attachments.shared(specs, taught),
            timeout=MIME_SECONDS + sandbox.TIMEOUT,
        )
    except sandbox.Failed as failed:
        log.warning("reading uid=%s whole failed (%s); piece by piece", fetched.uid, failed.why)
    return _parse_mime(fetched), ()


def _parse_mime(fetched: FetchedMessage) -> mime.Mail | str:
    """The message's structure, read in the sandbox, or why it cannot be read.

    After the forms, the email package's line-by-line parse is the largest cost of a
    poll; in a sandbox worker it runs beside the poll's own work, on the other core, and
    under the sandbox's limits: a stranger's maze of parts costs at most MIME_SECONDS."""
    from mail_ingest import sandbox

    try:
        return sandbox.run(mime.parse_or_reason, fetched.raw, timeout=MIME_SECONDS)
    except sandbox.Failed as failed:  # the email package has surprises for hostile input
        log.warning("cannot parse message uid=%s: %s %s", fetched.uid, failed.why, failed.detail)
        return f"cannot read the message structure ({failed.why}): {failed.detail}"


def _attribute(
    base: MessageRecord,
    mail: mime.Mail,
    attachments: Sequence[StoredAttachment],
    matcher: UnitMatcher,
) -> MessageRecord:
    """After parsing, because the unit line at the top of the forms is evidence too."""
    found = matcher.identify(mail.sender_address or "", _texts(mail, attachments))
    if found.unit_id is not None:
        by_name = found.evidence not in ("address", "learned-address")
        return replace(
            base, outcome=Outcome.SUBMISSION, unit_id=found.unit_id, evidence=found.evidence,
            confidence=found.confidence, guesses=found.guesses if by_name else (),
        )  # fmt: skip
    outcome = Outcome.NEEDS_REVIEW if found.guesses else Outcome.UNKNOWN_SENDER
    return replace(base, outcome=outcome, guesses=found.guesses, review_reason=found.review_reason)


def _texts(mail: mime.Mail, attachments: Sequence[StoredAttachment]) -> dict[str, str]:
    """Where a unit's name may be written, by key of rules.matching.SOURCES."""
    body = mail.body
    if len(body) > _BODY_HEAD + _BODY_TAIL:
        body = body[:_BODY_HEAD] + "\n" + body[-_BODY_TAIL:]
    return {
        "subject": mail.subject or "",
        "form": " | ".join(a.parsed.fields.get("don_vi", "") for a in attachments),
        "filename": " | ".join(a.filename for a in attachments),
        "body": body,
    }


def _too_large(size: int) -> str:
    return f"message of {size / 1048576:.1f} MB is over mailbox.max_message_bytes; not downloaded"
