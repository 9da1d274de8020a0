"""What the board's own mail server said about a message's sender (RFC 8601).

The receiving server checks SPF, DKIM and DMARC and prepends an `Authentication-Results`
header naming itself (its authserv-id, e.g. "mx.google.com"). Anyone can write such a
header into a message too, so only the board's server's headers count, and only the
topmost of them: those from the first one with that authserv-id down to the next
`Received` header (Gmail writes one below its own Received line; Postfix milters write
several above Postfix's). A forged one further down changes nothing.

A failed DMARC, a Microsoft composite authentication failure, or SPF failing without a
valid DKIM signature means the From address may be forged: the mail is held for a
person, even from a unit's own address. A pass proves nothing more than before: the
address is as trustworthy as the board's mail server's checks.

Pure: header bytes and values in, a reason or None out. No library fits: `authres` on
PyPI (last release 2019) rejects Microsoft 365's header, which carries no authserv-id.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# Microsoft 365 (Exchange Online) writes its header without an authserv-id; a board on
# it sets `[mailbox].authserv_id = "none"` to read it.
NO_AUTHSERV_ID = "none"
MAX_HEADER_BYTES = 256 * 1024  # of the header block read; the rest is never looked at
MAX_FIELDS = 1000
SPF_FAILING = ("fail", "softfail", "permerror")
_METHODS = {"spf", "dkim", "dmarc", "arc", "compauth", "iprev", "auth", "bimi", "sender-id"}
_RESULT = re.compile(r"([A-Za-z][A-Za-z0-9_-]*)(?:\s*/\s*\d+)?\s*=\s*([A-Za-z0-9_-]+)")


@dataclass(frozen=True)
class Result:
    method: str  # lowercased: spf, dkim, dmarc, compauth, ...
    result: str  # lowercased: pass, fail, softfail, none, ...


@dataclass(frozen=True)
class AuthResults:
    authserv_id: str  # lowercased; "" when the header names none (Microsoft 365)
    results: tuple[Result, ...]


def header_fields(raw: bytes) -> list[tuple[str, str]]:
    """(lowercased name, unfolded value) of each header field, top first, bounded.

    Read from the bytes, not through `email`: order and repetition matter here, and a
    hostile header block must cost no more than its first MAX_HEADER_BYTES.
    """
    head = raw[:MAX_HEADER_BYTES]
    end = re.search(rb"\r?\n\r?\n", head)
    text = head[: end.start() if end else len(head)].decode("latin-1")
    fields: list[tuple[str, str]] = []
    for line in re.split(r"\r?\n", text):
        if line[:1] in (" ", "\t") and fields:
            name, value = fields[-1]
            fields[-1] = (name, f"{value} {line.strip()}")
        elif ":" in line:
            if len(fields) >= MAX_FIELDS:
                break
            name, _, value = line.partition(":")
            fields.append((name.strip().lower(), value.strip()))
    return fields


def parse(value: str) -> AuthResults:
    """One header's value; tolerant of missing authserv-id and missing semicolons."""
    clauses = [c.strip() for c in _split(_uncomment(value)) if c.strip()]
    if not clauses:
        return AuthResults("", ())
    authserv_id = ""
    if not _RESULT.match(clauses[0]):  # "mx.google.com" or "example.org 1" (a version)
        authserv_id = clauses.pop(0).split()[0].lower() if clauses[0].split() else ""
    results = []
    for clause in clauses:
        for i, token in enumerate(clause.split()):
            found = _RESULT.fullmatch(token) or (_RESULT.match(clause) if i == 0 else None)
            if found is None:
                continue
            method = found.group(1).lower()
            if i == 0 or method in _METHODS:  # later tokens are properties (header.d=...)
                results.append(Result(method, found.group(2).lower()))
    return AuthResults(authserv_id, tuple(results))


def trusted(fields: Sequence[tuple[str, str]], authserv_id: str) -> list[AuthResults]:
    """The board's server's own headers: the topmost group with its authserv-id."""
    wanted = "" if authserv_id.lower() == NO_AUTHSERV_ID else authserv_id.lower()
    group: list[AuthResults] = []
    for name, value in fields:
        if name == "received" and group:
            break  # below the board's server's own trace: the sender's side
        if name != "authentication-results":
            continue
        parsed = parse(value)
        if parsed.authserv_id == wanted:
            group.append(parsed)
    return group


def review_reason(fields: Sequence[tuple[str, str]], authserv_id: str | None) -> str | None:
    """Why a person must look at this mail (in Vietnamese), or None: nothing failed."""
    if not authserv_id:
        return None
    return verdict(r for header in trusted(fields, authserv_id) for r in header.results)


def verdict(results: Iterable[Result]) -> str | None:
    found: dict[str, set[str]] = {}
    for r in results:
        found.setdefault(r.method, set()).add(r.result)
    checks = []
    if "fail" in found.get("dmarc", ()):
        checks.append("DMARC (dmarc=fail)")
    if "fail" in found.get("compauth", ()):
        checks.append("xác thực tổng hợp của Microsoft (compauth=fail)")
    spf = sorted(set(SPF_FAILING) & found.get("spf", set()))
    if spf and "pass" not in found.get("dkim", ()):
        checks.append(f"SPF (spf={spf[0]}) và không có chữ ký DKIM hợp lệ")
    if not checks:
        return None
    return (
        f"máy chủ thư của Ban báo thư không qua kiểm tra {'; '.join(checks)}: "
        "địa chỉ người gửi có thể bị giả mạo"
    )


def _uncomment(value: str) -> str:
    """Drop (comments), nested or not, outside quoted strings; keep quoted text."""
    out: list[str] = []
    depth, quoted, escaped = 0, False, False
    for c in value:
        if escaped:
            escaped = False
            if depth == 0:
                out.append(c)
            continue
        if c == "\\":
            escaped = True
            if depth == 0:
                out.append(c)
        elif quoted:
            quoted = c != '"'
            out.append(c)
        elif c == "(":
            depth += 1
        elif c == ")" and depth:
            depth -= 1
        elif depth == 0:
            quoted = c == '"'
            out.append(c)
    return "".join(out)


def _split(value: str) -> list[str]:
    """Split on semicolons outside quoted strings."""
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for c in value:
        if c == '"':
            quoted = not quoted
        if c == ";" and not quoted:
            parts.append("".join(current))
            current = []
        else:
            current.append(c)
    parts.append("".join(current))
    return parts
