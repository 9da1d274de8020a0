"""Every raw message, kept on disk exactly as downloaded, named by its sha256.

Content addressing makes archiving idempotent (the same bytes land in the same file)
and lets anyone check a file against the store. Files are written to a temporary name
and renamed, so a crash never leaves a half-written message under a real name. Mail is
private: folders are 0700 and files 0600, whatever the umask.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from mail_ingest.files import FILE_MODE, private_dir


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Archive:
    def __init__(self, root: Path) -> None:
        self.root = root

    def path(self, digest: str) -> Path:
        # Two levels of fan-out keep directories small for a mailbox of years.
        return self.root / digest[:2] / digest[2:4] / f"{digest}.eml"

    def put(self, raw: bytes) -> str:
        """Store the bytes if they are not there yet; returns their sha256."""
        digest = sha256(raw)
        target = self.path(digest)
        if target.exists():
            return digest
        private_dir(target.parent)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)  # mkstemp's 0600 today; say so
                handle.write(raw)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def get(self, digest: str) -> bytes:
        return self.path(digest).read_bytes()
