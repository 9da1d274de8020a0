"""The packaged form specs, parsed once per package version rather than at every start.

Parsing the seven packaged TOML specs costs ~20 ms, at every config load, so at every
command; unpickling them costs ~2 ms. The cache lives in the storage folder (only if it
exists: loading a config creates nothing), named by a digest of the spec files' and
parsers/specs.py's names, sizes and mtimes and of the Python version, so an upgrade or an
edited spec is parsed afresh. A pickle there is trusted as the database beside it is: same
owner, mode 0600 in a 0700 folder; whoever can write it can already change the records.
Any failure to read or write the cache falls back to parsing, silently: it is only time.
"""

from __future__ import annotations

import hashlib
import logging
import os
import pickle
import sys
import tempfile
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import parsers
from parsers import specs as specs_module

log = logging.getLogger(__name__)
PREFIX = "form-specs."


def builtin_specs(storage: Path) -> tuple[parsers.FormSpec, ...]:
    folder = resources.files("parsers") / "specs"
    if not isinstance(folder, Path) or not storage.is_dir():
        return parsers.builtin_specs()
    sources = [Path(specs_module.__file__), *sorted(folder.glob("*.toml"))]
    try:
        path = storage / f"{PREFIX}{key(sources)}.pickle"
    except OSError:
        return parsers.builtin_specs()
    cached = _read(path)
    if cached is not None:
        return cached
    parsed = parsers.builtin_specs()
    _write(path, parsed)
    return parsed


def key(sources: Sequence[Path]) -> str:
    """Changes with any source file's name, size or mtime, and with Python's version."""
    digest = hashlib.sha256(sys.version.encode())
    for source in sources:
        stat = source.stat()
        digest.update(f"\0{source.name}\0{stat.st_size}\0{stat.st_mtime_ns}".encode())
    return digest.hexdigest()[:32]


def _read(path: Path) -> tuple[parsers.FormSpec, ...] | None:
    try:
        value = pickle.loads(path.read_bytes())
    except FileNotFoundError:
        return None
    except Exception as exc:  # a damaged cache is parsed afresh
        log.debug("form spec cache %s unreadable (%s): parsing the specs", path, exc)
        return None
    if isinstance(value, tuple) and all(isinstance(s, parsers.FormSpec) for s in value):
        return value
    return None


def _write(path: Path, parsed: tuple[parsers.FormSpec, ...]) -> None:
    """Atomically (a reader sees the old file or the whole new one), then drops stale ones."""
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{PREFIX}", dir=path.parent)  # mode 0600
        try:
            with os.fdopen(fd, "wb") as out:
                pickle.dump(parsed, out, protocol=pickle.HIGHEST_PROTOCOL)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        for stale in path.parent.glob(f"{PREFIX}*.pickle"):
            if stale != path:
                stale.unlink(missing_ok=True)
    except OSError as exc:
        log.debug("form spec cache %s not written (%s)", path, exc)
