"""Run parser calls in a child process under a memory limit and a wall-clock timeout.

The parsers are bounded by their own checks (sizes, members, rows, merged ranges), but a
library can still be made to allocate gigabytes or loop on a file a stranger crafted, and
an OOM kill or an endless loop in the service process stops the whole poll. So the calls
run in a worker forked from a small fork server: a single-threaded Python process started
once, with the parsers already imported and warmed, so a worker costs a fork
(milliseconds), not the half second its imports and warm-up take. The service
itself has threads (IMAP IDLE) and must not fork.

A worker answers call after call, so what the parsers build per form spec and cache per
word is built once, not at every file (a fresh child per call spent three quarters of its
time refilling them). It runs under RLIMIT_AS, gets RLIMIT_CPU afresh for each call and is
killed at the timeout; results come back pickled. A call that runs out of memory, times
out or crashes becomes `Failed` for that call only, and the worker is replaced: after any
failure, after MAX_CALLS calls, and once its peak memory passed RETIRE_RSS (what a large
file made the allocator keep). Its state is the parsers' caches, all bounded in size.

(multiprocessing's "forkserver" does the same, but re-runs the main script in every
child, which a console script or a test runner does not survive.)
"""

from __future__ import annotations

import contextlib
import fcntl
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
from collections.abc import Callable, Mapping
from importlib import resources
from typing import IO, Any, TypeVar

T = TypeVar("T")

MEMORY_LIMIT = 1024**3  # a worker's address space; forms parse in 200 MB, a 15 MB sheet in 256
TIMEOUT = 60.0  # seconds of wall-clock time; a form parses in well under one
MAX_CALLS = 200  # then a fresh worker: whatever one kept, it keeps for a while only
RETIRE_RSS = 384 * 2**20  # a worker that ever held this much is replaced after its call
PRELOAD = ("parsers.parse", "parsers.office", "parsers.xls", "mail_ingest.sandboxed")
_HEADER = struct.Struct("!Q")
_REQUEST = struct.Struct("!QdQ")  # memory, timeout, length of the shared part


class Failed(Exception):
    """The call did not return a result: `why` is "memory", "timeout" or "crash"."""

    def __init__(self, why: str, detail: str = "") -> None:
        super().__init__(why, detail)
        self.why, self.detail = why, detail


def run(
    func: Callable[..., T],
    *args: Any,
    shared: Mapping[str, Any] | None = None,
    memory: int = MEMORY_LIMIT,
    timeout: float = TIMEOUT,
) -> T:
    """func(*args, **shared) in a limited worker; raises Failed. All must pickle.

    `shared`: keyword arguments the same from call to call (the form specs, the board's
    lessons). A worker unpickles them once and passes the same objects while they stay
    equal, so what the parsers index per spec (by identity) is indexed once.

    Safe from several threads: up to WORKERS calls run at once, each through its own fork
    server (the second server starts only when two calls first overlap)."""
    common = _pickled(shared or {})
    request = _REQUEST.pack(memory, timeout, len(common)) + common + pickle.dumps((func, args))
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


# The last shared arguments pickled, with the values themselves (so their ids stay theirs):
# a poll sends the same specs with every file, pickled once rather than once a file.
_last_shared: tuple[tuple[tuple[str, int], ...], tuple[Any, ...], bytes] | None = None


def _pickled(shared: Mapping[str, Any]) -> bytes:
    """The shared arguments pickled; they must not change in place (the specs and lessons
    are frozen)."""
    global _last_shared
    key = tuple((name, id(value)) for name, value in shared.items())
    last = _last_shared
    if last is not None and last[0] == key:
        return last[2]
    data = pickle.dumps(dict(shared))
    _last_shared = (key, tuple(shared.values()), data)
    return data


def shutdown() -> None:
    """End the fork servers and their workers, and wait for them (their CPU time is then
    this process's children's): for a bench, or a test that counts processes."""
    for slot, server in enumerate(_servers):
        if server is not None:
            server.close()
            _servers[slot] = None


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
        assert self.process.stdin is not None and self.process.stdout is not None
        _widen(self.process.stdin.fileno())
        _widen(self.process.stdout.fileno())

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

    def close(self) -> None:
        """End of requests: the server ends its worker and exits (killed if it does not)."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.stop()


# Parsing is CPU-bound in the workers: more of them than cores would only queue.
WORKERS = max(1, min(2, os.cpu_count() or 1))
_servers: list[_Server | None] = [None] * WORKERS
_free: queue.LifoQueue[int] = queue.LifoQueue()
for _slot in reversed(range(WORKERS)):
    _free.put(_slot)


# --- the fork server ---------------------------------------------------------------------


def serve() -> None:
    """The fork server's loop: read a request, have a worker answer it, until EOF."""
    for module in PRELOAD:
        __import__(module)
    _warm_up()
    gc.freeze()  # workers share these pages: a collection would touch, so copy, them all
    requests = sys.stdin.buffer
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # a library that prints must not write into the answers
    worker: _Worker | None = None
    while (request := _read(requests)) is not None:
        memory, timeout, _ = _REQUEST.unpack_from(request)
        if worker is not None and (worker.memory != memory or not worker.alive()):
            worker.stop()  # another limit, or killed while idle (the kernel's OOM killer)
            worker = None
        if worker is None:
            worker = _Worker(memory, keep_closed=(requests.fileno(), answers.fileno()))
        answer, worker = worker.ask(request, timeout)
        _write(answers, answer)
    if worker is not None:
        worker.close()


