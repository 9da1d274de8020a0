"""mime.parse of a unit's mail (text and HTML body, one .xlsx form, a forwarded mail with
its own attachment), with each header value parsed once a message (the policy's `fetched`
cache) against parsing it at every read (policy.default), interleaved in one run.

Run by hand: python bench/mime_parse.py [--messages 300]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ingest import ENTRIES, mau01_xlsx, name  # noqa: E402

from mail_ingest import mime  # noqa: E402
from mail_ingest.mime_bounds import BoundedPolicy  # noqa: E402

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


class Uncached(BoundedPolicy):
    """The policy as it was: every read of a header parses its value again."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.pop("fetched", None)
        super().__init__(**kwargs)


def message(u: int) -> bytes:
    forwarded = EmailMessage()
    forwarded["From"], forwarded["Subject"] = f"vp{u}@example.vn", "Báo cáo tháng"
    forwarded.set_content("Gửi kèm báo cáo.")
    forwarded.add_attachment(b"%PDF-1.4 " * 200, maintype="application", subtype="pdf",
                             filename="Báo cáo tháng.pdf")  # fmt: skip
    msg = EmailMessage()
    msg["From"] = f"{name(u)} <u{u}@example.vn>"
    msg["To"], msg["Subject"] = "Ban Dân vận <bdv@example.vn>", f"Gửi biểu mẫu 01 ({u})"
    msg["Message-ID"], msg["Date"] = f"<{u}@example.vn>", "Mon, 22 Jan 2024 08:00:00 +0700"
    msg.set_content("Kính gửi Ban Dân vận. " * 20)
    msg.add_alternative("<p>" + "Kính gửi Ban Dân vận. " * 20 + "</p>", subtype="html")
    msg.add_attachment(mau01_xlsx(name(u), ENTRIES), maintype="application",
                       subtype=XLSX.split("/")[1], filename="Mẫu 01.xlsx")  # fmt: skip
    msg.add_attachment(forwarded)
    return msg.as_bytes()


def seconds(raws: list[bytes]) -> float:
    start = time.perf_counter()
    for raw in raws:
        mime.parse(raw)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    raws = [message(u) for u in range(args.messages)]
    cached: list[float] = []
    uncached: list[float] = []
    for _ in range(5):  # interleaved, so a busy moment hits both alike
        cached.append(seconds(raws))
        mime.BoundedPolicy = Uncached  # type: ignore[misc]
        try:
            uncached.append(seconds(raws))
        finally:
            mime.BoundedPolicy = BoundedPolicy  # type: ignore[misc]
    per = {k: statistics.median(v) / args.messages * 1000 for k, v in
           (("each header parsed once", cached), ("parsed at every read", uncached))}  # fmt: skip
    for label, ms in per.items():
        print(f"{label:>24}: {ms:.2f} ms a message")
    print(f"{'ratio':>24}: {per['parsed at every read'] / per['each header parsed once']:.2f} x")


if __name__ == "__main__":
    main()
