"""Vietnamese typed in the legacy 8-bit encodings TCVN3 (ABC) and VNI, back to Unicode.

Before Unicode, offices typed Vietnamese with fonts that draw Latin-1 code points as
Vietnamese letters: TCVN3 in the ".Vn" fonts (.VnTime, .VnArial), VNI in the "VNI-" fonts
(VNI-Times). Read as Unicode, TCVN3 "Bảo Thắng" shows as "B¶o Th¾ng" and VNI "chào" as
"chaøo". Word keeps each run's font, so the font says how to read a run. Where the font is
unknown (a cell, a file name, a mail body), detection works word by word and converts only
when the reading is Vietnamese and the word as it stands is not, or when an ambiguous word
sits beside clear legacy words, so that real Unicode, English and Latin-1 text survive.

TCVN3 here is TCVN 5712:1993 VN3: the lowercase letters and seven plain capitals. glibc's
TCVN5712-1 is VN1, which also gives the toned capitals codes in C0 and 0x80-0x9F; VN3 fonts
have none, and their "H" variants (.VnTimeH) draw every code as a capital instead. VNI
writes a letter as its base letter and a mark byte ("aø" is "à"), with capital marks for
capital letters. Converted text is NFC.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import Literal

Encoding = Literal["tcvn3", "vni"]
ENCODINGS: tuple[Encoding, ...] = ("tcvn3", "vni")

# The six tones in the order both tables list them: ngang, huyền, hỏi, ngã, sắc, nặng.
TONES = ("", "\u0300", "\u0309", "\u0303", "\u0301", "\u0323")
VOWELS = "aăâeêioôơuưy"

# TCVN3: a Unicode base letter and its codes for each tone (TCVN 5712:1993, table VN3).
_TCVN3_ROWS = (
    ("a", "aµ¶·¸¹"), ("ă", "¨»¼½¾Æ"), ("â", "©ÇÈÉÊË"),
    ("e", "eÌÎÏÐÑ"), ("ê", "ªÒÓÔÕÖ"), ("i", "i×ØÜÝÞ"),
    ("o", "oßáâãä"), ("ô", "«åæçèé"), ("ơ", "¬êëìíî"),
    ("u", "uïñòóô"), ("ư", "\xadõö÷øù"), ("y", "yúûüýþ"),
    ("đ", "®"), ("Ă", "¡"), ("Â", "¢"), ("Ê", "£"), ("Ô", "¤"), ("Ơ", "¥"), ("Ư", "¦"), ("Đ", "§"),
)  # fmt: skip

# VNI-Windows: the same for VNI, where most letters are two characters. Capitals are the
# uppercase of these (the marks have capital forms too: "AØ" is "À").
_VNI_ROWS = (
    ("a", ("a", "aø", "aû", "aõ", "aù", "aï")),
    ("ă", ("aê", "aè", "aú", "aü", "aé", "aë")),
    ("â", ("aâ", "aà", "aå", "aã", "aá", "aä")),
    ("e", ("e", "eø", "eû", "eõ", "eù", "eï")),
    ("ê", ("eâ", "eà", "eå", "eã", "eá", "eä")),
    ("i", ("i", "ì", "æ", "ó", "í", "ò")),
    ("o", ("o", "oø", "oû", "oõ", "où", "oï")),
    ("ô", ("oâ", "oà", "oå", "oã", "oá", "oä")),
    ("ơ", ("ô", "ôø", "ôû", "ôõ", "ôù", "ôï")),
    ("u", ("u", "uø", "uû", "uõ", "uù", "uï")),
    ("ư", ("ö", "öø", "öû", "öõ", "öù", "öï")),
    ("y", ("y", "yø", "yû", "yõ", "yù", "î")),
    ("đ", ("ñ",)),
)


def _nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def _pairs(rows: Iterable[tuple[str, Iterable[str]]]) -> Iterable[tuple[str, str]]:
    """(legacy spelling, Unicode letter) for every tone of every row."""
    for base, spellings in rows:
        for tone, spelling in zip(TONES, spellings, strict=False):
            yield spelling, _nfc(base + tone)


def _vni_decoding() -> dict[str, str]:
    table: dict[str, str] = {}
    for code, letter in _pairs(_VNI_ROWS):
        table[code], table[code.upper()] = letter, letter.upper()
        if len(code) == 2:  # the base letter decides the case, whatever the mark's case
            table[code[0].upper() + code[1]] = letter.upper()
            table[code[0] + code[1].upper()] = letter
    return {code: letter for code, letter in table.items() if code != letter}


_DECODE: dict[Encoding, dict[str, str]] = {
    "tcvn3": {code: letter for code, letter in _pairs(_TCVN3_ROWS) if code != letter},
    "vni": _vni_decoding(),
}
_ENCODE: dict[Encoding, dict[str, str]] = {
    "tcvn3": {letter: code for code, letter in _DECODE["tcvn3"].items()},
    "vni": {
        **{letter: code for code, letter in _pairs(_VNI_ROWS) if code != letter},
        **{letter.upper(): code.upper() for code, letter in _pairs(_VNI_ROWS) if code != letter},
    },
}
_TCVN3_TRANSLATE = str.maketrans(_DECODE["tcvn3"])
_VNI_CODES = re.compile(
    "|".join(re.escape(code) for code in sorted(_DECODE["vni"], key=len, reverse=True))
)
# Every non-ASCII character either table uses: text without any is left alone at once.
_LEGACY_CHARS = frozenset(c for table in _DECODE.values() for code in table for c in code)
_LEGACY_CHAR = re.compile("[" + re.escape("".join(sorted(_LEGACY_CHARS))) + "]")

# Characters a legacy word may hold as they are (ASCII; VNI's ì í, TCVN3's ý): a word of
# only these tells nothing about its neighbours.
_UNREVEALING = frozenset([chr(c) for c in range(128)] + list("ìíÌÍý"))
# Letters beyond Latin-1 (ă đ ĩ ũ ơ ư, the toned letters from U+1EA0): no legacy font has them.
_UNICODE_ONLY = re.compile("[\u0100-\u024f\u1ea0-\u1ef9]")
# Word keeps a symbol-charset font's text at U+F020-U+F0FF, standing for bytes 0x20-0xFF.
_SYMBOL_AREA = {code: code - 0xF000 for code in range(0xF020, 0xF100)}

_TCVN3_FONT = re.compile(r"\.vn", re.IGNORECASE)  # .VnTime, .VnArialH, .VnCentury Schoolbook
_VNI_FONT = re.compile(r"vni[-_ ]", re.IGNORECASE)  # VNI-Times, VNI-Helve, VNI-Aptima


@lru_cache(maxsize=1024)  # a file has a few fonts, asked for every run and cell
def font_encoding(font: str | None) -> Encoding | None:
    """Which legacy encoding a font name implies, if any."""
    name = (font or "").strip()
    if _TCVN3_FONT.match(name):
        return "tcvn3"
    if _VNI_FONT.match(name):
        return "vni"
    return None


def is_capital_font(font: str | None) -> bool:
    """TCVN3's capital fonts end in "H" (.VnTimeH) and draw every code as a capital."""
    name = (font or "").strip()
    return font_encoding(name) == "tcvn3" and name.endswith("H")


