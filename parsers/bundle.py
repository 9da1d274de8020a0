"""Unpack what units attach as one file but is many: .zip archives and Outlook winmail.dat.

Pure: bytes in, the files inside out; the service reads each file as an attachment of its
own, named "hồ sơ.zip/Mẫu 01.xlsx". Archives from strangers are hostile until checked:
before anything is decompressed the announced sizes, ratios and member count are
checked against limits shared by all nesting levels, nesting stops at MAX_DEPTH, and
member names cannot climb out of the archive ("../", "/etc", "C:\\"): such a name keeps
only its last part. Names without the zip UTF-8 flag are CP437 by the spec, but Windows
in Vietnamese writes them in cp1258 and some tools write UTF-8 without saying so, so
the encoding is guessed from which one gives Vietnamese text.
"""

from __future__ import annotations

import io
import re
import unicodedata
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from parsers import tnef
from parsers.limits import MAX_FILE_BYTES
from parsers.model import ParsedFile, Problem

MAX_DEPTH = 2  # archive levels unpacked: a zip inside a zip, not a third
MAX_MEMBERS = 200  # files, across all levels
MAX_TOTAL_BYTES = 60 * 1024 * 1024  # unpacked, across all levels, as announced
# A form is already compressed (.docx/.xlsx/.pdf): a high ratio on a big member is a bomb.
MAX_RATIO, RATIO_FROM_BYTES = 100, 1024 * 1024
UTF8_FLAG, ENCRYPTED_FLAG = 0x800, 0x1
JUNK = re.compile(r"(^|/)(__MACOSX/|\._)|(^|/)(\.DS_Store|Thumbs\.db|desktop\.ini)$", re.I)
NAME_ENCODINGS = ("cp1258", "cp1252", "cp437")  # tried after strict UTF-8, in this order
VIETNAMESE = frozenset(
    "àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬÈÉẺẼẸÊỀẾỂỄỆÌÍỈĨỊÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢÙÚỦŨỤƯỪỨỬỮỰỲÝỶỸỴĐ"
)


@dataclass(frozen=True)
class Unpacked:
    """One file of an attachment: the attachment itself, or a file found inside it."""

    name: str  # "hồ sơ.zip/Mẫu 01.xlsx" for a member
    data: bytes
    record: ParsedFile | None = None  # for an archive: what to store for it; None: parse it


@dataclass
class _Budget:
    """What all levels of one attachment have unpacked so far."""

    members: int = 0
    size: int = 0


class _Refused(Exception):
    """The archive as a whole is not unpacked, for this reason."""

    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.code)
        self.problem = problem


@dataclass
class _Listing:
    files: list[tuple[str, bytes]] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)


def is_archive(filename: str, data: bytes) -> bool:
    """A .zip, or a winmail.dat by name or by its TNEF signature."""
    name = PurePosixPath(filename.replace("\\", "/")).name.lower()
    return name.endswith(".zip") or name == "winmail.dat" or tnef.is_tnef(data)


def expand(filename: str, data: bytes) -> tuple[Unpacked, ...]:
    """The attachment followed by every file inside it, depth first; never raises."""
    return tuple(_expand(filename, data, 0, _Budget()))


def summary(filename: str, data: bytes) -> ParsedFile:
    """What parse_file says of an archive alone: its problems, or what it holds."""
    found = expand(filename, data)
    record = found[0].record or ParsedFile(filename, None)
    if record.problems:
        return record
    names = ", ".join(f"'{u.name}'" for u in found[1:] if u.record is None)
    return ParsedFile(
        filename,
        None,
        problems=(
            Problem(
                "archive",
                f"Tệp nén '{filename}' gồm các tệp {names}; mỗi tệp được đọc như một tệp "
                "đính kèm riêng",
            ),
        ),
    )


