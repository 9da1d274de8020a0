"""A first poll of a generated mailbox against a raw IMAP FETCH of the same mailbox.

Fills a throwaway Dovecot with units × messages mail, the issue's mix (3,000 of 5,000
with forms): of five messages, three from a unit carry 1 to `attachments` real forms
built by mail_ingest/samples.py, one is the unit's mail without a file and one a
newsletter from a stranger. Then, side by side in one run:

- raw: imapclient fetching every message's BODY.PEEK[] in batches of 200, nothing else,
  just before and just after the poll. Twice: as imapclient ships ("raw", the floor the
  issue's goal was set against), which has imaplib format the repr of every message for
  its debug log whether or not the log wants it; and with that tracing off ("bare", the
  server's and the network's cost alone, and how the service fetches since it turns the
  tracing off: mail_ingest.imap_client);
- poll: `mail-ingest poll` as a whole process on a fresh store (header triage, download,
  archive, parsing in the sandbox, attribution, SQLite), with its peak RSS, its CPU time
  and its sandbox's, and how busy the machine's cores were meanwhile; its time includes
  the process's start-up (interpreter, imports, config);
- in-process: `poll_config` called here on another fresh store, without the start-up;
- maildir: the same messages from a Maildir, in-process: what is left over the in-process
  IMAP poll is the IMAP path's own cost (the rest is the messages' reading: the forms).

It prints msg/s of each (medians of the runs), the ratios to raw (goal ≤ 15×) and to bare
(each run's poll against its own FETCHes, so that a machine whose load drifts over the
minutes of a run compares like with like; the median of the runs' ratios) and, at two
sizes (the same units with twice the messages each), the peak RSS of the poll (goal: the
same).
`--profile` prints the top of a cProfile of the in-process poll (first size only).

    python bench/ingest.py [--units 20] [--messages 5] [--attachments 2] [--profile]
    python bench/ingest.py --units 500 --messages 10 --whole-only   # 5,000 and 10,000

Needs /usr/sbin/dovecot. Run by hand, not in CI.
"""

from __future__ import annotations

import argparse
import cProfile
import mailbox as maildir
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
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from imapclient import IMAPClient  # noqa: E402

from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx  # noqa: E402

from conftest import make_message  # noqa: E402
from dovecot_server import DovecotServer, ImapAccount  # noqa: E402

ICT = timezone(timedelta(hours=7))
ENTRIES = [
    SampleEntry("Tổ dân phố số 3", "tap-the", "van-hoa-xa-hoi", "xa", "Tuyến phố văn minh"),
    SampleEntry("Hội Cựu chiến binh", "tap-the", "quoc-phong-an-ninh", "xa", "Camera an ninh"),
    SampleEntry("Nguyễn Văn Hùng", "ca-nhan", "kinh-te", "xa", "Chợ sạch"),
]


def name(u: int) -> str:
    return f"Đảng ủy xã Thử Nghiệm {u}"


def mailbox(units: int, messages: int, attachments: int) -> list[bytes]:
    forms = {}
    raws = []
    for u in range(units):
        forms[u] = [
            ("Mau 01.xlsx", mau01_xlsx(name(u), ENTRIES)),
            ("Mau 02.docx", mau02_docx(name(u), [e.model for e in ENTRIES])),
        ]
        for k in range(messages):
            if k % 5 == 3:
                raws.append(
                    make_message("tin@baomoi.example", f"Bản tin {u}-{k}", body="Tin. " * 300)
                )
            elif k % 5 == 4:
                body = "Kính gửi Ban Dân vận. Đơn vị xin báo cáo tiến độ thực hiện. " * 10
                raws.append(make_message(f"u{u}@example.vn", f"Báo cáo ({u}-{k})", body=body))
            else:
                files = [forms[u][i % 2] for i in range(1 + (u + k) % attachments)]
                raws.append(make_message(f"u{u}@example.vn", f"Gửi biểu mẫu ({u}-{k})", files))
    return raws


