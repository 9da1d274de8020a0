"""The web page's guards, through Flask's test client over a real store and archive."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient
from test_review import PERSONAL, REVIEW_CONFIG, dao_san_forms

from mail_ingest import config as config_module
from mail_ingest.app import open_store, poll_config
from mail_ingest.cli import cli
from mail_ingest.samples import SampleEntry, mau01_xlsx
from mail_ingest.web import accounts
from mail_ingest.web.app import create_app

from conftest import Deployment, make_message

HOSTILE = "<script>alert(1)</script> {{ 7*7 }} \"q' <img src=x onerror=alert(2)>"
PASSWORD = "mat-khau-dai-1"
HELD_TO = {"message": "1", "unit": "xa-hoang-than"}


def web_board(root: Path, at: Callable[..., datetime]) -> Deployment:
    """A board with a held message, a hostile one, and a staff, a leader and an admin."""
    board = Deployment(root, REVIEW_CONFIG)
    board.deliver(make_message(PERSONAL, "bao cao xa Hoang Than", files=dao_san_forms()), at(25))
    hostile = [SampleEntry(HOSTILE, "tap-the", "kinh-te", "xa", HOSTILE)]
    files = [(f"{HOSTILE}.xlsx", mau01_xlsx("Đảng ủy xã Dào San", hostile))]
    board.deliver(make_message("danguy.daosan@example.vn", HOSTILE, files=files), at(26))
    config = config_module.load(board.config)
    poll_config(config)
    with open_store(config) as store:
        for name, role in (("can-bo", "staff"), ("lanh-dao", "leader"), ("quan-tri", "admin")):
            accounts.add(store, name, role, PASSWORD, "test")
    return board


def logged_in(app: Flask, name: str | None) -> FlaskClient:
    client = app.test_client()
    page = client.get("/dang-nhap").text
    if name:
        answer = client.post(
            "/dang-nhap", data={"name": name, "password": PASSWORD, "csrf": token(page)}
        )
        assert answer.status_code == 302, answer.text
    return client


def token(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, page
    return found.group(1)


@pytest.fixture
def app(tmp_path: Path, at: Callable[..., datetime]) -> Flask:
    board = web_board(tmp_path, at)
    return create_app(config_module.load(board.config))


def _routes(app: Flask) -> list[tuple[str, str]]:
    out = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<int:[^>]+>", "1", rule.rule)
        path = re.sub(r"<[^>]+>", "xa-dao-san", path)
        out += [(method, path) for method in sorted((rule.methods or set()) & {"GET", "POST"})]
    return out


def test_every_route_refuses_a_visitor_without_a_session(app: Flask) -> None:
    client = logged_in(app, None)
    page_token = token(client.get("/dang-nhap").text)  # even with a valid CSRF token
    routes = _routes(app)
    assert len(routes) > 20
    for method, path in routes:
        if path.startswith(("/dang-nhap", "/static")):
            continue
        answer = client.open(path, method=method, data={"csrf": page_token})
        assert answer.status_code in (302, 401, 403), (method, path, answer.status_code)
        if answer.status_code == 302:
            assert answer.headers["Location"].startswith("/dang-nhap"), (method, path)


def test_a_leader_reads_but_cannot_act(app: Flask) -> None:
    client = logged_in(app, "lanh-dao")
    assert client.get("/").status_code == 200
    page = client.get("/cho-xu-ly").text
    assert "Xác định đơn vị" not in page  # no button to press
    csrf = token(page)
    for method, path in _routes(app):
        if method == "POST" and path not in ("/dang-nhap", "/dang-xuat"):
            fields = {"message": "1", "unit": "xa-hoang-than", "attachment": "1", "key": "x"}
            answer = client.post(path, data={"csrf": csrf, "address": "x", **fields})
            assert answer.status_code == 403, path
    with open_store(config_module.load(app.config["MAIL_INGEST"].path)) as store:
        assert store.attributions("1")[0].outcome == "needs-review"
        assert not [a for a in store.audit() if a.action == "assign"]


def test_a_post_without_the_csrf_token_is_refused(app: Flask) -> None:
    client = logged_in(app, "can-bo")
    for data in ({}, {"csrf": "forged"}):
        answer = client.post(
            "/cho-xu-ly/gan", data={**data, "message": "1", "unit": "xa-hoang-than"}
        )
        assert answer.status_code == 403
    with open_store(_store_path(app)) as store:
        assert store.attributions("1")[0].outcome == "needs-review"
    csrf = token(client.get("/cho-xu-ly").text)
    done = client.post(
        "/cho-xu-ly/gan", data={"csrf": csrf, "message": "1", "unit": "xa-hoang-than"}
    )
    assert done.status_code == 302
    with open_store(_store_path(app)) as store:
        assert store.attributions("1")[0].outcome == "submission"
        assert [a.by for a in store.audit() if a.action == "assign"] == ["can-bo"]


def _store_path(app: Flask) -> config_module.Config:
    return app.config["MAIL_INGEST"]  # type: ignore[no-any-return]


def test_strangers_text_is_shown_escaped(app: Flask) -> None:
    client = logged_in(app, "can-bo")
    pages = [client.get(p).text for p in ("/", "/cho-xu-ly", "/tong-hop", "/don-vi/xa-dao-san")]
    both = "".join(pages)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in both
    assert "{{ 7*7 }} &#34;q&#39;" in both  # never evaluated, quotes escaped
    for page in pages:
        assert "<script" not in page and "<img" not in page
        assert "onerror=alert" not in page.replace("onerror=alert(2)&gt;", "")


def test_downloads_are_attachments_and_stay_in_the_archive(app: Flask) -> None:
    client = logged_in(app, "lanh-dao")
    for path in ("/tep/1", "/thu/1", "/tong-hop.xlsx", "/tong-hop.csv"):
        answer = client.get(path)
        assert answer.status_code == 200, path
        assert answer.headers["Content-Disposition"].startswith("attachment"), path
        assert answer.mimetype == "application/octet-stream"
        assert answer.headers["X-Content-Type-Options"] == "nosniff"
    for path in ("/tep/../../mail-ingest.toml", "/thu/..%2f..%2fmail-ingest.toml",
                 "/tep/999", "/thu/-1", "/tep/%2e%2e", "/don-vi/..%2f..%2fetc"):  # fmt: skip
        answer = client.get(path)
        assert answer.status_code == 404, path
        assert b"[mailbox]" not in answer.data


def test_security_headers_and_cookie_flags(app: Flask) -> None:
    client = app.test_client()
    answer = client.get("/dang-nhap")
    assert "frame-ancestors 'none'" in answer.headers["Content-Security-Policy"]
    assert "'unsafe-inline'" not in answer.headers["Content-Security-Policy"]
    cookie = answer.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie


def test_login_is_throttled_per_name(app: Flask) -> None:
    client = app.test_client()
    csrf = token(client.get("/dang-nhap").text)
    for _ in range(accounts.FREE):
        page = client.post("/dang-nhap", data={"name": "can-bo", "password": "sai", "csrf": csrf})
        assert "không đúng" in page.text
    right = client.post("/dang-nhap", data={"name": "can-bo", "password": PASSWORD, "csrf": csrf})
    assert right.status_code == 200 and "thử lại sau" in right.text  # refused, not checked


def test_a_failed_try_holds_the_next_for_the_whole_delay(
    tmp_path: Path, at: Callable[..., datetime]
) -> None:
    """The hold counts from the moment of the last failure, not from the second it fell in."""
    config = config_module.load(web_board(tmp_path, at).config)
    with open_store(config) as store:
        for _ in range(accounts.FREE - 1):
            assert accounts.login(store, "can-bo", "sai", "203.0.113.9") is None
        last = datetime.now(UTC)
        assert accounts.login(store, "can-bo", "sai", "203.0.113.9") is None
        for address in ("203.0.113.9", "198.51.100.7"):  # held by the address, then by the name
            held = accounts.wait(store, "can-bo", address, now=last + timedelta(seconds=0.99))
            assert held > timedelta(0)
        assert accounts.wait(
            store, "can-bo", "198.51.100.7", now=last + timedelta(seconds=1.5)
        ) == timedelta(0)


def test_user_add_list_remove(tmp_path: Path) -> None:
    board = Deployment(tmp_path, REVIEW_CONFIG)
    runner = CliRunner()
    base = ["--config", str(board.config), "user"]
    added = runner.invoke(cli, [*base, "add", "Trần Thị B", "--role", "leader",
                                "--password-stdin"], input="mot-mat-khau\n")  # fmt: skip
    assert added.exit_code == 0, added.output
    prompted = runner.invoke(cli, [*base, "add", "c", "--role", "admin"],
                             input="mot-mat-khau\nmot-mat-khau\n")  # fmt: skip
    assert prompted.exit_code == 0, prompted.output
    short = runner.invoke(cli, [*base, "add", "d", "--role", "staff", "--password-stdin"],
                          input="ngan\n")  # fmt: skip
    assert short.exit_code == 1 and "at least" in short.output
    twice = runner.invoke(cli, [*base, "add", "c", "--role", "staff", "--password-stdin"],
                          input="mot-mat-khau\n")  # fmt: skip
    assert twice.exit_code == 1
    listing = runner.invoke(cli, [*base, "list"]).output
    assert "Trần Thị B" in listing and "leader" in listing and "admin" in listing
    assert "mot-mat-khau" not in listing
    assert runner.invoke(cli, [*base, "remove", "c"]).exit_code == 0
    assert " c " not in runner.invoke(cli, [*base, "list"]).output
    assert runner.invoke(cli, [*base, "remove", "c"]).exit_code == 1
    config = config_module.load(board.config)
    with open_store(config) as store:
        actions = [(a.action, a.subject) for a in store.audit()]
        stored = store._db.execute("SELECT password_hash FROM users").fetchone()[0]
    assert ("user-add", "user:c") in actions and ("user-remove", "user:c") in actions
    assert stored.startswith("$argon2id$")
    assert (config.storage / accounts.SECRET_FILE).exists() is False  # made by the page only
