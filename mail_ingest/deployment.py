"""One deployment's store and mailbox, opened from its config: the wiring every face shares."""

from __future__ import annotations

import errno
import sqlite3
from collections.abc import Collection, Mapping
from typing import TYPE_CHECKING

from mail_ingest.config import Config
from mail_ingest.errors import LockedError, StorageError
from mail_ingest.store import Store

if TYPE_CHECKING:
    from mail_ingest.mailbox import Source
    from mail_ingest.pipeline import PollResult, Progress


def open_store(config: Config) -> Store:
    return Store(config.storage / "mail-ingest.sqlite3")


def open_source(
    config: Config, learned: Mapping[str, str] | None = None, own: Collection[str] = ()
) -> Source:
    """The configured mailbox, connected lazily by the source itself."""
    from mail_ingest.pipeline import open_source as source

    return source(config, learned, own)


def poll_config(config: Config, progress: Progress | None = None) -> PollResult:
    """One cycle for a deployment: its store, its archive, its mailbox, under the store lock.

    A full disk or a store locked too long is one clear error line, not a traceback.
    """
    from mail_ingest.archive import Archive
    from mail_ingest.pipeline import poll
    from rules.units import UnitDirectory

    try:
        with open_store(config) as store, store.lock():
            learned = {a.address: a.unit_id for a in store.learned_addresses()}
            return poll(
                open_source(config, learned, store.own_message_ids()),
                store,
                Archive(config.storage / "archive"),
                UnitDirectory(config.units),
                config.forms,
                progress,
                config.matching,
                config.mailbox.authserv_id,
            )
    except sqlite3.OperationalError as exc:
        if "locked" in str(exc):
            raise LockedError(
                f"another process held the store's write lock too long ({exc}); "
                "nothing was recorded, the next poll carries on"
            ) from exc
        raise StorageError(f"cannot write the store under {config.storage}: {exc}") from exc
    except OSError as exc:
        if exc.errno not in _DISK_ERRORS:
            raise
        raise StorageError(f"cannot write under {config.storage}: {exc}") from exc


# What a full, read-only or failing disk raises (EFBIG: over RLIMIT_FSIZE or the file system's).
_DISK_ERRORS = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS, errno.EIO}
