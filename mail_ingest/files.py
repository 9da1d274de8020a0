"""Files only the service's own user can read, whatever the process umask.

The store holds units' mail, names and addresses; reports hold who failed to report.
None of it is for the other users of a shared machine. `mail-ingest` sets a strict
umask at start, but the library is also used on its own (tests, scripts), so every
place that creates a file or folder asks for the mode itself.
"""

from __future__ import annotations

import os
from pathlib import Path

DIR_MODE = 0o700
FILE_MODE = 0o600


def private_dir(path: Path) -> Path:
    """Create `path` and any missing parents as 0700 folders; existing ones are left as
    they are (the board may have made them so on purpose)."""
    missing = []
    for folder in (path, *path.parents):
        if folder.exists():
            break
        missing.append(folder)
    for folder in reversed(missing):
        try:
            folder.mkdir(mode=DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        os.chmod(folder, DIR_MODE)  # mkdir's mode is filtered by the umask
    if not path.is_dir():
        path.mkdir()  # raises the proper error: a file is in the way
    return path


def private_subdir(root: Path, *names: str) -> str:
    """`root`/names... made as private_dir does, as a str: for per-message folders, which
    Python 3.11's pathlib would intern for the life of the service."""
    folder = os.path.join(root, *names)
    if os.path.isdir(folder):
        return folder
    private_dir(root)
    for depth in range(1, len(names) + 1):
        sub = os.path.join(root, *names[:depth])
        try:
            os.mkdir(sub, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(sub, DIR_MODE)
    return folder


def private_file(path: Path) -> Path:
    """Create `path` empty as 0600 if it does not exist, and make it 0600 if it does."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, FILE_MODE)
    try:
        os.fchmod(fd, FILE_MODE)
    finally:
        os.close(fd)
    return path


def write_private(path: Path, data: bytes) -> None:
    """Write `data` to `path` as a 0600 file (replacing what was there)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, FILE_MODE)
    with os.fdopen(fd, "wb") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        handle.write(data)
