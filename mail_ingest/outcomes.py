"""What became of a message, one name per fate, shared by the pipeline, the status, the
review queue and the faces (CLI, report, web page), so nobody compares bare strings.

Stored as their values (TEXT in `messages.outcome`), so a StrEnum member and the string
read back from the store compare equal.
"""

from __future__ import annotations

from enum import StrEnum


class Outcome(StrEnum):
    # From a unit (its address, or its name with enough confidence: provisional, and the
    # unit is told, decisions.acknowledgements): counts.
    SUBMISSION = "submission"
    # A unit's name is there but not certainly (weak or two close units), or spelt with
    # look-alike letters, or the board's server says the From may be forged
    # (review_reason says which): held for `mail-ingest review`.
    NEEDS_REVIEW = "needs-review"
    UNKNOWN_SENDER = "unknown-sender"  # no unit guessed at all: held
    AUTO_REPLY = "auto-reply"  # robots and lists never count
    BOUNCE = "bounce"
    MAILING_LIST = "mailing-list"
    IGNORED = "ignored"  # not from a unit, no attachment, no unit in the subject (header only)
    TOO_LARGE = "too-large"  # over mailbox.max_message_bytes, not downloaded (header only)
    ERROR = "error"  # could not be read at all (the error column says why)


OUTCOMES: tuple[Outcome, ...] = tuple(Outcome)
HELD: tuple[Outcome, ...] = (Outcome.NEEDS_REVIEW, Outcome.UNKNOWN_SENDER)  # `review` lists
# What `assign` may turn into a submission: held mail, or mail counted for the wrong unit.
ASSIGNABLE: tuple[Outcome, ...] = (*HELD, Outcome.SUBMISSION)
