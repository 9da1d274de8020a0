"""A first poll of a generated Maildir, in-process: msg/s, or its cProfile.

Half the messages carry a Mẫu 01 .xlsx, half none. `--profile` prints the top of the
profile by tottime and by cumtime (what is not the parsers is the poll's own overhead).

    python bench/poll_profile.py [--units 30] [--messages 10] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import mailbox
import os
import pstats
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from ingest import ENTRIES, make_message, mau01_xlsx, name, write_config  # noqa: E402

from mail_ingest import config as config_module  # noqa: E402
from mail_ingest.deployment import poll_config  # noqa: E402


def build(root: Path, units: int, per_unit: int) -> Path:
    box = mailbox.Maildir(root / "mail", create=True)
    n = 0
    for u in range(units):
        for k in range(per_unit):
            sender = f"u{u}@example.vn"
            if k % 2:
                raw = make_message(sender, f"Báo cáo {u}-{k}", body="Kính gửi. " * 50)
            else:
                form = ("Mau 01.xlsx", mau01_xlsx(name(u), ENTRIES))
                raw = make_message(sender, f"Gửi biểu mẫu ({u}-{k})", [form])
            key = box.add(raw)
            os.utime(root / "mail" / "new" / key, (1_700_000_000 + n, 1_700_000_000 + n))
            n += 1
    return write_config(root, [f'[mailbox]\nkind = "maildir"\npath = "{root / "mail"}"'], units)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=30)
    parser.add_argument("--messages", type=int, default=10, help="per unit")
    parser.add_argument("--profile", action="store_true")
    a = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-poll-") as tmp:
        config = config_module.load(build(Path(tmp), a.units, a.messages))
        profile = cProfile.Profile() if a.profile else None
        started = time.perf_counter()
        if profile:
            profile.enable()
        result = poll_config(config)
        seconds = time.perf_counter() - started
        if profile:
            profile.disable()
            stats = pstats.Stats(profile)
            stats.sort_stats("tottime").print_stats(25)
            stats.sort_stats("cumtime").print_stats(40)
    print(f"{result.fetched} messages in {seconds:.2f} s: {result.fetched / seconds:.1f} msg/s")


if __name__ == "__main__":
    main()
