"""The packaged form specs, parsed once per package version rather than at every start.

Parsing the seven packaged TOML specs costs ~20 ms, at every config load, so at every
command; unpickling them costs ~2 ms. The cache lives in the storage folder (only if it
exists: loading a config creates nothing), named by a digest of the spec files' and
parsers/specs.py's names, sizes and mtimes and of the Python version, so an upgrade or an
edited spec is parsed afresh. A pickle there is trusted as the database beside it is: same
owner, mode 0600 in a 0700 folder; whoever can write it can already change the records.
Any failure to read or write the cache falls back to parsing (mail_ingest.cache_files).
"""

from __future__ import annotations

import hashlib
import logging
import pickle
import sys
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import parsers
from mail_ingest import cache_files
from parsers import specs as specs_module

log = logging.getLogger(__name__)
PREFIX, SUFFIX = "form-specs.", ".pickle"


def builtin_specs(storage: Path) -> tuple[parsers.FormSpec, ...]:
    folder = resources.files("parsers") / "specs"
    if not isinstance(folder, Path) or not storage.is_dir():
        return parsers.builtin_specs()
    sources = [Path(specs_module.__file__), *sorted(folder.glob("*.toml"))]
    try:
        path = storage / f"{PREFIX}{key(sources)}{SUFFIX}"
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
    data = cache_files.read(path)
    if data is None:
        return None
    try:
        value = pickle.loads(data)
    except Exception as exc:  # a damaged cache is parsed afresh
        log.debug("form spec cache %s unreadable (%s): parsing the specs", path, exc)
        return None
    if isinstance(value, tuple) and all(isinstance(s, parsers.FormSpec) for s in value):
        return value
    return None


def _write(path: Path, parsed: tuple[parsers.FormSpec, ...]) -> None:
    data = pickle.dumps(parsed, protocol=pickle.HIGHEST_PROTOCOL)
    cache_files.write(path, data, PREFIX, SUFFIX)
