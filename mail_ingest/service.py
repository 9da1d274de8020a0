"""The running service's claim on a store: one `mail-ingest run` per store, and no manual
`poll`, `remind` or `report` beside it (it polls and sends by itself; a second sender
would answer the same mail or send the same reminder twice while keys are being written).

An advisory lock on `<storage>/mail-ingest.service.lock` held for the life of `run`: the
kernel releases it when the process dies, so a crash never leaves a stale claim.
"""

from __future__ import annotations

import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager

from mail_ingest.config import Config
from mail_ingest.errors import LockedError
from mail_ingest.files import private_dir, private_file


@contextmanager
def claim(config: Config) -> Iterator[None]:
    """Held while the service runs; LockedError if it already runs on this store."""
    path = private_dir(config.storage) / "mail-ingest.service.lock"
    with open(private_file(path), "a+", encoding="ascii") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            pid = handle.read(20).strip() or "?"
            raise LockedError(
                f"the service (mail-ingest run, pid {pid}) is running on {config.storage}; "
                "it polls and sends by itself. Stop it first (systemctl stop mail-ingest), "
                "or look without acting (--dry-run, status, outbox)"
            ) from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield


def refuse_beside_service(config: Config) -> None:
    """For a manual command that acts: LockedError while the service runs."""
    with claim(config):
        pass
