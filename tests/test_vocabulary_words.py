"""present_words, the header search's word finder, finds exactly the words has_word does:
the same typos forgiven, only fewer comparisons."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from parsers.specs import builtin_specs
from parsers.tables import _wordings
from parsers.vocabulary import TYPO_FROM, has_word, present_words

VOCABULARY = frozenset(
    word
    for spec in builtin_specs()
    if spec.table is not None
    for _, wordings in _wordings(spec.table)
    for wording in wordings
    for word in wording
)
LETTERS = "aăâbcdđeêghiklmnoôơpqrstuưvxy"


def typo(word: str, draw: st.DrawFn) -> str:
    """The word with up to two edits: dropped, doubled, swapped or changed letters."""
    for _ in range(draw(st.integers(0, 2))):
        if not word:
            break
        i = draw(st.integers(0, len(word) - 1))
        edit = draw(st.sampled_from(["drop", "double", "swap", "change"]))
        if edit == "drop":
            word = word[:i] + word[i + 1 :]
        elif edit == "double":
            word = word[:i] + word[i] + word[i:]
        elif edit == "swap" and i + 1 < len(word):
            word = word[:i] + word[i + 1] + word[i] + word[i + 2 :]
        else:
            word = word[:i] + draw(st.sampled_from(LETTERS)) + word[i + 1 :]
    return word


@st.composite
def headings(draw: st.DrawFn) -> tuple[str, ...]:
    known = draw(st.lists(st.sampled_from(sorted(VOCABULARY)), max_size=5))
    other = draw(st.lists(st.text(LETTERS, min_size=1, max_size=12), max_size=4))
    return tuple(dict.fromkeys(w for w in [*(typo(k, draw) for k in known), *other] if w))


@settings(max_examples=400, deadline=None)
@given(headings())
def test_present_words_are_the_words_has_word_finds(heading: tuple[str, ...]) -> None:
    expected = {w for w in VOCABULARY if has_word(w, heading)}
    assert present_words(VOCABULARY, heading) == expected


def test_a_typo_is_forgiven_in_a_long_word_only() -> None:
    long_word = next(w for w in sorted(VOCABULARY) if len(w) >= TYPO_FROM)
    short = next(w for w in sorted(VOCABULARY) if 1 < len(w) < TYPO_FROM)
    long_typo, short_typo = long_word[:-1] + "q", short[:-1] + "q"
    assert long_typo not in VOCABULARY and short_typo not in VOCABULARY
    assert long_word in present_words(VOCABULARY, (long_typo,))
    assert short not in present_words(VOCABULARY, (short_typo,))
