"""The sandbox: up to WORKERS parses at once, a message's files in order, and workers that
keep what they built between calls until they fail, age or grow."""

from __future__ import annotations

import contextlib
import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import hostile_children
import pool_children
import pytest

from mail_ingest import attachments, samples, sandbox
from mail_ingest.mime import Attachment
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx
from parsers import builtin_specs, parse_file

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.skipif(sandbox.WORKERS < 2, reason="one core: one parse at a time")
def test_calls_from_two_threads_run_side_by_side(tmp_path: Path) -> None:
    a, b = str(tmp_path / "a"), str(tmp_path / "b")
    with ThreadPoolExecutor(2) as threads:
        first = threads.submit(sandbox.run, pool_children.meet, a, b, 15.0)
        second = threads.submit(sandbox.run, pool_children.meet, b, a, 15.0)
        assert first.result() and second.result()  # each saw the other while it ran
    assert sandbox.run(len, b"abc") == 3


def test_a_messages_files_keep_their_order_when_parsed_side_by_side() -> None:
    entries = [SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "Chè sạch")]
    files = [
        Attachment("Mau 02.docx", DOCX, mau02_docx("Đảng ủy xã A", ["Chè sạch"])),
        Attachment("Mau 01.xlsx", XLSX, mau01_xlsx("Đảng ủy xã A", entries)),
        Attachment("ghi chu.txt", "text/plain", "Kính gửi Ban".encode()),
        Attachment("Mau 02 (2).docx", DOCX, mau02_docx("Đảng ủy xã A", ["Chè sạch"])),
    ]
    rows = attachments.read_attachments(files, "Gửi biểu mẫu", builtin_specs())
    assert [r.filename for r in rows] == [f.filename for f in files]
    assert [r.parsed.form for r in rows] == ["mau-02", "mau-01", None, "mau-02"]
    assert [r.parsed.filename for r in rows] == [f.filename for f in files]


def test_servers_warm_up_on_the_samples_forms_without_python_docx() -> None:
    """A server parses one form of each kind as it starts, from files (so it loads neither
    python-docx nor openpyxl's writer to make them): they are the samples' forms, and read
    as the samples do. After changing samples.py, write warm_up_forms() out again."""
    shipped = {form.name: form.read_bytes() for form in sandbox.WARM_UP.iterdir()}
    made = samples.warm_up_forms()
    assert shipped.keys() == made.keys()
    for name, data in made.items():
        ours, theirs = parse_file(name, shipped[name]), parse_file(name, data)
        assert ours.form == name.split(".")[0] and not ours.problems
        assert (ours.fields, ours.entries) == (theirs.fields, theirs.entries)
        assert theirs.form == ours.form
    assert sandbox.run(pool_children.loaded, "docx") == []


def test_a_worker_answers_call_after_call_and_keeps_the_shared_arguments() -> None:
    specs = builtin_specs()
    sandbox.run(pool_children.same_as_last, shared={"value": specs})
    assert sandbox.run(os.getpid) == sandbox.run(os.getpid)
    # The same specs again: the worker hands over the objects it unpickled before (what
    # the parsers indexed for them stays valid); other specs are unpickled afresh.
    assert sandbox.run(pool_children.same_as_last, shared={"value": specs})
    assert sandbox.run(pool_children.same_as_last, shared={"value": specs})
    assert not sandbox.run(pool_children.same_as_last, shared={"value": specs[:1]})


@pytest.mark.parametrize(
    ("func", "why"),
    [
        (hostile_children.die, "crash"),
        (pool_children.fail, "crash"),
        (hostile_children.hog, "memory"),
        (hostile_children.spin, "timeout"),
    ],
)
def test_a_worker_is_replaced_after_any_failure(func: object, why: str) -> None:
    before = sandbox.run(os.getpid)
    with pytest.raises(sandbox.Failed) as failed:
        sandbox.run(func, memory=2**30, timeout=2)  # type: ignore[arg-type]
    assert failed.value.why == why
    assert sandbox.run(os.getpid) != before


def test_a_worker_retires_after_max_calls() -> None:
    with pytest.raises(sandbox.Failed):
        sandbox.run(hostile_children.die)  # the next call starts a fresh worker
    pids = [sandbox.run(os.getpid) for _ in range(sandbox.MAX_CALLS + 1)]
    assert len(set(pids[:-1])) == 1 and pids[-1] != pids[0]


def test_a_worker_that_grew_past_its_limit_is_replaced_after_its_call() -> None:
    grown = sandbox.run(pool_children.grow, sandbox.RETIRE_RSS // 2**20 + 64)
    assert sandbox.run(os.getpid) != grown
    assert sandbox.run(os.getpid) == sandbox.run(os.getpid)  # a small one stays


def test_a_worker_killed_while_idle_costs_the_next_call_nothing() -> None:
    idle = sandbox.run(os.getpid)
    os.kill(idle, signal.SIGKILL)  # as the kernel's OOM killer would, between two files
    _dead(idle)
    assert sandbox.run(os.getpid) != idle  # answered by a fresh worker, not a crash


def _dead(pid: int) -> None:
    """Wait until the kernel has ended `pid` (a zombie until its fork server reaps it)."""
    status = Path(f"/proc/{pid}/status")
    for _ in range(500):
        with contextlib.suppress(FileNotFoundError):
            if "State:\tZ" not in status.read_text():
                time.sleep(0.01)
                continue
        return
    raise AssertionError(f"process {pid} still runs")


def test_shutdown_ends_servers_and_workers_and_a_later_call_starts_them_again() -> None:
    worker = sandbox.run(os.getpid)
    servers = [s.process for s in sandbox._servers if s is not None]
    sandbox.shutdown()
    assert all(p.returncode == 0 for p in servers)  # ended of their own accord, reaped
    assert not Path(f"/proc/{worker}").exists()  # its worker reaped before the server ended
    assert sandbox.run(len, b"abc") == 3


def test_the_same_shared_arguments_are_pickled_once_and_other_ones_afresh() -> None:
    specs = builtin_specs()
    first = sandbox._pickled({"value": specs})
    assert sandbox._pickled({"value": specs}) is first  # the same objects: the same bytes
    assert sandbox._pickled({"value": specs[:1]}) != first


@pytest.mark.parametrize("size", [0, sandbox.PIPE_BYTES - 9, sandbox.PIPE_BYTES, 5 * 2**20 + 1])
def test_requests_and_answers_of_any_size_pass_whole(size: int) -> None:
    data = os.urandom(size)
    assert sandbox.run(bytes, data) == data  # in and out, over and under the pipes' size