def config(root: Path, account: ImapAccount, units: int, raws: list[bytes] | None = None) -> Path:
    """A deployment reading the account, or with `raws` a Maildir of those messages."""
    if raws is None:
        box = (
            f'[mailbox]\nkind = "imap"\nhost = "{account.host}"\nport = {account.port}\n'
            f'security = "none"\nusername = "{account.username}"\npassword_env = "BENCH_PASSWORD"'
        )
    else:
        folder = maildir.Maildir(root / "mail", create=True)
        for raw in raws:
            folder.add(raw)
        box = f'[mailbox]\nkind = "maildir"\npath = "{root / "mail"}"'
    return write_config(root, [box], units)


def write_config(root: Path, sections: list[str], units: int, before: str = "2024-02-01") -> Path:
    """root/mail-ingest.toml: the zone, `sections`, the storage, `units` units (u0000...,
    each writing from u<n>@example.vn) and one requirement (mẫu 01 and 02 `before`)."""
    lines = ['timezone = "Asia/Ho_Chi_Minh"', *sections, f'[storage]\npath = "{root / "data"}"']
    for u in range(units):
        lines.append(
            f'[[units]]\nid = "u{u:04d}"\nname = "{name(u)}"\ngroup = "xa"\n'
            f'emails = ["u{u}@example.vn"]'
        )
    lines.append(
        '[[requirements]]\nid = "dvk-2024"\ntitle = "Đăng ký “Dân vận khéo” 2024"\n'
        f'forms = ["mau-01", "mau-02"]\nbefore = "{before}"'
    )
    path = root / "mail-ingest.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def raw_fetch(account: ImapAccount, traced: bool = True) -> tuple[int, float]:
    """(messages, seconds) of fetching them all; `traced`: imaplib's tracing as imapclient
    sets it (every literal's repr formatted), else off."""
    started = time.perf_counter()
    with IMAPClient(account.host, account.port, ssl=False, timeout=60) as client:
        if not traced:
            client._imap.debug = 0
        client.login(account.username, account.password)
        client.select_folder("INBOX", readonly=True)
        uids = client.search("ALL")
        for i in range(0, len(uids), 200):
            client.fetch(uids[i : i + 200], [b"BODY.PEEK[]"])
    return len(uids), time.perf_counter() - started


# The poll's own high-water mark and CPU time, written by the poll process as it exits.
# What wait4 reports would not do: a process's ru_maxrss carries over exec from the
# process that forked it, and this bench, holding the generated mailbox, is the larger of
# the two; and the sandbox's servers, left to end on their own, would not be waited for,
# so their CPU time would be nobody's.
PEAK = (
    "import atexit, resource, runpy, sys\n"
    "def peak():\n"
    "    sandbox = sys.modules.get('mail_ingest.sandbox')\n"
    "    if sandbox is not None:\n"
    "        sandbox.shutdown()\n"
    "    with open('/proc/self/status') as status:\n"
    "        kib = next(int(ln.split()[1]) for ln in status if ln.startswith('VmHWM'))\n"
    "    own, rest = (resource.getrusage(who) for who in\n"
    "                 (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN))\n"
    "    cpu = [u.ru_utime + u.ru_stime for u in (own, rest)]\n"
    "    sys.stderr.write(f'\\nPEAK {kib} {cpu[0]} {cpu[1]}\\n')\n"
    "atexit.register(peak)\n"
    "sys.argv = ['mail-ingest', *sys.argv[1:]]\n"
    "runpy.run_module('mail_ingest', run_name='__main__')\n"
)


def busy() -> tuple[float, float]:
    """(all, idle) CPU seconds of the whole machine so far, from /proc/stat (Linux)."""
    with open("/proc/stat") as stat:
        ticks = [int(t) for t in stat.readline().split()[1:]]
    hertz = os.sysconf("SC_CLK_TCK")
    return sum(ticks) / hertz, (ticks[3] + ticks[4]) / hertz  # idle and iowait


