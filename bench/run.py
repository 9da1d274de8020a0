"""`mail-ingest run` for a while with mail arriving: memory and the delay to the acknowledgement.

Starts a throwaway Dovecot and an aiosmtpd sink, then runs `mail-ingest run` as a whole
process twice, with IMAP IDLE and without (the poll every `schedule.poll_minutes`, at
least 1 minute). During each run a unit's mail with a form is APPENDed every `--every`
seconds (each from a different unit: acknowledgements are at most one an hour per
address); the memory (PSS) of the service and its sandbox's processes is sampled every
`--sample` seconds once the first mail was acknowledged, and each mail's delay is the
time from its APPEND to its acknowledgement arriving at the sink. Prints both runs side
by side with the goals: memory flat (last third of the run against the first), delay
within the poll interval, about 1-2 s with IDLE.

    python bench/run.py [--minutes 3] [--every 5] [--sample 5]

Needs /usr/sbin/dovecot. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from email import message_from_bytes
from email.utils import getaddresses
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "bench")]

from aiosmtpd.controller import Controller  # noqa: E402
from aiosmtpd.smtp import Envelope  # noqa: E402
from ingest import ENTRIES, make_message, mau01_xlsx, name, write_config  # noqa: E402

from dovecot_server import DovecotServer, ImapAccount  # noqa: E402

UNITS = 400


class Sink:
    """Keeps when each acknowledgement arrived, by the unit's address it went to."""

    def __init__(self) -> None:
        self.arrived: dict[str, float] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server: object, session: object, envelope: Envelope) -> str:
        now = time.monotonic()
        mail = message_from_bytes(envelope.original_content or b"")
        with self.lock:
            for _, address in getaddresses(mail.get_all("To", [])):
                self.arrived.setdefault(address.lower(), now)
        return "250 OK"


def config(root: Path, account: ImapAccount, smtp_port: int, idle: bool) -> Path:
    sections = [
        f'[mailbox]\nkind = "imap"\nhost = "{account.host}"\nport = {account.port}\n'
        f'security = "none"\nusername = "{account.username}"\npassword_env = "BENCH_PASSWORD"\n'
        f"idle = {'true' if idle else 'false'}",
        f'[smtp]\nhost = "127.0.0.1"\nport = {smtp_port}\nsecurity = "none"\n'
        'sender = "Ban Dân vận <bandanvan@example.vn>"',
        '[report]\nrecipients = ["lanhdao@example.vn"]',
        '[schedule]\npoll_minutes = 1\nreminders_at = "08:00"\nreport_at = "17:00"',
    ]
    return write_config(root, sections, UNITS, before="2099-02-01")


def memory_mb(pid: int) -> float:
    """Proportional memory (PSS) of a process and all its descendants (the sandbox's fork
    servers and workers): pages a fork shares are counted once, where adding up their
    RSS would count them in every process."""
    total, pids = 0, [pid]
    while pids:
        p = pids.pop()
        try:
            rollup = Path(f"/proc/{p}/smaps_rollup").read_text()
            for task in Path(f"/proc/{p}/task").iterdir():  # any thread may start a child
                pids += map(int, (task / "children").read_text().split())
        except OSError:
            continue
        total += next(int(ln.split()[1]) for ln in rollup.splitlines() if ln.startswith("Pss:"))
    return total / 1024


def one_run(server: DovecotServer, idle: bool, a: argparse.Namespace) -> dict[str, object]:
    user = f"run{'idle' if idle else 'poll'}{os.getpid()}"
    server.add_user(user, "bench-password")
    account = ImapAccount(server.host, server.port, user, "bench-password", server)
    sink = Sink()
    with socket.socket() as probe:  # a free port (aiosmtpd cannot be asked for port 0)
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    sent: dict[str, float] = {}
    rss: list[float] = []
    with tempfile.TemporaryDirectory(prefix="bench-run-") as tmp:
        path = config(Path(tmp), account, controller.port, idle)
        # Bytecode compiled once, as installed (this machine sets PYTHONDONTWRITEBYTECODE).
        env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
        env.update(PYTHONPATH=str(ROOT), BENCH_PASSWORD=account.password)
        child = subprocess.Popen(
            [sys.executable, "-m", "mail_ingest", "--config", str(path), "run"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            time.sleep(3)  # started, first (empty) poll done
            end = time.monotonic() + a.minutes * 60
            next_mail = next_sample = time.monotonic()
            u = 0
            while time.monotonic() < end:
                now = time.monotonic()
                if now >= next_mail:
                    files = [("Mau 01.xlsx", mau01_xlsx(name(u), ENTRIES))]
                    raw = make_message(f"u{u}@example.vn", f"Gửi biểu mẫu {u}", files)
                    account.append(raw, datetime.now().astimezone())
                    sent[f"u{u}@example.vn"] = time.monotonic()
                    u, next_mail = u + 1, next_mail + a.every
                if now >= next_sample:
                    if sink.arrived:  # from the first reading on: the sandbox is up
                        rss.append(memory_mb(child.pid))
                    next_sample += a.sample
                time.sleep(0.05)
            grace = time.monotonic() + (5 if idle else 70)  # the last mail's poll
            while time.monotonic() < grace and len(sink.arrived) < len(sent):
                time.sleep(0.2)
        finally:
            child.send_signal(signal.SIGTERM)
            child.wait(timeout=120)
            controller.stop()
    delays = [sink.arrived[k] - t for k, t in sent.items() if k in sink.arrived]
    third = max(1, len(rss) // 3)
    return {
        "mails": len(sent),
        "acked": len(delays),
        "median": statistics.median(delays) if delays else float("nan"),
        "max": max(delays, default=float("nan")),
        "rss first": statistics.median(rss[:third]) if rss else float("nan"),
        "rss last": statistics.median(rss[-third:]) if rss else float("nan"),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="of mail arriving, per run")
    parser.add_argument("--every", type=float, default=5.0, help="seconds between mails")
    parser.add_argument("--sample", type=float, default=5.0, help="seconds between memory samples")
    a = parser.parse_args()
    server = DovecotServer()
    server.start()
    try:
        runs = {"IDLE": one_run(server, True, a), "poll 60 s": one_run(server, False, a)}
    finally:
        server.stop()
    goals = {"IDLE": "delay ~1-2 s", "poll 60 s": "delay <= 60 s"}
    print(f"{'':>10} {'mails':>6} {'acked':>6} {'median s':>9} {'max s':>7} "
          f"{'PSS first MB':>12} {'PSS last MB':>11}  goal (memory flat)")  # fmt: skip
    for label, r in runs.items():
        print(
            f"{label:>10} {r['mails']:>6} {r['acked']:>6} {r['median']:>9.1f} {r['max']:>7.1f} "
            f"{r['rss first']:>12.0f} {r['rss last']:>11.0f}  {goals[label]}"
        )


if __name__ == "__main__":
    main()
