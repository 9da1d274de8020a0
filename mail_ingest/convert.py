"""Convert old Office files (.doc, .xls, .rtf, .odt, .ods) to .docx/.xlsx with LibreOffice.

The parsers read only the Open XML formats; LibreOffice, when installed, turns the rest
into them. Each conversion runs in a fresh temporary directory with its own
`-env:UserInstallation` profile (two instances sharing a profile block each other), in
its own process group so a timeout kills soffice.bin too, and the output is checked to
exist, because soffice can exit 0 without writing anything. LibreOffice runs under an
address-space and a CPU-time limit: a 1 MB .odt can ask it for gigabytes. Nothing here
raises: a failure is None plus a reason for the log, and the caller falls back.
"""

from __future__ import annotations

import contextlib
import logging
import os
import resource
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePath

from parsers.limits import MAX_FILE_BYTES, OLE_MAGIC

log = logging.getLogger(__name__)

TIMEOUT = 60.0  # seconds; a normal form converts in 2 to 5
# Address space of LibreOffice's processes: an .ods of 800 bytes asks for 3 GB.
# the forms in tests convert down to a 500 MB limit and fail at 400 MB: twice that.
MEMORY_LIMIT = 1024**3
CPU_LIMIT = 60  # seconds of CPU, besides the wall-clock TIMEOUT
LIMITED = "LibreOffice stopped at its limits"
PROGRAMS = ("soffice", "libreoffice")
TARGET = {
    ".doc": "docx", ".rtf": "docx", ".odt": "docx",
    ".xls": "xlsx", ".xlsb": "xlsx", ".ods": "xlsx",
}  # fmt: skip
# What each kind of file starts with: other bytes under these names are left to the
# parsers, which say the file is not what its name claims.
MAGIC = {".doc": OLE_MAGIC, ".xls": OLE_MAGIC, ".rtf": b"{\\rtf", ".odt": b"PK", ".ods": b"PK"}


@dataclass(frozen=True)
class Converted:
    """The outcome of one conversion: the new file's bytes, or None and why not."""

    data: bytes | None
    filename: str  # the name the converted file goes by ("bao cao.docx")
    reason: str = ""
    limited: bool = False  # stopped by a limit (time, memory, CPU): not worth another try


def program() -> str | None:
    """The LibreOffice executable on PATH, if any."""
    return next((p for p in map(shutil.which, PROGRAMS) if p), None)


def target(filename: str, data: bytes) -> str | None:
    """ "docx" or "xlsx" when this file should be converted before parsing."""
    ext = PurePath(filename).suffix.lower()
    fmt = TARGET.get(ext)
    magic = MAGIC.get(ext, b"PK")
    return fmt if fmt is not None and data.startswith(magic) else None


def convert(
    filename: str,
    data: bytes,
    fmt: str,
    *,
    soffice: str | None = None,
    timeout: float | None = None,
    memory: int = MEMORY_LIMIT,
) -> Converted:
    """`data` converted to `fmt` ("docx" or "xlsx"); never raises. Default: TIMEOUT.

    `memory`: the address-space limit in bytes of LibreOffice's processes."""
    out_name = str(PurePath(filename).with_suffix(f".{fmt}"))
    soffice = soffice or program()
    if soffice is None:
        return Converted(None, out_name, "LibreOffice is not installed (no soffice on PATH)")
    try:
        ext = PurePath(filename).suffix.lower()
        wait = TIMEOUT if timeout is None else timeout
        converted, reason = _run(soffice, ext, data, fmt, wait, memory)
    except OSError as exc:  # cannot write the temp dir, cannot start the program
        return Converted(None, out_name, f"cannot run LibreOffice: {exc}")
    return Converted(converted, out_name, reason, reason.startswith(LIMITED))


def _run(
    soffice: str, ext: str, data: bytes, fmt: str, timeout: float, memory: int
) -> tuple[bytes | None, str]:
    with tempfile.TemporaryDirectory(prefix="mail-ingest-convert-") as tmp:
        root = Path(tmp)
        source = root / f"input{ext}"  # not the unit's name: it may hold anything
        source.write_bytes(data)
        command = [
            soffice,
            f"-env:UserInstallation={(root / 'profile').as_uri()}",
            "--headless", "--norestore", "--nologo", "--nodefault", "--nolockcheck",
            "--convert-to", fmt, "--outdir", str(root / "out"), str(source),
        ]  # fmt: skip
        process = subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, to kill soffice.bin with it
            env={**os.environ, "HOME": str(root)},  # nothing lands in the service's home
            preexec_fn=_limits(memory, max(1, min(CPU_LIMIT, int(timeout) + 1))),
        )
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            return None, f"{LIMITED}: did not finish within {timeout:g} s"
        finally:
            _kill(process)  # helpers it left behind
        result = root / "out" / f"input.{fmt}"
        last = output.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        if not result.is_file() or result.stat().st_size == 0:
            if _at_limit(process.returncode, output):
                return None, f"{LIMITED}: over {memory // 2**20} MB or {CPU_LIMIT} s of CPU"
            return None, f"no output (exit {process.returncode}): {last[0]}"
        if result.stat().st_size > MAX_FILE_BYTES:
            return None, f"output over {MAX_FILE_BYTES // 2**20} MB"
        return result.read_bytes(), ""


def _limits(memory: int, cpu: int) -> Callable[[], None]:
    """What the child sets before exec: limits its helpers inherit too."""

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
        resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 5))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))

    return apply


def _at_limit(returncode: int | None, output: bytes) -> bool:
    """Whether LibreOffice failed the way it does at RLIMIT_AS or RLIMIT_CPU: killed by a
    signal or aborted (the shell wrapper's 128+n), out of memory, or unable to store."""
    killed = returncode is not None and (returncode < 0 or returncode >= 128)
    return killed or any(sign in output for sign in (b"bad_alloc", b"impl_store"))


def _kill(process: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.communicate(timeout=5)
