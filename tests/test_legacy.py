"""parsers.legacy: TCVN3 and VNI text back to Unicode, by font or by detection."""

from __future__ import annotations

import io
import shutil
import subprocess
import unicodedata
from collections.abc import Iterator
from copy import copy
from dataclasses import replace

import docx
import openpyxl
import pytest
from docx.oxml.ns import qn
from docx.text.run import Run
from hypothesis import given, settings
from hypothesis import strategies as st
from test_parsers import ENTRIES, UNIT, expected

import parsers
from mail_ingest.samples import mau01_docx, mau01_xlsx
from parsers import legacy
from parsers.legacy import (
    TONES,
    VOWELS,
    convert,
    convert_run,
    decode,
    detect_and_convert,
    encode,
    font_encoding,
    is_syllable,
)


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# Every Vietnamese letter that is not plain ASCII: 66 toned or marked vowels and đ.
LOWER = [nfc(v + t) for v in VOWELS for t in TONES if not nfc(v + t).isascii()] + ["đ"]
UPPER = [c.upper() for c in LOWER]
PLAIN_CAPITALS = "ĂÂÊÔƠƯĐ"  # the only capitals TCVN3 has codes for

# (Unicode, TCVN3 as typed in .VnTime, VNI as typed in VNI-Times), written out by hand.
WORDS = [
    ("Bảo Thắng", "B¶o Th¾ng", "Baûo Thaéng"),
    ("Đảng ủy", "§¶ng ñy", "Ñaûng uûy"),
    ("Dân vận khéo", "D©n vËn khÐo", "Daân vaän kheùo"),
    ("Phong Thổ", "Phong Thæ", "Phong Thoå"),
    ("Tân Yên", "T©n Yªn", "Taân Yeân"),
    ("Mường So", "M\xadêng So", "Möôøng So"),
    ("Quốc phòng - an ninh", "Quèc phßng - an ninh", "Quoác phoøng - an ninh"),
    ("Văn hóa - xã hội", "V¨n hãa - x· héi", "Vaên hoùa - xaõ hoäi"),
    ("Người", "Ng\xadêi", "Ngöôøi"),
    ("Thị trấn", "ThÞ trÊn", "Thò traán"),
]


def test_the_alphabet_has_134_letters() -> None:
    assert len(set(LOWER)) == len(set(UPPER)) == 67


# --- the tables -------------------------------------------------------------------------


@pytest.mark.skipif(shutil.which("iconv") is None, reason="needs glibc iconv")
def test_tcvn3_codes_agree_with_glibc() -> None:
    """glibc's TCVN5712-1 (VN1) agrees with VN3 wherever VN3 has a letter."""
    table = {code: letter for code, letter in legacy._pairs(legacy._TCVN3_ROWS) if code != letter}
    table["ý"] = "ý"  # 0xFD is ý in both
    data = bytes(ord(code) for code in table)
    glibc = subprocess.run(
        ["iconv", "-f", "TCVN5712-1", "-t", "UTF-8"], input=data, capture_output=True, check=True
    )
    assert glibc.stdout.decode() == "".join(table.values())
    assert sorted(table.values()) == sorted([*LOWER, *PLAIN_CAPITALS])


@pytest.mark.parametrize("letter", LOWER + list(PLAIN_CAPITALS))
def test_tcvn3_round_trip(letter: str) -> None:
    code = encode(letter, "tcvn3")
    assert len(code) == 1 and ord(code) in range(0xA1, 0x100)
    assert convert_run(code, ".VnTime") == letter


@pytest.mark.parametrize("letter", UPPER)
def test_tcvn3_capitals_come_from_the_h_fonts(letter: str) -> None:
    assert convert_run(encode(letter.lower(), "tcvn3"), ".VnTimeH") == letter


@pytest.mark.parametrize("letter", LOWER + UPPER)
def test_vni_round_trip(letter: str) -> None:
    code = encode(letter, "vni")
    assert 1 <= len(code) <= 2  # ì and í are themselves in VNI
    assert convert_run(code, "VNI-Times") == letter
    assert convert_run(f"x{code}x", "VNI-Helve") == f"x{letter}x"


def test_vni_capital_letter_with_a_small_mark_is_still_a_capital() -> None:
    assert decode("Aø Aù Ñaø", "vni") == "À Á Đà"


