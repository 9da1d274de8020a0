"""The packaged form specs are parsed once and kept in the storage folder: a config load
reads the cache when it is current, parses afresh when it is stale or damaged, and creates
nothing where there is no storage folder yet."""

from __future__ import annotations

import dataclasses
import os
import pickle
from pathlib import Path

import parsers
from mail_ingest import config
from mail_ingest.config import spec_cache

N = len(parsers.builtin_specs())
MINIMAL = '[mailbox]\nkind = "maildir"\npath = "mail"\n'


def _load(tmp_path: Path) -> config.Config:
    path = tmp_path / "mail-ingest.toml"
    path.write_text(MINIMAL, encoding="utf-8")
    return config.load(path)


def _caches(storage: Path) -> list[Path]:
    return sorted(storage.glob(f"{spec_cache.PREFIX}*.pickle"))


def test_no_storage_folder_no_cache(tmp_path: Path) -> None:
    c = _load(tmp_path)
    assert c.forms[: len(parsers.builtin_specs())] == parsers.builtin_specs()
    assert not (tmp_path / "data").exists()


def test_a_current_cache_is_read_instead_of_the_specs(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir(mode=0o700)
    first = _load(tmp_path)
    [cache] = _caches(tmp_path / "data")
    assert cache.stat().st_mode & 0o077 == 0
    assert pickle.loads(cache.read_bytes()) == parsers.builtin_specs() == first.forms[:N]
    # Proof that the next load reads the cache: a title changed in it is what it sees.
    marked = tuple(dataclasses.replace(s, title=f"cached {s.title}") for s in first.forms)
    cache.write_bytes(pickle.dumps(marked))
    assert all(s.title.startswith("cached ") for s in _load(tmp_path).forms)


def test_a_damaged_or_foreign_cache_is_parsed_afresh_and_replaced(tmp_path: Path) -> None:
    storage = tmp_path / "data"
    storage.mkdir(mode=0o700)
    _load(tmp_path)
    [cache] = _caches(storage)
    for junk in (b"", b"\x80\x05not a pickle", pickle.dumps(("not", "specs")), b"x" * 1000):
        cache.write_bytes(junk)
        assert _load(tmp_path).forms[:N] == parsers.builtin_specs()
        assert pickle.loads(cache.read_bytes()) == parsers.builtin_specs()


def test_a_stale_cache_is_dropped_when_the_specs_change(tmp_path: Path) -> None:
    storage = tmp_path / "data"
    storage.mkdir(mode=0o700)
    (storage / f"{spec_cache.PREFIX}0123456789abcdef.pickle").write_bytes(b"old")
    _load(tmp_path)
    assert len(_caches(storage)) == 1 and b"old" not in _caches(storage)[0].read_bytes()


def test_the_key_follows_each_source_file(tmp_path: Path) -> None:
    sources = [tmp_path / "a.toml", tmp_path / "b.toml"]
    for s in sources:
        s.write_text("id = 1\n")
    keys = {spec_cache.key(sources)}
    sources[1].write_text("id = 22\n")  # size
    keys.add(spec_cache.key(sources))
    stat = sources[0].stat()
    os.utime(sources[0], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1))  # mtime only
    keys.add(spec_cache.key(sources))
    sources[0].rename(tmp_path / "c.toml")  # name
    keys.add(spec_cache.key([tmp_path / "c.toml", sources[1]]))
    assert len(keys) == 4
    assert spec_cache.key([tmp_path / "c.toml", sources[1]]) in keys  # stable otherwise


def test_a_cache_that_cannot_be_read_or_written_only_costs_time(tmp_path: Path) -> None:
    storage = tmp_path / "data"
    storage.mkdir(mode=0o700)
    _load(tmp_path)
    [cache] = _caches(storage)
    cache.unlink()
    cache.mkdir()  # a folder where the cache goes: unreadable, and not replaceable
    assert _load(tmp_path).forms[:N] == parsers.builtin_specs()
    assert cache.is_dir() and not list(storage.glob(f".{spec_cache.PREFIX}*"))  # no leftovers
