"""Acknowledgements, reminders and the daily report over the demo's mailbox, day by day."""

from __future__ import annotations

import email
import io
import mailbox
import os
from dataclasses import replace
from datetime import datetime
from email import policy
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import decisions, demo
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.config import Config
from mail_ingest.errors import ConfigError
from mail_ingest.render import Templates

TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Config:
    outcome = demo.run(tmp_path_factory.mktemp("demo"), Console(file=io.StringIO()))
    return config_module.load(outcome.config)


def at(day: int, month: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, tzinfo=TZ)


def due(config: Config, now: datetime) -> list[decisions.Outgoing]:
    with open_store(config) as store:
        return decisions.due(config, store, now)


def test_acknowledges_recent_submissions_only(campaign: Config) -> None:
    [ack] = [m for m in due(campaign, at(25, 1, 10)) if m.key.startswith("ack:")]
    assert ack.to == ("danguymuongso@gmail.com",) or "danguymuongso@gmail.com" in ack.to[0]
    assert ack.auto == "auto-replied" and ack.in_reply_to
    assert ack.subject == "Re: V/v gửi biểu đăng ký thi đua Dân vận khéo năm 2024"
    assert "Kính gửi: Đảng ủy xã Mường So" in ack.text
    assert (
        "Biểu tổng hợp đăng ký thi đua (mẫu số 01), 4 nội dung đăng ký (2 tập thể, 2 cá nhân)"
        in ack.text
    )
    assert "đã đầy đủ, đúng hạn" in ack.text
    assert "<b>Đảng ủy xã Mường So</b>" in (ack.html or "")
    # A first poll on 05/02 over mail from January answers nobody.
    assert not [m for m in due(campaign, demo.NOW) if m.key.startswith("ack:")]


def test_incomplete_acknowledgement_says_what_is_missing(campaign: Config) -> None:
    acks = [m for m in due(campaign, at(26, 1, 15)) if m.key.startswith("ack:")]
    [dao_san] = [m for m in acks if "Dào San" in m.to[0]]
    assert "Đề nghị đơn vị kiểm tra, bổ sung:" in dao_san.text
    assert "Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể" in dao_san.text
    assert "chưa đầy đủ" in dao_san.text


def test_reminders_on_working_days_to_units_not_done(campaign: Config) -> None:
    # reminders = [-3, 1] from the due day 31/01: -3 is Sunday 28/01, sent Friday 26/01.
    assert not [m for m in due(campaign, at(26, 1, 7, 59)) if m.key.startswith("remind:")]
    friday = [m for m in due(campaign, at(26, 1, 8, 30)) if m.key.startswith("remind:")]
    reminded = {m.key.split(":")[1] for m in friday}
    assert "xa-muong-so" not in reminded  # complete on 25/01
    assert {"xa-khong-lao", "xa-dao-san", "cq-ttyt"} <= reminded
    assert not [m for m in due(campaign, at(28, 1, 9)) if m.key.startswith("remind:")]
    [late] = [m for m in due(campaign, at(1, 2, 9)) if m.key == (
        "remind:xa-khong-lao:dvk-2024-dang-ky:2024-01-31:1")]  # fmt: skip
    assert "Thời hạn đã qua" in late.text and "trước ngày 01/02/2024" in late.subject


def test_daily_report_once_with_its_workbook(campaign: Config) -> None:
    [before] = [m.key for m in due(campaign, at(5, 2, 16, 59)) if m.key.startswith("report:")]
    assert before == "report:2024-02-04"  # until 17:00 the latest report due is yesterday's
    now = at(5, 2, 17, 30)
    [report] = [m for m in due(campaign, now) if m.key.startswith("report:")]
    assert report.key == "report:2024-02-05"
    assert report.to == ("Ban Dân vận Huyện ủy Phong Thổ <lanhdao.phongtho@gmail.com>",)
    assert "Đơn vị chưa gửi (" in report.text
    assert "- Đảng bộ Trung tâm Y tế huyện\n" in report.text
    assert "\n\n\n" not in report.text
    [attachment] = report.attachments
    assert attachment.filename == "bao-cao-tinh-hinh-2024-02-05.xlsx"

    with open_store(campaign) as store:
        first = decisions.send(campaign, store, now, decisions.due(campaign, store, now))
        again = decisions.send(campaign, store, now, decisions.due(campaign, store, now))
    assert (first.sent, again.sent) == (1, 0)
    assert (campaign.storage / "reports" / "bao-cao-tinh-hinh-2024-02-05.xlsx").exists()
    outbox = campaign.smtp.path if campaign.smtp else None
    assert outbox is not None
    [written] = [p for p in Path(outbox).iterdir() if p.name.startswith("report")]
    parsed = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert parsed["Auto-Submitted"] == "auto-generated"
    assert [a.get_filename() for a in parsed.iter_attachments()] == [attachment.filename]


