"""What staff do on the page: each handler reads the form and calls the App method its CLI
command calls (same checks, same audit row with the user's name), then says what happened."""

from __future__ import annotations

import logging
from datetime import datetime

from flask import abort, flash, g, redirect, request, url_for
from werkzeug.wrappers import Response

from mail_ingest import wording
from mail_ingest.app import NotFound
from mail_ingest.errors import LockedError, MailIngestError
from mail_ingest.service import refuse_beside_service
from mail_ingest.web import accounts
from mail_ingest.web.app import app_of, config, now, require
from mail_ingest.web.common import done, page

log = logging.getLogger(__name__)


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
        done(new, f"Đã ghi nhận cách hiểu số {ident}; các tệp nhận sau sẽ được đọc theo đó.",
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
    done(app_of().unteach(ident, actor=g.user.name, note=request.form.get("note", "")[:500]),
          f"Đã thôi áp dụng cách hiểu số {ident}.",
          f"Cách hiểu số {ident} không còn được áp dụng.")  # fmt: skip
    return redirect(url_for("review"))


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
        flash(f"Đã tạo tài khoản {name.strip()} ({wording.ROLE_LABELS[role]}).", "ok")
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
    done(changed, f"Đã xác nhận kết quả đọc tệp số {ident}.",
          f"Tệp số {ident} đã được xác nhận trước đó.")  # fmt: skip
    return redirect(url_for("review"))


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
        done(created, "Đã ghi nhận hồ sơ nộp trực tiếp.", "Hồ sơ này đã được ghi nhận trước đó.")
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


@require("staff")
def outbox_retry() -> Response:
    key = request.form.get("key", "")
    done(app_of().retry(key, actor=g.user.name),
          "Đã xếp thư vào hàng chờ gửi lại.",
          "Thư này không ở trạng thái có thể gửi lại.")  # fmt: skip
    return redirect(url_for("outbox"))


@require("staff")
def outbox_cancel() -> Response:
    key = request.form.get("key", "")
    done(app_of().cancel(key, actor=g.user.name),
          "Đã hủy, thư sẽ không được gửi.", "Thư này không ở trạng thái có thể hủy.")  # fmt: skip
    return redirect(url_for("outbox"))


@require("staff")
def clear_failing() -> Response:
    address = request.form.get("address", "")
    done(app_of().clear_failing(address, actor=g.user.name),
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
    return page("web/send.html.j2", kind=kind, what=SENDS[kind], fresh=fresh,
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
