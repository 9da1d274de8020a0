"""Files per second for the form parsers, beside a lower bound measured in the same run.

The lower bound is what any reader of the file must do: unzip it and make one raw lxml
pass over its main XML parts (word/document.xml; the worksheets and shared strings).
The ratio parse / bound says how much our own work costs on top, per form shape (table
in Excel and Word, a report, a labelled M1). The goal is 10x at most. With --profile, the
functions where the parsers spend their time are listed.

    python bench/parse.py [--seconds 2] [--rows 40] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import io
import pstats
import sys
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import docx
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import parsers  # noqa: E402
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx  # noqa: E402

KINDS = ("tap-the", "ca-nhan")
FIELDS = ("xay-dung-dang", "kinh-te", "van-hoa-xa-hoi", "quoc-phong-an-ninh")


def entries(rows: int) -> list[SampleEntry]:
    return [
        SampleEntry(
            f"Tổ dân phố số {i}" if i % 2 == 0 else f"Nguyễn Văn Hùng {i}",
            KINDS[i % 2], FIELDS[i % 4], "xa", f"Mô hình dân vận khéo số {i} về an sinh xã hội",
        )
        for i in range(rows)
    ]  # fmt: skip


def m1_docx() -> bytes:
    """A labelled registration form (M1): numbered items, each a label and a value."""
    document = docx.Document()
    for line in (
        "HỘI NÔNG DÂN XÃ CAO XÁ", "BẢN ĐĂNG KÝ",
        "Xây dựng mô hình, điển hình “Dân vận khéo” năm 2024",
        "1. Tên mô hình đăng ký: Cánh đồng mẫu lớn", "2. Thuộc lĩnh vực: Kinh tế",
        "3. Đăng ký mô hình, điển hình ở cấp: Cấp huyện",
        "4. Nội dung thực hiện: Dồn điền đổi thửa", "5. Thời gian thực hiện: Năm 2024",
        "6. Địa chỉ, phạm vi thực hiện: Thôn Đồng Lạc", "7. Kết quả dự kiến: Năng suất tăng 10%",
    ):  # fmt: skip
        document.add_paragraph(line)
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def lower_bound(data: bytes) -> int:
    """Unzip, and parse the main parts with lxml: the least any reader must do."""
    count = 0
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for name in archive.namelist():
            if name == "word/document.xml" or (
                name.startswith("xl/") and ("worksheets/" in name or "sharedStrings" in name)
            ):
                count += len(etree.fromstring(archive.read(name)))
    return count


def rate(work: Callable[[], object], seconds: float) -> float:
    """Calls per second, over at least `seconds` (after one warm-up call)."""
    work()
    calls, started = 0, time.perf_counter()
    while (elapsed := time.perf_counter() - started) < seconds:
        work()
        calls += 1
    return calls / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=2.0, help="per measurement")
    parser.add_argument("--rows", type=int, default=40, help="entries per table form")
    parser.add_argument("--profile", action="store_true", help="where the time goes")
    args = parser.parse_args()
    sample = entries(args.rows)
    files = {
        "mau-01.xlsx": mau01_xlsx("Đảng ủy xã Mường So", sample),
        "mau-01.docx": mau01_docx("Đảng ủy xã Mường So", sample),
        "mau-02.docx": mau02_docx("Đảng ủy xã Mường So", [e.model for e in sample[:6]]),
        "M1.docx": m1_docx(),
    }
    specs = parsers.builtin_specs()
    print(
        f"{'file':14}{'KB':>6}{'parse/s':>10}{'bound/s':>10}{'ratio':>8}"
        "  form, entries (goal: ratio <= 10)"
    )
    for name, data in files.items():
        result = parsers.parse_file(name, data, specs)
        parsed = rate(lambda: parsers.parse_file(name, data, specs), args.seconds)  # noqa: B023
        bound = rate(lambda: lower_bound(data), args.seconds)  # noqa: B023
        print(
            f"{name:14}{len(data) / 1024:>6.0f}{parsed:>10.0f}{bound:>10.0f}"
            f"{bound / parsed:>8.1f}  {result.form}, {len(result.entries)}"
        )
    if args.profile:
        profile = cProfile.Profile()
        profile.enable()
        for name, data in files.items():
            for _ in range(20):
                parsers.parse_file(name, data, specs)
        profile.disable()
        pstats.Stats(profile).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    main()
