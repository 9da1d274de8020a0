"""The page's own actions (teach, accounts) and its behaviour beside a poll, through
Flask's test client over a real store, archive and Maildir."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from test_web_security import PASSWORD, logged_in, token, web_board

from mail_ingest import config as config_module
from mail_ingest.app import open_store, poll_config
from mail_ingest.cli import cli
from mail_ingest.samples import SampleEntry, mau01_xlsx
from mail_ingest.web import accounts
from mail_ingest.web import app as web_app
from mail_ingest.web.app import create_app

from conftest import Deployment, make_message


@pytest.fixture
def board(tmp_path: Path, at: Callable[..., datetime]) -> Deployment:
    return web_board(tmp_path, at)


@pytest.fixture
def app(board: Deployment) -> Flask:
    return create_app(config_module.load(board.config))


def _config(app: Flask) -> config_module.Config:
    return app.config["MAIL_INGEST"]  # type: ignore[no-any-return]


def _audit(app: Flask, action: str) -> list[tuple[str, str, str]]:
    with open_store(_config(app)) as store:
        return [(a.by, a.subject, a.note) for a in store.audit() if a.action == action]


def test_teach_from_the_review_page_stores_what_the_cli_stores(app: Flask) -> None:
    client = logged_in(app, "can-bo")
    page = client.get("/cho-xu-ly").text
    assert 'action="/cho-xu-ly/day"' in page and 'value="header:name"' in page
    assert 'value="value:field:kinh-te"' in page
    csrf = token(page)
    header = {"csrf": csrf, "text": "Họ và tên người đăng ký", "meaning": "header:name"}
    assert client.post("/cho-xu-ly/day", data=header).status_code == 302
    value = {"csrf": csrf, "text": "KT", "meaning": "value:field:kinh-te", "form": "mau-01"}
    client.post("/cho-xu-ly/day", data=value)
    client.post("/cho-xu-ly/day", data=header)  # twice: nothing new
    for bad in ({"meaning": "header:no-such-column"}, {"meaning": "value:level:vu-tru"},
                {"meaning": "value:nope:x"}, {"meaning": ""}, {"text": " "},
                {"text": "x" * 300}, {"form": "no-such-form"}):  # fmt: skip
        answer = client.post("/cho-xu-ly/day", data={**header, **bad}, follow_redirects=True)
        assert "Không ghi nhận được" in answer.text, bad
    runner = CliRunner()
    listing = runner.invoke(cli, ["--config", str(_config(app).path), "teach", "--list"]).output
    assert "“Họ và tên người đăng ký” → column name" in listing
    assert "“KT” → field = kinh-te (form mau-01)" in listing
    assert [by for by, *_ in _audit(app, "teach")] == ["can-bo", "can-bo"]
    page = client.get("/cho-xu-ly").text
    assert "Họ và tên người đăng ký" in page and "Lĩnh vực: Phát triển kinh tế" in page
    with open_store(_config(app)) as store:
        first = store.lessons()[0].id
    client.post("/cho-xu-ly/bo-day", data={"csrf": csrf, "lesson": str(first)})
    with open_store(_config(app)) as store:
        assert [s.text for s in store.lessons()] == ["KT"]
    assert _audit(app, "unteach")[0][:2] == ("can-bo", f"lesson:{first}")


def test_review_page_shows_learned_addresses(app: Flask) -> None:
    client = logged_in(app, "can-bo")
    page = client.get("/cho-xu-ly").text
    assert "Chưa ghi nhớ địa chỉ nào" in page
    data = {"csrf": token(page), "message": "1", "unit": "xa-hoang-than", "remember": "1"}
    assert client.post("/cho-xu-ly/gan", data=data).status_code == 302
    page = client.get("/cho-xu-ly").text
    assert "nguyenvanhai1988@gmail.com" in page.split("Địa chỉ thư đã ghi nhớ")[1]
    name = next(u.name for u in _config(app).units if u.id == "xa-hoang-than")
    assert name in page.split("Địa chỉ thư đã ghi nhớ")[1]


def test_admins_manage_users_on_a_page_and_others_cannot(app: Flask) -> None:
    for name in ("can-bo", "lanh-dao"):
        client = logged_in(app, name)
        csrf = token(client.get("/").text)
        assert client.get("/tai-khoan").status_code == 403
        assert "/tai-khoan" not in client.get("/").text
        for path, data in (("/tai-khoan/them", {"name": "x", "role": "admin",
                                                "password": PASSWORD, "password2": PASSWORD}),
                           ("/tai-khoan/xoa", {"name": "quan-tri"})):  # fmt: skip
            assert client.post(path, data={"csrf": csrf, **data}).status_code == 403
    admin = logged_in(app, "quan-tri")
    page = admin.get("/tai-khoan").text
    assert "can-bo" in page and "Cán bộ (xem và xử lý)" in page
    csrf = token(page)
    new = {"csrf": csrf, "name": "Lê Văn C", "role": "staff", "password": "mot-mat-khau",
           "password2": "mot-mat-khau"}  # fmt: skip
    done = admin.post("/tai-khoan/them", data=new, follow_redirects=True)
    assert "Đã tạo tài khoản Lê Văn C" in done.text
    for bad in ({"password2": "khac-mat-khau"}, {"password": "ngan", "password2": "ngan"},
                {"role": "god"}, {"name": "can-bo"}, {"name": ""}):  # fmt: skip
        answer = admin.post("/tai-khoan/them", data={**new, **bad}, follow_redirects=True)
        assert "flash error" in answer.text, bad
    with open_store(_config(app)) as store:
        assert {u.name: u.role for u in accounts.users(store)}["Lê Văn C"] == "staff"
        assert len(accounts.users(store)) == 4
    fresh = app.test_client()
    csrf_login = token(fresh.get("/dang-nhap").text)
    login = {"name": "Lê Văn C", "password": "mot-mat-khau", "csrf": csrf_login}
    assert fresh.post("/dang-nhap", data=login).status_code == 302
    gone = admin.post("/tai-khoan/xoa", data={"csrf": csrf, "name": "Lê Văn C"})
    assert gone.status_code == 302
    assert fresh.get("/").status_code == 302  # the removed user's session ends at once
    itself = admin.post("/tai-khoan/xoa", data={"csrf": csrf, "name": "quan-tri"},
                        follow_redirects=True)  # fmt: skip
    assert "Không thể tự xóa" in itself.text
    assert ("quan-tri", "user:Lê Văn C", "role staff") in _audit(app, "user-add")
    assert _audit(app, "user-remove") == [("quan-tri", "user:Lê Văn C", "")]


def test_pages_name_groups_in_vietnamese(app: Flask) -> None:
    client = logged_in(app, "lanh-dao")
    for path in ("/", "/don-vi/xa-dao-san", "/tong-hop", "/he-thong"):
        page = client.get(path).text
        assert "Khối xã, thị trấn" in page, path
        assert ">xa<" not in page and "Khối xa " not in page and "xa 5" not in page, path


def test_login_is_throttled_per_client_address(app: Flask) -> None:
    def client_from(address: str) -> tuple[FlaskClient, str]:
        client = app.test_client()
        client.environ_base["REMOTE_ADDR"] = address
        return client, token(client.get("/dang-nhap").text)

    guesser, csrf = client_from("203.0.113.9")
    for n in range(accounts.FREE):  # a different name each time: only the address repeats
        data = {"name": f"ai-do-{n}", "password": "sai", "csrf": csrf}
        assert "không đúng" in guesser.post("/dang-nhap", data=data).text
    right = {"name": "can-bo", "password": PASSWORD, "csrf": csrf}
    refused = guesser.post("/dang-nhap", data=right)
    assert refused.status_code == 200 and "thử lại sau" in refused.text
    colleague, csrf2 = client_from("198.51.100.7")  # another desk logs in unhindered
    answer = colleague.post("/dang-nhap", data={**right, "csrf": csrf2})
    assert answer.status_code == 302


def test_a_page_action_while_the_store_is_locked_says_busy_and_changes_nothing(
    app: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(web_app, "BUSY_MS", 300)
    client = logged_in(app, "can-bo")
    csrf = token(client.get("/cho-xu-ly").text)
    holder = sqlite3.connect(_config(app).storage / "mail-ingest.sqlite3", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")  # as a poll recording a message holds it
        answer = client.post("/cho-xu-ly/gan", data={"csrf": csrf, "message": "1",
                                                     "unit": "xa-hoang-than"})  # fmt: skip
        assert answer.status_code == 503
        assert "đang bận, thử lại" in answer.text and answer.headers["Retry-After"]
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    with open_store(_config(app)) as store:
        assert store.attributions("1")[0].outcome == "needs-review"
    again = client.post("/cho-xu-ly/gan", data={"csrf": csrf, "message": "1",
                                                "unit": "xa-hoang-than"})  # fmt: skip
    assert again.status_code == 302
    assert [by for by, *_ in _audit(app, "assign")] == ["can-bo"]


def test_page_acts_while_a_real_poll_runs_and_nothing_changes_twice(
    board: Deployment, app: Flask, at: Callable[..., datetime]
) -> None:
    for n in range(40):  # enough mail that the poll is still writing while the page acts
        entry = SampleEntry(f"Mô hình {n}", "tap-the", "kinh-te", "xa", f"M{n}")
        files = [(f"mau01-{n}.xlsx", mau01_xlsx("Đảng ủy xã Dào San", [entry]))]
        board.deliver(make_message("danguy.daosan@example.vn", f"Bao cao {n}", files=files),
                      at(27, minute=n))  # fmt: skip
    config = _config(app)
    client = logged_in(app, "can-bo")
    csrf = token(client.get("/cho-xu-ly").text)
    errors: list[BaseException] = []

    def poll() -> None:
        try:
            poll_config(config)
        except BaseException as exc:  # reported by the test
            errors.append(exc)

    poller = threading.Thread(target=poll)
    poller.start()
    answers = []
    for _ in range(3):  # a double click and a reload: one assignment
        answers.append(client.post("/cho-xu-ly/gan", data={
            "csrf": csrf, "message": "1", "unit": "xa-hoang-than", "remember": "1"}))  # fmt: skip
        answers.append(client.post("/ban-giay/ghi-nhan", data={
            "csrf": csrf, "unit": "xa-dao-san", "requirement": "dvk-2024",
            "received": "2024-01-26T10:00", "via": "paper", "note": "bản giấy"}))  # fmt: skip
    poller.join(timeout=120)
    assert not poller.is_alive() and not errors, errors
    assert all(a.status_code in (302, 503) for a in answers), [a.status_code for a in answers]
    assert any(a.status_code == 302 for a in answers[0::2])
    with open_store(config) as store:
        assert store.attributions("1")[0].outcome == "submission"
        assert [a.action for a in store.audit()].count("assign") == 1
        assert len(store.learned_addresses()) == 1
        assert len([s for s in store.manual_submissions() if s.unit_id == "xa-dao-san"]) == 1
        assert store.count("messages") == 42


@pytest.mark.parametrize("proxied", [False, True])
def test_forwarded_addresses_count_only_behind_a_declared_proxy(
    board: Deployment, proxied: bool
) -> None:
    text = board.config.read_text(encoding="utf-8")
    board.config.write_text(text + f"\n[web]\nproxied = {str(proxied).lower()}\n", "utf-8")
    app = create_app(config_module.load(board.config))
    client = app.test_client()  # every request from the proxy's own 127.0.0.1
    csrf = token(client.get("/dang-nhap").text)
    for n in range(accounts.FREE):  # a guesser varies the header to dodge the throttle
        headers = {"X-Forwarded-For": f"203.0.113.{n}"}
        data = {"name": f"ai-do-{n}", "password": "sai", "csrf": csrf}
        client.post("/dang-nhap", data=data, headers=headers)
    right = {"name": "can-bo", "password": PASSWORD, "csrf": csrf}
    answer = client.post("/dang-nhap", data=right, headers={"X-Forwarded-For": "203.0.113.50"})
    # Behind a proxy each desk counts apart; without one the header is a stranger's word
    # and every try counts against the one real address.
    assert answer.status_code == (302 if proxied else 200)


def test_each_page_action_leaves_the_audit_row_its_cli_command_leaves(
    tmp_path: Path, at: Callable[..., datetime]
) -> None:
    """Two identical boards: one acted on by the CLI (--by can-bo), one by the page as
    can-bo; their audit tables must say the same (who, what, which unit, why)."""
    (tmp_path / "cli").mkdir(), (tmp_path / "page").mkdir()
    by_cli, by_page = web_board(tmp_path / "cli", at), web_board(tmp_path / "page", at)
    config = config_module.load(by_cli.config)
    with open_store(config) as store:
        held = store.attributions()[0].id
        attachment = store.checks(1.01)[0].id  # any counted file can be accepted
    runner = CliRunner()

    def cli_does(*args: str) -> None:
        answer = runner.invoke(cli, ["--config", str(by_cli.config), *args, "--by", "can-bo"])
        assert answer.exit_code == 0, answer.output

    cli_does("assign", str(held), "xa-hoang-than", "--remember", "--note", "gọi điện")
    cli_does("mark", "xa-hoang-thanh", "dvk-2024", "--received", "2024-01-29T08:00",
             "--note", "bản giấy", "--via", "paper")  # fmt: skip
    cli_does("unmark", "xa-hoang-thanh", "dvk-2024", "--note", "nhầm")
    cli_does("accept", str(attachment), "--note", "đúng")
    cli_does("teach", "header", "Họ tên", "name", "--note", "cột tên")
    cli_does("teach", "--remove", "1", "--note", "thôi")

    page = create_app(config_module.load(by_page.config))
    client = logged_in(page, "can-bo")
    csrf = token(client.get("/cho-xu-ly").text)
    for path, form in (
        ("/cho-xu-ly/gan", {"message": held, "unit": "xa-hoang-than", "remember": "1",
                            "note": "gọi điện"}),
        ("/ban-giay/ghi-nhan", {"unit": "xa-hoang-thanh", "requirement": "dvk-2024",
                                "received": "2024-01-29T08:00", "note": "bản giấy",
                                "via": "paper", "form": ["mau-01", "mau-02"]}),
        ("/ban-giay/bo-ghi-nhan", {"unit": "xa-hoang-thanh", "requirement": "dvk-2024",
                                   "note": "nhầm"}),
        ("/cho-xu-ly/chap-nhan", {"attachment": attachment, "note": "đúng"}),
        ("/cho-xu-ly/day", {"text": "Họ tên", "meaning": "header:name", "note": "cột tên"}),
        ("/cho-xu-ly/bo-day", {"lesson": "1", "note": "thôi"}),
    ):  # fmt: skip
        answer = client.post(path, data={"csrf": csrf, **form}, follow_redirects=True)
        assert 'class="flash ok"' in answer.text, (path, answer.text)

    def rows(board: Deployment) -> list[tuple[object, ...]]:
        with open_store(config_module.load(board.config)) as store:
            return [(a.by, a.action, a.unit_id, a.subject, a.note) for a in store.audit()]

    assert len(rows(by_cli)) >= 6
    assert rows(by_page) == rows(by_cli)


SENDING = (
    '[smtp]\nkind = "file"\npath = "outgoing"\nsender = "Ban Dân vận <bdv@example.vn>"\n'
    '[report]\nrecipients = ["lanhdao@example.vn"]\n'
)


def test_send_report_now_previews_then_sends_as_the_cli_and_not_beside_the_service(
    tmp_path: Path, at: Callable[..., datetime]
) -> None:
    board = web_board(tmp_path, at)
    board.config.write_text(board.config.read_text("utf-8") + SENDING, encoding="utf-8")
    config = config_module.load(board.config)
    client = logged_in(create_app(config), "can-bo")
    outbox = client.get("/thu-di").text
    assert "Gửi nhắc nhở ngay" in outbox and "Gửi báo cáo ngay" in outbox
    preview = client.get("/thu-di/xem-truoc/report").text
    assert "lanhdao@example.vn" in preview and ".xlsx" in preview
    assert 'action="/thu-di/gui/report"' in preview
    with open_store(config) as store:
        assert store.count("outbox") == 0  # looking sends and writes nothing
    csrf = token(preview)
    from mail_ingest.service import claim

    with claim(config):  # `mail-ingest run` holds it: the page refuses, as `report` does
        refused = client.post("/thu-di/gui/report", data={"csrf": csrf}, follow_redirects=True)
    assert "Dịch vụ đang chạy" in refused.text
    with open_store(config) as store:
        assert store.count("outbox") == 0
    sent = client.post("/thu-di/gui/report", data={"csrf": csrf}, follow_redirects=True)
    assert "Đã gửi 1 thư báo cáo" in sent.text
    assert len(list((config.storage.parent / "outgoing").rglob("*.eml"))) == 1
    again = client.get("/thu-di/xem-truoc/report").text  # the same day's key: nothing new
    assert "Không có thư báo cáo nào cần gửi" in again
    leader = logged_in(create_app(config), "lanh-dao")
    assert "Gửi báo cáo ngay" not in leader.get("/thu-di").text
    assert leader.get("/thu-di/xem-truoc/report").status_code == 403
    assert leader.post("/thu-di/gui/report", data={"csrf": csrf}).status_code in (401, 403)
