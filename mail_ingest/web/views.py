"""The pages and actions: thin handlers that read the form, call the App the CLI calls, render.

Everything a stranger wrote (subjects, file names, registrants) reaches the page only
through autoescaped templates; downloads are always attachments, found by stored id.
"""

from __future__ import annotations

import logging
import sqlite3
from typing import Any

from flask import Flask, redirect, request, session, url_for
from werkzeug.wrappers import Response

from mail_ingest import wording
from mail_ingest.app import NotFound
from mail_ingest.standing import as_csv, doubts, notes_of
from mail_ingest.web import accounts
from mail_ingest.web.actions import (
    accept,
    assign,
    clear_failing,
    mark,
    outbox_cancel,
    outbox_retry,
    send_now,
    send_preview,
    teach,
    unmark,
    unteach,
    user_add,
    user_remove,
)
from mail_ingest.web.app import app_of, busy, config, csrf_token, now, require
from mail_ingest.web.common import download, instant, page
from mail_ingest.web.system import system_data
from parsers.model import FIELD_LABELS, KIND_LABELS, LEVEL_LABELS
from parsers.specs import FormSpec
from rules.status import STATUSES

log = logging.getLogger(__name__)
TEMPLATE_GLOBALS = {"LABELS": wording.STATUS_LABELS, "STATUSES": STATUSES,
                    "VIA": wording.VIA_LABELS, "KIND": KIND_LABELS, "FIELD": FIELD_LABELS,
                    "LEVEL": LEVEL_LABELS, "STATES": wording.OUTBOX_LABELS,
                    "OUTCOMES": wording.OUTCOME_LABELS, "doubts": doubts, "notes_of": notes_of,
                    "GROUP": wording.GROUP_LABELS}  # fmt: skip


VOCABULARY_LABELS = {"kind": ("Tập thể/Cá nhân", KIND_LABELS), "field": ("Lĩnh vực", FIELD_LABELS),
                     "level": ("Cấp", LEVEL_LABELS)}  # fmt: skip


def register(app: Flask) -> None:
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    for rule, view, methods in ROUTES:
        app.add_url_rule(rule, view.__name__, view, methods=methods)
    app.errorhandler(NotFound)(lambda e: (page("web/error.html.j2", code=404), 404))
    for code in (400, 401, 403, 404, 405, 413):
        app.errorhandler(code)(lambda e, c=code: (page("web/error.html.j2", code=c), c))
    app.errorhandler(sqlite3.OperationalError)(_busy)


def _busy(exc: sqlite3.OperationalError) -> tuple[str, int, dict[str, str]]:
    """A poll held the store longer than the page waits: say so, nothing was changed."""
    if not busy(exc):
        raise exc
    log.warning("%s %s: the store stayed locked; answered 503", request.method, request.path)
    return page("web/error.html.j2", code=503), 503, {"Retry-After": "10"}


# -- login -----------------------------------------------------------------------------


def login() -> Response | str:
    if request.method == "GET":
        csrf_token()
        return page("web/login.html.j2", error=None)
    name = request.form.get("name", "")[: accounts.MAX_NAME].strip()
    password = request.form.get("password", "")[:1024]
    address = request.remote_addr or "?"
    with app_of().store() as store:
        wait = accounts.wait(store, name, address)
        user = None if wait.total_seconds() > 0 else accounts.login(store, name, password, address)
    if user is None:
        error = (
            f"Đăng nhập sai nhiều lần; vui lòng thử lại sau {int(wait.total_seconds()) + 1} giây."
            if wait.total_seconds() > 0
            else "Tên đăng nhập hoặc mật khẩu không đúng."
        )
        return page("web/login.html.j2", error=error)
    session.clear()  # a new session: no fixation
    session["user"] = user.name
    session.permanent = True
    csrf_token()
    target = request.args.get("next", "")
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = url_for("overview")
    return redirect(target)


def logout() -> Response:
    session.clear()
    return redirect(url_for("login"))


# -- pages -------------------------------------------------------------------------------


def overview() -> str:
    data = app_of().status(instant(request.args.get("at")))
    group, state = request.args.get("group", ""), request.args.get("status", "")
    rows = [s for s in data.statuses
            if group in ("", s.unit.group) and state in ("", s.status)]  # fmt: skip
    groups = sorted(
        {s.unit.group for s in data.statuses},
        key=lambda g: (list(wording.GROUP_LABELS).index(g) if g in wording.GROUP_LABELS else 99, g),
    )
    by_requirement: dict[str, Any] = {}
    for s in data.statuses:
        entry = by_requirement.setdefault(
            s.requirement.id, {"requirement": s.requirement, "phrases": {}, "counts": {}}
        )
        entry["phrases"][s.deadline_phrase] = True
        counts = entry["counts"].setdefault(s.unit.group, dict.fromkeys(STATUSES, 0))
        counts[s.status] += 1
    checks = len(app_of().review().checks)
    return page("web/overview.html.j2", data=data, rows=rows, checks=checks, groups=groups,
                 group=group, state=state, summary=by_requirement,
                 at_value=request.args.get("at", ""))  # fmt: skip


