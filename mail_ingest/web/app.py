"""The Flask application: sessions, CSRF, roles and security headers around views.py.

Every route needs a session except the login page and the style sheet. A session is a
signed cookie holding the user's name and a CSRF token; the user is looked up again on
every request, so a removed account stops at once. Leaders read, staff act, admins also
manage users (`require`).
"""

from __future__ import annotations

import hmac
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Flask, abort, g, redirect, request, session, url_for
from jinja2 import PackageLoader, StrictUndefined
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

from mail_ingest import wording
from mail_ingest.app import App, open_store
from mail_ingest.config import Config
from mail_ingest.store import Store
from mail_ingest.web import accounts

OPEN = frozenset({"login", "static"})  # the only endpoints reachable without a session
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)
F = TypeVar("F", bound=Callable[..., Any])
# How long an action waits for the store's write lock (a poll writing) before the page
# says "busy, try again" instead of hanging the browser for the store's own 30 s.
BUSY_MS = 8000


def create_app(config: Config, clock: datetime | None = None) -> Flask:
    """The page for `config`; with `clock`, it shows and acts as of that fixed instant
    (the demo's campaign day, a rehearsal), else as of now."""
    app = Flask(__name__, static_folder="static")
    app.config.update(
        SECRET_KEY=accounts.secret_key(config.storage),
        SESSION_COOKIE_NAME="mail_ingest_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(config.web.public_url or "").startswith("https://"),
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
        MAX_CONTENT_LENGTH=64 * 1024,  # forms only: nobody uploads here
        MAIL_INGEST=config,
        MAIL_INGEST_CLOCK=clock,
    )
    # The mail templates' loader and filters: the same Vietnamese dates everywhere.
    app.jinja_loader = PackageLoader("mail_ingest", "templates")
    app.jinja_env.undefined = StrictUndefined
    app.jinja_env.autoescape = True  # every page template is HTML (Flask's own test is .html)
    app.jinja_env.trim_blocks = app.jinja_env.lstrip_blocks = True
    tz = config.timezone
    app.jinja_env.filters["clock"] = lambda t: wording.clock(t, tz) if t else ""
    names = form_names(config)
    app.jinja_env.filters["form_names"] = lambda ids: ", ".join(names.get(i, i) for i in ids)
    app.jinja_env.filters["short"] = lambda t: wording.stamp(t, tz) if t else ""
    if config.web.proxied:  # one proxy in front: its X-Forwarded-For/Proto/Host/Prefix
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)  # type: ignore[method-assign]
    app.before_request(_gate)
    app.after_request(_headers)
    app.context_processor(lambda: {"user": g.get("user"), "csrf": csrf_token()})
    from mail_ingest.web import views

    views.register(app)
    return app


def form_names(config: Config) -> dict[str, str]:
    """A form as the board names it in a line: "Mẫu số 01" from its title's "(mẫu số 01)",
    else its whole title (an id is nobody's word for a form)."""
    names = {}
    for spec in config.forms:
        found = re.search(r"\((mẫu[^()]*)\)\s*$", spec.title, re.IGNORECASE)
        names[spec.id] = found.group(1).capitalize() if found else spec.title
    return names


def config() -> Config:
    from flask import current_app

    return cast(Config, current_app.config["MAIL_INGEST"])


def app_of() -> App:
    """The application layer the page acts through, as the CLI does; its store waits
    BUSY_MS for a poll's write lock, then the page says "busy, try again"."""
    return WebApp(config())


class WebApp(App):
    @contextmanager
    def store(self) -> Iterator[Store]:
        with super().store() as store:
            store.busy_timeout(BUSY_MS)
            yield store


def busy(exc: BaseException) -> bool:
    """The store stayed locked by another writer (a poll) longer than BUSY_MS."""
    return isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc)


def csrf_token() -> str:
    if "csrf" not in session:
        session["csrf"] = secrets.token_urlsafe(32)
    return str(session["csrf"])


def _gate() -> Response | None:
    """Session, then CSRF: nothing runs for a stranger or a forged form."""
    if request.method == "POST":
        sent = request.form.get("csrf", "")
        if not sent or not hmac.compare_digest(sent, str(session.get("csrf", ""))):
            abort(403)
    if request.endpoint in OPEN:
        return None
    name = session.get("user")
    user = None
    if isinstance(name, str):
        with open_store(config()) as store:
            user = accounts.get(store, name)
    if user is None:
        session.pop("user", None)
        if request.method != "GET":
            abort(401)
        return redirect(url_for("login", next=request.full_path if request.args else request.path))
    g.user = user
    return None


def require(role: str) -> Callable[[F], F]:
    """The view needs at least `role` (leaders read; staff act; admins manage users)."""

    def decorate(view: F) -> F:
        @wraps(view)
        def guarded(*args: Any, **kwargs: Any) -> Any:
            if not g.user.can(role):
                abort(403)
            return view(*args, **kwargs)

        return cast(F, guarded)

    return decorate


def _headers(response: Response) -> Response:
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["X-Frame-Options"] = "DENY"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers.setdefault("Cache-Control", "no-store")
    return response


def now() -> datetime:
    from flask import current_app

    fixed = current_app.config.get("MAIL_INGEST_CLOCK")
    return fixed if isinstance(fixed, datetime) else datetime.now(config().timezone)
