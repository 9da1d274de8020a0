"""Mail that must never count as a submission: robots answering, bouncing or broadcasting.

An out-of-office reply from a unit's address is not that unit's submission, and a
bounce is not a reply. The signals are the standard ones (RFC 3834 Auto-Submitted,
RFC 3464 delivery reports, RFC 2369/2919 list headers) plus the vendor headers that
Exchange, Gmail and common autoresponders still send instead.
"""

from __future__ import annotations

from collections.abc import Mapping
from email.utils import parseaddr
from typing import Literal

Kind = Literal["auto-reply", "bounce", "mailing-list"]

_BOUNCE_SENDERS = ("mailer-daemon", "postmaster")
_AUTO_SUBJECTS = ("auto:", "automatic reply", "autoreply", "out of office", "trả lời tự động")


def classify(headers: Mapping[str, str]) -> Kind | None:
    """Why a message must not count, or None for mail written by a person."""
    content_type = headers.get("content-type", "").lower()
    local_part = parseaddr(headers.get("from", ""))[1].lower().partition("@")[0]
    if "report-type=delivery-status" in content_type.replace('"', "").replace(" ", ""):
        return "bounce"
    if local_part in _BOUNCE_SENDERS or headers.get("return-path", "").strip() == "<>":
        return "bounce"
    if headers.get("auto-submitted", "no").strip().lower() not in ("", "no"):
        return "auto-reply"
    if "x-autoreply" in headers or "x-autorespond" in headers:
        return "auto-reply"
    if headers.get("subject", "").strip().lower().startswith(_AUTO_SUBJECTS):
        return "auto-reply"
    if "list-id" in headers or "list-unsubscribe" in headers:
        return "mailing-list"
    if headers.get("precedence", "").strip().lower() in ("bulk", "list", "junk"):
        return "mailing-list"
    return None