def _expand(name: str, data: bytes, depth: int, budget: _Budget) -> Iterator[Unpacked]:
    if not is_archive(name, data):
        yield Unpacked(name, data)
        return
    if depth >= MAX_DEPTH:
        yield _refused(name, data, "nested-too-deep", _too_deep(name))
        return
    try:
        listing = _tnef(name, data) if _looks_tnef(name, data) else _zip(name, data, budget)
    except _Refused as refused:
        yield Unpacked(name, data, ParsedFile(name, None, problems=(refused.problem,)))
        return
    if not listing.files and not listing.problems:
        listing.problems.append(
            Problem("empty-archive", f"Tệp nén '{name}' không chứa tệp nào; đề nghị gửi lại")
        )
    yield Unpacked(name, data, ParsedFile(name, None, problems=tuple(listing.problems)))
    for member, content in listing.files:
        yield from _expand(f"{name}/{member}", content, depth + 1, budget)


def _refused(name: str, data: bytes, code: str, message: str) -> Unpacked:
    return Unpacked(name, data, ParsedFile(name, None, problems=(Problem(code, message),)))


def _looks_tnef(name: str, data: bytes) -> bool:
    return tnef.is_tnef(data) or not name.lower().endswith(".zip")


# --- zip ---------------------------------------------------------------------------------


def _zip(name: str, data: bytes, budget: _Budget) -> _Listing:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = [i for i in archive.infolist() if not i.is_dir()]
    except Exception as exc:  # BadZipFile, OSError, ValueError, EOFError, ... on junk
        raise _Refused(_corrupt(name)) from exc
    files = [(i, _member_name(i)) for i in infos]
    files = [(i, n) for i, n in files if not JUNK.search(n)]
    announced = sum(i.file_size for i, _ in files)
    if budget.members + len(files) > MAX_MEMBERS:
        raise _Refused(_suspicious(name, f"chứa hơn {MAX_MEMBERS} tệp"))
    if budget.size + announced > MAX_TOTAL_BYTES:
        raise _Refused(_suspicious(name, "dung lượng sau giải nén quá lớn"))
    if any(_bomb(i) for i, _ in files):
        raise _Refused(_suspicious(name, "tỷ lệ nén bất thường"))
    if files and all(i.flag_bits & ENCRYPTED_FLAG for i, _ in files):
        raise _Refused(_encrypted(name))
    budget.members += len(files)
    budget.size += announced
    listing, taken = _Listing(), set[str]()
    for info, member in files:
        member = _unique(member, taken)
        shown = f"{name}/{member}"
        if info.flag_bits & ENCRYPTED_FLAG:
            listing.problems.append(_encrypted(shown))
        elif info.file_size > MAX_FILE_BYTES:
            listing.problems.append(_member_too_large(shown, info.file_size))
        else:
            try:
                with archive.open(info) as stream:  # stops at the announced size, checks CRC
                    listing.files.append((member, stream.read(MAX_FILE_BYTES + 1)))
            except Exception:  # bad CRC, unsupported method (deflate64), truncated data
                listing.problems.append(_corrupt(shown))
    return listing


def _bomb(info: zipfile.ZipInfo) -> bool:
    return info.file_size > RATIO_FROM_BYTES and info.file_size > MAX_RATIO * max(
        info.compress_size, 1
    )


def _member_name(info: zipfile.ZipInfo) -> str:
    if info.flag_bits & UTF8_FLAG:
        return _safe_path(info.orig_filename)
    try:  # zipfile decoded the name as CP437: get the bytes back
        raw = info.orig_filename.encode("cp437")
    except UnicodeEncodeError:  # decoded some other way already
        return _safe_path(info.orig_filename)
    return _safe_path(decode_name(raw))


def decode_name(raw: bytes) -> str:
    """A zip member name without the UTF-8 flag, in the encoding that reads as Vietnamese."""
    try:
        return unicodedata.normalize("NFC", raw.decode("utf-8"))
    except UnicodeDecodeError:
        pass  # valid UTF-8 by accident is rare for non-ASCII names: strict UTF-8 wins

    def foreign(text: str) -> int:
        return sum(1 for c in text if not (c.isascii() and c.isprintable()) and c not in VIETNAMESE)

    decoded = [
        unicodedata.normalize("NFC", raw.decode(encoding, "replace")) for encoding in NAME_ENCODINGS
    ]
    return min(decoded, key=foreign)  # min keeps the first of equals: cp1258 first


