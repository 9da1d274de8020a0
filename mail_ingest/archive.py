"""Every raw message, kept on disk exactly as downloaded, named by its sha256.

Content addressing makes archiving idempotent (the same bytes land in the same file)
and lets anyone check a file against the store. Files are written to a temporary name
and renamed, so a crash never leaves a half-written message under a real name. Mail is
private: folders are 0700 and files 0600, whatever the umask.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

from mail_ingest.files import FILE_MODE, private_subdir


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        return Path(self._path(digest))

    def _path(self, digest: str) -> str:
        # Two levels of fan-out keep directories small for a mailbox of years. A str, not
        # a Path: Python 3.11's pathlib interns every part for good, so a Path per message
        # would grow the service's memory with every message it ever archived (the same
        # for the folders, in private_subdir).
        return os.path.join(self.root, digest[:2], digest[2:4], f"{digest}.eml")

    def put(self, raw: bytes, digest: str | None = None) -> str:
        """Store the bytes if they are not there yet; returns their sha256 (`digest`:
        already computed by the caller, who computed it from these bytes)."""
        digest = digest or sha256(raw)
        target = self._path(digest)
        if os.path.exists(target):
            return digest
        folder = private_subdir(self.root, digest[:2], digest[2:4])
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # mkstemp's 0600 today; say so
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()