def decode(text: str, encoding: Encoding, *, capitals: bool = False) -> str:
    """`text` read in `encoding`, with no checks: characters outside the table stay."""
    if encoding == "tcvn3":
        out = _fix_capitals(text.translate(_TCVN3_TRANSLATE))
        return _nfc(out.upper() if capitals else out)
    return _nfc(_VNI_CODES.sub(lambda m: _DECODE["vni"][m.group()], text))


def encode(text: str, encoding: Encoding) -> str:
    """Unicode as the legacy font would store it (for tests and samples).

    TCVN3 has no toned capitals: those stay as they are, unless the text is lowercased for
    an "H" font first.
    """
    table = _ENCODE[encoding]
    return "".join(table.get(c, c) for c in _nfc(text))


def convert_run(text: str, font: str | None) -> str:
    """A run of a Word document or a cell in a known font: converted when the font is legacy.

    Text that already holds letters only Unicode has was typed in Unicode despite the
    font (Word keeps the font name), and stays as it is.
    """
    encoding = font_encoding(font)
    if encoding is None or not text or _UNICODE_ONLY.search(text):
        return text
    return decode(text.translate(_SYMBOL_AREA), encoding, capitals=is_capital_font(font))


def convert(text: str, font: str | None = None, prior: Prior | None = None) -> str:
    """By the font when it names a legacy encoding, otherwise by detection."""
    return convert_run(text, font) if font_encoding(font) else detect_and_convert(text, prior)