def _warm_up() -> None:
    """Parse one form of each kind and a message, so that what the libraries load on first
    use (specs, XML classes, regexes) is loaded once here and not again in every worker.

    The forms are `samples.warm_up_forms()`, written out once into mail_ingest/warmup/
    (tests/test_sandbox_pool.py holds them to it): making them here would load python-docx
    and openpyxl's writer into every server, a quarter of its start, for nothing the workers
    use."""
    import parsers
    from mail_ingest import mime

    for sample in WARM_UP.iterdir():
        parsers.parse_file(sample.name, sample.read_bytes())
    mime.parse("From: Xã A <xa@example.vn>\nSubject: =?utf-8?q?M=E1=BA=ABu?=\n\n.".encode())


WARM_UP = resources.files("mail_ingest") / "warmup"


class _Worker:
    """A child of the fork server answering calls one after another, seen from the server."""

    def __init__(self, memory: int, keep_closed: tuple[int, ...]) -> None:
        self.memory = memory
        to_worker, requests = os.pipe()
        answers, from_worker = os.pipe()
        for fd in (requests, from_worker):
            _widen(fd)
        self.pid = os.fork()
        if self.pid == 0:
            for fd in (*keep_closed, requests, answers):
                os.close(fd)
            _work(to_worker, from_worker, memory)
        os.close(to_worker)
        os.close(from_worker)
        self.requests = os.fdopen(requests, "wb")
        self.answers = answers
        self.reaped = False

    def ask(self, request: bytes, timeout: float) -> tuple[bytes, _Worker | None]:
        """The pickled outcome, and the worker for the next call (None: fork a new one)."""
        try:
            _write(self.requests, request)
            frame = _receive(self.answers, time.monotonic() + timeout)
        except TimeoutError:
            self.stop()
            return pickle.dumps(("timeout", f"over {timeout:g} s")), None
        except OSError:  # it died before reading all of the request
            frame = None
        if frame is None:
            return pickle.dumps(self._death()), None
        if frame[:1] == b"R":  # it retires after this answer
            self.stop()
            return frame[1:], None
        return frame[1:], self

    def alive(self) -> bool:
        self.reaped = os.waitpid(self.pid, os.WNOHANG) != (0, 0)
        return not self.reaped

    def _death(self) -> tuple[str, str]:
        _, status = os.waitpid(self.pid, 0)
        self._close()
        if os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGXCPU:
            return "timeout", "over its CPU time"
        return "crash", f"the worker process died ({status})"

    def stop(self) -> None:
        if not self.reaped:  # else its pid may be another process's by now
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
            os.waitpid(self.pid, 0)
        self._close()

    def close(self) -> None:
        """No more requests: it reads the end of its input and exits."""
        self._close()
        if not self.reaped:
            os.waitpid(self.pid, 0)

    def _close(self) -> None:
        with contextlib.suppress(OSError):
            self.requests.close()
        os.close(self.answers)


def _work(requests_fd: int, answers_fd: int, memory: int) -> None:
    """The worker: answer requests until EOF, a failure, MAX_CALLS or RETIRE_RSS; exit."""
    code = 0
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        requests, answers = os.fdopen(requests_fd, "rb"), os.fdopen(answers_fd, "wb")
        shared = _Shared()
        for calls in range(1, MAX_CALLS + 1):
            request = _read(requests)
            if request is None:
                break
            outcome = _call(request, shared)
            retiring = outcome[0] != "ok" or calls == MAX_CALLS or _peak_rss() > RETIRE_RSS
            try:
                payload = pickle.dumps(outcome)
            except MemoryError:
                payload, retiring = pickle.dumps(("memory", "the result did not fit")), True
            _write(answers, (b"R" if retiring else b"K") + payload)
            if retiring:
                break
    except BaseException:
        code = 1
    finally:
        os._exit(code)


class _Shared:
    """The keyword arguments of recent calls, kept while later calls send the same."""

    KEPT = 4  # the poll's specs and lessons, and what a test or a bench sends between

    def __init__(self) -> None:
        self.values: dict[bytes, dict[str, Any]] = {}

    def get(self, pickled: bytes) -> dict[str, Any]:
        value = self.values.get(pickled)
        if value is None:
            if len(self.values) >= self.KEPT:
                self.values.clear()
            value = self.values[pickled] = pickle.loads(pickled)
        return value


def _call(request: bytes, shared: _Shared) -> tuple[str, Any]:
    memory, timeout, size = _REQUEST.unpack_from(request)
    _limit_cpu(timeout)
    common = request[_REQUEST.size : _REQUEST.size + size]
    try:
        func, args = pickle.loads(request[_REQUEST.size + size :])
        return "ok", func(*args, **shared.get(common))
    except MemoryError:
        return "memory", f"over {memory // 2**20} MB"
    except Exception as exc:
        return "crash", f"{type(exc).__name__}: {exc}"


def _limit_cpu(timeout: float) -> None:
    """This call may use `timeout` seconds of CPU more than the worker has used so far."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime + timeout) + 1
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _receive(fd: int, deadline: float) -> bytes | None:
    """One frame from a worker by `deadline` (TimeoutError), or None at end of file."""
    buffer, wanted = bytearray(), _HEADER.size
    while len(buffer) < wanted:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            raise TimeoutError
        chunk = os.read(fd, max(wanted - len(buffer), PIPE_BYTES))
        if not chunk:
            return None
        buffer += chunk
        if wanted == _HEADER.size and len(buffer) >= wanted:
            (size,) = _HEADER.unpack_from(buffer)
            wanted += size
    return bytes(buffer[_HEADER.size :])


PIPE_BYTES = 1 << 20  # a message and its forms' results pass in one write, not sixteen


def _widen(fd: int) -> None:
    """A pipe that holds a whole request or answer: the writer does not wait for the
    reader to drain it 64 KB at a time (two context switches a chunk on two cores)."""
    with contextlib.suppress(OSError, AttributeError):  # Linux only; a smaller limit is fine
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_BYTES)


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
