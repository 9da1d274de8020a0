"""Recognising a unit by name when it writes from an address the directory does not list."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rules.matching import UnitMatcher, fold, name_forms
from rules.units import Unit, UnitDirectory, address_key

UNITS = UnitDirectory(
    [
        Unit("xa-dao-san", "Đảng ủy xã Dào San", "xa", ("dangbodaosan@gmail.com",)),
        Unit("xa-mo-si-san", "Đảng ủy xã Mồ Sì San", "xa"),
        Unit("xa-muong-so", "Đảng ủy xã Mường So", "xa"),
        Unit("xa-si-lo-lau", "Đảng ủy xã Sì Lở Lầu", "xa"),
        Unit("tt-phong-tho", "Đảng ủy thị trấn Phong Thổ", "xa"),
        Unit("xa-hoang-than", "Đảng ủy xã Hoang Thèn", "xa"),
        Unit("xa-hoang-thanh", "Đảng ủy xã Hoàng Thành", "xa"),
        Unit("cq-vp", "Chi bộ Văn phòng HĐND - UBND huyện", "co-quan"),
    ]
)
MATCHER = UnitMatcher(UNITS, aliases={"cq-vp": ["VP HĐND-UBND"]})
STRANGER = "Giàng Seo Páo <giangseopao1985@gmail.com>"


def test_fold_removes_diacritics_and_punctuation() -> None:
    assert fold("  Đảng ủy xã Dào San – BÁO CÁO!! ") == "dang uy xa dao san bao cao"
    assert fold("Thuỷ") == fold("thủy") == "thuy"


def test_name_forms_drop_the_party_prefix_but_keep_the_kind_of_unit() -> None:
    unit = Unit("x", "Đảng ủy thị trấn Phong Thổ", "xa")
    assert name_forms(unit, ["TT Phong Tho"]) == (
        "dang uy thi tran phong tho",
        "thi tran phong tho",
        "tt phong tho",
    )


def test_address_wins_whatever_the_text_says() -> None:
    found = MATCHER.identify("DangBoDaoSan@Gmail.com", {"subject": "xa Muong So"})
    assert (found.unit_id, found.confidence, found.evidence) == ("xa-dao-san", 100.0, "address")


@pytest.mark.parametrize(
    ("texts", "unit"),
    [
        ({"subject": "bao cao dan van kheo - xa Dao San"}, "xa-dao-san"),
        ({"subject": "bao cao dan van kheo xa Si Lo Lau"}, "xa-si-lo-lau"),
        ({"subject": "bieu DVK xa Daosan"}, "xa-dao-san"),  # words run together
        ({"subject": "xa Muong Soo gui mau 01"}, "xa-muong-so"),  # a typo
        ({"subject": "Mẫu 01", "form": "ĐẢNG ỦY XÃ MỒ SÌ SAN"}, "xa-mo-si-san"),
        (
            {
                "subject": "Fwd:",
                "body": "Kính gửi Ban Dân vận Huyện ủy Phong Thổ.\nXã Sì Lở Lầu gửi",
            },
            "xa-si-lo-lau",
        ),
        ({"subject": "gui bieu VP HDND UBND"}, "cq-vp"),  # an alias from the config
        ({"subject": "Thị trấn Phong Thổ gửi biểu"}, "tt-phong-tho"),
    ],
)
def test_unit_recognised_by_name(texts: dict[str, str], unit: str) -> None:
    found = MATCHER.identify(STRANGER, texts)
    assert found.unit_id == unit, found


@pytest.mark.parametrize(
    "texts",
    [
        {"subject": "Mẫu 01"},  # nothing to go on
        {"subject": "Gửi Ban Dân vận Huyện ủy Phong Thổ"},  # the district, not the town
        {"subject": "xa Hoang Than"},  # Hoang Thèn or Hoàng Thành: too close to call
        {},
    ],
)
def test_uncertain_matches_go_to_review(texts: dict[str, str]) -> None:
    found = MATCHER.identify(STRANGER, texts)
    assert found.unit_id is None and found.needs_review


def test_ambiguous_match_keeps_both_guesses_for_the_reviewer() -> None:
    found = MATCHER.identify(STRANGER, {"subject": "bao cao xa Hoang Than"})
    assert {g.unit_id for g in found.guesses[:2]} == {"xa-hoang-than", "xa-hoang-thanh"}


def test_address_aliases_of_one_mailbox_are_one_address() -> None:
    assert address_key("Đảng ủy <Dang.Bo.DaoSan+dvk@GoogleMail.com>") == "dangbodaosan@gmail.com"
    assert address_key("VanPhong@Example.VN") == "vanphong@example.vn"  # dots matter elsewhere
    assert address_key("van.phong@example.vn") != address_key("vanphong@example.vn")
    assert MATCHER.identify("dang.bo.daosan@gmail.com", {}).unit_id == "xa-dao-san"


def test_learned_addresses_count_after_the_config_ones() -> None:
    directory = UNITS.with_learned({"GiangSeoPao1985@gmail.com": "xa-muong-so"})
    found = UnitMatcher(directory).identify(STRANGER, {"subject": "xa Dao San"})
    assert (found.unit_id, found.evidence) == ("xa-muong-so", "learned-address")
    # The config wins: a learned address never takes a listed one from its unit.
    clash = UNITS.with_learned({"dangbodaosan@gmail.com": "xa-muong-so"})
    assert clash.lookup("dangbodaosan@gmail.com") == (UNITS.get("xa-dao-san"), "address")


def test_unit_aliases_from_the_config_are_names_too() -> None:
    unit = Unit("xa-dao-san", "Đảng ủy xã Dào San", "xa", aliases=("Dào San", "DS"))
    assert name_forms(unit) == ("dang uy xa dao san", "xa dao san", "dao san")  # "ds": too short
    matcher = UnitMatcher(UnitDirectory([unit]))
    assert matcher.identify(STRANGER, {"subject": "Dào San gửi biểu"}).unit_id == "xa-dao-san"


def test_a_short_name_needs_a_close_match_to_be_even_a_guess() -> None:
    matcher = UnitMatcher(UnitDirectory([Unit("x", "Dào San", "xa")]))
    # "dan van" is two letters from "dao san"; every letter about "dân vận" would guess it.
    assert matcher.identify(STRANGER, {"subject": "Gửi Ban Dân vận"}).guesses == ()
    assert matcher.identify(STRANGER, {"subject": "DaoSan"}).guesses[0].unit_id == "x"


def _each_name_on_its_own(matcher: UnitMatcher, texts: dict[str, str]) -> dict[str, float]:
    """The best raw score per unit, each name compared with each text in turn (the search
    `_resembling` does in one call into rapidfuzz)."""
    from rules.matching import SOURCES, _floor, _weighted

    best: dict[str, float] = {}
    for unit_id, names in matcher._names.items():
        for source, text in ((s, fold(t)) for s, t in texts.items() if t):
            for name in names:
                score = _weighted(name, text, SOURCES.get(source, 0.8))
                if len(text) >= len(name) * 0.8 and score >= _floor(name):
                    best[unit_id] = max(best.get(unit_id, 0.0), score)
    return best


_SYLLABLES = ["xa", "dao", "san", "muong", "so", "si", "lo", "lau", "hoang", "than", "thanh"]


@settings(max_examples=400, deadline=None)
@given(
    st.lists(
        st.lists(st.sampled_from(_SYLLABLES), min_size=1, max_size=4), min_size=1, max_size=12
    ),
    st.dictionaries(
        st.sampled_from(["subject", "body", "filename", "form"]),
        st.lists(
            st.sampled_from([*_SYLLABLES, "Đảng", "ủy", "Dào", "Mường", "-", "2024"]), max_size=12
        ).map(" ".join),
        max_size=4,
    ),
)
def test_one_search_over_every_name_finds_what_each_name_on_its_own_finds(
    names: list[list[str]], texts: dict[str, str]
) -> None:
    units = UnitDirectory(
        [Unit(f"u{i}", " ".join(words), "xa") for i, words in enumerate(names)]
        + [Unit("twin", " ".join(names[0]), "xa")]  # two units of one name
    )
    matcher = UnitMatcher(units)
    found = {unit: max(s for s, _ in raw) for unit, raw in matcher._resembling(
        {s: fold(t) for s, t in texts.items() if t}).items()}  # fmt: skip
    assert found == _each_name_on_its_own(matcher, texts)
