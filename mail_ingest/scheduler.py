"""`mail-ingest run`: the service in the foreground, for systemd or a terminal.

APScheduler 3 runs the jobs in the district's timezone. A poll never overlaps
itself (max_instances=1) and polls missed while the machine slept collapse into one
(coalesce). SIGTERM and SIGINT let the running job finish, then exit 0. With
`mailbox.idle`, IMAP IDLE wakes the poll up as soon as mail arrives; the interval
poll stays, because IDLE is a hint, not a delivery guarantee.
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from contextlib import suppress
from datetime import datetime
from types import FrameType
from typing import TYPE_CHECKING

from apscheduler.jobstores.base import JobLookupError
from apscheduler.schedulers.base import BaseScheduler
from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from mail_ingest.app import App
from mail_ingest.config import Config
from mail_ingest.errors import LockedError, MailIngestError, TransientError
from mail_ingest.idle import IdleWatcher
from mail_ingest.imap import ImapSource
from mail_ingest.service import claim

if TYPE_CHECKING:
    from mail_ingest.web.serve import PageServer

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    """The service until SIGTERM or SIGINT; one per store (LockedError if one runs)."""
    with claim(config):
        _run(config)


def build_scheduler(
    config: Config,
    scheduler: BaseScheduler | None = None,
    wake: threading.Event | None = None,
) -> BaseScheduler:
    """The service's jobs on `scheduler` (a BlockingScheduler by default), not started and
    without signal handlers, so their triggers and misfire settings can be looked at.

    `wake` is set when mail arrived (poll_now): the poll runs now, or again right after
    the running one.
    """
    scheduler = scheduler if scheduler is not None else BlockingScheduler(timezone=config.timezone)
    wake = wake if wake is not None else threading.Event()

    def poll() -> None:
        wake.clear()
        poll_job(config)
        if wake.is_set():
            poll_now(scheduler, config, wake)

    scheduler.add_job(
        poll,
        IntervalTrigger(minutes=config.poll_minutes, timezone=config.timezone),
        id="poll",
        name="poll the mailbox",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=config.poll_minutes * 60,
        next_run_time=datetime.now(config.timezone),
    )
    for job, at in (("reminders", config.notify.reminders_at), ("report", config.notify.report_at)):
        # A missed run (machine asleep) runs once when it can; the outbox keys make sure
        # the day's report and reminders go once, whatever runs twice.
        scheduler.add_job(
            notify_job, CronTrigger(hour=at.hour, minute=at.minute, timezone=config.timezone),
            args=[config], id=job, name=f"send the {job}", max_instances=1, coalesce=True,
            misfire_grace_time=None,
        )  # fmt: skip
    return scheduler


def poll_now(scheduler: BaseScheduler, config: Config, wake: threading.Event) -> None:
    """Mail arrived: run the poll job now (or right after the running one)."""
    wake.set()
    with suppress(JobLookupError):
        scheduler.modify_job("poll", next_run_time=datetime.now(config.timezone))


def _run(config: Config) -> None:
    wake = threading.Event()
    scheduler = build_scheduler(config, wake=wake)
    page = _page(config)
    watcher = _idle_watcher(config, lambda: poll_now(scheduler, config, wake))

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: finishing the current job, then stopping", signal.strsignal(signum))
        if scheduler.running:
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info(
        "polling %s every %d min%s", config.mailbox.kind, config.poll_minutes,
        f", and on IMAP IDLE in {watcher.folder!r}" if watcher else "",
    )  # fmt: skip
    if watcher:
        watcher.start()
    if page:
        page.start()
    try:
        scheduler.start()
    finally:
        if watcher:
            watcher.stop()
        if page:
            page.stop()
    log.info("stopped")


def _page(config: Config) -> PageServer | None:
    """With [web] in the config, the page is served beside the jobs (web/serve.py)."""
    if not config.web.serve:
        return None
    from mail_ingest.web.serve import PageServer

    return PageServer(config)


def _idle_watcher(config: Config, on_change: Callable[[], None]) -> IdleWatcher | None:
    """IDLE on the first named folder (one connection watches one folder)."""
    box = config.mailbox
    if box.kind != "imap" or not box.idle:
        return None
    folder = next((f for f in box.folders if not f.startswith("\\")), None)
    if folder is None:
        log.warning("mailbox.idle: IDLE needs a folder name, not only special-use flags")
        return None
    source = ImapSource(box)
    # A short check interval only bounds how long stopping takes; it costs no traffic.
    return IdleWatcher(source.connect, folder, on_change, check_interval=5.0)


def once(config: Config) -> bool:
    """`run --once`, for boards that schedule with cron or a systemd timer: one poll and
    what it calls for, under the service's claim; False if either part failed."""
    with claim(config):
        return poll_job(config)


def poll_job(config: Config) -> bool:
    """One poll, then what it calls for (acknowledgements, a due reminder or report).

    Failures are logged and the next run tries again; sending goes on even when the
    mailbox is unreachable, so a reminder never waits for IMAP. True if both went well.
    """
    polled = False
    try:
        result = App(config).poll()
    except (TransientError, LockedError) as exc:
        log.warning("poll skipped: %s", exc)
    except MailIngestError as exc:
        log.error("poll failed: %s", exc)
    except Exception:
        log.exception("poll failed unexpectedly")
    else:
        polled = True
        log.info(
            "poll done: %d fetched, %d new, %d errors, %d bytes downloaded",
            result.fetched, result.new, result.errors, result.downloaded,
        )  # fmt: skip
    return notify_job(config) and polled


def notify_job(config: Config) -> bool:
    if config.smtp is None:
        return True
    try:
        report = App(config).send_due(datetime.now(config.timezone))
    except LockedError as exc:
        log.info("sending postponed: %s", exc)
    except MailIngestError as exc:
        log.error("sending failed: %s", exc)
    except Exception:
        log.exception("sending failed unexpectedly")
    else:
        if report.sent or report.retrying or report.failed:
            log.info(
                "mail sent: %d, to retry: %d, failed: %d",
                report.sent, report.retrying, report.failed,
            )  # fmt: skip
        return True
    return False