@pytest.mark.parametrize(("unicode", "tcvn3", "vni"), WORDS)
def test_well_known_words(unicode: str, tcvn3: str, vni: str) -> None:
    assert encode(unicode, "tcvn3") == tcvn3
    assert encode(unicode, "vni") == vni
    assert convert_run(tcvn3, ".VnTime") == unicode
    assert convert_run(vni, "VNI-Times") == unicode
    assert detect_and_convert(tcvn3) == unicode
    assert detect_and_convert(vni) == unicode
    assert convert_run(encode(unicode.lower(), "tcvn3"), ".VnArialH") == unicode.upper()


def test_capital_fonts_and_capitals_typed_in_a_small_font() -> None:
    assert convert_run("§¶ng ñy x· M\xadêng So", ".VnTimeH") == "ĐẢNG ỦY XÃ MƯỜNG SO"
    assert convert_run("ban d©n vËn", ".VnArialH") == "BAN DÂN VẬN"
    # In .VnTime a typist gets capitals from ASCII and the seven plain capitals only.
    assert convert_run("§¶NG ñY HUYÖN", ".VnTime") == "ĐẢNG ỦY HUYỆN"
    assert convert_run("TR¦êNG THCS", ".VnTime") == "TRƯỜNG THCS"


@pytest.mark.parametrize(
    ("font", "encoding"),
    [
        (".VnTime", "tcvn3"),
        (".VnTimeH", "tcvn3"),
        (".VnArial NarrowH", "tcvn3"),
        (".VnCentury Schoolbook", "tcvn3"),
        ("VNI-Times", "vni"),
        ("VNI-Helve-Condense", "vni"),
        ("Times New Roman", None),
        ("Arial", None),
        ("Vni", None),
        (None, None),
    ],
)
def test_fonts(font: str | None, encoding: str | None) -> None:
    assert font_encoding(font) == encoding


def test_capital_fonts() -> None:
    assert legacy.is_capital_font(".VnTimeH") and legacy.is_capital_font(".VnArialH")
    assert not legacy.is_capital_font(".VnTime") and not legacy.is_capital_font("VNI-Times")


def test_unicode_in_a_legacy_font_stays_and_other_fonts_are_not_touched() -> None:
    assert convert_run("Đảng ủy xã Mường So", ".VnTime") == "Đảng ủy xã Mường So"
    assert convert_run("B¶o Th¾ng", "Times New Roman") == "B¶o Th¾ng"
    assert convert_run("\uf042\uf0b6o", ".VnTime") == "Bảo"  # a symbol font's private area


def test_convert_uses_the_font_then_detection() -> None:
    assert convert("cã", ".VnTime") == "có"  # the font settles what detection cannot
    assert convert("cã") == "cã"
    assert convert("B¶o Th¾ng") == "Bảo Thắng"


# --- detection --------------------------------------------------------------------------

UNTOUCHED = [
    "Café",
    "Müller",
    "ĐẢNG ỦY XÃ",
    "Phòng Văn hóa",
    "Đảng ủy xã Mường So",
    "Chi hội Phụ nữ bản Nậm Củm",
    "Báo cáo kết quả thực hiện phong trào “Dân vận khéo” năm 2024",
    "« Dân vận khéo »",
    "São Paulo, Ångström, naïve résumé, Straße, Zoë, Hélène, señor, Köln, Bär, déjà vu",
    "Jürgen Müller präsentiert die Ergebnisse für 2024",
    "Le comité a été prévenu à l'avance",
    "Temperature 25°C ± 2, price £10, 50% off ©2024",
    "Please find attached the report",
    "tai lieu 01.docx",
    "cã",  # TCVN3 "có", but also a Unicode spelling: nothing says which
    "Tôi là cô giáo",
]


@pytest.mark.parametrize("text", UNTOUCHED)
def test_detection_leaves_unicode_english_and_latin1_alone(text: str) -> None:
    assert detect_and_convert(text) == text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Đảng ủy xã B¶o Th¾ng", "Đảng ủy xã Bảo Thắng"),  # mixed within a paragraph
        ("Bao_cao_B¶o_Th¾ng.docx", "Bao_cao_Bảo_Thắng.docx"),
        ("Ban D©n vËn cã v¨n b¶n", "Ban Dân vận có văn bản"),  # "cã" follows its neighbours
        ("Tr\xadêng THCS ThÞ trÊn", "Trường THCS Thị trấn"),
        ("H§ND x· Phong Thæ", "HĐND xã Phong Thổ"),
        ("Phong Thæ", "Phong Thổ"),
        (
            "Kính gửi: Ban Dân vận.\nUû ban nh©n d©n x· Mï C¶",
            "Kính gửi: Ban Dân vận.\nUỷ ban nhân dân xã Mù Cả",
        ),
        ("Xin chaøo caùc baïn, 2024", "Xin chào các bạn, 2024"),
        ("UÛY BAN NHAÂN DAÂN HUYEÄN", "ỦY BAN NHÂN DÂN HUYỆN"),
        ("Hoaøng Thò Lan - Myõ Thuaän", "Hoàng Thị Lan - Mỹ Thuận"),
    ],
)
def test_detection_converts_legacy_words(text: str, expected: str) -> None:
    assert detect_and_convert(text) == expected


