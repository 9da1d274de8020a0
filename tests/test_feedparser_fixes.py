"""mail_ingest.feedparser_fixes leaves every parse as the stdlib's parser made it: the same
mail, parsed with the fixes and without, gives the same tree, part by part."""

from __future__ import annotations

import re
from email import feedparser, message_from_bytes, policy
from email.message import Message

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mail_ingest import feedparser_fixes, mime
from mail_ingest.mime_bounds import too_many_parts

from conftest import make_message


def tree(raw: bytes) -> list[object]:
    """Everything the parser decides of each part: type, preamble, epilogue, defects, body."""
    if too_many_parts(raw):  # the corpus's bombs: mime.parse reads their header only
        return []
    try:
        msg = message_from_bytes(raw, policy=policy.compat32)
        return [_part(part) for part in msg.walk()]
    except RecursionError:  # the corpus's deepest nesting: the same, mime.parse says so
        return ["too deep"]


def _part(part: Message) -> tuple[object, ...]:
    payload = part.get_payload() if not part.is_multipart() else len(part.get_payload())
    defects = [type(d).__name__ for d in part.defects]
    return part.get_content_type(), part.preamble, part.epilogue, defects, payload


def both_ways(raw: bytes) -> tuple[object, object]:
    fixed = tree(raw), _read(raw)
    with feedparser_fixes.shipped():
        stdlib = tree(raw), _read(raw)
    return fixed, stdlib


def _read(raw: bytes) -> object:
    try:
        return mime.parse(raw)
    except Exception as exc:  # the same failure either way
        return type(exc), str(exc)


def test_the_fixes_are_in_place() -> None:
    assert isinstance(feedparser.NLCRE_eol, feedparser_fixes._LineEnd)  # type: ignore[attr-defined]
    assert isinstance(feedparser.re, feedparser_fixes._Expressions)  # type: ignore[attr-defined]
    matcher = feedparser.re.compile(  # type: ignore[attr-defined]
        "(?P<sep>" + re.escape("--a.b*c") + feedparser_fixes._BOUNDARY_TAIL
    )
    assert isinstance(matcher, feedparser_fixes._BoundaryLine)
    assert feedparser.re.compile(r"\d+").match("12")  # type: ignore[attr-defined]


def test_a_parser_unlike_the_one_fixed_is_left_as_it_is(monkeypatch: pytest.MonkeyPatch) -> None:
    other = re.compile(r"(\n)\Z")
    monkeypatch.setattr(feedparser, "NLCRE_eol", other)
    feedparser_fixes.install()
    assert feedparser.NLCRE_eol is other  # type: ignore[attr-defined]


def test_the_hostile_corpus_and_the_clients_mail_parse_the_same(
    hostile_raws: list[bytes],
) -> None:
    raws = list(hostile_raws)
    files = [("Mẫu 01.xlsx", b"PK\x03\x04" + b"x" * 3000), ("Bao cao.pdf", b"%PDF-1.4\r\n")]
    raws.append(make_message("a@example.vn", "Gửi mẫu", files, body="Kính gửi Ban.\r\n"))
    for raw in raws:
        fixed, stdlib = both_ways(raw)
        assert fixed == stdlib


_ENDS = st.sampled_from(["\r\n", "\n", "\r"])
_TEXT = st.lists(
    st.one_of(st.text("ab -=.*+?()[]{}|^$\\\t", max_size=8), st.sampled_from(["--", "--b", ""])),
    max_size=4,
)


@st.composite
def multipart(draw: st.DrawFn, depth: int = 0) -> str:
    """A multipart with a boundary of any characters a boundary may hold, any line ends,
    lines that look like its boundary, a missing close, nesting."""
    boundary = draw(st.text("ab09'()+_,-./:=? *[]^$|\\{}", min_size=1, max_size=12))
    boundary = boundary.strip() or "b"
    nl = draw(_ENDS)
    lines = [f'Content-Type: multipart/mixed; boundary="{boundary}"', ""]
    lines += draw(_TEXT)  # the preamble
    for _ in range(draw(st.integers(0, 3))):
        lines.append("--" + boundary + draw(st.sampled_from(["", " ", "\t", "x", "--x"])))
        if depth < 2 and draw(st.booleans()):
            lines.append(draw(multipart(depth + 1)))
        else:
            lines += ["Content-Type: text/plain", "", *draw(_TEXT)]
    if draw(st.booleans()):
        lines.append("--" + boundary + "--" + draw(st.sampled_from(["", " ", "  \t"])))
        lines += draw(_TEXT)  # the epilogue
    ends = [draw(_ENDS) if draw(st.booleans()) else nl for _ in lines]
    return "".join(line + end for line, end in zip(lines, ends, strict=True))


@settings(max_examples=600, deadline=None)
@given(multipart())
def test_any_multipart_parses_the_same(body: str) -> None:
    raw = ("From: a@example.vn\r\nSubject: x\r\nMIME-Version: 1.0\r\n" + body).encode()
    fixed, stdlib = both_ways(raw)
    assert fixed == stdlib


@settings(max_examples=300, deadline=None)
@given(st.text("ab\r\n", max_size=12), st.integers(0, 14), st.integers(0, 14))
def test_the_line_end_search_finds_what_the_whole_search_finds(
    text: str, pos: int, endpos: int
) -> None:
    expression = re.compile(feedparser_fixes._LINE_END)
    found = feedparser_fixes._LineEnd(expression).search(text, pos, endpos)
    whole = expression.search(text, pos, endpos)
    assert (found and found.span(), found and found.group(0)) == (
        whole and whole.span(),
        whole and whole.group(0),
    )
