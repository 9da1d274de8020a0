"""The one backoff helper: bounded, capped, a ceiling that never shrinks. No sleeping."""

from __future__ import annotations

import math
import random
from itertools import pairwise

import pytest

from mail_ingest import backoff


class Extremes(random.Random):
    """Draws the lowest or the highest value uniform() may give, and records its bounds."""

    def __init__(self, high: bool) -> None:
        super().__init__(0)
        self.high = high
        self.bounds: list[tuple[float, float]] = []

    def uniform(self, a: float, b: float) -> float:
        self.bounds.append((a, b))
        return b if self.high else a


@pytest.mark.parametrize("base, cap", [(1.0, 300.0), (0.01, 0.5), (60.0, 6 * 3600.0), (2.5, 2.5)])
def test_every_delay_lies_between_the_floor_and_the_capped_ceiling(base, cap) -> None:
    rng = random.Random(7)
    for attempt in [*range(0, 80), 10**6, 10**30]:
        for least in (0.0, 0.5):
            top = backoff.ceiling(attempt, base=base, cap=cap)
            wait = backoff.delay(attempt, base=base, cap=cap, rng=rng, least=least)
            assert math.isfinite(wait)
            assert least * top <= wait <= top <= cap


def test_the_ceiling_doubles_from_the_base_then_stays_at_the_cap() -> None:
    ceilings = [backoff.ceiling(n, base=1.0, cap=300.0) for n in range(0, 200)]
    assert ceilings[:5] == [1.0, 2.0, 4.0, 8.0, 16.0]
    assert all(a <= b for a, b in pairwise(ceilings))  # monotone
    assert ceilings[-1] == 300.0 and ceilings.index(300.0) == 9  # 2**9 = 512 > 300


def test_an_absurd_attempt_count_neither_overflows_nor_goes_negative() -> None:
    assert backoff.ceiling(10**100, base=1.0, cap=math.inf) == 2.0**backoff.MAX_EXPONENT
    assert backoff.ceiling(-5, base=1.0, cap=300.0) == 1.0


def test_full_jitter_draws_from_zero_and_a_floor_from_its_fraction() -> None:
    low, high = Extremes(high=False), Extremes(high=True)
    assert backoff.delay(3, base=1.0, cap=300.0, rng=low) == 0.0
    assert backoff.delay(3, base=1.0, cap=300.0, rng=high) == 8.0
    assert backoff.delay(3, base=1.0, cap=300.0, rng=low, least=0.5) == 4.0
    assert low.bounds == [(0.0, 8.0), (4.0, 8.0)]


def test_jitter_spreads_the_waits_of_clients_that_failed_together() -> None:
    waits = {backoff.delay(4, base=1.0, cap=300.0, rng=random.Random(seed)) for seed in range(50)}
    assert len(waits) == 50 and min(waits) < 4.0 < max(waits)
