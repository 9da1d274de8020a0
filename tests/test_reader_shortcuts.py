"""The readers' shortcuts (a pass that preselects emphasised runs, child loops in place of lxml's
find) decide exactly as the plain code they replace, over every combination of the
properties and children they look at."""

from __future__ import annotations

import io
import itertools
import zipfile
from typing import Any

from lxml import etree
from openpyxl.utils.cell import range_boundaries

import parsers
from mail_ingest.samples import mau01_xlsx
from parsers import legacy, office, sheets

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
NS = f'xmlns:w="{W}"'

BOLD = ("", '<w:b/>', '<w:b w:val="0"/>', '<w:b w:val="1"/>', '<w:b w:val="false"/>',
        '<w:b w:val="off"/>', '<w:b w:val="true"/>', '<w:b w:val="0"/><w:b/>')  # fmt: skip
MARK = ("", '<w:highlight w:val="none"/>', '<w:highlight w:val="yellow"/>', "<w:highlight/>")
SHADE = ("", '<w:shd w:val="clear"/>', '<w:shd w:fill="auto"/>', '<w:shd w:fill="AUTO"/>',
         '<w:shd w:fill="FFFFFF"/>', '<w:shd w:fill="ffffff"/>', '<w:shd w:fill="FFFF00"/>',
         '<w:shd w:fill="Auto"/><w:shd w:fill="00FF00"/>')  # fmt: skip


def _emphasised_plainly(run: Any) -> bool:
    """The judgement as written with lxml's find, before the shortcuts."""
    props = run.find(f"{{{W}}}rPr")
    if props is None:
        return False
    bold = props.find(f"{{{W}}}b")
    mark = props.find(f"{{{W}}}highlight")
    shading = props.find(f"{{{W}}}shd")
    val, fill = f"{{{W}}}val", f"{{{W}}}fill"
    return (
        (bold is not None and bold.get(val, "1") not in ("0", "false", "off"))
        or (mark is not None and mark.get(val, "none") != "none")
        or (shading is not None and shading.get(fill, "auto").lower() not in ("auto", "ffffff"))
    )


def test_marked_runs_are_the_emphasised_runs() -> None:
    runs = []
    for bold, mark, shade in itertools.product(BOLD, MARK, SHADE):
        runs.append(f"<w:r><w:rPr>{bold}{mark}{shade}</w:rPr><w:t>x</w:t></w:r>")
    runs += ["<w:r><w:t>plain</w:t></w:r>", "<w:r><w:rPr/><w:rPr><w:b/></w:rPr></w:r>"]
    body = etree.fromstring(f"<w:body {NS}><w:p>{''.join(runs)}</w:p></w:body>")
    every = list(body.iter(f"{{{W}}}r"))
    expected = [r for r in every if _emphasised_plainly(r)]
    assert 0 < len(expected) < len(every)
    marked = office._marked_runs(body)
    assert len(marked) == len(set(marked)) and set(marked) == set(expected)
    assert [r for r in every if office._emphasised(r)] == expected


def test_run_font_reads_the_first_fonts_of_the_run() -> None:
    cases = {
        "<w:r><w:t>a</w:t></w:r>": None,
        "<w:r><w:rPr><w:b/></w:rPr><w:t>a</w:t></w:r>": None,
        '<w:r><w:rPr><w:rFonts w:ascii="Arial"/></w:rPr><w:t>a</w:t></w:r>': "Arial",
        '<w:r><w:rPr><w:rFonts w:ascii="Arial" w:hAnsi=".VnTime"/></w:rPr><w:t>a</w:t></w:r>': (
            ".VnTime"
        ),
        '<w:r><w:rPr/><w:rPr><w:rFonts w:ascii="VNI-Times"/></w:rPr><w:t>a</w:t></w:r>': (
            "VNI-Times"
        ),
        '<w:r><w:rPr><w:rFonts/><w:rFonts w:ascii="X"/></w:rPr><w:t>a</w:t></w:r>': None,
    }
    for xml, font in cases.items():
        run = etree.fromstring(xml.replace("<w:r>", f"<w:r {NS}>", 1))
        text = run.find(f"{{{W}}}t")
        fonts = run.find(f"{{{W}}}rPr/{{{W}}}rFonts")
        plainly = (
            None if fonts is None else fonts.get(f"{{{W}}}hAnsi") or fonts.get(f"{{{W}}}ascii")
        )
        assert office._run_font(text) == plainly == font, xml


def test_sheet_text_reads_as_findtext() -> None:
    m = sheets.MAIN[1:-1]
    parts = {
        "t": "<t>Hợp tác xã</t>",
        "t2": "<t>thứ hai</t>",
        "empty": "<t/>",
        "r": "<r><rPr><b/></rPr><t> chè</t></r>",
        "r-empty": "<r><t/></r>",
        "r-none": "<r><rPr/></r>",
        "phonetic": "<rPh sb='0' eb='1'><t>ふりがな</t></rPh>",
    }
    for n in range(4):
        for combo in itertools.permutations(parts, n):
            xml = f'<is xmlns="{m}">{"".join(parts[k] for k in combo)}</is>'
            element = etree.fromstring(xml)
            t, r = f"{{{m}}}t", f"{{{m}}}r"
            plainly = (element.findtext(t) or "") + "".join(
                run.findtext(t) or "" for run in element.iterchildren(r)
            )
            assert sheets._text(element) == plainly, xml


