"""The pages and actions: thin handlers that read the form, call the App the CLI calls, render.

Everything a stranger wrote (subjects, file names, registrants) reaches the page only
through autoescaped templates; downloads are always attachments, found by stored id.
"""

from __future__ import annotations

import logging
import sqlite3
from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

from flask import Flask, abort, flash, g, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response

from mail_ingest import __version__
from mail_ingest.app import App, NotFound
from mail_ingest.decisions import GROUP_LABELS
from mail_ingest.errors import LockedError, MailIngestError
from mail_ingest.service import refuse_beside_service
from mail_ingest.standing import LABELS, as_csv, doubts, notes_of
from mail_ingest.web import accounts
from mail_ingest.web.app import app_of, busy, config, csrf_token, form_names, now, require
from parsers.model import FIELD_LABELS, KIND_LABELS, LEVEL_LABELS
from parsers.specs import FormSpec
from rules.status import STATUSES

log = logging.getLogger(__name__)
VIA = {"paper": "Bản giấy", "zalo": "Zalo", "other": "Hình thức khác"}
OUTBOX_STATES = {"sent": "Đã gửi", "pending": "Đang chờ gửi", "sending": "Đang gửi",
                 "failed": "Gửi không được", "unknown": "Chưa rõ đã gửi chưa",
                 "cancelled": "Đã hủy"}  # fmt: skip
OUTCOMES = {"submission": "Hồ sơ", "needs-review": "Chờ xác định đơn vị",
            "unknown-sender": "Người gửi lạ", "ignored": "Không liên quan",
            "auto-reply": "Thư trả lời tự động", "bounce": "Thư báo lỗi gửi",
            "too-large": "Quá lớn", "error": "Lỗi đọc thư"}  # fmt: skip
TEMPLATE_GLOBALS = {"LABELS": LABELS, "STATUSES": STATUSES, "VIA": VIA, "KIND": KIND_LABELS,
                    "FIELD": FIELD_LABELS, "LEVEL": LEVEL_LABELS, "STATES": OUTBOX_STATES,
                    "OUTCOMES": OUTCOMES, "doubts": doubts, "notes_of": notes_of,
                    "GROUP": GROUP_LABELS}  # fmt: skip
MAILBOXES = {"imap": "IMAP (máy chủ thư)", "maildir": "thư mục Maildir trên máy"}
ROLE_LABELS = {"leader": "Lãnh đạo (chỉ xem)", "staff": "Cán bộ (xem và xử lý)",
               "admin": "Quản trị (xử lý và quản lý tài khoản)"}  # fmt: skip
VOCABULARY_LABELS = {"kind": ("Tập thể/Cá nhân", KIND_LABELS), "field": ("Lĩnh vực", FIELD_LABELS),
                     "level": ("Cấp", LEVEL_LABELS)}  # fmt: skip


def register(app: Flask) -> None:
    app.jinja_env.globals.update(TEMPLATE_GLOBALS)
    for rule, view, methods in ROUTES:
        app.add_url_rule(rule, view.__name__, view, methods=methods)
    app.errorhandler(NotFound)(lambda e: (_page("web/error.html.j2", code=404), 404))
    for code in (400, 401, 403, 404, 405, 413):
        app.errorhandler(code)(lambda e, c=code: (_page("web/error.html.j2", code=c), c))
    app.errorhandler(sqlite3.OperationalError)(_busy)


def _busy(exc: sqlite3.OperationalError) -> tuple[str, int, dict[str, str]]:
    """A poll held the store longer than the page waits: say so, nothing was changed."""
    if not busy(exc):
        raise exc
    log.warning("%s %s: the store stayed locked; answered 503", request.method, request.path)
    return _page("web/error.html.j2", code=503), 503, {"Retry-After": "10"}


def _page(template: str, **context: Any) -> str:
    return render_template(template, **context)


def _instant(text: str | None) -> datetime:
    """A `datetime-local` field, in the district's timezone; empty or wrong: now."""
    if text:
        try:
            value = datetime.fromisoformat(text)
            return value if value.tzinfo else value.replace(tzinfo=config().timezone)
        except ValueError:
            flash("Thời điểm không hợp lệ; đang hiển thị tình hình hiện tại.", "error")
    return now()


def _download(name: str, data: bytes) -> Response:
    """Always a download, never shown inline: a unit's file is not the page's content."""
    response = Response(data, mimetype="application/octet-stream")
    response.headers.set("Content-Disposition", "attachment", filename=name)
    return response


def _done(ok: bool, good: str, bad: str) -> None:
    flash(good if ok else bad, "ok" if ok else "error")


