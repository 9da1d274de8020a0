"""Functions for the sandbox tests to run in a child: a module that imports next to nothing,
so that loading it in the child is instant."""

from __future__ import annotations

import os


def hog() -> int:
    """Asks for 4 GB, over any worker's address-space limit, and reaches it at once:
    bytes() maps zeroed pages without writing them (bytearray() would write each one,
    which on a busy machine outlasts the tests' two-second timeout)."""
    blocks = [bytes(64 * 2**20) for _ in range(64)]
    return len(blocks)


def spin() -> None:
    while True:
        pass


def die() -> None:
    os._exit(3)


def die_reading(raw: bytes, **shared: object) -> None:
    """What a message whose whole reading kills its worker does (sandboxed.read's place)."""
    os._exit(3)