def test_cli_report_remind_outbox_and_health(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(cli, ["--config", str(outcome.config), *args])

    dry = invoke("report", "--now", "2024-02-05T09:00", "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "Subject: Báo cáo tình hình gửi hồ sơ ngày 05/02/2024" in dry.output
    assert "[attachment: bao-cao-tinh-hinh-2024-02-05.xlsx" in dry.output
    assert dry.output.rstrip().endswith("1 mail(s) would be sent; 0 already were")
    assert "report:" not in invoke("outbox").output  # a dry run records nothing

    saved = tmp_path / "bao-cao.xlsx"
    sent = invoke("report", "--now", "2024-02-05T09:00", "--output", str(saved))
    assert "sent 1, to retry 0, failed 0" in sent.output and saved.stat().st_size > 0
    assert "sent 0" in invoke("report", "--now", "2024-02-05T18:00").output  # once a day
    assert "sent     report:2024-02-05  -> lanhdao.phongtho@gmail.com" in invoke("outbox").output

    reminders = invoke("remind", "--now", "2024-01-26T09:00", "--dry-run").output
    assert "To: Đảng ủy xã Khổng Lào <danguykhonglao@gmail.com>" in reminders
    assert "To: danguymuongso@gmail.com" not in reminders  # complete since 25/01

    assert invoke("health").exit_code == 0  # the demo has just polled
    assert invoke("health", "--max-age", "0").exit_code == 1


def test_after_downtime_one_report_not_one_per_missed_day(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    with open_store(config) as store:
        decisions.send(
            config, store, at(1, 2, 17, 30), decisions.due(config, store, at(1, 2, 17, 30))
        )
        back = at(5, 2, 9, 0)  # the machine was off from 01/02 evening until 05/02 morning
        sent = decisions.send(config, store, back, decisions.due(config, store, back))
        reports = [i.key for i in store.outbox() if i.key.startswith("report:")]
    assert reports == ["report:2024-02-04", "report:2024-02-01"]  # the missed one, once
    assert sent.sent == 1


def test_daily_cap_per_recipient(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    capped = replace(config, notify=replace(config.notify, daily_cap=1))
    now = at(26, 1, 15)
    with open_store(capped) as store:
        mails = decisions.due(capped, store, now)
        [ack] = [m for m in mails if m.key.startswith("ack:") and "Dào San" in m.to[0]]
        twice = [ack, replace(ack, key="ack:<another@example.vn>")]
        assert decisions.send(capped, store, now, twice).sent == 1
        assert not store.outbox_has("ack:<another@example.vn>")


DSN = b"""From: Mail Delivery Subsystem <mailer-daemon@googlemail.com>
To: bandanvanphongtho@gmail.com
Subject: Delivery Status Notification (Failure)
Message-ID: <dsn-1@mx.google.com>
In-Reply-To: %s
Date: Fri, 26 Jan 2024 09:01:00 +0700
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain; charset=utf-8

Address not found.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; googlemail.com

Final-Recipient: rfc822; danguykhonglao@gmail.com
Action: failed
Status: 5.1.1

--b1--
"""


def test_a_bounced_address_gets_no_more_mail_until_cleared(tmp_path: Path) -> None:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    config = config_module.load(outcome.config)
    with open_store(config) as store:  # the reminder the report bounces
        friday = [m for m in due(config, at(26, 1, 8, 30)) if m.key.startswith("remind:xa-kh")]
        assert decisions.send(config, store, at(26, 1, 8, 30), friday).sent == 1
        [sent] = [i for i in store.outbox() if i.key == friday[0].key]
    message_id = email.message_from_bytes(sent.raw, policy=policy.default)["Message-ID"]
    box = mailbox.Maildir(outcome.workspace / "mail")
    key = box.add(mailbox.MaildirMessage(DSN % message_id.encode()))
    stamp = at(26, 1, 9, 1).timestamp()
    os.utime(outcome.workspace / "mail" / "new" / key, (stamp, stamp))
    runner = CliRunner()
    assert "bounce 1" in runner.invoke(cli, ["--config", str(outcome.config), "poll"]).output
    with open_store(config) as store:
        assert list(store.failing_addresses()) == ["danguykhonglao@gmail.com"]
        reminders = decisions.due(config, store, at(1, 2, 9))
        khong_lao = [m for m in reminders if m.key.startswith("remind:xa-khong-lao")]
        assert khong_lao and decisions.send(config, store, at(1, 2, 9), khong_lao).sent == 0
        assert not store.outbox_has(khong_lao[0].key)
        [report] = [
            m for m in decisions.due(config, store, at(1, 2, 18)) if m.key.startswith("rep")
        ]
    assert "Đảng ủy xã Khổng Lào: danguykhonglao@gmail.com (thư báo lỗi từ ngày 26/01/2024)" in (
        report.text
    )
    cleared = runner.invoke(
        cli,
        ["--config", str(outcome.config), "outbox", "--clear-failing", "danguykhonglao@gmail.com"],
    )
    assert cleared.exit_code == 0, cleared.output
    with open_store(config) as store:
        assert decisions.send(config, store, at(1, 2, 9), khong_lao).sent == 1


def test_reminders_copy_the_units_leader(campaign: Config) -> None:
    units = tuple(
        replace(u, leaders=("bithu.khonglao@gmail.com",)) if u.id == "xa-khong-lao" else u
        for u in campaign.units
    )
    with_leader = replace(campaign, units=units)
    [mail] = [m for m in due(with_leader, at(26, 1, 9)) if m.key.startswith("remind:xa-khong")]
    assert (mail.to, mail.cc) == (
        ("Đảng ủy xã Khổng Lào <danguykhonglao@gmail.com>",),
        ("bithu.khonglao@gmail.com",),
    )


def test_a_broken_template_of_the_district_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "ack.subject.j2").write_text("Kính gửi {{ unit.nam }", encoding="utf-8")
    (tmp_path / "report.subject.j2").write_text("Báo cáo {{ khong_co }}", encoding="utf-8")
    templates = Templates(TZ, tmp_path)
    with pytest.raises(ConfigError, match=r"notify.templates: ack.subject.j2 line 1"):
        templates.render("ack")
    with pytest.raises(ConfigError, match=r"report.subject.j2: 'khong_co' is undefined"):
        templates.render("report")


def test_deciding_reads_the_stores_mail_once(
    campaign: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Statuses, acknowledgements, reminders and the report share one read of the
    submissions and one of the messages (each read is a pass over every stored file)."""
    from mail_ingest.store import Store

    reads: dict[str, int] = {"submissions": 0, "messages": 0}
    for name in reads:
        real = getattr(Store, name)

        def counted(store: Store, *args: object, real=real, name=name) -> object:  # type: ignore[no-untyped-def]
            reads[name] += 1
            return real(store, *args)

        monkeypatch.setattr(Store, name, counted)
    with open_store(campaign) as store:
        found = decisions.decide(campaign, store, at(26, 1, 17, 30), force=True)
    assert {d.kind for d in found} >= {"remind", "report"}
    assert reads == {"submissions": 1, "messages": 1}


def test_templates_are_compiled_once_not_once_a_mail(
    campaign: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A reminder day renders a mail per unit: compiling its three templates for each was
    most of `remind` at 500 units."""
    from jinja2 import Environment

    compiled = {"n": 0}
    real = Environment.compile

    def counted(self: Environment, *args: object, **kwargs: object) -> object:
        compiled["n"] += 1
        return real(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Environment, "compile", counted)
    with open_store(campaign) as store:
        reminders = decisions.decide(campaign, store, at(26, 1, 8, 30), ("remind",))
    assert len(reminders) >= 3
    first = decisions.render(campaign, reminders[0])
    after_one = compiled["n"]
    rest = [decisions.render(campaign, d) for d in reminders[1:]]
    assert compiled["n"] == after_one
    rendered = [first, *rest]  # each with its own unit, from the same templates
    assert all(
        d.context["unit"].name in m.subject for d, m in zip(reminders, rendered, strict=True)
    )
