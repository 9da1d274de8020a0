"""Test-only children for tests/test_faults.py, killed or starved on purpose.

    python tests/fault_child.py send CONFIG ISO       # the scheduler's sending job at ISO
    python tests/fault_child.py hold DATABASE SECONDS # hold SQLite's write lock that long

`send` runs decisions.send_due, what `mail-ingest run` does at its reminder and report
times, with the instant given (the outbox holds what the test put there). `hold` is
another process with a real sqlite3 connection in BEGIN IMMEDIATE: it prints "held" once
it has the lock, so the test knows when to start.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    what = sys.argv[1]
    if what == "send":
        from mail_ingest import config, decisions

        report = decisions.send_due(
            config.load(Path(sys.argv[2])), datetime.fromisoformat(sys.argv[3]), kinds=()
        )
        print(report.sent, report.retrying, report.failed)
    elif what == "hold":
        db = sqlite3.connect(sys.argv[2], isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
        print("held", flush=True)
        time.sleep(float(sys.argv[3]))
        db.execute("COMMIT")
    else:
        raise SystemExit(f"unknown child {what!r}")


if __name__ == "__main__":
    main()
