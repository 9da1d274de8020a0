"""What every handler of the page does alike: render, read an instant, download, flash."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import flash, render_template
from werkzeug.wrappers import Response

from mail_ingest.web.app import config, now


def page(template: str, **context: Any) -> str:
    return render_template(template, **context)


def instant(text: str | None) -> datetime:
    """A `datetime-local` field, in the district's timezone; empty or wrong: now."""
    if text:
        try:
            value = datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=config().timezone)
        except ValueError:
            flash("Thời điểm không hợp lệ; đang hiển thị tình hình hiện tại.", "error")
    return now()


def download(name: str, data: bytes) -> Response:
    """Always a download, never shown inline: a unit's file is not the page's content."""
    response = Response(data, mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=name)
    return response


def done(ok: bool, good: str, bad: str) -> None:
    flash(good if ok else bad, "ok" if ok else "error")