def poll(config_path: Path, account: ImapAccount) -> dict[str, float]:
    """`mail-ingest poll` as a whole process: its seconds, its peak RSS in MB (the
    sandbox's processes apart: their size does not depend on the mailbox's), the CPU
    seconds of the poll's own process and of its sandbox, and the share of the machine's
    cores that were busy meanwhile (whatever ran: a poll that leaves cores idle waits on
    something other than its CPU)."""
    # Bytecode as installed (pip compiles it): this machine's PYTHONDONTWRITEBYTECODE would
    # compile the sources at every run. The first poll writes it; its cost is in the first.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env.update(PYTHONPATH=str(ROOT), BENCH_PASSWORD=account.password)
    env["PYTHONPYCACHEPREFIX"] = os.path.join(tempfile.gettempdir(), "mail-ingest-bench-pycache")
    command = [sys.executable, "-c", PEAK, "--config", str(config_path), "poll"]
    machine, started = busy(), time.perf_counter()
    done = subprocess.run(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.perf_counter() - started
    (total, idle), (total_before, idle_before) = busy(), machine
    if done.returncode != 0:
        raise SystemExit(f"poll failed with exit code {done.returncode}")
    kib, own, sandboxed = done.stderr.rsplit(b"\nPEAK ", 1)[1].split()
    return {
        "poll": seconds, "rss": int(kib) / 1024, "whole own": float(own),
        "whole sandbox": float(sandboxed),
        "busy": 1 - (idle - idle_before) / (total - total_before),
    }  # fmt: skip


def in_process(
    config_path: Path, account: ImapAccount, profile: bool = False
) -> tuple[float, float, float]:
    """(seconds, CPU seconds here, CPU seconds in the sandbox) of `poll_config` in this
    process on a fresh store (optionally profiled). The sandbox's servers are ended
    and waited for so that theirs counts: what the poll costs whatever else the machine
    runs, where the seconds are what it took on the day."""
    from mail_ingest import config as config_module
    from mail_ingest import sandbox
    from mail_ingest.deployment import poll_config

    os.environ["BENCH_PASSWORD"] = account.password
    config = config_module.load(config_path)
    profiler = cProfile.Profile() if profile else None
    sandbox.shutdown()  # the children's account from here on is this poll's
    children, cpu = resource.getrusage(resource.RUSAGE_CHILDREN), time.process_time()
    started = time.perf_counter()
    if profiler:
        profiler.enable()
    poll_config(config)
    seconds = time.perf_counter() - started
    if profiler:
        profiler.disable()
        stats = pstats.Stats(profiler, stream=sys.stderr)
        stats.sort_stats("tottime").print_stats(20)
        stats.sort_stats("cumtime").print_stats(30)
    sandbox.shutdown()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    own = time.process_time() - cpu
    sandboxed = after.ru_utime - children.ru_utime + after.ru_stime - children.ru_stime
    return seconds, own, sandboxed


def measure(
    server: DovecotServer,
    units: int,
    messages: int,
    attachments: int,
    runs: int,
    profile: bool = False,
    whole_only: bool = False,
) -> None:
    """Each figure the median of `runs`, the runs interleaved, so a burst of load on a
    shared machine moves one run of each rather than every run of one."""
    user, password = f"bench{units}x{messages}", "bench-password"
    server.add_user(user, password)
    account = ImapAccount(server.host, server.port, user, password, server)
    raws = mailbox(units, messages, attachments)
    account.fill(raws, datetime(2024, 1, 20, 9, tzinfo=ICT))
    figures: dict[str, list[float]] = {}
    for run in range(runs):
        with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
            path = config(Path(tmp), account, units)
            count, before = raw_fetch(account)
            _, bare_before = raw_fetch(account, traced=False)
            taken = poll(path, account)
            _, after = raw_fetch(account)
            _, bare_after = raw_fetch(account, traced=False)
        # The raw FETCH lasts a second or two, the poll half a minute: each run's poll is
        # set against the FETCHes just before and after it, under the same load.
        raw_seconds, bare = (before + after) / 2, (bare_before + bare_after) / 2
        taken |= {"raw": raw_seconds, "bare": bare, "ratio": taken["poll"] / raw_seconds,
                  "bare ratio": taken["poll"] / bare}  # fmt: skip
        if not whole_only:
            with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
                path = config(Path(tmp), account, units)
                inside = in_process(path, account, profile and run == 0)
                taken["inside"], taken["own"], taken["sandbox"] = inside
                taken["inside ratio"] = inside[0] / raw_seconds
            with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
                taken["local"], *_ = in_process(config(Path(tmp), account, units, raws), account)
        for name, value in taken.items():
            figures.setdefault(name, []).append(value)
    m = {name: statistics.median(values) for name, values in figures.items()}
    nan = float("nan")
    inside, local, inside_ratio = (
        m.get("inside", nan),
        m.get("local", nan),
        m.get("inside ratio", nan),
    )
    whole_own, whole_sandbox, own, sandboxed = (
        1000 * m.get(k, nan) / count for k in ("whole own", "whole sandbox", "own", "sandbox")
    )
    print(
        f"{units:>5} {messages:>5} {attachments:>4} {count:>6} {count / m['raw']:>9.0f} "
        f"{count / m['bare']:>9.0f} {count / m['poll']:>9.1f} {m['ratio']:>7.1f}x "
        f"{m['bare ratio']:>7.1f}x {whole_own + whole_sandbox:>7.1f} {whole_own:>5.1f} "
        f"{m['busy']:>5.0%} "
        f"{count / inside:>9.1f} {inside_ratio:>7.1f}x {own + sandboxed:>7.1f} {own:>6.1f} "
        f"{len(raws) / local:>9.1f} {inside / local:>7.2f}x {'<= 15x':>7} {m['rss']:>8.0f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--units", type=int, default=20)
    parser.add_argument("--messages", type=int, default=5, help="per unit")
    parser.add_argument("--attachments", type=int, default=2, help="per unit's message")
    parser.add_argument("--runs", type=int, default=3, help="medians of this many runs")
    parser.add_argument("--profile", action="store_true", help="cProfile the in-process poll")
    parser.add_argument(
        "--whole-only", action="store_true", help="raw FETCH and the whole process only"
    )
    a = parser.parse_args()
    server = DovecotServer()
    server.start()
    try:
        print(f"{'units':>5} {'msgs':>5} {'att':>4} {'total':>6} {'raw msg/s':>9} "
              f"{'bare msg/s':>9} {'poll msg/s':>9} {'ratio':>8} {'/bare':>8} "
              f"{'cpu ms':>7} {'own':>5} {'busy':>5} {'in-proc':>9} {'ratio':>8} "
              f"{'in cpu':>7} {'in own':>6} {'maildir':>9} {'imap/md':>8} {'goal':>7} "
              f"{'RSS MB':>8}")  # fmt: skip
        measure(server, a.units, a.messages, a.attachments, a.runs, a.profile, a.whole_only)
        # The same district with twice the mail: what must not grow is what a message costs.
        measure(server, a.units, a.messages * 2, a.attachments, a.runs, whole_only=a.whole_only)
        print(
            "goal: peak RSS the same at both sizes; ratio = poll time / raw FETCH time (the"
            " mean of the FETCHes just before and after it), the median of the runs' ratios;"
            " /bare: the same against the FETCH with imaplib's tracing off;"
            " cpu ms: CPU time of the whole poll process and its sandbox, per message, with"
            " the start-up; own: of which the poll's own process (the rest: the sandbox's"
            " MIME and form reading); busy: the machine's cores busy during the poll;"
            " in-proc: poll_config in this process (no start-up); in cpu, in own: its CPU"
            " time as above; maildir: the same messages from a Maildir in-process;"
            " imap/md: in-proc time / maildir time"
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