def test_syllables() -> None:
    for word in ("người", "Nguyễn", "quốc", "khuỷu", "huỳnh", "giữa", "oẳn", "Pẳn", "HĐND"):
        assert is_syllable(word), word
    for word in ("Café", "Müller", "tèt", "hóaa", "ngh"):
        assert not is_syllable(word), word
    assert is_syllable("tèt", strict=False)  # a stop ends only sắc or nặng syllables


@st.composite
def syllables(draw: st.DrawFn) -> str:
    """A Vietnamese syllable spelled in Unicode, in some case."""
    onset = draw(st.sampled_from(("", *legacy.ONSETS)))
    rhyme = draw(st.sampled_from(legacy.RHYMES))
    stop = rhyme.endswith(("c", "ch", "p", "t"))
    tone = draw(st.sampled_from(("\u0301", "\u0323") if stop else TONES))
    at = max(i for i, c in enumerate(rhyme) if c in VOWELS) if rhyme[-1] in VOWELS else 0
    vowel = next(i for i, c in enumerate(rhyme) if c in VOWELS and i >= at)
    word = nfc(onset + rhyme[: vowel + 1] + tone + rhyme[vowel + 1 :])
    return draw(st.sampled_from((word, word.capitalize(), word.upper())))


SEPARATORS = (" ", ", ", " - ", "\n", "_", ". ", " “")
TEXTS = st.lists(
    st.one_of(syllables(), st.sampled_from(("Café", "Müller", "2024", "UBND", "the", "São"))),
    min_size=1,
    max_size=12,
).flatmap(
    lambda words: st.lists(
        st.sampled_from((" ", ", ", " - ", "\n", "_", ". ", " “")),
        min_size=len(words),
        max_size=len(words),
    ).map(lambda seps: "".join(w + s for w, s in zip(words, seps, strict=True)).strip())
)


@settings(max_examples=400, deadline=None)
@given(TEXTS)
def test_detection_never_changes_unicode_vietnamese(text: str) -> None:
    assert detect_and_convert(text) == text


@settings(max_examples=200, deadline=None)
@given(st.lists(syllables(), min_size=1, max_size=8).map(" ".join))
def test_legacy_fonts_round_trip_any_text(text: str) -> None:
    assert convert_run(encode(text, "vni"), "VNI-Times") == text
    assert convert_run(encode(text.lower(), "tcvn3"), ".VnTime") == text.lower()
    assert convert_run(encode(text.lower(), "tcvn3"), ".VnTimeH") == text.upper()


# --- whole files ------------------------------------------------------------------------


def capitals_only(text: str) -> bool:
    return text == text.upper() and text != text.lower()


def test_docx_typed_in_vntime_fonts() -> None:
    """mẫu 01 as a 1990s Word file: every run in .VnTime, capitals in .VnTimeH."""
    document = docx.Document(io.BytesIO(mau01_docx(UNIT, ENTRIES)))
    for element in document.element.body.iter(qn("w:r")):
        run = Run(element, document)
        if not run.text:
            continue
        if capitals_only(run.text):
            run.text, run.font.name = encode(run.text.lower(), "tcvn3"), ".VnTimeH"
        else:
            run.text, run.font.name = encode(run.text, "tcvn3"), ".VnTime"
        run.text.encode("cp1252")  # really all legacy: the 8-bit font's characters
    out = io.BytesIO()
    document.save(out)
    parsed = parsers.parse_file("Mau 01.docx", out.getvalue())
    assert parsed.form == "mau-01"
    assert sorted(parsed.entries, key=lambda e: e.name) == expected(ENTRIES)
    assert parsed.fields["don_vi"] == "ĐẢNG ỦY XÃ MƯỜNG SO"


