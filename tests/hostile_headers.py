"""Hostile messages made by code, and a way to read one in a child under a memory limit.

Each builder returns raw bytes a stranger could send. `parse_limited` runs mime.parse in
a child process under RLIMIT_AS, so a regression (the quadratic header decoding that
grew to 23 GB) fails a test instead of the machine.
"""

from __future__ import annotations

import json
import resource
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GIB = 1024**3
_WORD = "=?utf-8?q?B=C3=A1o_c=C3=A1o_D=C3=A2n_v=E1=BA=ADn_kh=C3=A9o?="


def encoded_words(size: int) -> str:
    """About `size` characters of RFC 2047 encoded words, folded as mail clients fold."""
    count = size // (len(_WORD) + 3) + 1
    return "\r\n ".join([_WORD] * count)


def message(
    headers: str = "", body: str = "Kính gửi Ban.\r\n", *, subject: str = "Báo cáo"
) -> bytes:
    """A plain message with extra raw header lines (CRLF-terminated) before the body."""
    head = (
        "From: Stranger <stranger@example.com>\r\n"
        "To: bandanvan@example.vn\r\n"
        f"Subject: {subject}\r\n"
        "Date: Sat, 20 Jan 2024 08:00:00 +0700\r\n"
        "Message-ID: <hostile-1@example.com>\r\n"
        "MIME-Version: 1.0\r\n"
    )
    return (head + headers + "\r\n" + body).encode("utf-8")


def poison_subject(subject_bytes: int = 1024 * 1024, total: int = 2_300_000) -> bytes:
    """The reported poison: a 1 MB subject of encoded words in a 2.3 MB mail."""
    raw = message(subject=encoded_words(subject_bytes))
    padding = max(0, total - len(raw))
    line = "x" * 76 + "\r\n"
    return raw + (line * (padding // len(line))).encode()


def huge_from(size: int = 1024 * 1024) -> bytes:
    """A From whose display name is 1 MB of encoded words, with a unit's address first."""
    raw = message()
    name = encoded_words(size)
    return raw.replace(
        b"From: Stranger <stranger@example.com>",
        f"From: dangbo@example.vn, {name} <stranger@example.com>".encode(),
    )


def huge_filename(size: int = 1024 * 1024) -> bytes:
    """An attachment whose filename parameter is 1 MB of RFC 2231 continuations."""
    pieces = "".join(f";\r\n filename*{i}*=M%E1%BA%ABu_01" for i in range(size // 30))
    return message(
        'Content-Type: multipart/mixed; boundary="b"\r\n',
        "--b\r\nContent-Type: text/plain\r\n\r\nKính gửi\r\n"
        "--b\r\nContent-Type: application/octet-stream\r\n"
        f"Content-Disposition: attachment{pieces}\r\n"
        "Content-Transfer-Encoding: base64\r\n\r\nUEsDBA==\r\n--b--\r\n",
    )


def many_fields(count: int = 100_000) -> bytes:
    return message("".join(f"X-Field-{i}: {_WORD}\r\n" for i in range(count)))


def many_parts(count: int = 50_000) -> bytes:
    part = (
        "--b\r\nContent-Type: application/octet-stream\r\n"
        "Content-Disposition: attachment\r\n\r\nx\r\n"
    )
    return message('Content-Type: multipart/mixed; boundary="b"\r\n', part * count + "--b--\r\n")


def deep_nesting(levels: int = 5000) -> bytes:
    """Forwarded messages inside forwarded messages, `levels` deep."""
    inner = "From: a@example.com\r\nSubject: s\r\n\r\nhi\r\n"
    wrapper = "From: a@example.com\r\nSubject: s\r\nContent-Type: message/rfc822\r\n\r\n"
    return message("Content-Type: message/rfc822\r\n", wrapper * levels + inner)


def deep_multipart(levels: int = 200) -> bytes:
    """Multiparts inside multiparts, each with its own boundary."""
    body = "--b0\r\nContent-Type: text/plain\r\n\r\nx\r\n--b0--\r\n"
    for i in range(1, levels):
        body = (
            f'--b{i}\r\nContent-Type: multipart/mixed; boundary="b{i - 1}"\r\n\r\n'
            f"{body}--b{i}--\r\n"
        )
    return message(f'Content-Type: multipart/mixed; boundary="b{levels - 1}"\r\n', body)


_CHILD = """
import json, resource, sys, time
sys.path.insert(0, sys.argv[1])
from mail_ingest import mime
from mail_ingest.errors import MessageError
raw = open(sys.argv[2], "rb").read()
start = time.process_time()
try:
    mail = mime.parse(raw)
    out = {"subject": mail.subject, "sender": mail.sender, "sender_address": mail.sender_address,
           "message_id": mail.message_id, "attachments": [a.filename for a in mail.attachments],
           "notes": list(getattr(mail, "notes", ())),
           "structure_error": getattr(mail, "structure_error", None),
           "fields": len(mail.headers)}
except MessageError as exc:
    out = {"error": str(exc)}
out["cpu"] = time.process_time() - start
out["peak_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def parse_limited(raw: bytes, tmp: Path, limit: int = GIB, timeout: float = 120) -> dict:
    """mime.parse in a child under RLIMIT_AS; its result as a dict (raises if it died)."""
    path = tmp / "hostile.eml"
    path.write_bytes(raw)

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    done = subprocess.run(
        [sys.executable, "-c", _CHILD, str(ROOT), str(path)],
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=limit_memory,
    )
    if done.returncode != 0:
        raise AssertionError(f"parse died ({done.returncode}): {done.stderr[-2000:]}")
    result: dict = json.loads(done.stdout)
    return result
