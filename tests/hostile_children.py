"""Functions for the sandbox tests to run in a child: a module that imports next to nothing,
so that loading it in the child is instant."""

from __future__ import annotations

import os


def hog() -> int:
    blocks = [bytearray(64 * 2**20) for _ in range(64)]  # 4 GB
    return len(blocks)


def spin() -> None:
    while True:
        pass


def die() -> None:
    os._exit(3)


def die_reading(raw: bytes, **shared: object) -> None:
    """What a message whose whole reading kills its worker does (sandboxed.read's place)."""
    os._exit(3)
