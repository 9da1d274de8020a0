"""What the board has taught the parsers: header wordings and values they did not know.

The board settles a doubtful file once ("this header means the kind column", "this value
means the economy field"); every later file of the district is read with it. The store
keeps the lessons (with the audit trail); the parsers receive them as this plain record,
so they stay free of I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import lru_cache

from parsers.text import words


@dataclass(frozen=True)
class Lesson:
    id: str  # the store's id, shown by `mail-ingest parse` when the lesson was used
    text: str  # the header or value as units write it (matched folded)
    meaning: str  # a column key ("kind", "field", ...) or a vocabulary id ("kinh-te", ...)
    form: str | None = None  # only for this form, or for every form


@dataclass(frozen=True)
class Taught:
    headers: tuple[Lesson, ...] = ()  # header text -> column key
    values: Mapping[str, tuple[Lesson, ...]] = field(default_factory=dict)  # vocab -> lessons


NOTHING_TAUGHT = Taught()


# --- The shared vocabulary: what columns mean and what their values are ----------------------
#
# Every table spec names its columns by these keys; the words below are how units head such a
# column, whatever the form. A spec's own `headers` add to them (they stay data), so a new
# district's wording is understood by its words, not by being listed as a phrase.

COLUMN_WORDS: Mapping[str, tuple[str, ...]] = {
    "no": ("stt", "tt", "số tt", "số thứ tự", "thứ tự"),
    "name": (
        "tên tập thể cá nhân",
        "tên đơn vị cá nhân",
        "họ tên",
        "họ và tên",
        "tên đơn vị",
        "đơn vị cá nhân",
        "tên tập thể",
        "tên cá nhân",
        "người đăng ký",
        "tên tổ chức",
    ),
    "kind": (
        "tập thể cá nhân",
        "loại",
        "loại hình",
        "phân loại",
        "đối tượng",
        "tt cn",
        "tập thể",
        "cá nhân",
        "hình thức",
    ),
    "model": (
        "tên mô hình",
        "mô hình",
        "mô hình điển hình",
        "nội dung",
        "tên điển hình",
        "tên mô hình điển hình",
    ),
    "field": ("lĩnh vực", "thuộc lĩnh vực", "lĩnh vực hoạt động", "nhóm lĩnh vực", "ngành"),
    "level": ("cấp", "cấp công nhận", "cấp độ", "cấp đánh giá", "cấp xây dựng", "phạm vi cấp"),
    "period": ("tiếp tục mới", "cũ mới"),
    "place": ("địa chỉ", "địa điểm", "địa bàn", "thôn", "tổ dân phố", "nơi thực hiện"),
    "note": ("ghi chú", "chú thích", "lưu ý"),
}

# Words that carry no meaning in a heading: "Tên của tập thể hoặc cá nhân đăng ký".
FILLER_WORDS: frozenset[str] = frozenset(
    {
        "cua",
        "hoac",
        "hay",
        "va",
        "cac",
        "nhung",
        "nao",
        "goi",
        "o",
        "theo",
        "duoc",
        "la",
        "cho",
        "neu",
        "so",
    }
)
FILLER_PHRASES: tuple[str, ...] = ("dang ky",)

# The value vocabularies, shared by every spec (a spec's own values add to them).
VALUE_WORDS: Mapping[str, Mapping[str, tuple[str, ...]]] = {
    "kind": {
        "tap-the": ("tập thể", "TT", "T.thể", "tập thể đăng ký", "đơn vị", "tổ chức"),
        "ca-nhan": ("cá nhân", "CN", "C.nhân", "cá nhân đăng ký"),
    },
    "field": {
        "xay-dung-dang": (
            "xây dựng Đảng",
            "xây dựng Đảng và hệ thống chính trị",
            "hệ thống chính trị",
            "xây dựng hệ thống chính trị",
            "chính trị",
            "XDĐ",
            "XD Đảng",
            "XDHTCT",
            "XD HTCT",
        ),
        "kinh-te": (
            "kinh tế",
            "phát triển kinh tế",
            "kinh tế, môi trường",
            "bảo vệ môi trường",
            "môi trường",
            "sản xuất",
            "KT",
            "phát triển kinh tế bảo vệ môi trường",
            "KT-MT",
        ),
        "van-hoa-xa-hoi": (
            "văn hóa - xã hội",
            "văn hóa xã hội",
            "văn hóa",
            "xã hội",
            "giáo dục",
            "y tế",
            "VHXH",
            "VH-XH",
            "VH - XH",
        ),
        "quoc-phong-an-ninh": (
            "quốc phòng - an ninh",
            "quốc phòng an ninh",
            "QP-AN",
            "QPAN",
            "QP - AN",
            "quốc phòng",
            "an ninh",
            "an ninh trật tự",
            "ANTT",
            "bảo vệ biên giới",
        ),
    },
    "level": {
        "tinh": ("tỉnh", "cấp tỉnh"),
        "huyen": ("huyện", "cấp huyện"),
        "xa": ("xã", "cấp xã", "cơ sở", "cấp cơ sở", "thị trấn", "xã, thị trấn"),
    },
}

# What a unit puts in a tick column to pick it.
MARKS: frozenset[str] = frozenset(
    {"x", "X", "✓", "✔", "☒", "☑", "•", "●", "v", "V", "1", "+", "■", "√", "*", "xx"}
)


# --- Matching by tokens ---------------------------------------------------------------------

TYPO_FROM = 4  # a word this long may carry one typo ("lihn" for "linh"), from 8 letters two
ACCEPT = 0.5  # a heading whose score is below this is not understood


@lru_cache(maxsize=4096)  # bounded: headers are few, strangers' cells are many
def tokens(text: str) -> tuple[str, ...]:
    """The meaningful folded words of a heading: no filler, in order, each once."""
    folded = f" {words(text)} "
    for phrase in FILLER_PHRASES:
        folded = folded.replace(f" {phrase} ", " ")
    return tuple(dict.fromkeys(w for w in folded.split() if w not in FILLER_WORDS))


def has_word(word: str, heading: tuple[str, ...]) -> bool:
    """Whether the heading has this word, one typo forgiven in a long word (two from 8)."""
    if word in heading:
        return True
    if len(word) < TYPO_FROM:
        return False
    allowed = 1 if len(word) < 2 * TYPO_FROM else 2
    from rapidfuzz.distance import OSA  # here: the store imports this module for every command

    return any(
        len(h) >= TYPO_FROM
        and abs(len(h) - len(word)) <= allowed  # an edit distance is at least that
        and OSA.distance(word, h, score_cutoff=allowed) <= allowed
        for h in heading
    )


@lru_cache(maxsize=4096)  # every table spec of a file searches the same cells
def present_words(vocabulary: frozenset[str], heading: tuple[str, ...]) -> frozenset[str]:
    """{w for w in vocabulary if has_word(w, heading)}: the words typed as they are found by
    set lookup, the others by an edit distance to the heading's words of a length a typo
    can bridge, found by length rather than by trying every word of the heading."""
    found = {h for h in heading if h in vocabulary}
    by_length: dict[int, list[str]] = {}
    for h in heading:
        if len(h) >= TYPO_FROM:
            by_length.setdefault(len(h), []).append(h)
    if by_length:
        from rapidfuzz.distance import OSA

        for w, allowed in _typo_words(vocabulary):
            if w not in found and any(
                OSA.distance(w, h, score_cutoff=allowed) <= allowed
                for n in range(len(w) - allowed, len(w) + allowed + 1)
                for h in by_length.get(n, ())
            ):
                found.add(w)
    return frozenset(found)


@lru_cache(maxsize=64)
def _typo_words(vocabulary: frozenset[str]) -> tuple[tuple[str, int], ...]:
    """The words a typo may be forgiven in, each with the typos forgiven (as in has_word)."""
    return tuple(
        (w, 1 if len(w) < 2 * TYPO_FROM else 2) for w in sorted(vocabulary) if len(w) >= TYPO_FROM
    )


@lru_cache(maxsize=4096)
def score(heading: tuple[str, ...], wanted: tuple[str, ...]) -> float:
    """How well `wanted` (a vocabulary wording) explains `heading`, word order free, 0..1.

    All of its words present: 0.5 plus half the share of the heading they cover; some
    missing: a small score, never accepted on its own.
    """
    if not heading or not wanted:
        return 0.0
    found = sum(1 for w in wanted if has_word(w, heading))
    if found == len(wanted):
        return 0.5 + 0.5 * min(1.0, len(wanted) / len(heading))
    return 0.4 * (found / len(wanted)) * (found / len(heading))


def value_id(
    key: str, text: str, own: tuple[tuple[str, tuple[str, ...]], ...] = (), *, strict: bool = False
) -> str | None:
    """The vocabulary id a typed value means: exact wording first, else the longest wording
    inside it (unless `strict`). `own` are a spec's values, tried with the shared ones."""
    typed = words(text)
    if not typed:
        return None
    exact, longest_first = value_index(key, own)
    found = exact.get(typed)
    if found is not None or strict:
        return found
    padded = f" {typed} "
    return next((vid for synonym, vid in longest_first if synonym in padded), None)