# --- detection ---------------------------------------------------------------------------


def _listed(text: str) -> tuple[str, ...]:
    return tuple(text.split())


# The spelling of Vietnamese syllables: onset (optional) and rhyme, the tone aside.
ONSETS = _listed("ngh ng nh ch gh gi kh ph qu th tr b c d đ g h k l m n p r s t v x")
RHYMES = _listed(
    """
a ac ach ai am an ang anh ao ap at au ay ăc ăm ăn ăng ăp ăt âc âm ân âng âp ât âu ây
e ec em en eng eo ep et ê êch êm ên ênh êp êt êu
i ia ich im in inh ip it iu iêc iêm iên iêng iêp iêt iêu
o oc oi om on ong op ot ooc oong oa oac oach oai oam oan oang oanh oao oap oat oay
oăc oăm oăn oăng oăt oe oen oeo oet ô ôc ôi ôm ôn ông ôp ôt ơ ơi ơm ơn ơp ơt
u ua uc ui um un ung up ut uân uâng uât uây uê uêch uênh uôc uôi uôm uôn uông uôt uơ
uy uya uych uyên uyêt uynh uyp uyt uyu ư ưa ưc ưi ưm ưn ưng ưt ưu
ươc ươi ươm ươn ương ươp ươt ươu y ych ynh yt yêm yên yêng yêt yêu
"""
)
_SYLLABLE = re.compile(
    "(?P<onset>{})?(?P<rhyme>{})".format(
        "|".join(ONSETS), "|".join(sorted(RHYMES, key=len, reverse=True))
    )
)
_STOPS = ("c", "ch", "p", "t")  # a syllable ending in a stop takes only sắc or nặng
_STOP_TONES = ("\u0301", "\u0323")
_ABBREVIATION = re.compile("[BCDĐGHKLMNPQRSTVX]{2,6}")  # HĐND, BCĐ, TĐKT: consonants only
_TONE_MARKS = frozenset(TONES[1:])


def is_syllable(word: str, *, strict: bool = True) -> bool:
    """Whether `word` spells one Vietnamese syllable (any case, tone on either vowel).

    `strict` also checks that a syllable ending in c, ch, p or t has sắc or nặng: a
    reading has to pass that, a word as it stands only the looser test.
    """
    if _ABBREVIATION.fullmatch(word):
        return True
    decomposed = unicodedata.normalize("NFD", word.lower())
    tones = [c for c in decomposed if c in _TONE_MARKS]
    bare = _nfc("".join(c for c in decomposed if c not in _TONE_MARKS))
    match = _SYLLABLE.fullmatch(bare)
    if match is None or len(tones) > 1:
        return False
    if strict and match["rhyme"].endswith(_STOPS):
        return bool(tones) and tones[0] in _STOP_TONES
    return True