def _judged_word_by_word(texts: list[str]) -> tuple[str | None, str | None]:
    """legacy.Prior's judgement as written before texts were counted once each."""
    clear = dict.fromkeys(legacy.ENCODINGS, 0)
    bad = dict.fromkeys(legacy.ENCODINGS, 0)
    modern, budget = 0, legacy.MAX_PRIOR_WORDS
    for text in texts:
        if budget <= 0:
            break
        if budget < legacy.MAX_PRIOR_WORDS - legacy.UNICODE_SAMPLE and not any(clear.values()):
            break
        for match in legacy._WORD.finditer(legacy._nfc(text)):
            budget -= 1
            _, spoiled, kind = legacy._judge_word(match.group())
            if kind in clear:
                clear[kind] += 1  # type: ignore[index]
            modern += kind == "unicode" and bool(legacy._UNICODE_ONLY.search(match.group()))
            for e in spoiled:
                bad[e] += 1
    best = max(legacy.ENCODINGS, key=lambda e: clear[e])
    other = next(e for e in legacy.ENCODINGS if e != best)
    if clear[best] <= max(clear[other], bad[best]):
        return None, None
    return best, best if modern * legacy.SOLE_SHARE <= clear[best] else None


def test_prior_counts_each_text_as_word_by_word() -> None:
    unicode = ["Cá nhân", "Tổ dân phố số 3", "Nguyễn Văn Hùng", "Kinh tế", "chó mèo"]
    tcvn3 = [legacy.encode(t, "tcvn3") for t in unicode]
    vni = [legacy.encode(t, "vni") for t in unicode]
    long = " ".join(unicode * 20)  # longer than the texts remembered
    mixes = {
        "unicode": unicode * 100,
        "tcvn3": tcvn3 * 3 + unicode,
        "vni": vni * 3 + [long],
        "mixed": [*tcvn3, *vni, *unicode, legacy.encode(long, "vni")],
        "mostly unicode": [*unicode * 90, *tcvn3],
        "empty": [],
    }
    for name, texts in mixes.items():
        prior = legacy.Prior(iter(texts))
        assert (prior.encoding, prior.sole) == _judged_word_by_word(texts), name


def test_plain_texts_leave_out_legacy_runs_only() -> None:
    runs = {
        "plain": "<w:r><w:t>Cá nhân</w:t></w:r>",
        "arial": '<w:r><w:rPr><w:rFonts w:ascii="Arial"/></w:rPr><w:t>Kinh tế</w:t></w:r>',
        "tcvn3": '<w:r><w:rPr><w:rFonts w:hAnsi=".VnTime"/></w:rPr><w:t>¸nh</w:t></w:r>',
        "vni": '<w:r><w:rPr><w:rFonts w:ascii="VNI-Times"/></w:rPr><w:t>chaøo</w:t></w:r>',
        "ascii only": '<w:r><w:rPr><w:rFonts w:ascii=".VnArial" w:hAnsi="Arial"/></w:rPr>'
        "<w:t>x</w:t></w:r>",
        "paragraph mark": '<w:pPr><w:rPr><w:rFonts w:ascii=".VnTime"/></w:rPr></w:pPr>',
    }
    for n in range(1, 4):
        for combo in itertools.permutations(runs, n):
            xml = f"<w:body {NS}><w:p>{''.join(runs[k] for k in combo)}</w:p></w:body>"
            body = etree.fromstring(xml)
            plainly = [
                t.text
                for t in body.iter(f"{{{W}}}t")
                if t.text and legacy.font_encoding(office._run_font(t)) is None
            ]
            assert list(office._plain_texts(body)) == plainly, combo


def test_merged_ranges_read_as_openpyxl_reads_them() -> None:
    refs = ["A1:C1", "B16:F16", "Z9:AA10", "AB100:XFD1048576", "ZZZ1:ZZZ9999999", "D3:B1"]
    cells = "".join(f'<mergeCell ref="{r}"/>' for r in refs)
    xml = f'<worksheet xmlns="{sheets.MAIN[1:-1]}"><mergeCells>{cells}</mergeCells></worksheet>'
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("xl/worksheets/sheet1.xml", xml)
    with zipfile.ZipFile(io.BytesIO(out.getvalue())) as archive:
        found = office._merged(archive, "xl/worksheets/sheet1.xml")
    assert found == [range_boundaries(r) for r in refs]


def test_a_zip_of_an_unknown_version_is_a_corrupt_file() -> None:
    """zipfile refuses a directory entry needing a newer version with NotImplementedError,
    which the reader took for a bug of its own ("parser-error")."""
    sample = mau01_xlsx("Đảng ủy xã Mường So", [])
    directory = sample.index(b"PK\x01\x02")
    data = sample[: directory + 6] + bytes([64]) + sample[directory + 7 :]  # version 6.4
    parsed = parsers.parse_file("a.xlsx", data)
    assert [p.code for p in parsed.problems] == ["corrupt-file"]