def legacy_workbook(encoding: legacy.Encoding, font: str | None) -> bytes:
    """mẫu 01 as Excel with every text cell in a legacy encoding (and font, if given)."""
    book = openpyxl.load_workbook(io.BytesIO(mau01_xlsx(UNIT, ENTRIES)))
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if not isinstance(cell.value, str):
                    continue
                name = font
                if encoding == "tcvn3" and capitals_only(cell.value):
                    cell.value, name = cell.value.lower(), font and font + "H"
                cell.value = encode(cell.value, encoding)
                if name:
                    cell.font = _renamed(cell.font, name)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _renamed(font: object, name: str) -> openpyxl.styles.Font:
    renamed = copy(font)
    renamed.name = name  # type: ignore[attr-defined]
    return renamed  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("encoding", "font"),
    [("vni", "VNI-Times"), ("tcvn3", ".VnTime"), ("vni", None), ("tcvn3", None)],
)
def test_xlsx_cells_in_legacy_fonts(encoding: legacy.Encoding, font: str | None) -> None:
    """By the cell's font, or by detection when the font says nothing (here VNI, whose
    capitals have codes, so the whole sheet is legacy)."""
    parsed = parsers.parse_file("Mau 01.xlsx", legacy_workbook(encoding, font))
    assert parsed.form == "mau-01"
    assert sorted(parsed.entries, key=lambda e: e.name) == expected(ENTRIES)
    unit = parsed.fields["don_vi"]
    # Without a font, TCVN3 capitals (typed as small letters for .VnTimeH) stay small.
    assert unit == ("đảng ủy xã mường so" if (encoding, font) == ("tcvn3", None) else UNIT.upper())


def test_xlsx_in_read_only_mode_keeps_cell_fonts() -> None:
    parsed = parsers.parse_file("Mau 01.xlsx", legacy_workbook("vni", "VNI-Times"))
    assert sorted(parsed.entries, key=lambda e: e.name) == expected(ENTRIES)


# --- the file's prevailing encoding --------------------------------------------------------

# Words whose reading is Vietnamese both ways, each with its TCVN3 and VNI reading.
EITHER = [("teá", "teỏ", "tế"), ("Löu", "Lửu", "Lưu")]


@pytest.mark.parametrize(("word", "as_tcvn3", "as_vni"), EITHER)
def test_a_word_either_way_follows_the_file(word: str, as_tcvn3: str, as_vni: str) -> None:
    """Alone in a cell, a word both encodings read as Vietnamese is read as TCVN3 unless
    the file's other words are clearly VNI; clear words of a cell still decide for it."""
    assert detect_and_convert(f"Kinh {word}") == f"Kinh {as_tcvn3}"
    vni_file = legacy.Prior([encode(text, "vni") for text in ("Cấp xã", "Văn hóa - xã hội")])
    tcvn3_file = legacy.Prior([encode(text, "tcvn3") for text in ("Cấp xã", "Văn hóa - xã hội")])
    unicode_file = legacy.Prior(["Cấp xã", "Văn hóa - xã hội", "Kinh tế"])
    assert vni_file.encoding == "vni" and tcvn3_file.encoding == "tcvn3"
    assert unicode_file.encoding is None
    assert detect_and_convert(f"Kinh {word}", vni_file) == f"Kinh {as_vni}"
    assert detect_and_convert(f"Kinh {word}", tcvn3_file) == f"Kinh {as_tcvn3}"
    assert detect_and_convert(f"Kinh {word}", unicode_file) == f"Kinh {as_tcvn3}"
    # A cell's own clear TCVN3 word outweighs a VNI file.
    assert detect_and_convert(f"{encode('Phát triển', 'tcvn3')} {word}", vni_file).endswith(
        as_tcvn3
    )
    # Unicode text stays Unicode whatever the file.
    for text in ("Kinh tế", "Lưu VP", "Xây dựng Đảng"):
        assert detect_and_convert(text, vni_file) == text


def test_the_prior_is_judged_lazily_once_and_bounded() -> None:
    """Judged only when a word needs it, once, over at most MAX_PRIOR_WORDS words."""
    seen: list[str] = []

    def texts() -> Iterator[str]:
        for text in [encode("Cấp xã", "vni")] * (legacy.MAX_PRIOR_WORDS + 10):
            seen.append(text)
            yield text

    prior = legacy.Prior(texts())
    assert detect_and_convert("Kinh tế", prior) == "Kinh tế" and not seen
    assert prior.encoding == "vni"
    assert len(seen) <= legacy.MAX_PRIOR_WORDS // 2 + 1
    assert prior.encoding == "vni"