# A word: letters, and the TCVN3 codes that Unicode calls symbols (¶ ¾ © « ¬ ...).
_SYMBOL_CODES = "".join(sorted(c for c in _LEGACY_CHARS if not c.isalpha()))
_WORD = re.compile(r"(?:[^\W\d_]|[" + re.escape(_SYMBOL_CODES) + "])+")
# neutral: nothing to convert; unicode: Vietnamese as it stands; tcvn3, vni: clearly that
# encoding; either: clearly legacy, both readings Vietnamese; ambiguous: Vietnamese as it
# stands and in some reading; other: neither (Müller, Café).
_Kind = Literal["neutral", "unicode", "tcvn3", "vni", "either", "ambiguous", "other"]


@dataclass(frozen=True)
class _Word:
    start: int
    end: int
    readings: dict[Encoding, str]  # encodings that change the word into Vietnamese
    bad: frozenset[Encoding]  # encodings that change the word into something else
    kind: _Kind


def _judge(match: re.Match[str]) -> _Word:
    """What one word looks like: Unicode, clearly one legacy encoding, or either."""
    readings, bad, kind = _judge_word(match.group())
    return _Word(match.start(), match.end(), dict(readings), bad, kind)


@lru_cache(maxsize=1 << 14)  # the same words recur in every cell and paragraph of a form
def _judge_word(word: str) -> tuple[tuple[tuple[Encoding, str], ...], frozenset[Encoding], _Kind]:
    readings: dict[Encoding, str] = {}
    bad: set[Encoding] = set()
    modern = any(ord(c) > 0xFF for c in word)
    for encoding in () if modern else ENCODINGS:
        reading = decode(word, encoding)
        if reading == word:
            continue
        if is_syllable(reading) or len(reading) == 1:  # đ/c, a lone letter of a list
            readings[encoding] = reading
        elif len(word) > 1:
            bad.add(encoding)
    # Unicode words are small, Capitalised or CAPITALS; TCVN3 puts many small letters on
    # Latin-1 capitals ("nhÊt" is "nhất"), which no Unicode word shows.
    plain_case = word[1:] == word[1:].lower() or word == word.upper()
    fine = modern or (plain_case and is_syllable(word, strict=False))
    kind: _Kind
    if readings:
        clear = not fine and len(word) > 1 and any(c.isascii() and c.isalpha() for c in word)
        kind = "ambiguous" if not clear else "either" if len(readings) > 1 else next(iter(readings))
    elif fine and not set(word) <= _UNREVEALING:
        kind = "unicode"
    else:
        kind = "other" if bad else "neutral"
    return tuple(readings.items()), frozenset(bad), kind


# The words a file's prevailing encoding is judged on: a form has a few thousand.
MAX_PRIOR_WORDS = 20_000
# Words judged before a file with no clear legacy word is taken as Unicode throughout.
UNICODE_SAMPLE = 400
# A file is all legacy when it has at most one Unicode-only word per this many clear ones.
SOLE_SHARE = 20


class Prior:
    """The legacy encoding a whole file's clear words use, for the words a cell cannot settle.

    A cell holding only "Kinh teá" says nothing on its own: "teá" is VNI "tế" and also
    TCVN3 "teỏ". The file's other cells do ("Caáp xaõ" can only be VNI). The file is judged
    lazily, once, and only when some text needs it; each text is still converted word by
    word, so Unicode text beside legacy text stays as it is.
    """

    def __init__(self, texts: Iterable[str]) -> None:
        self._texts = texts

    @property
    def encoding(self) -> Encoding | None:
        """The encoding with more clear words than the other and than words it would spoil."""
        return self._judged[0]

    @property
    def sole(self) -> Encoding | None:
        """The encoding, when the file is all legacy: hardly a word only Unicode can spell.
        Then even a word that is Vietnamese as it stands ("chó", "Xaõ") is read in it."""
        return self._judged[1]

    @cached_property
    def _judged(self) -> tuple[Encoding | None, Encoding | None]:
        clear = dict.fromkeys(ENCODINGS, 0)
        bad = dict.fromkeys(ENCODINGS, 0)
        modern = 0
        budget = MAX_PRIOR_WORDS
        for text in self._texts:
            if budget <= 0:
                break
            if budget < MAX_PRIOR_WORDS - UNICODE_SAMPLE and not any(clear.values()):
                break  # hundreds of words and none clearly legacy: a Unicode file
            count, its_clear, its_bad, its_modern = _counts(text)
            budget -= count
            modern += its_modern
            for e, n in zip(ENCODINGS, its_clear, strict=True):
                clear[e] += n
            for e, n in zip(ENCODINGS, its_bad, strict=True):
                bad[e] += n
        self._texts = ()  # judged once; the texts are not kept
        best = max(ENCODINGS, key=lambda e: clear[e])
        other = next(e for e in ENCODINGS if e != best)
        if clear[best] <= max(clear[other], bad[best]):
            return None, None
        return best, best if modern * SOLE_SHARE <= clear[best] else None


