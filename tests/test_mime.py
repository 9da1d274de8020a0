"""Reading raw mail: Vietnamese headers, hidden attachments, robots, broken input."""

from __future__ import annotations

import unicodedata
from email.message import EmailMessage
from urllib.parse import quote

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail_ingest import mime
from mail_ingest.classify import classify
from mail_ingest.errors import MessageError

from conftest import make_message


def test_rfc2047_subject_and_rfc2231_filename_are_decoded() -> None:
    raw = (
        b"From: =?utf-8?b?xJDhuqNuZyDhu6d5IHjDoyBNxrDhu51uZyBTbw==?= <muongso@example.vn>\r\n"
        b"Subject: =?utf-8?q?G=E1=BB=ADi_bi=E1=BB=83u_m=E1=BA=ABu_01?=\r\n"
        b"Message-ID: <1@example.vn>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        b"--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nK\xc3\xadnh g\xe1\xbb\xadi\r\n"
        b"--b\r\nContent-Type: application/octet-stream\r\n"
        b"Content-Disposition: attachment; filename*=utf-8''M%E1%BA%ABu%2001.xlsx\r\n"
        b"Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b--\r\n"
    )
    mail = mime.parse(raw)
    assert mail.subject == "Gửi biểu mẫu 01"
    assert mail.sender == "Đảng ủy xã Mường So <muongso@example.vn>"
    assert mail.message_id == "<1@example.vn>"
    assert [(a.filename, a.data) for a in mail.attachments] == [("Mẫu 01.xlsx", b"PK\x03\x04")]
    assert mail.body.strip() == "Kính gửi"


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Auto-Submitted": "auto-replied", "X-Autoreply": "yes", "Precedence": "auto_reply"},
        {"Reply-To": "=?utf-8?q?V=C4=83n_ph=C3=B2ng?= <vp@example.vn>", "X-Mailer": "Outlook"},
    ],
)
def test_the_header_alone_says_what_the_whole_message_says_of_its_fields(
    headers: dict[str, str],
) -> None:
    raw = make_message(
        "Đảng ủy xã Mường So <muongso@example.vn>",
        "Gửi biểu mẫu 01 (bản sửa)",
        [("Mẫu 01.xlsx", b"PK\x03\x04 form")],
        **headers,
    )
    whole, header = mime.parse(raw), mime.parse_header(mime.header_block(raw))
    fields = ("message_id", "sender", "subject", "headers", "sender_address", "notes")
    assert [getattr(header, f) for f in fields] == [getattr(whole, f) for f in fields]
    assert (header.attachments, header.body, header.structure_error) == ((), "", None)
    assert classify(header.headers) == classify(whole.headers)
    assert mime.header_message_id(mime.header_block(raw)) == whole.message_id


@pytest.mark.parametrize(
    "field",
    [
        "Message-ID: <a.b@example.vn>",
        "Message-ID:\r\n <folded@example.vn>",
        "Message-ID: <x@y.vn> <second@y.vn>",
        "Message-ID: =?utf-8?q?<x@y.vn>?=",
        "Message-ID: <kh\u00f4ng@y.vn>",
        "Message-ID: no-brackets@y.vn",
        "Message-ID: <a@b.vn>\r\nMessage-ID: <c@d.vn>",
        "X-Other: <a@b.vn>",
        "Message-ID: <" + "x" * 300 + "@y.vn>",
    ],
)
def test_the_message_id_alone_is_the_one_the_header_parse_finds(field: str) -> None:
    """The IMAP triage reads only the Message-ID of a message it downloads anyway."""
    raw = f"From: a@b.vn\r\n{field}\r\nSubject: x\r\n\r\n".encode()
    assert mime.header_message_id(raw) == mime.parse_header(raw).message_id


def test_attachments_of_a_forwarded_message_are_found() -> None:
    inner = EmailMessage()
    inner["From"] = "a@example.vn"
    inner["Subject"] = "Mẫu 01"
    inner.set_content("x")
    inner.add_attachment(b"data", maintype="application", subtype="pdf", filename="scan.pdf")
    outer = EmailMessage()
    outer["From"] = "b@example.vn"
    outer["Subject"] = "Fwd: Mẫu 01"
    outer.set_content("chuyển tiếp")
    outer.add_attachment(inner)
    assert [a.filename for a in mime.parse(outer.as_bytes()).attachments] == ["scan.pdf"]


