"""What hostile attachments cost now, and what the sandbox adds per file.

    python bench/hostile.py [--rtfs 300] [--files 20]

Prints seconds (wall) for: a 6 KB .xlsx with 20,000 merged ranges; one message of N tiny
.rtf files (LibreOffice is needed); and the per-file overhead of parsing in the sandbox
against parsing in-process, on a real mẫu 01 .xlsx.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

from test_hostile_files import merged_xlsx  # noqa: E402

import parsers  # noqa: E402
from mail_ingest import attachments, convert, sandbox  # noqa: E402
from mail_ingest.mime import Attachment  # noqa: E402
from mail_ingest.samples import SampleEntry, mau01_xlsx  # noqa: E402
from parsers import office  # noqa: E402

SPECS = parsers.builtin_specs()


def timed(label: str, func: object, *args: object) -> float:
    started = time.monotonic()
    func(*args)  # type: ignore[operator]
    seconds = time.monotonic() - started
    print(f"{label:<48} {seconds:8.3f} s")
    return seconds


def main() -> None:
    options = argparse.ArgumentParser()
    options.add_argument("--rtfs", type=int, default=300)
    options.add_argument("--files", type=int, default=20)
    args = options.parse_args()
    timed("20,000 merged ranges (office.read)", office.read, merged_xlsx(20_000))
    good = mau01_xlsx(
        "Đảng ủy xã A", [SampleEntry("Hợp tác xã chè", "tap-the", "kinh-te", "xa", "")]
    )
    sandbox.run(len, b"")  # start the fork server
    inside = timed(
        f"{args.files} x mẫu 01 in-process",
        lambda: [parsers.parse_file("a.xlsx", good, SPECS) for _ in range(args.files)],
    )
    boxed = timed(
        f"{args.files} x mẫu 01 in the sandbox",
        lambda: [sandbox.run(parsers.parse_file, "a.xlsx", good, SPECS) for _ in range(args.files)],
    )
    print(f"{'sandbox overhead per file':<48} {(boxed - inside) / args.files * 1000:8.1f} ms")
    if convert.program():
        rtfs = [Attachment(f"{i}.rtf", "", b"{\\rtf1 Bao cao %d}" % i) for i in range(args.rtfs)]
        timed(
            f"one message of {args.rtfs} tiny .rtf", attachments.read_attachments, rtfs, "", SPECS
        )


if __name__ == "__main__":
    main()
