"""Whole-process start of `mail-ingest --help`, `health` and `poll` (nothing new) against
`python -c "import click"`, medians of 7 runs side by side, printed as ratios.

Run by hand: python bench/cli_start.py [--against REV]  (goal: each command within 0.3 s)

Bytecode is compiled once, into a temporary PYTHONPYCACHEPREFIX, and reused, as an
installed package's is (this machine sets PYTHONDONTWRITEBYTECODE, which would make every
run compile the project's sources: ~40 ms more; --no-bytecode measures that way).

--against REV also runs the same commands from REV's tree (`git archive`, in a temporary
folder), interleaved with this tree's, to show what a change gained on one busy machine.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from rich.console import Console

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mail_ingest import demo  # noqa: E402

RUNS = 7
COMMANDS = ("--help", "health", "poll")


def seconds(argv: list[str], cwd: Path, env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - start


def export(rev: str, into: Path) -> Path:
    """REV's tree as files (`python -m mail_ingest` run there imports that tree's code)."""
    archive = subprocess.run(
        ["git", "archive", "--format=tar", rev], cwd=ROOT, capture_output=True, check=True
    ).stdout
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--against", metavar="REV", help="also time this git revision")
    parser.add_argument(
        "--no-bytecode", action="store_true", help="compile the sources at every run"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env["PYTHONPYCACHEPREFIX"] = str(Path(tmp) / "pycache")
        if args.no_bytecode:
            env["PYTHONDONTWRITEBYTECODE"] = "1"
        config = demo.run(Path(tmp) / "demo", Console(file=io.StringIO())).config
        trees = {"": ROOT}
        if args.against:
            trees[f" ({args.against})"] = export(args.against, Path(tmp) / "against")
        cases: dict[str, tuple[list[str], Path]] = {
            "import click": ([sys.executable, "-c", "import click"], ROOT)
        }
        for label, tree in trees.items():
            cli = [sys.executable, "-m", "mail_ingest", "--config", str(config)]
            for command in COMMANDS:
                cases[f"{command}{label}"] = ([*cli, command], tree)
        for argv, cwd in cases.values():  # once unmeasured: caches, .pyc files
            seconds(argv, cwd, env)
        times: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(RUNS):  # interleaved, so a busy moment hits every case alike
            for name, (argv, cwd) in cases.items():
                times[name].append(seconds(argv, cwd, env))
    base = statistics.median(times["import click"])
    for name, runs in times.items():
        median = statistics.median(runs)
        print(f"{name:>24}: median {median:.3f} s, {median / base:.1f} x import click")


if __name__ == "__main__":
    main()