_Values = tuple[tuple[str, tuple[str, ...]], ...]
_ValueIndex = tuple[dict[str, str], tuple[tuple[str, str], ...]]
_VALUE_INDEX: dict[tuple[str, int], tuple[_Values, _ValueIndex]] = {}


def value_index(key: str, own: _Values) -> _ValueIndex:
    """Each wording's id (the first wording wins), and the wordings longest first (ties in
    their order), once per vocabulary and spec values: every cell of a column asks.
    Cached by the values' identity: a spec's values live as long as the spec."""
    hit = _VALUE_INDEX.get((key, id(own)))
    if hit is not None and hit[0] is own:
        return hit[1]
    exact: dict[str, str] = {}
    ordered: list[tuple[str, str]] = []
    for vid, synonyms in _values(key, own):
        for synonym in synonyms:
            exact.setdefault(synonym, vid)
            ordered.append((f" {synonym} ", vid))
    ordered.sort(key=lambda pair: -len(pair[0]))  # stable: equal lengths keep their order
    if len(_VALUE_INDEX) >= 256:
        _VALUE_INDEX.clear()
    index: _ValueIndex = (exact, tuple(ordered))
    _VALUE_INDEX[(key, id(own))] = (own, index)
    return index


@lru_cache(maxsize=256)
def _values(
    key: str, own: tuple[tuple[str, tuple[str, ...]], ...]
) -> tuple[tuple[str, tuple[str, ...]], ...]:
    merged: dict[str, list[str]] = {}
    for vid, synonyms in (*own, *VALUE_WORDS.get(key, {}).items()):
        merged.setdefault(vid, []).extend(w for w in (words(s) for s in synonyms) if w)
    return tuple((vid, tuple(dict.fromkeys(ws))) for vid, ws in merged.items())


def taught_value(taught: Taught, key: str, text: str) -> Lesson | None:
    """The board's lesson for this value of vocabulary `key`, matched folded."""
    typed = words(text)
    return next((x for x in taught.values.get(key, ()) if words(x.text) == typed), None)


def taught_header(taught: Taught, text: str) -> Lesson | None:
    typed = words(text)
    return next((x for x in taught.headers if typed and words(x.text) == typed), None)
