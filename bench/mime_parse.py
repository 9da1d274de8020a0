"""mime.parse of a unit's mail (text and HTML body, one .xlsx form, a forwarded mail with
its own attachment) as it runs, against the email package as it was used before each of
the shortcuts, interleaved in one run:

- each header value parsed at every read (policy.default), not once a message;
- and Content-Type, -Disposition, -Transfer-Encoding parsed into their header classes
  even when written canonically (mime_bounds._Unparsed);
- and the stdlib's parser without mail_ingest.feedparser_fixes.

Run by hand: python bench/mime_parse.py [--messages 300]
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from collections.abc import Iterator
from email.message import EmailMessage
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "bench")]

from ingest import ENTRIES, mau01_xlsx, name  # noqa: E402

from mail_ingest import feedparser_fixes, mime, mime_bounds  # noqa: E402
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


@contextlib.contextmanager
def undone(shortcuts: int) -> Iterator[None]:
    """The first `shortcuts` of the three undone (0: the code as it runs)."""
    saved = mime.BoundedPolicy, mime_bounds._canonical
    if shortcuts >= 1:
        mime.BoundedPolicy = Uncached  # type: ignore[misc]
    if shortcuts >= 2:
        mime_bounds._canonical = lambda value: False
    try:
        with feedparser_fixes.shipped() if shortcuts >= 3 else contextlib.nullcontext():
            yield
    finally:
        mime.BoundedPolicy, mime_bounds._canonical = saved  # type: ignore[misc]


LABELS = (
    "as it runs",
    "each header parsed at every read",
    "and MIME fields into classes",
    "and the stdlib parser as shipped",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    raws = [message(u) for u in range(args.messages)]
    times: list[list[float]] = [[] for _ in LABELS]
    for _ in range(5):  # interleaved, so a busy moment hits all alike
        for shortcuts, taken in enumerate(times):
            with undone(shortcuts):
                taken.append(seconds(raws))
    per = [statistics.median(taken) / args.messages * 1000 for taken in times]
    for label, ms in zip(LABELS, per, strict=True):
        print(f"{label:>34}: {ms:.2f} ms a message ({ms / per[0]:.2f} x)")


if __name__ == "__main__":
    main()
