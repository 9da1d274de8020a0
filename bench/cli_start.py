"""Whole-process start of `mail-ingest --help`, `health` and `poll` (nothing new) against
`python -c "import click"`, medians of 5 runs side by side, printed as ratios.

Run by hand: python bench/cli_start.py  (goal: each command within 0.3 s)
"""

from __future__ import annotations

import io
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mail_ingest import demo  # noqa: E402

RUNS = 5


def seconds(argv: list[str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=ROOT, capture_output=True, check=False)
    return time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        config = demo.run(Path(tmp) / "demo", Console(file=io.StringIO())).config
        cli = [sys.executable, "-m", "mail_ingest", "--config", str(config)]
        cases = {
            "import click": [sys.executable, "-c", "import click"],
            "--help": [*cli, "--help"],
            "health": [*cli, "health"],
            "poll": [*cli, "poll"],
        }
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):  # interleaved, so a busy moment hits every case alike
            for name, argv in cases.items():
                times[name].append(seconds(argv))
    base = statistics.median(times["import click"])
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name:>14}: median {median:.3f} s, {median / base:.1f} x import click")


if __name__ == "__main__":
    main()
