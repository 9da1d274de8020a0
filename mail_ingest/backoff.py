"""How long to wait before retrying: exponential with full jitter, capped.

One helper for every retry loop (the IMAP poll, the IDLE watcher, the outbox), so each
waits the same well-behaved way: the ceiling doubles per attempt up to `cap`, and the
wait is drawn uniformly below it, so many clients that failed together do not retry
together. The exponent is bounded, so no attempt count can overflow the arithmetic.
"""

from __future__ import annotations

import random

MAX_EXPONENT = 32  # 2**32 times any sensible base is far beyond any cap; floats stay finite


def ceiling(attempt: int, *, base: float, cap: float) -> float:
    """The longest wait before retry number `attempt` (0 for the first retry)."""
    return min(cap, base * 2 ** min(max(attempt, 0), MAX_EXPONENT))


def delay(
    attempt: int, *, base: float, cap: float, rng: random.Random, least: float = 0.0
) -> float:
    """A wait drawn uniformly between `least` (a fraction of the ceiling; 0: full jitter)
    and the ceiling for this attempt, in the units of `base` and `cap`."""
    top = ceiling(attempt, base=base, cap=cap)
    return rng.uniform(least * top, top)
