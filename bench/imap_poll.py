"""How much a poll downloads, how fast it goes and how its memory grows, on a real Dovecot.

A board's Gmail box is mostly unrelated mail. This fills a throwaway Dovecot with such a
mailbox (by default 2,000 messages: one in ten from a unit with a real mẫu 01 workbook,
the rest newsletters, some with large attachments from strangers) and polls it twice
side by side: header-first (what the service does) and downloading every message whole
(the naive baseline). It prints the ratios, and the memory peak after 10% of the
messages against the peak after all of them (flat memory means a ratio near 1).

    python bench/imap_poll.py [--messages 2000]

Needs /usr/sbin/dovecot (Debian package dovecot-imapd). Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
import tracemalloc
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from mail_ingest.archive import Archive  # noqa: E402
from mail_ingest.config import MailboxConfig  # noqa: E402
from mail_ingest.imap import ImapSource  # noqa: E402
from mail_ingest.pipeline import PollResult, poll, wanted  # noqa: E402
from mail_ingest.samples import SampleEntry, mau01_xlsx  # noqa: E402
from mail_ingest.store import Store  # noqa: E402
from rules.units import Unit, UnitDirectory  # noqa: E402

from conftest import make_message  # noqa: E402
from dovecot_server import DovecotServer, ImapAccount  # noqa: E402

ICT = timezone(timedelta(hours=7))
UNITS = UnitDirectory([Unit("xa-dao-san", "Đảng ủy xã Dào San", "xa", ("daosan@example.vn",))])
ENTRIES = [
    SampleEntry("HTX Chè Dào San", "tap-the", "kinh-te", "xa", "Trồng chè sạch"),
    SampleEntry("Lò Văn Páo", "ca-nhan", "van-hoa-xa-hoi", "xa", "Giữ gìn bản sắc"),
]


def mailbox(n: int) -> list[bytes]:
    """Distinct messages (each its own Message-ID), as a real mailbox holds."""
    form = [("Mau 01.xlsx", mau01_xlsx("Đảng ủy xã Dào San", ENTRIES))]
    brochure = [("brochure.pdf", os.urandom(300_000))]
    news = "Tin tức trong tuần. " * 400

    def one(i: int) -> bytes:
        if i % 10 == 0:
            return make_message("daosan@example.vn", f"Mẫu 01 xã Dào San ({i})", form)
        if i % 50 == 1:
            return make_message("quangcao@shop.example", f"Khuyến mãi {i}", brochure)
        return make_message("tin@baomoi.example", f"Bản tin số {i}", [], news)

    return [one(i) for i in range(n)]


def measure(
    account: ImapAccount, n: int, header_first: bool, traced: bool = False
) -> tuple[PollResult, float, float]:
    """(result, seconds, peak memory after all / after the first 10%, if traced)."""
    os.environ["BENCH_IMAP_PASSWORD"] = account.password
    box = MailboxConfig(
        kind="imap", host=account.host, port=account.port, security="none",
        username=account.username, password_env="BENCH_IMAP_PASSWORD",
    )  # fmt: skip
    source = ImapSource(box, wanted=wanted(UNITS) if header_first else None)
    peaks: dict[str, int] = {"early": 1, "end": 1}

    def progress(done: int, planned: int | None) -> None:
        if traced and done == n // 10:
            peaks["early"] = tracemalloc.get_traced_memory()[1]

    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "s.sqlite3") as store:
        if traced:
            tracemalloc.start()
        started = time.perf_counter()
        result = poll(source, store, Archive(Path(tmp) / "archive"), UNITS, (), progress)
        seconds = time.perf_counter() - started
        if traced:
            peaks["end"] = tracemalloc.get_traced_memory()[1]
            tracemalloc.stop()
    return result, seconds, peaks["end"] / peaks["early"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000)
    n = parser.parse_args().messages
    server = DovecotServer()
    server.add_user("bench", "bench-password")
    server.start()
    try:
        account = ImapAccount(server.host, server.port, "bench", "bench-password", server)
        raws = mailbox(n)
        account.fill(raws, datetime(2024, 1, 20, 9, 0, tzinfo=ICT))
        total = sum(map(len, raws))
        first, first_s, _ = measure(account, n, header_first=True)
        whole, whole_s, _ = measure(account, n, header_first=False)
        *_, first_mem = measure(account, n, header_first=True, traced=True)
        *_, whole_mem = measure(account, n, header_first=False, traced=True)
    finally:
        server.stop()
    print(f"mailbox: {n} messages, {total / 1e6:.1f} MB")
    print(f"{'':14}{'downloaded':>12}{'seconds':>9}{'msg/s':>8}{'memory end/10%':>16}")
    for name, result, seconds, memory in (
        ("header-first", first, first_s, first_mem),
        ("whole", whole, whole_s, whole_mem),
    ):
        print(
            f"{name:14}{result.downloaded / 1e6:>10.1f}MB{seconds:>9.1f}"
            f"{result.fetched / seconds:>8.0f}{memory:>16.2f}"
        )
    print(f"ratio header-first/whole: bytes {first.downloaded / whole.downloaded:.3f}, "
          f"time {first_s / whole_s:.2f}")  # fmt: skip
    print(f"outcomes header-first: {dict(first.outcomes)}")


if __name__ == "__main__":
    main()