# -- login -----------------------------------------------------------------------------


def login() -> Response | str:
    if request.method == "GET":
        csrf_token()
        return _page("web/login.html.j2", error=None)
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
        return _page("web/login.html.j2", error=error)
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
    data = app_of().status(_instant(request.args.get("at")))
    group, state = request.args.get("group", ""), request.args.get("status", "")
    rows = [s for s in data.statuses
            if group in ("", s.unit.group) and state in ("", s.status)]  # fmt: skip
    groups = sorted(
        {s.unit.group for s in data.statuses},
        key=lambda g: (list(GROUP_LABELS).index(g) if g in GROUP_LABELS else 99, g),
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
    return _page("web/overview.html.j2", data=data, rows=rows, checks=checks, groups=groups,
                 group=group, state=state, summary=by_requirement,
                 at_value=request.args.get("at", ""))  # fmt: skip


def unit(unit_id: str) -> str:
    history = app_of().unit_history(unit_id)
    found = next(u for u in config().units if u.id == unit_id)
    return _page("web/unit.html.j2", unit=found, history=history)


def review() -> str:
    cfg = config()
    data = app_of().review()
    names = {u.id: u.name for u in cfg.units}
    return _page("web/review.html.j2", data=data, lessons=app_of().lessons(), names=names,
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


@require("staff")
def teach() -> Response:
    form = request.form
    text = form.get("text", "")[:1000]
    kind, _, rest = form.get("meaning", "").partition(":")
    scope = form.get("form") or None
    args = (text, rest) if kind == "header" else (text, *rest.split(":", 1))
    try:
        ident, new, _, _ = app_of().learn(kind, args, scope, actor=g.user.name,
                                          note=form.get("note", "")[:500])  # fmt: skip
        _done(new, f"Đã ghi nhận cách hiểu số {ident}; các tệp nhận sau sẽ được đọc theo đó.",
              f"Cách hiểu số {ident} đã có từ trước; không thay đổi gì.")  # fmt: skip
    except MailIngestError as exc:
        log.info("teach refused: %s", exc)
        flash("Không ghi nhận được: cần nhập nội dung (tối đa 200 ký tự) và chọn ý nghĩa.",
              "error")  # fmt: skip
    return redirect(url_for("review"))


@require("staff")
def unteach() -> Response:
    ident = request.form.get("lesson", type=int)
    if ident is None:
        abort(400)
    _done(app_of().unteach(ident, actor=g.user.name, note=request.form.get("note", "")[:500]),
          f"Đã thôi áp dụng cách hiểu số {ident}.",
          f"Cách hiểu số {ident} không còn được áp dụng.")  # fmt: skip
    return redirect(url_for("review"))


@require("admin")
def users() -> str:
    return _page("web/users.html.j2", users=app_of().users(), ROLES=ROLE_LABELS,
                 minimum=accounts.MIN_PASSWORD)  # fmt: skip


@require("admin")
def user_add() -> Response:
    form = request.form
    name, role = form.get("name", "")[: accounts.MAX_NAME + 1], form.get("role", "")
    password = form.get("password", "")[:1024]
    if password != form.get("password2", "")[:1024]:
        flash("Hai lần nhập mật khẩu không khớp nhau.", "error")
        return redirect(url_for("users"))
    try:
        app_of().user_add(name, role, password, actor=g.user.name)
        flash(f"Đã tạo tài khoản {name.strip()} ({ROLE_LABELS[role]}).", "ok")
    except MailIngestError as exc:
        log.info("user add refused: %s", exc)
        flash("Không tạo được tài khoản: tên từ 1 đến 64 ký tự, chưa có ai dùng, chọn vai trò,"
              f" mật khẩu ít nhất {accounts.MIN_PASSWORD} ký tự.", "error")  # fmt: skip
    return redirect(url_for("users"))


@require("admin")
def user_remove() -> Response:
    name = request.form.get("name", "")
    if name == g.user.name:
        flash("Không thể tự xóa tài khoản đang dùng; nhờ một quản trị khác.", "error")
        return redirect(url_for("users"))
    try:
        app_of().user_remove(name, actor=g.user.name)
        flash(f"Đã xóa tài khoản {name}.", "ok")
    except MailIngestError as exc:
        log.info("user remove refused: %s", exc)
        flash("Không có tài khoản này.", "error")
    return redirect(url_for("users"))


@require("staff")
def assign() -> Response:
    message = request.form.get("message", type=int)
    unit_id = request.form.get("unit", "")
    if message is None:
        abort(400)
    try:
        done = app_of().assign(str(message), unit_id, actor=g.user.name,
                              remember=request.form.get("remember") == "1",
                              note=request.form.get("note", "")[:500])  # fmt: skip
        name = next((u.name for u in config().units if u.id == unit_id), unit_id)
        flash(f"Đã xác định thư #{message} là hồ sơ của {name}."
              + (" Đã ghi nhớ địa chỉ gửi." if done.learned else ""), "ok")  # fmt: skip
    except MailIngestError as exc:
        log.info("assign %s to %s refused: %s", message, unit_id, exc)
        flash(f"Không gán được thư #{message} cho đơn vị đã chọn.", "error")
    return redirect(url_for("review"))


@require("staff")
def accept() -> Response:
    ident = request.form.get("attachment", type=int)
    if ident is None:
        abort(400)
    try:
        changed = app_of().accept(ident, actor=g.user.name,
                                  note=request.form.get("note", "")[:500])  # fmt: skip
    except KeyError:
        raise NotFound(str(ident)) from None
    _done(changed, f"Đã xác nhận kết quả đọc tệp số {ident}.",
          f"Tệp số {ident} đã được xác nhận trước đó.")  # fmt: skip
    return redirect(url_for("review"))


def manual() -> str:
    cfg = config()
    return _page("web/manual.html.j2", marks=app_of().marks(), units=cfg.units,
                 requirements=cfg.requirements, names={u.id: u.name for u in cfg.units},
                 today=now().strftime("%Y-%m-%dT%H:%M"))  # fmt: skip


@require("staff")
def mark() -> Response:
    form = request.form
    try:
        received = datetime.fromisoformat(form.get("received", ""))
        if received.tzinfo is None:
            received = received.replace(tzinfo=config().timezone)
        _, created = app_of().mark(
            form.get("unit", ""), form.get("requirement", ""), received,
            forms=tuple(form.getlist("form")), via=form.get("via", "paper"),
            note=form.get("note", "")[:1000], actor=g.user.name,
        )  # fmt: skip
        _done(created, "Đã ghi nhận hồ sơ nộp trực tiếp.", "Hồ sơ này đã được ghi nhận trước đó.")
    except (ValueError, MailIngestError) as exc:
        log.info("mark refused: %s", exc)
        flash("Không ghi nhận được: vui lòng chọn đơn vị, yêu cầu, thời điểm nhận và ghi chú.",
              "error")  # fmt: skip
    return redirect(url_for("manual"))


@require("staff")
def unmark() -> Response:
    form = request.form
    try:
        app_of().unmark(form.get("unit", ""), form.get("requirement", ""), forms=(),
                        actor=g.user.name, note=form.get("note", "")[:1000])  # fmt: skip
        flash("Đã thôi tính hồ sơ nộp trực tiếp này (vẫn lưu trong nhật ký).", "ok")
    except MailIngestError as exc:
        log.info("unmark refused: %s", exc)
        flash("Không có hồ sơ nộp trực tiếp nào để bỏ ghi nhận.", "error")
    return redirect(url_for("manual"))


def consolidated() -> str:
    at = _instant(request.args.get("at"))
    return _page("web/consolidated.html.j2", rows=app_of().report_rows(at),
                 at_value=request.args.get("at", ""))  # fmt: skip


def workbook() -> Response:
    return _download(*app_of().report_workbook(_instant(request.args.get("at"))))


def status_csv() -> Response:
    at = _instant(request.args.get("at"))
    data = app_of().status(at)
    text = "\ufeff" + as_csv(data.statuses, data.notes)  # BOM: Excel reads UTF-8
    return _download(f"tinh-hinh-{at:%Y-%m-%d}.csv", text.encode("utf-8"))


def outbox() -> str:
    return _page("web/outbox.html.j2", data=app_of().outbox(200))


@require("staff")
def outbox_retry() -> Response:
    key = request.form.get("key", "")
    _done(app_of().retry(key, actor=g.user.name),
          "Đã xếp thư vào hàng chờ gửi lại.",
          "Thư này không ở trạng thái có thể gửi lại.")  # fmt: skip
    return redirect(url_for("outbox"))


@require("staff")
def outbox_cancel() -> Response:
    key = request.form.get("key", "")
    _done(app_of().cancel(key, actor=g.user.name),
          "Đã hủy, thư sẽ không được gửi.", "Thư này không ở trạng thái có thể hủy.")  # fmt: skip
    return redirect(url_for("outbox"))


@require("staff")
def clear_failing() -> Response:
    address = request.form.get("address", "")
    _done(app_of().clear_failing(address, actor=g.user.name),
          "Đã bỏ đánh dấu lỗi; thư sẽ được gửi đến địa chỉ này trở lại.",
          "Địa chỉ này không bị đánh dấu lỗi.")  # fmt: skip
    return redirect(url_for("outbox"))


SENDS = {"remind": "nhắc nhở", "report": "báo cáo"}  # what `remind` and `report` send


@require("staff")
def send_preview(kind: str) -> str:
    """What `remind`/`report --dry-run` prints: the mails that would go now, unsent."""
    if kind not in SENDS:
        abort(404)
    app = app_of()
    pending = app.decide(now(), (kind,), force=True)  # type: ignore[arg-type]
    fresh = [(p.decision, *app.render(p.decision)) for p in pending if not p.sent]
    return _page("web/send.html.j2", kind=kind, what=SENDS[kind], fresh=fresh,
                 sent=len(pending) - len(fresh), smtp=app.config.smtp is not None)  # fmt: skip


@require("staff")
def send_now(kind: str) -> Response:
    """What `remind`/`report` do, refused as they are while the service runs (it sends)."""
    if kind not in SENDS:
        abort(404)
    app = app_of()
    if app.config.smtp is None:
        flash("Chưa cấu hình máy chủ gửi thư ([smtp]); không gửi được.", "error")
        return redirect(url_for("outbox"))
    try:
        refuse_beside_service(app.config)
    except LockedError:
        flash("Dịch vụ đang chạy và tự gửi theo lịch; không gửi tay lúc này để tránh gửi"
              " trùng.", "error")  # fmt: skip
        return redirect(url_for("outbox"))
    result = app.send_due(now(), (kind,), force=True)  # type: ignore[arg-type]
    log.info("%s sent %s by hand: %s sent, %s to retry, %s failed", g.user.name, kind,
             result.sent, result.retrying, result.failed)  # fmt: skip
    flash(f"Đã gửi {result.sent} thư {SENDS[kind]}; {result.retrying} thư sẽ thử gửi lại;"
          f" {result.failed} thư gửi không được.", "error" if result.failed else "ok")  # fmt: skip
    return redirect(url_for("outbox"))


def system() -> str:
    return _page("web/system.html.j2", data=_system(app_of(), now()))


def download_attachment(ident: int) -> Response:
    return _download(*app_of().attachment(ident))


def download_message(ident: int) -> Response:
    return _download(*app_of().raw_message(ident))


@dataclass(frozen=True)
class System:
    last_good: datetime | None
    polls: list[dict[str, Any]]
    problems: list[str]
    counts: dict[str, int]
    versions: dict[str, str]
    config_lines: list[str]


def _system(app: App, at: datetime) -> System:
    """What `health` and `check-config` say, in the board's words, and the latest polls."""
    cfg = app.config
    health = app.health(at)
    held = app.status(at).held
    problems = []
    if health.last_good_poll is None:
        problems.append("Chưa có lần kiểm tra hộp thư nào thành công.")
    elif at - health.last_good_poll > timedelta(minutes=3 * cfg.poll_minutes):
        problems.append("Đã quá lâu chưa kiểm tra được hộp thư.")
    if health.last_failure is not None:
        problems.append(f"Lần kiểm tra hộp thư gần nhất bị lỗi: {health.last_failure[1]}")
    if health.attention:
        problems.append(f"{len(health.attention)} thư gửi đi cần người xem (trang Thư đi).")
    if held:
        problems.append(f"{held} thư chưa xác định được đơn vị gửi (trang Chờ xử lý).")
    polls = [{**p, "started_at": datetime.fromisoformat(str(p["started_at"]))}
             for p in app.polls()]  # fmt: skip
    groups = Counter(u.group for u in cfg.units)
    forms = form_names(cfg)
    lines = [
        f"Tệp cấu hình: {cfg.path}",
        f"Múi giờ: {cfg.timezone.key}",
        f"Hộp thư: {MAILBOXES.get(cfg.mailbox.kind, cfg.mailbox.kind)}",
        "Đơn vị: " + "; ".join(f"{GROUP_LABELS.get(g, g)}: {n}" for g, n in groups.items()),
        *(f"{r.title}: {', '.join(forms.get(f, f) for f in r.forms)}, {r.schedule.phrase()}"
          for r in cfg.requirements),
    ]  # fmt: skip
    versions = {"mail-ingest": __version__}
    for package in ("flask", "waitress", "openpyxl", "python-docx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return System(health.last_good_poll, polls, problems, app.counts(), versions, lines)


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
