"""parsers.bundle and parsers.tnef: archives and winmail.dat, hostile ones included."""

from __future__ import annotations

import io
import struct
import unicodedata
import zipfile
from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import parsers
from mail_ingest.samples import SampleEntry, mau01_xlsx
from parsers import bundle
from parsers.bundle import Unpacked, decode_name, expand

UNIT = "Đảng ủy xã Mường So"
ENTRIES = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
]
Member = tuple[str | bytes, bytes]  # a name (bytes: written without the UTF-8 flag), data


class _RawName(zipfile.ZipInfo):
    """A member whose name is written as given bytes, without the UTF-8 flag."""

    raw = b""

    def _encodeFilenameFlags(self) -> tuple[bytes, int]:  # zipfile calls it by this name
        return self.raw, self.flag_bits & ~0x800


def zip_of(members: Sequence[Member], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", method) as z:
        for name, data in members:
            if isinstance(name, bytes):
                info = _RawName(name.decode("cp437"), (2024, 1, 25, 8, 0, 0))
                info.raw, info.compress_type = name, method
                z.writestr(info, data)
            else:
                z.writestr(name, data)
    return out.getvalue()


def cp1258(text: str) -> bytes:
    """Vietnamese as Windows writes it: a base letter plus a combining tone mark."""
    out = b""
    for char in unicodedata.normalize("NFC", text):
        try:
            out += char.encode("cp1258")
            continue
        except UnicodeEncodeError:
            pass
        marks = unicodedata.normalize("NFD", char)
        for i in range(1, len(marks)):
            rest = unicodedata.normalize("NFC", marks[:i] + marks[i + 1 :])
            try:
                out += rest.encode("cp1258") + marks[i].encode("cp1258")
                break
            except UnicodeEncodeError:
                continue
        else:
            raise AssertionError(f"cannot write {char!r} in cp1258")
    return out


def names(found: Sequence[Unpacked]) -> list[str]:
    return [u.name for u in found]


def codes(u: Unpacked) -> list[str]:
    assert u.record is not None
    return [p.code for p in u.record.problems]


# --- ordinary archives -------------------------------------------------------------------


def test_a_zip_of_forms_yields_each_file_under_the_archive_name() -> None:
    data = zip_of([("Mẫu 01.xlsx", mau01_xlsx(UNIT, ENTRIES)), ("scan/bản ký.pdf", b"%PDF-1.4")])
    top, xlsx, pdf = expand("Hồ sơ DVK.zip", data)
    assert top.record is not None and top.record.form is None and not top.record.problems
    assert (xlsx.name, xlsx.record) == ("Hồ sơ DVK.zip/Mẫu 01.xlsx", None)
    assert pdf.name == "Hồ sơ DVK.zip/scan/bản ký.pdf"
    parsed = parsers.parse_file(xlsx.name, xlsx.data)
    assert parsed.form == "mau-01"
    assert [(e.name, e.kind, e.field) for e in parsed.entries] == [
        ("Hợp tác xã chè Mường So", "tap-the", "kinh-te"),
        ("Lò Văn Thắng", "ca-nhan", "xay-dung-dang"),
    ]
    assert parsers.parse_file(pdf.name, pdf.data).problems[0].code == "scan-needs-review"


def test_a_file_that_is_not_an_archive_is_itself() -> None:
    assert expand("Mẫu 01.xlsx", b"PK\x03\x04") == (Unpacked("Mẫu 01.xlsx", b"PK\x03\x04"),)


def test_parse_file_on_a_zip_lists_what_it_holds() -> None:
    parsed = parsers.parse_file("a.zip", zip_of([("x.docx", b"1"), ("y.pdf", b"2")]))
    assert parsed.form is None
    assert [p.code for p in parsed.problems] == ["archive"]
    assert "'a.zip/x.docx', 'a.zip/y.pdf'" in parsed.problems[0].message


def test_mac_and_windows_litter_is_dropped_and_empty_archives_say_so() -> None:
    litter = [("__MACOSX/._a.docx", b"x"), ("Thumbs.db", b"x"), ("d/.DS_Store", b"x")]
    [top] = expand("a.zip", zip_of(litter))
    assert codes(top) == ["empty-archive"]


# --- hostile archives --------------------------------------------------------------------


def test_a_high_ratio_member_is_a_bomb() -> None:
    [top] = expand("bom.zip", zip_of([("a.xlsx", b"\0" * (5 * 2**20))]))
    assert codes(top) == ["suspicious-file"]
    assert "tỷ lệ nén" in top.record.problems[0].message  # type: ignore[union-attr]


def test_too_many_members_is_refused() -> None:
    [top] = expand("nhieu.zip", zip_of([(f"{i}.txt", b"x") for i in range(bundle.MAX_MEMBERS + 1)]))
    assert codes(top) == ["suspicious-file"]


def test_the_size_budget_is_shared_by_nested_levels(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_TOTAL_BYTES", 1500)
    inner = zip_of([("b.pdf", b"b" * 600)], zipfile.ZIP_STORED)
    found = expand("a.zip", zip_of([("a.pdf", b"a" * 300), ("inner.zip", inner)]))
    assert names(found) == ["a.zip", "a.zip/a.pdf", "a.zip/inner.zip"]
    assert codes(found[2]) == ["suspicious-file"]  # 300 + ~720 fit, then 600 more do not


def test_a_member_over_the_file_limit_is_not_unpacked(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(bundle, "MAX_FILE_BYTES", 100)
    top, ok = expand("a.zip", zip_of([("big.pdf", bytes(range(256))), ("ok.pdf", b"x")]))
    assert codes(top) == ["too-large"] and "a.zip/big.pdf" in top.record.problems[0].message  # type: ignore[union-attr]
    assert ok.name == "a.zip/ok.pdf"


def test_a_member_whose_header_lies_about_its_size_is_corrupt() -> None:
    data = bytearray(zip_of([("a.pdf", b"a" * 1000), ("b.pdf", b"b")], zipfile.ZIP_STORED))
    # Claim 10 bytes in the central directory: zipfile reads 10 and the CRC fails.
    central = data.index(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 10)
    top, b = expand("a.zip", bytes(data))
    assert codes(top) == ["corrupt-file"] and "a.zip/a.pdf" in top.record.problems[0].message  # type: ignore[union-attr]
    assert (b.name, b.data) == ("a.zip/b.pdf", b"b")


def test_nesting_stops_at_two_levels() -> None:
    third = zip_of([("deep.xlsx", b"x")])
    second = zip_of([("c.zip", third), ("ok.pdf", b"%PDF")])
    found = expand("a.zip", zip_of([("b.zip", second)]))
    assert names(found) == ["a.zip", "a.zip/b.zip", "a.zip/b.zip/c.zip", "a.zip/b.zip/ok.pdf"]
    assert codes(found[2]) == ["nested-too-deep"]
    assert found[2].data == third  # kept whole, for people to look at


def test_encrypted_and_broken_archives_are_problems() -> None:
    [broken] = expand("a.zip", b"PK\x03\x04 not really")
    assert codes(broken) == ["corrupt-file"]
    data = bytearray(zip_of([("a.pdf", b"x")]))
    for signature, flags in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):  # set the encrypted bit
        at = data.index(signature) + flags
        struct.pack_into("<H", data, at, struct.unpack_from("<H", data, at)[0] | 1)
    [locked] = expand("a.zip", bytes(data))
    assert codes(locked) == ["encrypted"]


@pytest.mark.parametrize(
    ("written", "shown"),
    [
        ("../../etc/passwd.xlsx", "passwd.xlsx"),
        ("/tmp/abs.docx", "abs.docx"),
        ("C:\\Windows\\x.pdf", "x.pdf"),
        ("a/../../b.pdf", "b.pdf"),
        ("sub\\dir\\ok.pdf", "sub/dir/ok.pdf"),
        ("./here.pdf", "here.pdf"),
        ("bad\x00name.pdf", "bad_name.pdf"),
    ],
)
def test_names_cannot_escape_the_archive(written: str, shown: str) -> None:
    _, member = expand("a.zip", zip_of([(written.encode(), b"x")]))
    assert member.name == f"a.zip/{shown}"


def test_flattened_names_that_collide_are_numbered() -> None:
    found = expand("a.zip", zip_of([("x/b.pdf", b"1"), ("../b.pdf", b"2"), ("/b.pdf", b"3")]))
    assert names(found)[1:] == ["a.zip/x/b.pdf", "a.zip/b.pdf", "a.zip/b (2).pdf"]


# --- member names ------------------------------------------------------------------------

NAME = "Mẫu 01 xã Mường So - Đăng ký.xlsx"


@pytest.mark.parametrize(
    "raw",
    [NAME.encode("utf-8"), cp1258(NAME), unicodedata.normalize("NFD", NAME).encode("utf-8")],
    ids=["utf-8-without-flag", "cp1258", "nfd-utf-8"],
)
def test_unflagged_vietnamese_names_are_decoded(raw: bytes) -> None:
    assert decode_name(raw) == NAME
    _, member = expand("a.zip", zip_of([(raw, b"x")]))
    assert member.name == f"a.zip/{NAME}"


def test_flagged_utf8_and_real_cp437_names() -> None:
    found = expand("a.zip", zip_of([(NAME, b"1"), ("Résumé.pdf".encode("cp437"), b"2")]))
    assert names(found)[1:] == [f"a.zip/{NAME}", "a.zip/Résumé.pdf"]


def test_cp1258_is_told_from_cp1252() -> None:
    assert cp1258("Đảng ủy").decode("cp1252") != "Đảng ủy"
    assert decode_name(cp1258("Đảng ủy.docx")) == "Đảng ủy.docx"
    assert decode_name("Café.pdf".encode("cp1252")) == "Café.pdf"


# --- winmail.dat -------------------------------------------------------------------------


def tnef_object(level: int, name: int, kind: int, data: bytes) -> bytes:
    checksum = sum(data) & 0xFFFF
    return struct.pack("<BHHI", level, name, kind, len(data)) + data + struct.pack("<H", checksum)


def long_name_props(name: str) -> bytes:
    text = name.encode("utf-16-le") + b"\0\0"
    padded = text + b"\0" * (-len(text) % 4)
    return struct.pack("<IHHII", 1, 0x001F, 0x3707, 1, len(text)) + padded


def winmail(files: Sequence[tuple[str, str | None, bytes]]) -> bytes:
    """A TNEF file as Outlook writes it: (8.3 name, long name or None, data) per file."""
    out = struct.pack("<IH", 0x223E9F78, 1)
    out += tnef_object(1, 0x9006, 0x0008, struct.pack("<I", 0x00010000))  # attTnefVersion
    for short, long, data in files:
        out += tnef_object(2, 0x9002, 0x0006, b"\0" * 14)  # attAttachRendData: a new file
        out += tnef_object(2, 0x8010, 0x0001, short.encode("ascii") + b"\0")  # attAttachTitle
        out += tnef_object(2, 0x800F, 0x0006, data)  # attAttachData
        if long is not None:
            out += tnef_object(2, 0x9005, 0x0006, long_name_props(long))  # attAttachment
    return out


def test_winmail_dat_yields_its_files_by_their_long_names() -> None:
    xlsx = mau01_xlsx(UNIT, ENTRIES)
    data = winmail([("MAU01~1.XLS", "Mẫu 01 Mường So.xlsx", xlsx), ("SCAN~1.PDF", None, b"%PDF")])
    top, form, scan = expand("winmail.dat", data)
    assert top.record is not None and not top.record.problems
    assert (form.name, form.data) == ("winmail.dat/Mẫu 01 Mường So.xlsx", xlsx)
    assert scan.name == "winmail.dat/SCAN~1.PDF"
    assert parsers.parse_file(form.name, form.data).form == "mau-01"


def test_winmail_dat_without_files_or_unreadable_asks_for_plain_mail() -> None:
    empty = struct.pack("<IH", 0x223E9F78, 1) + tnef_object(1, 0x9006, 8, b"\0\0\1\0")
    for data in (empty, b"not tnef at all", winmail([("A.PDF", None, b"x")])[:40]):
        [top] = expand("winmail.dat", data)
        assert codes(top) == ["tnef"]
        assert "Rich Text" in top.record.problems[0].message  # type: ignore[union-attr]


def test_winmail_dat_with_absurd_counts_is_refused_quickly() -> None:
    props = struct.pack("<I", 0xFFFFFFFF)  # four billion MAPI properties in four bytes
    data = winmail([("A.PDF", None, b"x")]) + tnef_object(2, 0x9005, 6, props)
    [top] = expand("winmail.dat", data)
    assert codes(top) == ["tnef"]


# --- never an exception ------------------------------------------------------------------

VALID = zip_of(
    [
        ("Mẫu 01.xlsx", mau01_xlsx(UNIT, ENTRIES)),
        (cp1258("Báo cáo.pdf"), b"%PDF-1.4"),
        ("inner.zip", zip_of([("x.docx", b"PK\x03\x04")])),
    ]
)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    edits=st.lists(st.tuples(st.integers(0, len(VALID) - 1), st.integers(0, 255)), max_size=8),
    cut=st.integers(0, len(VALID)),
)
def test_mangled_zips_never_raise(edits: list[tuple[int, int]], cut: int) -> None:
    data = bytearray(VALID)
    for at, value in edits:
        data[at] = value
    mangled = bytes(data[:cut] if cut else data)
    found = expand("a.zip", mangled)
    assert found[0].name == "a.zip" and found[0].record is not None
    for name in ("a.zip", "Mẫu 01.xlsx", "winmail.dat"):
        parsed = parsers.parse_file(name, mangled)
        assert "parser-error" not in [p.code for p in parsed.problems]
