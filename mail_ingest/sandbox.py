"""Run one parser call in a child process under a memory limit and a wall-clock timeout.

The parsers are bounded by their own checks (sizes, members, rows, merged ranges), but a
library can still be made to allocate gigabytes or loop on a file a stranger crafted, and
an OOM kill or an endless loop in the service process stops the whole poll. So each call
runs in a child forked from a small fork server: a single-threaded Python process started
once, with the parsers already imported, so a child costs a fork (milliseconds), not the
second an import of openpyxl and python-docx takes. The service itself has threads (IMAP
IDLE) and must not fork. The child runs under RLIMIT_AS and RLIMIT_CPU and is killed at
the timeout; its result comes back pickled. A child that runs out of memory, is killed or
dies becomes `Failed` for that call only, and the next call gets a fresh child.

(multiprocessing's "forkserver" does the same, but re-runs the main script in every
child, which a console script or a test runner does not survive.)
"""

from __future__ import annotations

import contextlib
import gc
import os
import pickle
import queue
import resource
import select
import signal
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from typing import IO, Any, TypeVar

T = TypeVar("T")

MEMORY_LIMIT = 1024**3  # a child's address space; forms parse in 200 MB, a 15 MB sheet in 256
TIMEOUT = 60.0  # seconds of wall-clock time; a form parses in well under one
PRELOAD = ("parsers.parse", "parsers.office", "parsers.xls", "parsers.bundle")
_HEADER = struct.Struct("!Q")
_REQUEST = struct.Struct("!Qd")  # memory, timeout


class Failed(Exception):
    """The child did not return a result: `why` is "memory", "timeout" or "crash"."""

    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(why, detail)
        self.why, self.detail = why, detail


def run(
    func: Callable[..., T],
    *args: Any,
    memory: int = MEMORY_LIMIT,
    timeout: float = TIMEOUT,
) -> T:
    """func(*args) in a limited child; raises Failed. func and args must pickle.

    Safe from several threads: up to WORKERS calls run at once, each through its own fork
    server (the second server starts only when two calls first overlap)."""
    request = _REQUEST.pack(memory, timeout) + pickle.dumps((func, args))
    slot = _free.get()  # the most recently used first: one caller keeps one server
    try:
        server = _servers[slot]
        if server is None or not server.alive():
            server = _servers[slot] = _Server()
        status, value = server.call(request, timeout)
    finally:
        _free.put(slot)
    if status == "ok":
        return value
    raise Failed(status, value)


class _Server:
    """The fork server, seen from the service: one request, one answer, in order."""

    def __init__(self) -> None:
        path = os.pathsep.join(p for p in sys.path if p)
        self.process = subprocess.Popen(
            [sys.executable, "-c", "from mail_ingest.sandbox import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": path},
        )

    def alive(self) -> bool:
        return self.process.poll() is None

    def call(self, request: bytes, timeout: float) -> tuple[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        try:
            _write(self.process.stdin, request)
            # The server answers within the timeout; the margin covers forking and pickling.
            ready, _, _ = select.select([self.process.stdout], [], [], timeout + 30)
            answer = _read(self.process.stdout) if ready else None
        except OSError:
            answer = None
        if answer is None:  # the server itself is stuck or gone: start a new one next time
            self.stop()
            return "crash", "the sandbox server stopped"
        result: tuple[str, Any] = pickle.loads(answer)
        return result

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        self.process.wait()


# Parsing is CPU-bound in the children: more of them than cores would only queue.
WORKERS = max(1, min(2, os.cpu_count() or 1))
_servers: list[_Server | None] = [None] * WORKERS
_free: queue.LifoQueue[int] = queue.LifoQueue()
for _slot in reversed(range(WORKERS)):
    _free.put(_slot)


# --- the fork server ---------------------------------------------------------------------


def serve() -> None:
    """The fork server's loop: read a request, answer it from a fresh child, until EOF."""
    for module in PRELOAD:
        __import__(module)
    _warm_up()
    gc.freeze()  # children share these pages: a collection would touch, so copy, them all
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints must not write into the answers
    while (request := _read(requests)) is not None:
        _write(answers, _answer(request))


def _warm_up() -> None:
    """Parse one form of each kind, so that what the libraries load on first use (specs,
    XML classes, regexes) is loaded once here and not again in every child."""
    import parsers
    from mail_ingest import samples

    entries = [samples.SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "Chè")]
    parsers.parse_file("a.xlsx", samples.mau01_xlsx("Đảng ủy xã A", entries))
    parsers.parse_file("a.docx", samples.mau01_docx("Đảng ủy xã A", entries))
    parsers.parse_file("a.docx", samples.mau02_docx("Đảng ủy xã A", ["Mô hình"]))


def _answer(request: bytes) -> bytes:
    memory, timeout = _REQUEST.unpack_from(request)
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child
        os.close(read_end)
        _child(request[_REQUEST.size :], memory, timeout, write_end)
    os.close(write_end)
    chunks, deadline = [], time.monotonic() + timeout
    with os.fdopen(read_end, "rb") as stream:
        while (left := deadline - time.monotonic()) > 0:
            if not select.select([stream], [], [], left)[0]:
                continue
            chunk = stream.read1(1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return pickle.dumps(("timeout", f"over {timeout:g} s"))
    _, status = os.waitpid(pid, 0)
    if os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0 and chunks:
        return b"".join(chunks)
    if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
        return pickle.dumps(("timeout", "over its CPU time"))
    return pickle.dumps(("crash", f"the child process died ({status})"))


def _child(request: bytes, memory: int, timeout: float, write_end: int) -> None:
    """Run the call under the limits, write the pickled outcome, and exit."""
    code = 0
    try:
        cpu = int(timeout) + 1
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        try:
            func, args = pickle.loads(request)
            outcome: tuple[str, Any] = ("ok", func(*args))
        except MemoryError:
            outcome = ("memory", f"over {memory // 2**20} MB")
        except Exception as exc:
            outcome = ("crash", f"{type(exc).__name__}: {exc}")
        try:
            payload = pickle.dumps(outcome)
        except MemoryError:
            payload = pickle.dumps(("memory", "the result did not fit"))
        with os.fdopen(write_end, "wb") as stream:
            stream.write(payload)
    except BaseException:
        code = 1
    finally:
        os._exit(code)


def _write(stream: IO[bytes], frame: bytes) -> None:
    stream.write(_HEADER.pack(len(frame)) + frame)
    stream.flush()


def _read(stream: IO[bytes]) -> bytes | None:
    header = stream.read(_HEADER.size)
    if len(header) < _HEADER.size:
        return None
    (size,) = _HEADER.unpack(header)
    frame = stream.read(size)
    return frame if len(frame) == size else None