def unit(unit_id: str) -> str:
    history = app_of().unit_history(unit_id)
    found = next(u for u in config().units if u.id == unit_id)
    return page("web/unit.html.j2", unit=found, history=history)


def review() -> str:
    cfg = config()
    data = app_of().review()
    names = {u.id: u.name for u in cfg.units}
    return page("web/review.html.j2", data=data, lessons=app_of().lessons(), names=names,
                 units=cfg.units,
                 meanings=_meanings(cfg.forms), forms={s.id: s for s in cfg.forms},
                 column_labels=dict(_meanings(cfg.forms)[0][1]),
                 VOCABULARIES=VOCABULARY_LABELS)  # fmt: skip


def _meanings(specs: tuple[FormSpec, ...]) -> list[tuple[str, list[tuple[str, str]]]]:
    """The choices of the teach form: (group label, [(value, label)]), a value being
    "header:COLUMN" or "value:VOCABULARY:ID" as `mail-ingest teach` takes them."""
    columns: dict[str, str] = {}
    for spec in specs:
        for c in spec.table.columns if spec.table else ():
            columns.setdefault(c.key, c.label)
    out = [("Tên cột (tiêu đề)", [(f"header:{k}", v) for k, v in sorted(columns.items())])]
    for vocabulary, (label, values) in VOCABULARY_LABELS.items():
        out.append((f"Giá trị: {label}", [(f"value:{vocabulary}:{k}", v)
                                          for k, v in values.items()]))  # fmt: skip
    return out


@require("admin")
def users() -> str:
    return page("web/users.html.j2", users=app_of().users(), ROLES=wording.ROLE_LABELS,
                 minimum=accounts.MIN_PASSWORD)  # fmt: skip


def manual() -> str:
    cfg = config()
    return page("web/manual.html.j2", marks=app_of().marks(), units=cfg.units,
                 requirements=cfg.requirements, names={u.id: u.name for u in cfg.units},
                 today=now().strftime("%Y-%m-%dT%H:%M"))  # fmt: skip


def consolidated() -> str:
    at = instant(request.args.get("at"))
    return page("web/consolidated.html.j2", rows=app_of().report_rows(at),
                 at_value=request.args.get("at", ""))  # fmt: skip


def workbook() -> Response:
    return download(*app_of().report_workbook(instant(request.args.get("at"))))


def status_csv() -> Response:
    at = instant(request.args.get("at"))
    data = app_of().status(at)
    text = "\ufeff" + as_csv(data.statuses, data.notes)  # BOM: Excel reads UTF-8
    return download(f"tinh-hinh-{at:%Y-%m-%d}.csv", text.encode("utf-8"))


def outbox() -> str:
    return page("web/outbox.html.j2", data=app_of().outbox(200))


def system() -> str:
    return page("web/system.html.j2", data=system_data(app_of(), now()))


def download_attachment(ident: int) -> Response:
    return download(*app_of().attachment(ident))


def download_message(ident: int) -> Response:
    return download(*app_of().raw_message(ident))


GET, POST = ["GET"], ["POST"]


ROUTES = (
    ("/dang-nhap", login, ["GET", "POST"]),
    ("/dang-xuat", logout, POST),
    ("/", overview, GET),
    ("/don-vi/<unit_id>", unit, GET),
    ("/cho-xu-ly", review, GET),
    ("/cho-xu-ly/gan", assign, POST),
    ("/cho-xu-ly/chap-nhan", accept, POST),
    ("/cho-xu-ly/day", teach, POST),
    ("/cho-xu-ly/bo-day", unteach, POST),
    ("/ban-giay", manual, GET),
    ("/ban-giay/ghi-nhan", mark, POST),
    ("/ban-giay/bo-ghi-nhan", unmark, POST),
    ("/tong-hop", consolidated, GET),
    ("/tong-hop.xlsx", workbook, GET),
    ("/tong-hop.csv", status_csv, GET),
    ("/thu-di", outbox, GET),
    ("/thu-di/gui-lai", outbox_retry, POST),
    ("/thu-di/huy", outbox_cancel, POST),
    ("/thu-di/bo-loi", clear_failing, POST),
    ("/thu-di/xem-truoc/<kind>", send_preview, GET),
    ("/thu-di/gui/<kind>", send_now, POST),
    ("/he-thong", system, GET),
    ("/tai-khoan", users, GET),
    ("/tai-khoan/them", user_add, POST),
    ("/tai-khoan/xoa", user_remove, POST),
    ("/tep/<int:ident>", download_attachment, GET),
    ("/thu/<int:ident>", download_message, GET),
)
