"""Names read like a clerk reads them, over every unit of the example districts.

Generated, not hand-picked: each unit's distinctive words are replaced by another
real-looking commune name, or one of those words by another syllable, and the message
must go to review, never to a unit; the unit's own name with diacritics stripped, case
changed or one slip of the keyboard must still be recognised.
"""

from __future__ import annotations

import tomllib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rules.matching import GENERIC, LONG_WORD, UnitMatcher, fold
from rules.units import Unit, UnitDirectory

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.toml"))
# Communes of the north-west, none in the example directories.
OTHER_PLACES = [
    "Mường Mô", "Nậm Xe", "Bản Lang", "Sin Suối Hồ", "Lản Nhì Thàng", "Huổi Luông",
    "Vàng Ma Chải", "Pa Vây Sử", "Tông Qua Lìn", "Mù Sang", "Ka Lăng", "Thu Lũm",
    "Nậm Ban", "Tân Khánh", "Thanh Hà", "Ngọc Châu", "Việt Ngọc", "Cao Xá", "Nhã Lộng",
]  # fmt: skip
SYLLABLES = ["Mô", "Xe", "Lang", "Hồ", "Thàng", "Luông", "Chải", "Lìn", "Sang", "Bình", "Hà"]
STRANGER = "Giàng Seo Páo <giangseopao1985@gmail.com>"


def directory(path: Path) -> UnitDirectory:
    config = tomllib.loads(path.read_text(encoding="utf-8"))
    units = [
        Unit(u["id"], u["name"], u["group"], aliases=tuple(u.get("aliases", ())))
        for u in config["units"]
    ]
    return UnitDirectory(units)


def distinctive(name: str) -> list[int]:
    """Positions of the words of `name` that tell it from other units."""
    return [i for i, w in enumerate(name.split()) if fold(w) not in GENERIC]


def impostors(unit: Unit) -> Iterator[str]:
    """The unit's name with its distinctive words, or one of them, replaced."""
    words = unit.name.split()
    places = distinctive(unit.name)
    if not places:
        return
    for other in OTHER_PLACES:
        yield " ".join([*words[: places[0]], other, *words[places[-1] + 1 :]])
    for i in places:
        for syllable in SYLLABLES:
            if fold(syllable) != fold(words[i]):
                yield " ".join([*words[:i], syllable, *words[i + 1 :]])


def contexts(name: str) -> Iterator[dict[str, str]]:
    yield {"subject": f"bao cao dan van kheo - {fold(name)}"}
    yield {"subject": "Gửi mẫu 01", "form": name.upper()}
    yield {"subject": "Fwd:", "body": f"Kính gửi Ban Dân vận.\n{name} gửi biểu đăng ký."}


def slips(name: str) -> Iterator[str]:
    """One slip a clerk reads through: a doubled letter, or a letter swapped in a long word."""
    words = name.split()
    for i in distinctive(name):
        word = words[i]
        yield " ".join([*words[:i], word + word[-1], *words[i + 1 :]])
        if len(fold(word)) >= LONG_WORD:
            swapped = word[:2] + word[3] + word[2] + word[4:]
            yield " ".join([*words[:i], swapped, *words[i + 1 :]])


def variants(name: str) -> Iterator[str]:
    yield fold(name)
    yield name.upper()
    yield name.lower()
    yield from slips(name)


def cases(path: Path, kind: str) -> Iterator[tuple[str, str]]:
    """(unit id, name written) for every unit of the example district."""
    units = directory(path)
    known = {fold(u.name) for u in units}
    for unit in units:
        for name in impostors(unit) if kind == "impostor" else variants(unit.name):
            if kind != "impostor" or fold(name) not in known:
                yield unit.id, name


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_a_name_outside_the_directory_is_never_attributed(example: Path) -> None:
    matcher = UnitMatcher(directory(example))
    tried = [texts for _, name in cases(example, "impostor") for texts in contexts(name)]
    wrong = [(t, found.unit_id) for t in tried if (found := matcher.identify(STRANGER, t)).unit_id]
    assert len(tried) > 100 and wrong == []


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.stem)
def test_the_units_own_name_however_written_is_attributed(example: Path) -> None:
    matcher = UnitMatcher(directory(example))
    tried = [(unit_id, t) for unit_id, name in cases(example, "variant") for t in contexts(name)]
    missed = [(u, t) for u, t in tried if matcher.identify(STRANGER, t).unit_id != u]
    assert len(tried) > 30 and missed == []
