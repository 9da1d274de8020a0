"""`mail-ingest run`: the service in the foreground, for systemd or a terminal.

APScheduler 3 runs the jobs in the district's timezone. A poll never overlaps
itself (max_instances=1) and polls missed while the machine slept collapse into one
(coalesce). SIGTERM and SIGINT let the running job finish, then exit 0.
"""

from __future__ import annotations

import logging
import signal
from datetime import datetime
from types import FrameType

from apscheduler.schedulers.blocking import BlockingScheduler
from apscheduler.triggers.interval import IntervalTrigger

from mail_ingest.config import Config
from mail_ingest.errors import LockedError, MailIngestError, TransientError
from mail_ingest.pipeline import poll_config

log = logging.getLogger(__name__)


def run(config: Config) -> None:
    scheduler = BlockingScheduler(timezone=config.timezone)
    scheduler.add_job(
        poll_job,
        IntervalTrigger(minutes=config.poll_minutes, timezone=config.timezone),
        args=[config],
        id="poll",
        name="poll the mailbox",
        max_instances=1,
        coalesce=True,
        misfire_grace_time=config.poll_minutes * 60,
        next_run_time=datetime.now(config.timezone),
    )

    def stop(signum: int, frame: FrameType | None) -> None:
        log.info("received %s: finishing the current job, then stopping", signal.strsignal(signum))
        if scheduler.running:
            scheduler.shutdown(wait=True)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    log.info("polling %s every %d min", config.mailbox.kind, config.poll_minutes)
    scheduler.start()
    log.info("stopped")


def poll_job(config: Config) -> None:
    """One poll; failures are logged and the next poll tries again."""
    try:
        result = poll_config(config)
    except (TransientError, LockedError) as exc:
        log.warning("poll skipped: %s", exc)
    except MailIngestError as exc:
        log.error("poll failed: %s", exc)
    except Exception:
        log.exception("poll failed unexpectedly")
    else:
        log.info(
            "poll done: %d fetched, %d new, %d errors", result.fetched, result.new, result.errors
        )