# Files of each judgement: (encoding, sole) = (None, None), ("vni", None), ("tcvn3", None),
# ("vni", "vni"), ("tcvn3", "tcvn3"); and no file at all.
_CLEAR = ("Cấp xã", "Văn hóa - xã hội", "Kinh tế")
FILES = {
    "none": lambda: None,
    "unicode": lambda: legacy.Prior(_CLEAR),
    "mostly vni": lambda: legacy.Prior([*(encode(t, "vni") for t in _CLEAR), "Đảng ủy xã"]),
    "mostly tcvn3": lambda: legacy.Prior([*(encode(t, "tcvn3") for t in _CLEAR), "Đảng ủy"]),
    "all vni": lambda: legacy.Prior([encode(t, "vni") for t in _CLEAR]),
    "all tcvn3": lambda: legacy.Prior([encode(t, "tcvn3") for t in _CLEAR]),
}
VOCABULARY = sorted(
    {w for row in (*WORDS, *EITHER) for text in row for w in text.split()}
    | {"Cá", "nhân", "Xaõ", "cã", "Café", "Müller", "HĐND", "VP", "-", "2."}
)


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(VOCABULARY), min_size=1, max_size=8), st.sampled_from([*FILES]))
def test_a_remembered_reading_is_the_reading(words: list[str], file: str) -> None:
    """Short texts are remembered with the judgement of the file that decided them: the
    same text in files judged alike reads the same, in files judged otherwise as they say."""
    text = " ".join(words)
    reading = legacy._convert(text, FILES[file]()) if legacy._LEGACY_CHAR.search(text) else text
    assert detect_and_convert(text, FILES[file]()) == reading
    assert detect_and_convert(text, FILES[file]()) == reading  # now remembered


def test_the_files_cover_every_judgement() -> None:
    judgements = {(p.encoding, p.sole) for p in (f() for f in FILES.values()) if p is not None}
    assert judgements == {
        (None, None),
        ("vni", None),
        ("tcvn3", None),
        ("vni", "vni"),
        ("tcvn3", "tcvn3"),
    }


@pytest.mark.parametrize("fmt", ["docx", "xlsx"])
def test_short_vni_cells_in_a_vni_file(fmt: str) -> None:
    """A file typed in VNI without fonts: the cells too short to tell ("Kinh teá", "Löu VP")
    read as VNI, like the rest of the file."""
    make = mau01_docx if fmt == "docx" else mau01_xlsx
    entries = [replace(e, field="kinh-te") for e in ENTRIES]
    source = make(UNIT, entries)
    if fmt == "docx":
        document = docx.Document(io.BytesIO(source))
        for node in document.element.body.iter(qn("w:t")):
            node.text = encode(node.text or "", "vni")
        document.add_paragraph(encode("Lưu VP", "vni"))
        out = io.BytesIO()
        document.save(out)
    else:
        book = openpyxl.load_workbook(io.BytesIO(source))
        for sheet in book.worksheets:
            for row in sheet.iter_rows():
                for cell in row:
                    if isinstance(cell.value, str):
                        cell.value = encode(cell.value, "vni")
            sheet.cell(sheet.max_row + 2, 2, encode("Kinh tế", "vni"))
            sheet.cell(sheet.max_row + 1, 2, encode("Lưu VP", "vni"))
        out = io.BytesIO()
        book.save(out)
    content = parsers.office.read(out.getvalue())
    texts = [
        cell
        for block in content.blocks
        for cell in ([block] if isinstance(block, str) else [c for row in block.rows for c in row])
    ]
    joined = "\n".join(texts)
    assert "Lưu VP" in joined and "Lửu" not in joined
    assert "teỏ" not in joined
    parsed = parsers.parse_file(f"Mau 01.{fmt}", out.getvalue())
    assert parsed.form == "mau-01"
    assert {e.field for e in parsed.entries} == {"kinh-te"}


def test_a_word_vietnamese_as_it_stands_follows_an_all_legacy_file_only() -> None:
    """ "Xaõ" is VNI "Xã" but could be typed Unicode: alone in a cell it is converted only
    when the whole file is legacy, never in a Unicode file with a few legacy cells."""
    legacy_words = [encode(t, "vni") for t in ("Cấp xã", "Văn hóa - xã hội", "Kinh tế")]
    all_vni = legacy.Prior(legacy_words)
    mixed = legacy.Prior([*legacy_words, "Đảng ủy xã Mường So", "Tổ tự quản an ninh"])
    assert all_vni.sole == "vni" and mixed.encoding == "vni" and mixed.sole is None
    assert detect_and_convert("Xaõ", all_vni) == "Xã"
    assert detect_and_convert("Xaõ", mixed) == "Xaõ"
    assert detect_and_convert("Xaõ") == "Xaõ"
    # A Unicode neighbour still keeps it as typed.
    assert detect_and_convert("Xaõ Mường", all_vni) == "Xaõ Mường"
