"""Files a command keeps in the storage folder to save the next one time; never records.

A cache file is named PREFIX + key + SUFFIX, the key saying what it was computed from,
so a changed source is computed afresh and the file of the old key is dropped. Writes
are atomic (a reader sees the old file or the whole new one) and 0600; any failure to
read or write is only time lost, logged at debug level. A dry run may leave one behind:
it changes what a command costs, never what it says.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

log = logging.getLogger(__name__)


def read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except OSError:
        return None


def write(path: Path, data: bytes, prefix: str, suffix: str) -> None:
    """Keep `data` at `path`, then drop the other files named prefix*suffix beside it."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{prefix}", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for stale in path.parent.glob(f"{prefix}*{suffix}"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("cache %s not written (%s)", path, exc)