def test_inline_images_are_not_attachments_but_nameless_files_are() -> None:
    msg = EmailMessage()
    msg["From"] = "a@example.vn"
    msg.set_content("x")
    msg.add_related(b"\x89PNG", maintype="image", subtype="png", cid="<logo>")
    msg.add_attachment(
        b"PK",
        maintype="application",
        subtype="vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    [attachment] = mime.parse(msg.as_bytes()).attachments
    assert attachment.filename == "tep-dinh-kem-3.xlsx"


def test_malformed_headers_do_not_fail_the_message() -> None:
    raw = (
        b"From: =?utf-8?b?broken <<a@@example.vn\r\n"
        b"Subject: =?x-unknown?q?abc?=\r\nTo: ;;;\r\n\r\nbody"
    )
    mail = mime.parse(raw)
    assert mail.sender and mail.subject == "abc"
    assert mail.attachments == ()


@pytest.mark.parametrize("raw", [b"", b"\x00\x01\x02 garbage without headers", b"\r\n\r\n"])
def test_not_an_email_is_a_message_error(raw: bytes) -> None:
    with pytest.raises(MessageError, match="not an email message"):
        mime.parse(raw)


@pytest.mark.parametrize(
    ("headers", "kind"),
    [
        ({"Auto_Submitted": "auto-replied"}, "auto-reply"),
        ({"X_Autoreply": "yes"}, "auto-reply"),
        ({"Precedence": "bulk"}, "mailing-list"),
        ({"List_Id": "<news.example.vn>"}, "mailing-list"),
        ({"Auto_Submitted": "no"}, None),
        ({}, None),
    ],
)
def test_classify_headers(headers: dict[str, str], kind: str | None) -> None:
    mail = mime.parse(make_message("a@example.vn", **headers))
    assert classify(mail.headers) == kind


def test_classify_bounces_and_out_of_office_subjects() -> None:
    bounce = mime.parse(
        make_message(
            "Mail Delivery Subsystem <MAILER-DAEMON@gmail.com>",
            "Delivery Status Notification (Failure)",
        )
    )
    assert classify(bounce.headers) == "bounce"
    ooo = mime.parse(make_message("a@example.vn", "Trả lời tự động: Đôn đốc gửi biểu"))
    assert classify(ooo.headers) == "auto-reply"


def test_gmail_rfc2047_inside_quoted_filename_and_nfd_names() -> None:
    nfd = unicodedata.normalize("NFD", "Mẫu 02 Dào San.docx")
    raw = (
        "From: a@example.vn\r\nSubject: x\r\nMIME-Version: 1.0\r\n"
        'Content-Type: multipart/mixed; boundary="b"\r\n\r\n'
        "--b\r\nContent-Type: application/octet-stream\r\n"
        'Content-Disposition: attachment; filename="=?UTF-8?B?TeG6q3UgMDEueGxzeA==?="\r\n\r\nx\r\n'
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment; filename*=utf-8''{quote(nfd)}\r\n\r\ny\r\n--b--\r\n"
    ).encode()
    names = [a.filename for a in mime.parse(raw).attachments]
    assert names == ["Mẫu 01.xlsx", "Mẫu 02 Dào San.docx"]
    assert names[1] == unicodedata.normalize("NFC", names[1])


def test_unknown_charset_does_not_fail_the_message() -> None:
    raw = b"From: a@example.vn\r\nContent-Type: text/plain; charset=x-vni\r\n\r\nXin ch\xc3\xa0o"
    mail = mime.parse(raw)
    assert mail.body == "Xin chào" and mail.attachments == ()


def test_empty_return_path_is_a_bounce() -> None:
    mail = mime.parse(make_message("postmaster-notice@example.vn", Return_Path="<>"))
    assert classify(mail.headers) == "bounce"


def test_each_header_value_is_parsed_once_a_message(monkeypatch: pytest.MonkeyPatch) -> None:
    """The parser and the walk read Content-Type and Content-Disposition again and again;
    policy.default would parse the value at every read. Counted, not timed."""
    from mail_ingest import mime_bounds

    forwarded = EmailMessage()
    forwarded["From"], forwarded["Subject"] = "b@example.vn", "Chuyển tiếp"
    forwarded.set_content("Nội dung")
    forwarded.add_attachment(b"x" * 100, maintype="application", subtype="octet-stream",
                             filename="Mẫu 02.xlsx")  # fmt: skip
    msg = EmailMessage()
    msg["From"], msg["Subject"], msg["Message-ID"] = "a@example.vn", "Gửi mẫu", "<1@example.vn>"
    msg.set_content("Kính gửi Ban.")
    msg.add_alternative("<p>Kính gửi Ban.</p>", subtype="html")
    for i in range(3):
        msg.add_attachment(b"y" * 100, maintype="application", subtype="pdf",
                           filename=f"Báo cáo {i}.pdf")  # fmt: skip
    msg.add_attachment(forwarded)
    raw = msg.as_bytes()

    made: list[tuple[str, str]] = []
    original = mime_bounds._Headers.__call__

    def counting(self: mime_bounds._Headers, name: str, value: str) -> object:
        made.append((name.lower(), value))
        return original(self, name, value)

    monkeypatch.setattr(mime_bounds._Headers, "__call__", counting)
    mail = mime.parse(raw)
    assert [a.filename for a in mail.attachments] == [
        "Báo cáo 0.pdf", "Báo cáo 1.pdf", "Báo cáo 2.pdf", "Mẫu 02.xlsx"
    ]  # fmt: skip
    assert mail.body.strip() == "Kính gửi Ban."
    repeated = {k: n for k in set(made) if (n := made.count(k)) > 1}
    assert repeated == {}


def test_the_parsed_headers_kept_are_few_and_short() -> None:
    """A stranger's many long, distinct Content-Types are parsed at each read, not kept:
    what a parsed value weighs (~200 times its length) stays bounded a message."""
    import email

    from mail_ingest import mime_bounds

    parts = [
        f'--b\nContent-Type: text/plain; charset=utf-8; x-{i}="{"v" * (i * 9)}"\n\nhi {i}\n'
        for i in range(200)
    ]
    raw = ("From: a@example.vn\nContent-Type: multipart/mixed; boundary=b\n\n"
           + "".join(parts) + "--b--\n").encode()  # fmt: skip
    fetched: dict[tuple[str, str], object] = {}
    policy = mime_bounds.BoundedPolicy(fetched=fetched, header_factory=mime_bounds.HEADERS)  # type: ignore[call-overload]
    msg = email.message_from_bytes(raw, policy=policy)
    types = [p.get_content_type() for p in msg.walk()]
    assert types == ["multipart/mixed"] + ["text/plain"] * 200
    assert 0 < len(fetched) <= mime_bounds.MAX_FETCHED
    assert all(len(value) <= mime_bounds.MAX_FETCHED_CHARS for _, value in fetched)
    assert len(mime.parse(raw).body) > 0


@pytest.mark.parametrize("start", [b"", b"--b\r\n"])
def test_parts_are_counted_up_to_the_limit_whatever_the_quick_count_passes(start: bytes) -> None:
    """too_many_parts passes a message on a count of lines starting "--" only when that
    count cannot exceed the limit: at the limit and one over, the delimiters decide."""
    from mail_ingest.mime_bounds import MAX_PARTS, too_many_parts

    def message(delimiters: int, other_dashes: int) -> bytes:
        head = b'Content-Type: multipart/mixed; boundary="b"\r\n\r\n' if not start else b""
        lines = [start] if start else []
        lines += [b"--b\r\n\r\nx\r\n"] * (delimiters - len(lines))
        lines += [b"-- not one\r\n"] * other_dashes
        body = b"".join(lines) + b"--b--\r\n"
        if start:  # the first delimiter opens the bytes; the boundary is named at the end
            return body + b'Content-Type: multipart/mixed; boundary="b"\r\n'
        return head + body

    assert too_many_parts(message(MAX_PARTS, 0)) is None  # MAX_PARTS + 1 delimiters
    assert too_many_parts(message(MAX_PARTS, 50)) is None  # dashes that delimit nothing
    assert too_many_parts(message(MAX_PARTS + 1, 0)) == f"more than {MAX_PARTS} MIME parts"


@pytest.mark.parametrize(
    "build", ["poison_subject", "huge_from", "huge_filename", "many_fields", "huge_message_id"]
)
def test_the_message_id_alone_of_a_hostile_header_is_the_header_parse_s(build: str) -> None:
    """What the IMAP triage reads of a stranger's header with a file: the same Message-ID
    as the bounded header parse, whatever the header holds."""
    from mail_ingest.mime_bounds import header_block

    import hostile_headers as hh

    if build == "huge_message_id":
        raw = f"From: a@b.vn\r\nMessage-ID: <{'x' * 1_000_000}@y.vn>\r\n\r\n".encode()
    else:
        raw = getattr(hh, build)()
    header = header_block(raw)
    assert mime.header_message_id(header) == mime.parse_header(header).message_id


CLIENT_FIELDS = [  # as mail clients write them: the first three are kept as their text
    ("Content-Type", 'multipart/mixed; boundary="000000000000a1b2c3d4e5f6"'),  # Gmail
    ("Content-Type", 'text/plain; charset="UTF-8"'),
    ("Content-Disposition", 'attachment; filename="Mau 01.xlsx"'),
    ("Content-Type", "text/plain; charset=UTF-8; format=flowed"),  # Thunderbird
    ("Content-Type", 'application/pdf; name="=?UTF-8?B?QsOhbyBjw6FvLnBkZg==?="'),
    ("Content-Disposition", "attachment; filename*=utf-8''B%C3%A1o%20c%C3%A1o.xlsx"),
    ("Content-Type", 'text/plain; charset="utf-8"; charset="koi8-r"'),  # the first counts
    ("Content-Type", 'text/plain; charset=""'),
]


@pytest.mark.parametrize(("name", "value"), CLIENT_FIELDS)
def test_a_field_kept_as_its_text_answers_as_its_parsed_class(name: str, value: str) -> None:
    """mime_bounds._Unparsed: the text is the class's own, and anything more asked of the
    field (its parameters, its defects) is the class's answer."""
    from email.headerregistry import HeaderRegistry

    from mail_ingest.mime_bounds import HEADERS, _Unparsed

    kept, parsed = HEADERS(name, value), HeaderRegistry()(name, value)
    assert isinstance(kept, _Unparsed) == (CLIENT_FIELDS.index((name, value)) < 3)
    assert (str(kept), kept.params) == (str(parsed), parsed.params)
    assert [repr(d) for d in kept.defects] == [repr(d) for d in parsed.defects]


_TOKEN = st.text("abcXYZ09-._!#$%&'*+^`|~", min_size=1, max_size=8)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from(["Content-Type", "Content-Disposition", "Content-Transfer-Encoding"]),
    _TOKEN,
    st.one_of(st.just(""), _TOKEN.map(lambda t: "/" + t)),
    st.lists(
        st.tuples(
            st.one_of(_TOKEN, st.sampled_from(["name", "filename", "charset", "boundary"])),
            st.sampled_from(["; ", ";", " ;"]),
            st.text(st.characters(min_codepoint=32, max_codepoint=126), max_size=12),
        ),
        max_size=3,
    ),
)
def test_a_value_is_kept_as_its_text_only_when_that_is_the_parse_s_text(
    name: str, kind: str, subtype: str, parameters: list[tuple[str, str, str]]
) -> None:
    """Whatever a stranger writes: a value kept unparsed is one whose parse is its own text,
    with the same parameters."""
    from email.headerregistry import HeaderRegistry

    from mail_ingest.mime_bounds import HEADERS, _Unparsed

    value = kind + subtype + "".join(f'{sep}{p}="{v}"' for p, sep, v in parameters)
    kept = HEADERS(name, value)
    if not isinstance(kept, _Unparsed):
        return
    parsed = HeaderRegistry()(name, value)
    assert str(parsed) == value
    assert getattr(kept, "params", None) == getattr(parsed, "params", None)
    assert getattr(kept, "cte", None) == getattr(parsed, "cte", None)


def test_every_message_reads_the_same_with_its_fields_kept_as_text(
    monkeypatch: pytest.MonkeyPatch, hostile_raws: list[bytes]
) -> None:
    """The hostile corpus and the clients' fields, read with and without the shortcut."""
    from mail_ingest import mime_bounds

    raws = list(hostile_raws)
    files = [("Mẫu 01.xlsx", b"PK\x03\x04" + b"x" * 300), ("Bao cao.pdf", b"%PDF-1.4 x")]
    raws += [make_message("a@example.vn", "Gửi mẫu", files, body="Kính gửi Ban.")]
    raws += [
        f"From: a@example.vn\r\nSubject: x\r\nMIME-Version: 1.0\r\n{name}: {value}\r\n\r\nhi\r\n"
        .encode() for name, value in CLIENT_FIELDS
    ]  # fmt: skip

    def read(raw: bytes) -> object:
        try:
            return mime.parse(raw)
        except Exception as exc:
            return type(exc), str(exc)

    kept = [read(raw) for raw in raws]
    monkeypatch.setattr(mime_bounds, "_canonical", lambda value: False)
    assert [read(raw) for raw in raws] == kept
