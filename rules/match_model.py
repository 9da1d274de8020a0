"""The matcher's settings (the config's [matching] table) and its guesses, apart from
the matcher itself.

The config and the store are loaded by every command, `--help` and `health` included;
the matcher pulls in rapidfuzz and the confusables table, which only attribution needs."""

from __future__ import annotations

from dataclasses import dataclass

THRESHOLD = 85.0  # a name match this good attributes the message without review
MARGIN = 8.0  # ... provided the runner-up scores at least this much less


@dataclass(frozen=True)
class MatchSettings:
    """The config's optional [matching] table."""

    threshold: float = THRESHOLD
    margin: float = MARGIN


DEFAULT_SETTINGS = MatchSettings()


@dataclass(frozen=True)
class Guess:
    unit_id: str
    score: float  # 0..100
    evidence: str  # "address", "learned-address" or one of SOURCES