_Counts = tuple[int, tuple[int, ...], tuple[int, ...], int]


def _counts(text: str) -> _Counts:
    """What one text adds to a Prior: its words, clear words and words each encoding would
    spoil, and Unicode-only words. The same cells recur in a file ("Cá nhân" on every
    row): short texts are counted once."""
    return _counts_short(text) if len(text) <= MEMO_CHARS else _count(text)


def _count(text: str) -> _Counts:
    count = modern = 0
    clear = dict.fromkeys(ENCODINGS, 0)
    bad = dict.fromkeys(ENCODINGS, 0)
    for match in _WORD.finditer(_nfc(text)):
        count += 1
        _, spoiled, kind = _judge_word(match.group())
        if kind in clear:
            clear[kind] += 1
        modern += kind == "unicode" and bool(_UNICODE_ONLY.search(match.group()))
        for e in spoiled:
            bad[e] += 1
    return count, tuple(clear.values()), tuple(bad.values()), modern


_counts_short = lru_cache(maxsize=1 << 14)(_count)


def detect_and_convert(text: str, prior: Prior | None = None) -> str:
    """`text` with the words that are TCVN3 or VNI mojibake converted; others untouched.

    A word is clearly legacy when it is not Vietnamese as it stands and its reading is;
    an encoding counts only if it has more such words than words it would turn into
    nonsense. A word that reads as Vietnamese both ways ("cã" is TCVN3 "có" but
    also a Unicode spelling) follows its nearest clear neighbours, and stays when either
    of them is Unicode Vietnamese. A clearly legacy word that reads as Vietnamese in both
    encodings, with no clear neighbour, follows the file's `prior`. Text with nothing to
    convert is returned as it came.
    """
    if not _LEGACY_CHAR.search(text):
        return text
    if len(text) > MEMO_CHARS:
        return _convert(text, prior)
    # Cells and lines recur across files ("Cá nhân", "Ghi chú" in every form): a short
    # text is decided once, and once per judgement of a file when it needs one.
    alone = _without_prior(text)
    if alone is not None:
        return alone
    judgement = (prior.encoding, prior.sole) if prior is not None else (None, None)
    return _judged_as(text, *judgement)


# Texts up to this long are remembered, with their reading when no prior decides it and
# with each judgement of a file that decided it.
MEMO_CHARS = 200


class _Probe(Prior):
    """A prior that knows nothing and notes whether it was asked."""

    def __init__(self) -> None:
        super().__init__(())
        self.asked = False

    @property
    def encoding(self) -> Encoding | None:
        self.asked = True
        return None

    @property
    def sole(self) -> Encoding | None:
        self.asked = True
        return None


@lru_cache(maxsize=1 << 14)
def _without_prior(text: str) -> str | None:
    """`text` converted, if no word of it needs the file's prior to be decided, else None."""
    probe = _Probe()
    converted = _convert(text, probe)
    return None if probe.asked else converted


