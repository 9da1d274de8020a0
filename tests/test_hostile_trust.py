"""A unit is spoken for only by its own address, or provisionally with the unit told.

Issue 11, groups 3 and 8: strangers who pack addresses into a display name, who name a
unit in the subject, who spell its name with look-alike letters, or whose mail the
board's server marks as forged. Through the real pipeline (Maildir, SQLite), the file
transport and a real SMTP server (aiosmtpd).
"""

from __future__ import annotations

import email
import io
import json
import tomllib
from collections.abc import Callable, Iterator
from datetime import datetime
from email import policy
from email.header import Header
from pathlib import Path
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import Envelope
from click.testing import CliRunner, Result
from openpyxl import load_workbook

from mail_ingest import config as config_module
from mail_ingest import decisions
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.config import Config
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx
from rules import authres
from rules.matching import UnitMatcher
from rules.units import Unit, UnitDirectory

from conftest import CONFIG, Deployment, make_message
from dovecot_server import free_port

At = Callable[..., datetime]
ROOT = Path(__file__).resolve().parents[1]
UNIT = "DangUy.MuongSo@example.vn"
UNIT_KEY = UNIT.lower()  # as the config keeps it
STRANGER = "ke.gia.mao@attacker.example"
THIRD_PARTIES = [f"victim{i}@third.example" for i in range(30)]
NOTIFY = """
[smtp]
kind = "file"
sender = "Ban Dân vận Huyện ủy <bandanvan@example.vn>"
path = "outbox"
[report]
recipients = ["lanhdao@example.vn"]
"""
NO_EMAIL_UNIT = """
[[units]]
id = "xa-khong-lao"
name = "Đảng ủy xã Khổng Lào"
group = "xa"
"""
ENTRIES = [
    SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết"),
    SampleEntry("Chi hội Phụ nữ bản", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản"),
]


def forms(unit_name: str) -> list[tuple[str, bytes]]:
    return [
        ("Mau 01.xlsx", mau01_xlsx(unit_name, ENTRIES)),
        ("Mau 02.docx", mau02_docx(unit_name, [e.model for e in ENTRIES])),
    ]


def deployment(tmp_path: Path, extra: str = "", mailbox: str = "") -> Deployment:
    text = CONFIG.replace('path = "mail"\n', f'path = "mail"\n{mailbox}', 1)
    text = text.replace("[[requirements]]", NO_EMAIL_UNIT + NOTIFY + extra + "[[requirements]]")
    return Deployment(tmp_path, text)


def invoke(board: Deployment, *args: str) -> Result:
    result = CliRunner().invoke(
        cli, ["--config", str(board.config), *args], catch_exceptions=False,
        env={"COLUMNS": "250"},
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return result


def load(board: Deployment) -> Config:
    return config_module.load(board.config)


def acks(config: Config, now: datetime) -> list[decisions.Outgoing]:
    with open_store(config) as store:
        return [m for m in decisions.due(config, store, now, ("ack",))]


def packed_from(address: str) -> str:
    """A From whose encoded display name holds 30 addresses and a CR LF Bcc line."""
    name = ", ".join(THIRD_PARTIES) + "\r\nBcc: boss@third.example"
    return f"{Header(name, 'utf-8').encode(linesep=' ')} <{address}>"


def message(sender: str, *args: Any, **kwargs: Any) -> bytes:
    """make_message with the From header exactly as given (EmailMessage would re-encode it)."""
    raw = make_message("placeholder@example.vn", *args, **kwargs)
    head, sep, body = raw.partition(b"\n\n")
    lines = [f"From: {sender}".encode() if line.startswith(b"From:") else line
             for line in head.split(b"\n")]  # fmt: skip
    return b"\n".join(lines) + sep + body


def sent_files(config: Config) -> list[email.message.EmailMessage]:
    assert config.smtp is not None and config.smtp.path is not None
    return [
        email.message_from_bytes(p.read_bytes(), policy=policy.default)  # type: ignore[misc]
        for p in sorted(Path(config.smtp.path).glob("*.eml"))
    ]


# -- 1. the board's address relays nothing --------------------------------------------


def addresses(recipients: tuple[str, ...]) -> list[str]:
    """The addr-specs of recipients written under the unit's name."""
    return [email.utils.parseaddr(r)[1] for r in recipients]


def test_an_ack_goes_only_to_the_single_parsed_address(tmp_path: Path, at: At) -> None:
    board = deployment(tmp_path)
    board.deliver(message(packed_from(UNIT), files=forms("Đảng ủy xã Mường So")), at(25))
    invoke(board, "poll")
    config = load(board)
    [ack] = acks(config, at(25, hour=10))
    # as parsed from the From header, under the unit's name (never the From's own words)
    assert ack.to == (f"Đảng ủy xã Mường So <{UNIT}>",)
    decisions.send_due(config, at(25, hour=10), ("ack",))
    [sent] = sent_files(config)
    [to] = sent["To"].addresses
    assert to.addr_spec == UNIT and sent["Bcc"] is None and sent["Cc"] is None
    raw = sent.as_string()
    assert not any(v in raw for v in THIRD_PARTIES) and "boss@third" not in raw


@pytest.mark.parametrize(
    "sender",
    [
        packed_from(STRANGER),  # a stranger hides 30 victims in the display name
        f"{STRANGER}, {UNIT}",  # two addresses: never answered
        f"{UNIT}, {STRANGER}",
        "Ban tổ chức <undisclosed-recipients:;>",  # none at all
        f"{UNIT} <{STRANGER}>",  # the unit's address as a malformed name
        f"=?utf-8?q?{UNIT.replace('@', '=40')}?= <{STRANGER}>",  # ... as an encoded name
    ],
)
def test_a_stranger_naming_a_unit_gets_nothing(tmp_path: Path, at: At, sender: str) -> None:
    board = deployment(tmp_path)
    subject = "Bao cao dan van kheo xa Muong So"
    board.deliver(message(sender, subject, files=forms("Đảng ủy xã Mường So")), at(25))
    invoke(board, "poll")
    config = load(board)
    for ack in acks(config, at(25, hour=10)):
        assert addresses(ack.to) == [UNIT_KEY]  # the unit is told, nobody else
        assert "gửi thay cho đơn vị" in ack.text
        assert STRANGER not in ack.subject and "victim" not in ack.text


# -- 2. by name is provisional: the unit and the board are told ------------------------


def test_a_strangers_submission_counts_provisionally_and_the_unit_is_told(
    tmp_path: Path, at: At
) -> None:
    board = deployment(tmp_path)
    mail = make_message(
        f"Nguyễn Văn A <{STRANGER}>", "Bao cao dan van kheo - xa Muong So",
        files=forms("Đảng ủy xã Mường So"),
    )  # fmt: skip
    board.deliver(mail, at(25))
    assert invoke(board, "poll").output.startswith("fetched 1, new 1: submission 1")
    config = load(board)
    [ack] = acks(config, at(25, hour=10))
    assert addresses(ack.to) == [UNIT_KEY]
    assert f"gửi thay cho đơn vị từ địa chỉ {STRANGER} lúc 09 giờ 00 ngày 25/01/2024" in ack.text
    assert "Nếu đơn vị không gửi thư này, đề nghị phản hồi để Ban kiểm tra." in ack.text
    assert STRANGER not in ack.subject and "Muong So" not in ack.subject  # not his subject
    # nor anywhere in the board's mail: his words would speak with the board's address
    assert "Bao cao dan van kheo" not in ack.text and "Bao cao dan van kheo" not in ack.html
    decisions.send_due(config, at(25, hour=10), ("ack",))
    [sent] = sent_files(config)
    assert [a.addr_spec for a in sent["To"].addresses] == [UNIT_KEY]

    # The status counts it, and says how.
    rows = json.loads(invoke(board, "status", "--format", "json", "--now", "2024-02-10").output)
    [row] = [r for r in rows["rows"] if r["unit"] == "xa-muong-so"]
    assert row["status"] == "on_time"
    [note] = row["notes"]
    when = "09 giờ 00 ngày 25/01/2024"
    assert note.startswith(f"Ghi nhận tạm thời: thư nhận lúc {when} từ {STRANGER}")
    assert "theo tên trong tiêu đề thư; đã báo đơn vị để xác nhận" in note
    assert note in invoke(board, "status", "--format", "csv", "--now", "2024-02-10").output
    assert "Ghi nhận tạm thời" in invoke(board, "status", "--now", "2024-02-10").output

    # The daily report and its workbook say it too.
    with open_store(config) as store:
        report = next(m for m in decisions.due(config, store, at(10, 2, 18), ("report",)))
    assert f"- Đảng ủy xã Mường So: {note}" in report.text
    book = load_workbook(io.BytesIO(report.attachments[0].data))
    sheet = book["Tình trạng"]
    header = [c.value for c in sheet[3]]
    column = header.index("Ghi chú")
    cells = [r[column].value for r in sheet.iter_rows(min_row=4) if r[1].value]
    assert note in cells


def test_a_unit_without_an_address_is_not_answered_but_noted(tmp_path: Path, at: At) -> None:
    board = deployment(tmp_path)
    mail = make_message(STRANGER, "Bao cao xa Khong Lao", files=forms("Đảng ủy xã Khổng Lào"))
    board.deliver(mail, at(25))
    invoke(board, "poll")
    config = load(board)
    assert acks(config, at(25, hour=10)) == []
    rows = json.loads(invoke(board, "status", "--format", "json", "--now", "2024-02-10").output)
    [row] = [r for r in rows["rows"] if r["unit"] == "xa-khong-lao"]
    assert "đơn vị chưa có địa chỉ thư để báo" in row["notes"][0]


def test_the_units_own_address_gets_the_usual_ack_without_note(tmp_path: Path, at: At) -> None:
    board = deployment(tmp_path)
    board.deliver(make_message(f"Đảng ủy <{UNIT.lower()}>", files=forms("x")), at(25))
    invoke(board, "poll")
    config = load(board)
    [ack] = acks(config, at(25, hour=10))
    assert addresses(ack.to) == [UNIT.lower()] and "gửi thay" not in ack.text
    rows = json.loads(invoke(board, "status", "--format", "json", "--now", "2024-02-10").output)
    assert all(not r["notes"] for r in rows["rows"])


def test_a_flood_in_a_units_name_leaves_the_units_own_mail_answered(tmp_path: Path, at: At) -> None:
    """Notices about strangers' mail have their own daily cap: the unit's own mail and its
    reminders are not crowded out by them."""
    board = deployment(tmp_path)
    for i in range(8):
        sender = f"stranger{i}@attacker.example"
        board.deliver(
            make_message(sender, "Bao cao xa Muong So", files=forms("x")), at(25, minute=i)
        )
    board.deliver(make_message(UNIT, files=forms("Đảng ủy xã Mường So")), at(25, minute=30))
    invoke(board, "poll")
    config = load(board)
    decisions.send_due(config, at(25, hour=10), ("ack",))
    with open_store(config) as store:
        keys = sorted(i.key.partition(":")[0] for i in store.outbox())
    cap = config.notify.daily_cap
    assert keys == ["ack", *["ack-provisional"] * cap]


class _Inbox:
    def __init__(self) -> None:
        self.received: list[Envelope] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Envelope) -> str:
        self.received.append(envelope)
        return "250 Message accepted"


@pytest.fixture
def smtp_server() -> Iterator[tuple[_Inbox, int]]:
    inbox, port = _Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def test_over_smtp_the_envelope_holds_only_the_units_addresses(
    tmp_path: Path, at: At, smtp_server: tuple[_Inbox, int]
) -> None:
    inbox, port = smtp_server
    board = deployment(tmp_path)
    text = board.config.read_text(encoding="utf-8").replace(
        'kind = "file"\n', f'host = "127.0.0.1"\nport = {port}\nsecurity = "none"\n'
    )
    board.config.write_text(text.replace('path = "outbox"\n', ""), encoding="utf-8")
    mail = message(packed_from(STRANGER), "xa Muong So", files=forms("Đảng ủy xã Mường So"))
    board.deliver(mail, at(25))
    board.deliver(message(packed_from(UNIT), files=forms("y")), at(25, minute=5))
    invoke(board, "poll")
    report = decisions.send_due(load(board), at(25, hour=10), ("ack",))
    assert report.sent == 2
    assert sorted(tuple(e.rcpt_tos) for e in inbox.received) == [(UNIT,), (UNIT_KEY,)]
    for envelope in inbox.received:
        raw = envelope.original_content or b""
        assert STRANGER.encode() not in raw.split(b"\r\n\r\n")[0]  # never in our headers
        assert b"victim" not in raw and b"Bcc" not in raw


# -- 3. look-alike letters -------------------------------------------------------------

CYRILLIC = dict(zip("aeopcxyisjABCEHKMOPTXSI", "аеорсхуіѕјАВСЕНКМОРТХЅІ", strict=True))
GREEK = dict(zip("oviuABEHKMNOPTXZ", "ονιυΑΒΕΗΚΜΝΟΡΤΧΖ", strict=True))
FULLWIDTH = {chr(c): chr(c + 0xFEE0) for c in (*range(65, 91), *range(97, 123))}


def _examples() -> list[Unit]:
    data = tomllib.loads((ROOT / "examples" / "phong-tho.toml").read_text(encoding="utf-8"))
    return [
        Unit(
            u["id"], u["name"], u["group"], tuple(u.get("emails", ())), tuple(u.get("aliases", ()))
        )
        for u in data["units"]
    ]


def _variants(name: str, table: dict[str, str]) -> list[str]:
    """Every word of the name disguised in turn, one letter and all letters, and all."""
    out = []
    words = name.split()
    for i, word in enumerate(words):
        if not any(c in table for c in word):
            continue
        first = next(j for j, c in enumerate(word) if c in table)
        one = word[:first] + table[word[first]] + word[first + 1 :]
        every = "".join(table.get(c, c) for c in word)
        out += [" ".join([*words[:i], w, *words[i + 1 :]]) for w in (one, every)]
    out.append("".join(table.get(c, c) for c in name))
    return out


@pytest.mark.parametrize(
    ("table", "script"),
    [(CYRILLIC, "chữ Kirin"), (GREEK, "chữ Hy Lạp"), (FULLWIDTH, "ký tự biến thể")],
)
def test_every_unit_name_in_disguise_is_held_with_the_reason(
    table: dict[str, str], script: str
) -> None:
    units = _examples()
    matcher = UnitMatcher(UnitDirectory(units))
    checked = 0
    for unit in units:
        plain = matcher.identify("", {"subject": f"Báo cáo Dân vận khéo - {unit.name}"})
        assert (plain.unit_id, plain.review_reason) == (unit.id, None)
        for variant in _variants(unit.name, table):
            found = matcher.identify("", {"subject": f"Báo cáo Dân vận khéo - {variant}"})
            assert found.unit_id is None, variant
            assert found.guesses and found.guesses[0].unit_id == unit.id, variant
            assert found.review_reason is not None and script in found.review_reason, variant
            assert found.review_reason.startswith("tên đơn vị trong thư có ký tự giả dạng (")
            checked += 1
    assert checked >= 40


def test_a_disguised_name_is_held_through_poll_and_review_says_why(tmp_path: Path, at: At) -> None:
    board = deployment(tmp_path)
    board.deliver(make_message(STRANGER, "Bao cao xã Mường Ѕo", files=forms("x")), at(25))
    assert invoke(board, "poll").output.startswith("fetched 1, new 1: needs-review 1")
    listing = invoke(board, "review").output
    assert "reason: tên đơn vị trong thư có ký tự giả dạng (chữ Kirin)" in listing
    assert "guess: xa-muong-so" in listing
    assert acks(load(board), at(25, hour=10)) == []


# -- 4. Authentication-Results ---------------------------------------------------------

GMAIL = (
    "mx.google.com;\r\n       dkim={dkim} header.i=@example.vn header.s=s1 header.b=Ab3;\r\n"
    "       spf={spf} (google.com: domain of x@example.vn designates 192.0.2.1 as permitted "
    "sender) smtp.mailfrom=x@example.vn;\r\n       dmarc={dmarc} (p=NONE sp=NONE dis=NONE) "
    "header.from=example.vn"
)
OUTLOOK = (
    "spf={spf} (sender IP is 192.0.2.1)\r\n smtp.mailfrom=example.vn; dkim={dkim} (signature "
    "was verified)\r\n header.d=example.vn;dmarc={dmarc} action=none\r\n header.from=example.vn;"
    "compauth={compauth} reason=100"
)


def fields(*headers: tuple[str, str]) -> list[tuple[str, str]]:
    raw = "".join(f"{n}: {v}\r\n" for n, v in headers) + "\r\nbody\r\n"
    return authres.header_fields(raw.encode())


def received(by: str) -> tuple[str, str]:
    return ("Received", f"from mail.sender.example by {by}; Thu, 25 Jan 2024 09:00 +0700")


@pytest.mark.parametrize(
    ("dkim", "spf", "dmarc", "held"),
    [
        ("pass", "pass", "pass", None),
        ("pass", "softfail", "pass", None),  # DKIM carries it
        ("none", "softfail", "fail", "DMARC (dmarc=fail)"),
        ("fail", "fail", "none", "SPF (spf=fail) và không có chữ ký DKIM hợp lệ"),
        ("neutral", "permerror", "none", "spf=permerror"),
        ("fail", "neutral", "none", None),  # no SPF failure: not enough to hold
    ],
)
def test_gmail_header(dkim: str, spf: str, dmarc: str, held: str | None) -> None:
    header = GMAIL.format(dkim=dkim, spf=spf, dmarc=dmarc)
    found = authres.review_reason(
        fields(received("mx.google.com"), ("Authentication-Results", header)), "mx.google.com"
    )
    assert (found is None) == (held is None)
    assert held is None or (found is not None and held in found)
    assert authres.review_reason(fields(("Authentication-Results", header)), None) is None


def test_outlook_header_without_authserv_id_and_compauth() -> None:
    def reason(**results: str) -> str | None:
        value = OUTLOOK.format(**{"spf": "pass", "dkim": "pass", "dmarc": "pass",
                                  "compauth": "pass", **results})  # fmt: skip
        return authres.review_reason(fields(("Authentication-Results", value)), "none")

    assert reason() is None
    assert "compauth=fail" in (reason(compauth="fail") or "")
    assert "dmarc=fail" in (reason(dmarc="fail") or "")
    # Configured for Gmail, Microsoft's header (no authserv-id) does not count.
    value = OUTLOOK.format(spf="fail", dkim="none", dmarc="fail", compauth="fail")
    assert authres.review_reason(fields(("Authentication-Results", value)), "mx.google.com") is None


def test_postfix_milters_several_headers_above_postfixs_received() -> None:
    headers = [
        ("Authentication-Results", "mail.board.vn; dmarc=none (p=none dis=none) header.from=x.vn"),
        ("DMARC-Filter", "OpenDMARC Filter v1.4.2 mail.board.vn 4TL"),
        ("Authentication-Results", "mail.board.vn;\r\n\tdkim=none; dkim-atps=neutral"),
        ("Authentication-Results", "mail.board.vn; spf=softfail smtp.mailfrom=x.vn"),
        received("mail.board.vn"),
    ]
    assert "spf=softfail" in (authres.review_reason(fields(*headers), "mail.board.vn") or "")
    headers[0] = ("Authentication-Results", "mail.board.vn 1; dmarc=fail header.from=x.vn")
    assert "dmarc=fail" in (authres.review_reason(fields(*headers), "mail.board.vn") or "")


def test_forged_headers_below_the_real_one_change_nothing() -> None:
    real_fail = ("Authentication-Results", GMAIL.format(dkim="none", spf="fail", dmarc="fail"))
    real_pass = ("Authentication-Results", GMAIL.format(dkim="pass", spf="pass", dmarc="pass"))
    forged_pass = ("Authentication-Results", "mx.google.com; dkim=pass; spf=pass; dmarc=pass")
    forged_fail = ("Authentication-Results", "mx.google.com; dmarc=fail; spf=fail")
    top = received("mx.google.com")
    theirs = received("mail.attacker.example")
    assert authres.review_reason(fields(top, real_fail, theirs, forged_pass), "mx.google.com")
    assert not authres.review_reason(fields(top, real_pass, theirs, forged_fail), "mx.google.com")
    # Another server's verdict, above or below, is not the board's.
    other = ("Authentication-Results", "mx.attacker.example; dmarc=fail; spf=fail")
    assert not authres.review_reason(fields(other, top, real_pass, other), "mx.google.com")
    assert not authres.review_reason(fields(top, real_fail), "mx.other.example")


def test_comments_quotes_and_folding() -> None:
    value = (
        'mx.google.com (the (nested; comment) dmarc=fail) ;\r\n\tdkim = pass (good "sig;")'
        ' header.b="a;b";\r\n spf=fail (x) smtp.mailfrom="dmarc=fail;@x"'
    )
    parsed = authres.parse(authres.header_fields(f"A-R-X: 1\r\nAuthentication-Results: {value}"
                                                 "\r\n\r\n".encode())[1][1])  # fmt: skip
    assert parsed.authserv_id == "mx.google.com"
    assert [(r.method, r.result) for r in parsed.results] == [("dkim", "pass"), ("spf", "fail")]
    assert authres.verdict(parsed.results) is None  # DKIM passed


def test_a_units_own_address_is_held_when_dmarc_failed(tmp_path: Path, at: At) -> None:
    board = deployment(tmp_path, mailbox='authserv_id = "mx.google.com"\n')
    header = GMAIL.format(dkim="none", spf="softfail", dmarc="fail").replace("\r\n", " ")
    mail = make_message(UNIT, files=forms("Đảng ủy xã Mường So"), Authentication_Results=header)
    board.deliver(mail, at(25))
    assert invoke(board, "poll").output.startswith("fetched 1, new 1: needs-review 1")
    listing = invoke(board, "review").output
    assert "reason: máy chủ thư của Ban báo thư không qua kiểm tra DMARC (dmarc=fail)" in listing
    assert acks(load(board), at(25, hour=10)) == []
    # Unset: the header is not read, and the same mail counts.
    (tmp_path / "unset").mkdir()
    other = deployment(tmp_path / "unset")
    other.deliver(mail, at(25))
    assert invoke(other, "poll").output.startswith("fetched 1, new 1: submission 1")


def test_authserv_id_is_checked_in_config(tmp_path: Path) -> None:
    board = deployment(tmp_path, mailbox='authserv_id = "mx.google.com; dmarc=pass"\n')
    with pytest.raises(config_module.ConfigError, match="authserv_id"):
        load(board)


def test_a_huge_header_block_costs_a_bounded_read() -> None:
    raw = b"Authentication-Results: mx.google.com; dmarc=fail\r\n" + b"X: " + b"a" * (8 << 20)
    assert len(authres.header_fields(raw)) == 2
    many = b"".join(b"X-%d: y\r\n" % i for i in range(50_000))
    assert len(authres.header_fields(many)) <= authres.MAX_FIELDS
