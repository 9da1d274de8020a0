"""How `status`, `remind --dry-run` and `report --dry-run --output` grow with the district.

For each size it builds a synthetic deployment: N units (four in five communes), one
requirement (mẫu 01 and 02, quotas, reminders), and a store filled through the store API
with `per_unit` messages a unit (most with a mẫu 01 of four entries, some a mẫu 02, some
from strangers held for review). Then it times each command as a whole process, the way
a board runs it, beside `python -c "import click"` (the floor of any Python CLI), and
prints the figures side by side with the growth against the smallest size and the goal
(≤ 0.5 / 0.5 / 1.5 s at 500 units × 5,000 messages), with the CPU time of each (what a
busy machine's wall time hides). `remind` runs on a day with no reminder due (it decides
only), `remind-day` on one where every incomplete unit is reminded (each mail rendered
and printed). With --profile it prints the top
of a cProfile of the slowest command at the largest size.

    python bench/scale.py [--units 80 500 2000] [--per-unit 10] [--runs 3] [--profile]

Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import hashlib
import io
import os
import pstats
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mail_ingest.store import MessageRecord, Store, StoredAttachment  # noqa: E402
from parsers.model import Entry, ParsedFile  # noqa: E402

ICT = timezone(timedelta(hours=7))
NOW = "2024-01-30T09:00:00"
REMINDER_DAY = "2024-01-29T09:00:00"  # -2 days from 31/01: the incomplete units are reminded
GOALS = {"status": 0.5, "remind": 0.5, "remind-day": 0.5, "report": 1.5}  # s at 500 units
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def config(root: Path, units: int) -> Path:
    text = [
        'timezone = "Asia/Ho_Chi_Minh"',
        f'[mailbox]\nkind = "maildir"\npath = "{root / "mail"}"',
        f'[storage]\npath = "{root / "data"}"',
        f'[smtp]\nkind = "file"\npath = "{root / "sent"}"\nsender = "Ban Dân vận <bdv@example.vn>"',
        '[report]\nrecipients = ["lanhdao@example.vn"]',
    ]
    for i in range(units):
        group = "xa" if i % 5 else "co-quan"
        text.append(
            f'[[units]]\nid = "u{i:04d}"\nname = "Đảng ủy xã Thử Nghiệm {i}"\n'
            f'group = "{group}"\nemails = ["u{i}@example.vn"]'
        )
    text.append(
        '[[requirements]]\nid = "dvk-2024"\ntitle = "Đăng ký thi đua “Dân vận khéo” năm 2024"\n'
        'forms = ["mau-01", "mau-02"]\nbefore = "2024-02-01"\nreminders = [-3, -2, 1]\n'
        "[requirements.rules]\nmin_collectives = { xa = 2, default = 1 }\n"
        "min_individuals = { xa = 2, default = 1 }"
    )
    path = root / "mail-ingest.toml"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    return path


def fill(root: Path, units: int, per_unit: int) -> int:
    entries = (
        Entry("Tổ dân phố số 3", "tap-the", "van-hoa-xa-hoi", "xa"),
        Entry("Hội Cựu chiến binh", "tap-the", "quoc-phong-an-ninh", "xa"),
        Entry("Nguyễn Văn Hùng", "ca-nhan", "kinh-te", "xa"),
        Entry("Lò Thị Hoa", "ca-nhan", "van-hoa-xa-hoi", "xa"),
    )
    start = datetime(2024, 1, 2, 8, tzinfo=ICT)
    n = 0
    with Store(root / "data" / "mail-ingest.sqlite3") as store:
        for u in range(units):
            for k in range(per_unit):
                n += 1
                digest = hashlib.sha256(f"{u}/{k}".encode()).hexdigest()
                files: tuple[StoredAttachment, ...] = ()
                unit: str | None
                outcome, unit = "submission", f"u{u:04d}"  # the unit: None when held
                if k % 4 == 3:
                    outcome, unit = "needs-review", None
                elif k % 3 == 0 and not (u % 7 == 0 and k % 2):  # a seventh lack mẫu 02
                    form = "mau-01" if k % 2 == 0 else "mau-02"
                    parsed = ParsedFile("Mau.xlsx", form, {"don_vi": f"Xã {u}"}, entries)
                    files = (StoredAttachment("Mau.xlsx", XLSX, 9000, digest, parsed),)
                record = MessageRecord(
                    sha256=digest, size=20_000, message_id=f"<{u}.{k}@example.vn>",
                    sender=f"u{u}@example.vn", subject=f"Gửi biểu mẫu {k}",
                    received_at=start + timedelta(minutes=n), unit_id=unit, outcome=outcome,
                    attachments=files, sender_address=f"u{u}@example.vn",
                    evidence="address" if unit else None,
                )  # fmt: skip
                store.record(record, "maildir:bench", 1, str(n))
    return n


# As installed, the sources are compiled once (pip writes the bytecode); this machine's
# PYTHONDONTWRITEBYTECODE would make every run compile them again. The first of the runs
# writes it (the medians leave that run out), outside the tree.
BYTECODE = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
BYTECODE["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "mail-ingest-bench-pycache")


def timed(args: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one whole process. The CPU time (user + system, from the
    kernel's account of the child) hardly moves when other work shares the cores; the
    wall time does."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    env = {**BYTECODE, "PYTHONPATH": str(ROOT)}
    subprocess.run(args, check=True, capture_output=True, env=env)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def medians(args: list[str], runs: int) -> tuple[float, float]:
    times = [timed(args) for _ in range(runs)]
    return statistics.median(t[0] for t in times), statistics.median(t[1] for t in times)


def commands(path: Path, root: Path) -> dict[str, list[str]]:
    cli = [sys.executable, "-m", "mail_ingest", "--config", str(path)]
    return {
        "status": [*cli, "status", "--format", "json", "--now", NOW],
        "remind": [*cli, "remind", "--dry-run", "--now", NOW],
        "remind-day": [*cli, "remind", "--dry-run", "--now", REMINDER_DAY],
        "report": [*cli, "report", "--dry-run", "--now", NOW, "--output", str(root / "r.xlsx")],
    }


def profile(args: list[str]) -> str:
    from mail_ingest.cli import cli

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # the mail printed: not the point
            cli.main(args[3:], standalone_mode=False)
    finally:
        profiler.disable()
    out = io.StringIO()
    pstats.Stats(profiler, stream=out).sort_stats("cumulative").print_stats(25)
    return out.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, nargs="+", default=[80, 500, 2000])
    parser.add_argument("--per-unit", type=int, default=10)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--profile", action="store_true")
    a = parser.parse_args()
    floor, floor_cpu = medians([sys.executable, "-c", "import click"], a.runs)
    print(f"floor: python -c 'import click' {floor:.2f} s, CPU {floor_cpu:.2f} s "
          f"(medians of {a.runs})")  # fmt: skip
    print(f"{'units':>6} {'messages':>9} {'command':>10} {'seconds':>8} {'cpu':>6} "
          f"{'x floor':>8} {'x smallest':>10} {'goal@500':>8}")  # fmt: skip
    first: dict[str, float] = {}
    slowest: tuple[float, list[str]] = (0.0, [])
    with tempfile.TemporaryDirectory(prefix="bench-scale-") as tmp:
        for units in a.units:
            root = Path(tmp) / str(units)
            root.mkdir()
            path = config(root, units)
            messages = fill(root, units, a.per_unit)
            for name, args in commands(path, root).items():
                seconds, cpu = medians(args, a.runs)
                first.setdefault(name, seconds)
                print(
                    f"{units:>6} {messages:>9} {name:>10} {seconds:>8.2f} {cpu:>6.2f} "
                    f"{seconds / floor:>8.1f} {seconds / first[name]:>10.2f} {GOALS[name]:>8.1f}"
                )
                if seconds >= slowest[0]:
                    slowest = (seconds, args)
        if a.profile and slowest[1]:
            print(f"\nprofile of the slowest ({' '.join(slowest[1][4:])}), top by cumulative:")
            print(profile(slowest[1]))


if __name__ == "__main__":
    main()