class _Judgement(Prior):
    """A file's judgement, given: all that `_convert` asks of a prior."""

    def __init__(self, encoding: Encoding | None, sole: Encoding | None) -> None:
        super().__init__(())
        self._given = encoding, sole

    @property
    def encoding(self) -> Encoding | None:
        return self._given[0]

    @property
    def sole(self) -> Encoding | None:
        return self._given[1]


@lru_cache(maxsize=1 << 12)
def _judged_as(text: str, encoding: Encoding | None, sole: Encoding | None) -> str:
    """`text` converted in a file judged `encoding`, `sole` (Prior's two answers)."""
    return _convert(text, _Judgement(encoding, sole))


def _convert(text: str, prior: Prior | None) -> str:
    normal = _nfc(text)
    words = [_judge(m) for m in _WORD.finditer(normal)]
    trusted = {
        e: sum(w.kind in (e, "either") for w in words) > sum(e in w.bad for w in words)
        for e in ENCODINGS
    }
    clear = [_clear(w, trusted) for w in words]
    lefts, rights = _nearest(clear), _nearest(clear[::-1])[::-1]
    out, at, changed = [], 0, False
    for w, own, left, right in zip(words, clear, lefts, rights, strict=True):
        encoding = _choose(w, own, (left, right), trusted, prior)
        if encoding is not None:
            out += [normal[at : w.start], w.readings[encoding]]
            at, changed = w.end, True
    if not changed:
        return text
    return _nfc("".join([*out, normal[at:]]))


_Clear = Encoding | Literal["unicode"] | None  # what a word tells its neighbours


def _clear(word: _Word, trusted: dict[Encoding, bool]) -> _Clear:
    """What a word says about its neighbours: Unicode, a trusted encoding, or nothing."""
    for encoding in ENCODINGS:
        if word.kind == encoding and trusted[encoding]:
            return encoding
    return "unicode" if word.kind == "unicode" else None


def _nearest(clear: list[_Clear]) -> list[_Clear]:
    """For each word, what the nearest clear word before it says."""
    found: list[_Clear] = []
    last: _Clear = None
    for kind in clear:
        found.append(last)
        last = kind or last
    return found


def _choose(
    word: _Word,
    own: _Clear,
    sides: tuple[_Clear, _Clear],
    trusted: dict[Encoding, bool],
    prior: Prior | None = None,
) -> Encoding | None:
    """The encoding to read one word in, or None to leave it.

    A word that reads as Vietnamese both ways takes its nearest clear neighbours'
    encoding; failing that, a clearly legacy one takes the file's prevailing encoding,
    and without one TCVN3, the state standard of the time, which the Party and state
    offices used.
    """
    if own is not None:
        return None if own == "unicode" else own
    if word.kind not in ("ambiguous", "either"):
        return None
    if word.kind == "ambiguous" and "unicode" in sides:
        return None
    if word.kind == "ambiguous" and sides == (None, None):
        sole = prior.sole if prior is not None else None
        return sole if sole is not None and sole in word.readings else None
    for side in sides:
        if side is not None and side != "unicode" and side in word.readings:
            return side
    if word.kind == "either":
        usual = prior.encoding if prior is not None else None
        if usual is not None and trusted[usual] and usual in word.readings:
            return usual
        return next((e for e in ENCODINGS if trusted[e] and e in word.readings), None)
    return None


def _fix_capitals(text: str) -> str:
    """Words in capitals made all capitals: TCVN3 has no toned capitals, so "§¶NG" is "ĐẢNG".

    A word counts as capitals when its Latin letters are, one of them after the first.
    """
    return re.sub(r"\S+", _capitalise, text)


def _capitalise(match: re.Match[str]) -> str:
    word = match.group()
    latin = [c for c in word if c.isascii() and c.isalpha()]
    if any(c.islower() for c in latin) or not any(c.isascii() and c.isupper() for c in word[1:]):
        return word
    return word.upper()