def _safe_path(name: str) -> str:
    """A relative path inside the archive; a name that tries to escape keeps its base name."""
    name = re.sub(r"[\x00-\x1f\x7f]", "_", name).replace("\\", "/")
    parts = name.split("/")
    escapes = name.startswith("/") or ".." in parts or re.match(r"^[A-Za-z]:", name)
    kept = [p for p in parts if p not in ("", ".", "..")]
    if escapes:
        kept = kept[-1:]
        if kept and re.match(r"^[A-Za-z]:", kept[0]):
            kept = [kept[0][2:] or "tep"]
    return "/".join(kept) or "tep"


def _unique(name: str, taken: set[str]) -> str:
    """Flattened names can collide ("a/x.xlsx" and "../x.xlsx"): number the later ones."""
    candidate, n = name, 1
    while candidate.lower() in taken:
        n += 1
        path = PurePosixPath(name)
        candidate = str(path.with_name(f"{path.stem} ({n}){path.suffix}"))
    taken.add(candidate.lower())
    return candidate


# --- winmail.dat -------------------------------------------------------------------------

RESEND_PLAIN = (
    "đề nghị gửi lại thư với các tệp đính kèm, soạn ở định dạng HTML hoặc văn bản thường "
    "(không dùng định dạng Rich Text của Outlook)"
)


def _tnef(name: str, data: bytes) -> _Listing:
    try:
        found = tnef.files(data)
    except tnef.NotTnef as exc:
        raise _Refused(
            Problem(
                "tnef",
                f"Tệp '{name}' là tệp winmail.dat do Outlook tạo nhưng không đọc được; "
                + RESEND_PLAIN,
            )
        ) from exc
    if not found:
        raise _Refused(
            Problem(
                "tnef",
                f"Tệp '{name}' là tệp winmail.dat do Outlook tạo, không chứa tệp đính kèm "
                "nào đọc được; " + RESEND_PLAIN,
            )
        )
    listing, taken = _Listing(), set[str]()
    for f in found:
        shown = _unique(_safe_path(f.name), taken)
        if len(f.data) > MAX_FILE_BYTES:
            listing.problems.append(_member_too_large(f"{name}/{shown}", len(f.data)))
        else:
            listing.files.append((shown, f.data))
    return listing


# --- problems ----------------------------------------------------------------------------


def _corrupt(name: str) -> Problem:
    return Problem(
        "corrupt-file",
        f"Không giải nén được tệp '{name}': tệp nén bị hỏng; đề nghị nén lại và gửi lại",
    )


def _suspicious(name: str, why: str) -> Problem:
    return Problem(
        "suspicious-file",
        f"Không giải nén tệp '{name}': tệp nén bất thường ({why}); "
        "Ban Dân vận sẽ kiểm tra thủ công",
    )


def _encrypted(name: str) -> Problem:
    return Problem(
        "encrypted",
        f"Không giải nén được tệp '{name}' vì được đặt mật khẩu; "
        "đề nghị gửi lại tệp không đặt mật khẩu",
    )


def _member_too_large(name: str, size: int) -> Problem:
    return Problem(
        "too-large",
        f"Tệp '{name}' có dung lượng {size / 2**20:.1f} MB, vượt mức "
        f"{MAX_FILE_BYTES // 2**20} MB hệ thống tự đọc; Ban Dân vận sẽ xem thủ công",
    )


def _too_deep(name: str) -> str:
    return (
        f"Tệp nén '{name}' nằm trong quá nhiều lớp tệp nén; hệ thống không giải nén tiếp, "
        "Ban Dân vận sẽ xem trực tiếp. Đề nghị gửi trực tiếp các tệp, không nén lồng nhau"
    )
