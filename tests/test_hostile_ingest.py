"""What one message can cost at ingestion, and who its From really is (issue 11).

Hostile messages are made by code (tests/hostile_headers.py) and varied: encodings, header
names, folding, line endings. The memory-heavy ones are parsed in a child under
RLIMIT_AS, so a regression fails the test instead of the machine.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from imapclient import IMAPClient

from mail_ingest import config as config_module
from mail_ingest import corrections, mime, reading, sandbox
from mail_ingest.app import open_store
from mail_ingest.archive import Archive, sha256
from mail_ingest.config import MailboxConfig
from mail_ingest.imap import ImapSource
from mail_ingest.mailbox import FetchedMessage, MaildirSource, Preview
from mail_ingest.pipeline import CRASHED, poll, process, wanted
from mail_ingest.store import MessageRecord, Store
from rules.units import Unit, UnitDirectory

import hostile_headers as hm
from conftest import CONFIG, Deployment, make_message
from dovecot_server import ImapAccount

ICT = timezone(timedelta(hours=7))
AT = datetime(2024, 1, 20, 9, 0, tzinfo=ICT)
UNIT = "DangUy.MuongSo@example.vn"
UNITS = UnitDirectory(
    [
        Unit("xa-muong-so", "Đảng ủy xã Mường So", "xa", (UNIT,)),
        Unit("cq-vp", "Chi bộ Văn phòng HĐND - UBND huyện", "co-quan", ("vanphong@example.vn",)),
    ]
)
CONTROLS = "\x1b[31m\x1b]0;pwned\x07\x07\x9b2J\u202e\x00"


def fetched(raw: bytes, uid: str = "1", **kw: object) -> FetchedMessage:
    return FetchedMessage("test", 0, uid, AT, raw, **kw)  # type: ignore[arg-type]


def record_of(raw: bytes) -> MessageRecord:
    return process(fetched(raw), sha256(raw), UNITS, ())


def stored(deployment: Deployment) -> list:
    with open_store(config_module.load(deployment.config)) as store:
        return store.messages()


def deliver(deployment: Deployment, raw: bytes, when: datetime) -> str:
    """Into the Maildir byte for byte (the email package cannot re-serialise every bomb)."""
    key = deployment.maildir.add(raw)
    os.utime(deployment.root / "mail" / "new" / key, (when.timestamp(), when.timestamp()))
    return key


def run_poll(deployment: Deployment, budget: float = 600.0) -> tuple[int, int, bool]:
    cfg = config_module.load(deployment.config)
    with open_store(cfg) as store:
        result = poll(
            MaildirSource(cfg.mailbox.path or Path(), cfg.mailbox.max_message_bytes),
            store,
            Archive(cfg.storage / "archive"),
            UnitDirectory(cfg.units),
            cfg.forms,
            budget=budget,
        )
    return result.fetched, result.new, result.out_of_time


# -- 1. what a header may cost ----------------------------------------------------------


def _subject_q(size: int) -> bytes:
    return hm.poison_subject(size)


def _subject_b(size: int) -> bytes:
    word = "=?utf-8?b?QsOhbyBjw6FvIETDom4gduG6rW4ga2jDqW8=?="
    return hm.message(subject="\r\n ".join([word] * (size // (len(word) + 3))))


def _subject_one_line(size: int) -> bytes:
    return hm.message(subject=hm.encoded_words(size).replace("\r\n ", " "))


def _subject_lf(size: int) -> bytes:
    return hm.poison_subject(size).replace(b"\r\n", b"\n")


def _to_header(size: int) -> bytes:
    return hm.message(f"To: {hm.encoded_words(size)} <x@example.com>\r\n")


def _custom_header(size: int) -> bytes:
    return hm.message(f"X-Anything: {hm.encoded_words(size)}\r\n")


def _content_type_param(size: int) -> bytes:
    name = "".join(f";\r\n name*{i}*=M%E1%BA%ABu_01" for i in range(size // 30))
    return hm.message(f"Content-Type: application/octet-stream{name}\r\n", "UEsDBA==\r\n")


POISONS: dict[str, Callable[[int], bytes]] = {
    "subject-q": _subject_q,
    "subject-b": _subject_b,
    "subject-one-line": _subject_one_line,
    "subject-lf": _subject_lf,
    "to": _to_header,
    "x-header": _custom_header,
    "content-type-name": _content_type_param,
    "from": hm.huge_from,
    "filename": hm.huge_filename,
}


@pytest.mark.parametrize("kind", POISONS)
def test_a_megabyte_header_is_cut_before_decoding(kind: str, tmp_path: Path) -> None:
    raw = POISONS[kind](1024 * 1024)
    out = hm.parse_limited(raw, tmp_path, limit=hm.GIB)  # before the fix: >6 GiB, MemoryError
    assert any("cut to" in note for note in out["notes"]), out["notes"]
    assert out["cpu"] < 30
    assert len(out["subject"] or "") <= mime.MAX_FIELD_CHARS
    assert all(len(name) <= mime.MAX_FILENAME for name in out["attachments"])


def test_the_reported_poison_mail_costs_little(tmp_path: Path) -> None:
    out = hm.parse_limited(hm.poison_subject(), tmp_path, limit=hm.GIB)
    assert out["subject"].startswith("Báo cáo Dân vận khéo")
    assert out["sender_address"] == "stranger@example.com"
    assert out["peak_mb"] < 500


def test_a_cut_from_never_yields_an_address(tmp_path: Path) -> None:
    out = hm.parse_limited(hm.huge_from(), tmp_path)
    assert out["sender"].startswith("dangbo@example.vn")  # the text is kept, cut
    assert out["sender_address"] is None  # the unit's address came first: never trusted


def test_a_hundred_thousand_fields_are_cut(tmp_path: Path) -> None:
    out = hm.parse_limited(hm.many_fields(), tmp_path)
    assert out["fields"] <= mime.MAX_FIELDS
    assert out["subject"] == "Báo cáo"
    assert "header of 100006 fields cut to 500" in out["notes"]


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (lambda: hm.many_parts(50_000), "more than 1000 MIME parts"),
        (lambda: hm.many_parts(1200), "more than 1000 MIME parts"),
        (lambda: hm.deep_nesting(5000), "MIME levels nested"),
        (lambda: hm.deep_nesting(40), "MIME levels nested"),
        (lambda: hm.deep_multipart(200), "MIME levels nested"),
        (lambda: hm.deep_multipart(40), "MIME levels nested"),
    ],
    ids=["50k-parts", "1200-parts", "rfc822-5000", "rfc822-40", "multipart-200", "multipart-40"],
)
def test_a_structure_beyond_the_caps_is_a_specific_error(
    build: Callable[[], bytes], reason: str, tmp_path: Path
) -> None:
    out = hm.parse_limited(build(), tmp_path)
    assert reason in out["structure_error"]
    assert out["subject"] == "Báo cáo"  # the header is still read
    assert out["attachments"] == []


def test_an_ordinary_nesting_is_read() -> None:
    mail = mime.parse(hm.deep_multipart(5))
    assert mail.structure_error is None
    assert mime.parse(hm.many_parts(50)).structure_error is None
    assert len(mime.parse(hm.many_parts(50)).attachments) == 50


def test_hostile_messages_are_recorded_and_the_poll_goes_on(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    deliver(deployment, make_message(UNIT, "trước"), at(20, hour=8))
    deliver(deployment, hm.many_parts(5000), at(20, hour=9))
    deliver(deployment, hm.poison_subject(200_000), at(20, hour=10))
    deliver(deployment, hm.deep_nesting(500), at(20, hour=11))
    deliver(deployment, make_message(UNIT, "sau"), at(20, hour=12))
    assert run_poll(deployment)[:2] == (5, 5)
    rows = {m.received_at.astimezone(ICT).hour: m for m in stored(deployment)}
    assert rows[8].subject == "trước" and rows[12].subject == "sau"
    assert rows[9].outcome == "error" and "more than 1000 MIME parts" in (rows[9].error or "")
    assert rows[11].outcome == "error" and "levels nested" in (rows[11].error or "")
    assert rows[10].outcome != "error" and len(rows[10].subject or "") < mime.MAX_FIELD_CHARS


def test_a_structure_the_sandbox_cannot_read_in_time_is_that_messages_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(reading, "MIME_SECONDS", 1e-6)
    monkeypatch.setattr(sandbox, "TIMEOUT", 1e-6)  # the whole message's call, then alone
    record = record_of(hm.many_parts(900))  # within the caps, yet not read in a microsecond
    assert record.outcome == "error"
    assert (record.error or "").startswith("cannot read the message structure (timeout)")
    monkeypatch.undo()
    assert record_of(make_message(UNIT)).outcome == "submission"  # a fresh worker reads on


# -- 2. a message that kills the process -----------------------------------------------


def _crash_poll(deployment: Deployment, marker: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAIL_INGEST_TEST_KILL_ON": marker}
    script = Path(__file__).with_name("crash_poll.py")
    return subprocess.run(
        [sys.executable, str(script), str(deployment.config)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_message_that_killed_the_service_twice_is_an_error(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    deliver(deployment, make_message(UNIT, "một"), at(20, hour=8))
    deliver(deployment, make_message(UNIT, "KILLER"), at(20, hour=9))
    deliver(deployment, make_message(UNIT, "ba"), at(20, hour=10))
    for _ in range(2):
        done = _crash_poll(deployment, "KILLER")
        assert done.returncode == -signal.SIGKILL, done.stderr
    assert [m.subject for m in stored(deployment)] == ["một"]
    # The third poll does not read it again: an error for the board, the rest goes on.
    done = _crash_poll(deployment, "KILLER")
    assert done.returncode == 0, done.stderr
    rows = {m.subject or m.received_at.astimezone(ICT).hour: m for m in stored(deployment)}
    assert rows[9].outcome == "error" and rows[9].error == CRASHED
    assert rows["ba"].outcome == "submission"
    with Store(config_module.load(deployment.config).storage / "mail-ingest.sqlite3") as store:
        assert store.count("messages") == 3
        assert store.attempts(f"maildir:{(deployment.root / 'mail').resolve()}", 0, "x") == 0


def test_one_crash_alone_retries(deployment: Deployment, at: Callable[..., datetime]) -> None:
    deliver(deployment, make_message(UNIT, "POWERCUT"), at(20, hour=9))
    assert _crash_poll(deployment, "POWERCUT").returncode == -signal.SIGKILL
    assert run_poll(deployment)[:2] == (1, 1)
    [row] = stored(deployment)
    assert (row.outcome, row.subject, row.error) == ("submission", "POWERCUT", None)


def test_the_processing_mark_is_removed_with_the_record(tmp_path: Path) -> None:
    with Store(tmp_path / "s.sqlite3") as store:
        assert store.begin("src", 1, "7") == 1
        assert store.begin("src", 1, "7") == 2
        assert store.attempts("src", 1, "7") == 2
        record = record_of(make_message(UNIT))
        store.record(record, "src", 1, "7")
        assert store.attempts("src", 1, "7") == 0


# -- 3. a poll's budget -------------------------------------------------------------------


def test_a_poll_stops_at_its_budget_and_the_next_goes_on(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    for hour in (8, 9, 10):
        deliver(deployment, make_message(UNIT, f"thư {hour}"), at(20, hour=hour))
    assert run_poll(deployment, budget=0) == (1, 1, True)
    assert run_poll(deployment, budget=0) == (1, 1, True)
    assert run_poll(deployment) == (1, 1, False)
    assert sorted(m.subject or "" for m in stored(deployment)) == ["thư 10", "thư 8", "thư 9"]
    assert run_poll(deployment) == (0, 0, False)


# -- 4. attribution by address uses the parsed addr-spec only ---------------------------

SPOOFS = {
    "encoded-address-alone": "=?utf-8?q?DangUy.MuongSo=40example.vn?=",
    "encoded-name-then-real": "=?utf-8?q?DangUy.MuongSo=40example.vn?= <attacker@evil.com>",
    "encoded-list-in-name": "=?utf-8?q?DangUy.MuongSo=40example.vn=2C_x=40y.vn?= <a@evil.com>",
    "quoted-name": '"DangUy.MuongSo@example.vn" <attacker@evil.com>',
    "two-addresses": "DangUy.MuongSo@example.vn, attacker@evil.com",
    "group": "undisclosed: DangUy.MuongSo@example.vn, attacker@evil.com;",
    "comment": "attacker@evil.com (DangUy.MuongSo@example.vn)",
    "b-encoded": "=?utf-8?b?RGFuZ1V5Lk11b25nU29AZXhhbXBsZS52bg==?= <attacker@evil.com>",
}


def _raw_from(sender: str, subject: str = "Gửi biểu") -> bytes:
    return (
        f"From: {sender}\r\nTo: bandanvan@example.vn\r\nSubject: {subject}\r\n"
        "Message-ID: <spoof@evil.com>\r\nDate: Sat, 20 Jan 2024 08:00:00 +0700\r\n\r\nhi\r\n"
    ).encode()


@pytest.mark.parametrize("kind", SPOOFS)
def test_a_unit_address_in_the_text_is_not_attribution(kind: str) -> None:
    record = record_of(_raw_from(SPOOFS[kind]))
    assert record.unit_id is None and record.outcome == "unknown-sender"
    assert record.sender_address in (None, "attacker@evil.com", "a@evil.com")
    preview = Preview(_raw_from(SPOOFS[kind]), 100, has_attachment=False)
    assert not wanted(UNITS)(preview)


@pytest.mark.parametrize("sender", [UNIT, f"Đảng ủy <{UNIT.lower()}>", "=?utf-8?q?=C4=90U?= <%s>"])
def test_the_unit_own_address_is_attribution(sender: str) -> None:
    record = record_of(_raw_from(sender.replace("%s", UNIT)))
    assert (record.unit_id, record.evidence) == ("xa-muong-so", "address")


def test_remember_learns_the_parsed_address(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    spoof = "=?utf-8?q?vanphong=40example.vn?= <nguoi.la@gmail.com>"
    deliver(deployment, _raw_from(spoof, "xin gửi"), at(20))
    run_poll(deployment)
    cfg = config_module.load(deployment.config)
    with open_store(cfg) as store:
        [held] = store.attributions()
        done = corrections.assign(
            cfg, store, str(held.id), "xa-muong-so", remember=True, by="t", note="n"
        )
        assert done.learned == "nguoila@gmail.com"  # not vanphong@, the decoded text
        assert [a.address for a in store.learned_addresses()] == ["nguoila@gmail.com"]


# -- 5. Maildir size limit ----------------------------------------------------------------


def test_a_maildir_message_over_the_limit_is_too_large(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    deployment.config.write_text(
        CONFIG.replace('path = "mail"', 'path = "mail"\nmax_message_bytes = 100000'), "utf-8"
    )
    big = make_message(UNIT, "lớn", files=[("Mau01.xlsx", os.urandom(300_000))])
    deliver(deployment, big, at(20))
    deliver(deployment, make_message(UNIT, "nhỏ"), at(21))
    cfg = config_module.load(deployment.config)
    assert cfg.mailbox.max_message_bytes == 100000
    source = MaildirSource(cfg.mailbox.path or Path(), cfg.mailbox.max_message_bytes)
    with open_store(cfg) as store:
        poll(source, store, Archive(cfg.storage / "archive"), UnitDirectory(cfg.units), ())
    assert source.downloaded < 100000  # the big one: only its header was read
    rows = {m.subject: m for m in stored(deployment)}
    assert rows["lớn"].outcome == "too-large" and "max_message_bytes" in (rows["lớn"].error or "")
    assert rows["nhỏ"].outcome == "submission"


def test_the_header_of_a_file_without_line_breaks_is_bounded(tmp_path: Path) -> None:
    from mail_ingest.mailbox import read_header

    path = tmp_path / "one-line"
    path.write_bytes(b"Subject: " + b"x" * 5_000_000)
    assert len(read_header(path, 1024)) == 1024


# -- 6. copies are recognised by their bytes ----------------------------------------------


def _twin(body: str, subject: str = "twin") -> bytes:
    """Same Message-ID; the same size when `body` and `subject` have the same lengths."""
    return (
        f"From: vanphong@example.vn\r\nSubject: {subject}\r\nMessage-ID: <same@example.vn>\r\n"
        f"Date: Sat, 20 Jan 2024 08:00:00 +0700\r\n\r\n{body}\r\n"
    ).encode()


def test_two_messages_with_the_same_message_id_and_size_are_both_read(
    deployment: Deployment, at: Callable[..., datetime]
) -> None:
    one, two = _twin("nội dung A"), _twin("nội dung B")
    assert len(one) == len(two) and one != two
    deliver(deployment, one, at(20))
    deliver(deployment, two, at(21))
    deliver(deployment, one, at(22))  # a true copy: the same bytes
    assert run_poll(deployment)[:2] == (3, 2)
    with Store(config_module.load(deployment.config).storage / "mail-ingest.sqlite3") as store:
        assert store.count("messages") == 2 and store.count("locations") == 3


def test_a_header_copy_is_known_by_header_and_size_and_old_rows_by_message_id(
    tmp_path: Path,
) -> None:
    raw = _twin("x")
    with Store(tmp_path / "s.sqlite3") as store:
        store.record(record_of(raw), "a", 1, "1")
        digest = mime.header_digest(raw)
        assert store.has_message(None, len(raw), None, digest)
        assert not store.has_message(None, len(raw) + 1, None, digest)
        assert not store.has_message("<same@example.vn>", len(raw), None, "0" * 64)
        old = MessageRecord("f" * 64, 10, "<old@x.vn>", None, None, AT, None, "ignored")
        store.record(old, "a", 1, "2")  # recorded before header hashes existed
        assert store.has_message("<old@x.vn>", 10, None, "1" * 64)


def test_the_header_digest_ignores_line_endings() -> None:
    raw = _twin("x")
    assert mime.header_digest(raw) == mime.header_digest(raw.replace(b"\r\n", b"\n"))
    assert mime.header_block(raw).endswith(b"\r\n\r\n") and b"x" not in mime.header_block(raw)[-3:]


@settings(max_examples=2000, deadline=None)
@given(st.lists(st.sampled_from([b"\r\n", b"\n", b"\r", b"To: a", b"x", b"\r\n\r\n", b"\n\n"])))
def test_the_header_block_ends_at_the_first_blank_line_whatever_the_line_endings(
    pieces: list[bytes],
) -> None:
    raw = b"".join(pieces)
    ends = [i + len(sep) for sep in (b"\r\n\r\n", b"\n\n") if (i := raw.find(sep)) >= 0]
    if raw.startswith(b"\r\n"):
        assert mime.header_block(raw) == b"\r\n"
    elif raw.startswith(b"\n"):
        assert mime.header_block(raw) == b"\n"
    else:
        assert mime.header_block(raw) == (raw[: min(ends)] if ends else raw)


# -- 7. a Message-ID is kept only when sane -----------------------------------------------


@pytest.mark.parametrize(
    ("value", "kept"),
    [
        ("<a.b-1@example.vn>", True),
        ("<" + "a" * 240 + "@x.vn>", True),
        ("<" + "a" * 100_000 + "@x.vn>", False),
        ("<a@b> <c@d>", False),
        ("<a b@x.vn>", False),
        ("no-brackets@x.vn", False),
        ("<no-at-sign>", False),
        ("<../../etc/passwd@x>", True),
        ("<=?utf-8?q?=1B=5B2J?=@x.vn>", True),
        ("=?utf-8?q?=3Ca=07b=40x.vn=3E?=", False),
        ("<a@b@c>", False),
    ],
)
def test_only_a_sane_message_id_is_kept(value: str, kept: bool) -> None:
    raw = _raw_from("a@example.com").replace(b"<spoof@evil.com>", value.encode())
    assert (mime.parse(raw).message_id is not None) is kept


# -- 8. nothing stored carries a control character ------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        f"Subject: {CONTROLS}báo cáo",
        "Subject: =?utf-8?q?=1B=5B31m_=07_=C2=9B_=E2=80=AE_b=C3=A1o?=",
        "Subject: =?utf-8?b?G1szMW0HwpvigK4gYsOhbw==?=",
        f"From: {CONTROLS} <a@example.com>",
        "From: =?utf-8?q?=1B]0;x=07?= <a@example.com>",
        "X-Mailer: =?utf-8?q?=1B=5B2J?=",
    ],
)
def test_decoded_headers_carry_no_control_character(header: str) -> None:
    name = header.split(":")[0]
    raw = _raw_from("a@example.com", "s").decode()
    raw = raw.replace("From: a@example.com\r\n" if name == "From" else "", "")
    raw = raw.replace("Subject: s\r\n" if name == "Subject" else "", "")
    mail = mime.parse((header + "\r\n" + raw).encode())
    for value in mail.headers.values():
        assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F or c == "\u202e" for c in value)


@pytest.mark.parametrize(
    "disposition",
    [
        'attachment; filename="\x1b[2Jbad\u202excod.xlsx"',
        "attachment; filename*=utf-8''%1B%5B31m%07M%E1%BA%ABu.xlsx",
        'attachment; filename="=?utf-8?q?=1B=5B2J=E2=80=AEb.xlsx?="',
    ],
)
def test_attachment_names_carry_no_control_character(disposition: str) -> None:
    raw = hm.message(
        'Content-Type: multipart/mixed; boundary="b"\r\n',
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: {disposition}\r\n\r\nx\r\n--b--\r\n",
    )
    [attachment] = mime.parse(raw).attachments
    assert attachment.filename.endswith(".xlsx")
    assert not any(ord(c) < 32 or 0x7F <= ord(c) <= 0x9F for c in attachment.filename)
    assert "\u202e" not in attachment.filename


# -- over IMAP, against a real Dovecot ------------------------------------------------------

ENV = "TEST_HOSTILE_IMAP_SECRET"


def _imap_source(account: ImapAccount, folders: tuple[str, ...] = ("INBOX",)) -> ImapSource:
    box = MailboxConfig(
        kind="imap", host=account.host, port=account.port, security="none",
        username=account.username, password_env=ENV, folders=folders,
    )  # fmt: skip
    return ImapSource(box, wanted=wanted(UNITS), backoff=0.01, timezone=ICT)


@pytest.fixture
def hostile_account(imap_account: ImapAccount, monkeypatch: pytest.MonkeyPatch) -> ImapAccount:
    monkeypatch.setenv(ENV, imap_account.password)
    return imap_account


@pytest.mark.dovecot
def test_dovecot_body_header_is_the_header_block_of_the_body(
    hostile_account: ImapAccount,
) -> None:
    raws = [
        _twin("x"),
        _twin("x").replace(b"\r\n", b"\n"),  # LF only: Dovecot sends CRLF
        b"From: a@example.com\r\nSubject: no body\r\n\r\n",
        hm.poison_subject(100_000, total=0),
        make_message(UNIT, "tệp", files=[("Mau01.xlsx", b"PK\x03\x04")]),
    ]
    for raw in raws:
        hostile_account.append(raw, AT)
    with IMAPClient(hostile_account.host, hostile_account.port, ssl=False) as client:
        client.login(hostile_account.username, hostile_account.password)
        client.select_folder("INBOX", readonly=True)
        items = client.fetch(client.search(), [b"BODY.PEEK[HEADER]", b"BODY.PEEK[]"])
    assert len(items) == len(raws)
    for item in items.values():
        assert mime.header_block(item[b"BODY[]"]) == item[b"BODY[HEADER]"]


@pytest.mark.dovecot
def test_dovecot_twins_with_one_message_id_and_size_are_both_read(
    hostile_account: ImapAccount, tmp_path: Path
) -> None:
    # A stranger reusing a unit's Message-ID: another header, the same size.
    one, two = _twin("nội dung A", "twin A"), _twin("nội dung B", "twin B")
    hostile_account.append(one, AT)
    hostile_account.append(two, AT, folder="Khác")
    hostile_account.append(one, AT, folder="Bản sao")  # a true copy (a Gmail label)
    source = _imap_source(hostile_account, ("INBOX", "Khác", "Bản sao"))
    with Store(tmp_path / "s.sqlite3") as store:
        result = poll(source, store, Archive(tmp_path / "archive"), UNITS, ())
        assert (result.fetched, result.new) == (3, 2)
        assert store.count("locations") == 3
        rows = store.messages()
    header = len(mime.header_block(one))
    assert result.downloaded == 3 * header + len(one) + len(two)  # the copy: header only
    assert sorted(r.outcome for r in rows) == ["submission", "submission"]


@pytest.mark.dovecot
def test_dovecot_poison_header_in_the_preview_is_cut(
    hostile_account: ImapAccount, tmp_path: Path
) -> None:
    hostile_account.append(hm.poison_subject(300_000, total=0), AT)
    hostile_account.append(_twin("sau"), AT)
    with Store(tmp_path / "s.sqlite3") as store:
        result = poll(_imap_source(hostile_account), store, Archive(tmp_path / "a"), UNITS, ())
        assert (result.fetched, result.new) == (2, 2)
        rows = {r.subject: r for r in store.messages()}
    assert rows["twin"].outcome == "submission"
    [poison] = [r for subject, r in rows.items() if subject != "twin"]
    assert poison.outcome == "ignored" and len(poison.subject or "") < mime.MAX_FIELD_CHARS
