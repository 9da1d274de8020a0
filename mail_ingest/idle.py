"""IMAP IDLE on one folder: a wake-up hint so new mail is ingested within seconds.

The scheduled poll by UID stays the source of truth; IDLE only tells us *when* to poll
early. A lost notification therefore costs latency, never mail, and this module can
afford to be simple: one connection, one thread, reconnect on any trouble.

Why the extra care around dead connections: imapclient's `idle_check()` swallows an EOF
and returns an empty list, exactly as if nothing happened (imapclient issues #449, #565),
so a watcher that only calls `idle_check()` can sit on a dead socket forever. Here an
empty answer that came back before its timeout (the socket was readable but held no
response) and every periodic renewal end IDLE and send a NOOP, which does raise on a
dead connection.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from imapclient import IMAPClient
from imapclient.exceptions import IMAPClientError

from mail_ingest import backoff

log = logging.getLogger(__name__)

# socket.timeout is an alias of TimeoutError, an OSError; ssl.SSLError is an OSError too.
NETWORK_ERRORS: tuple[type[BaseException], ...] = (IMAPClientError, OSError)
BACKOFF_BASE = 1.0  # seconds; the first retry waits uniform(0, 1 s)


class IdleWatcher:
    """Watches one folder with IMAP IDLE on its own connection and calls `on_change`
    when the server reports new mail (EXISTS / RECENT). A wake-up hint only: the
    scheduled poll by UID stays the source of truth.

    `connect` must return a new, logged-in IMAPClient with a socket timeout set (the
    caller owns TLS, credentials and timeouts; this class never sees a password). The
    folder is selected read-only, so the staff's mailbox never changes (no \\Seen).

    `on_change` runs on the watcher's thread and should be quick (set an event, or ask
    the scheduler to run the poll now); its exceptions are logged and otherwise ignored.
    It is also called once after every reconnect, because mail may have arrived while
    the connection was down.
    """

    def __init__(
        self,
        connect: Callable[[], IMAPClient],
        folder: str,
        on_change: Callable[[], None],
        *,
        renew_after: float = 600.0,
        check_interval: float = 30.0,
        max_backoff: float = 300.0,
        rng: random.Random | None = None,
    ) -> None:
        # RFC 2177: servers may drop an IDLE after 30 min, so renewing must come sooner.
        if not 0 < renew_after < 29 * 60:
            raise ValueError(f"renew_after must be in (0, 1740) seconds, not {renew_after}")
        if check_interval <= 0 or max_backoff < 0:
            raise ValueError("check_interval must be positive and max_backoff not negative")
        self._connect = connect
        self.folder = folder
        self._on_change = on_change
        self._renew_after = renew_after
        self._check_interval = check_interval
        self._max_backoff = max_backoff
        self._rng = rng or random.Random()
        self._stop = threading.Event()
        self._idling = threading.Event()
        self._supported: bool | None = None
        self._thread: threading.Thread | None = None

    @property
    def supported(self) -> bool | None:
        """None until connected; False when the server lacks IDLE (then only polling works)."""
        return self._supported

    @property
    def running(self) -> bool:
        """Whether the watcher thread is alive (it ends on stop() or when IDLE is unsupported)."""
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        """Start watching on a daemon thread named "imap-idle"; a watcher starts only once."""
        if self._thread is not None:
            raise RuntimeError("IdleWatcher.start() called twice; create a new watcher")
        self._thread = threading.Thread(target=self._run, name="imap-idle", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """End IDLE cleanly, log out and join the thread.

        Returns within about `check_interval` plus the time a DONE/LOGOUT exchange takes;
        a stop during backoff does not wait the backoff out.
        """
        self._stop.set()
        thread = self._thread
        if thread is None or thread is threading.current_thread():
            return
        thread.join(timeout)
        if thread.is_alive():
            log.warning("IMAP IDLE watcher on %s did not stop within %.0f s", self.folder, timeout)

    def wait_until_idle(self, timeout: float | None = None) -> bool:
        """Block until the watcher is in IDLE (for health checks and tests); False on timeout."""
        return self._idling.wait(timeout)

    # The watcher thread -------------------------------------------------------------

    def _run(self) -> None:
        attempt = 0
        reconnecting = False
        while not self._stop.is_set():
            client: Any = None
            try:
                client = self._connect()
                if not self._prepare(client):
                    return
                attempt = 0  # connected and selected: the next failure starts afresh
                self._watch(client, notify=reconnecting)
                return  # only a stop ends _watch without an exception
            except NETWORK_ERRORS as exc:
                log.warning("IMAP IDLE on %s: %s; reconnecting", self.folder, _describe(exc))
            except Exception as exc:
                # connect() may raise the caller's own errors (auth, config); a bug of
                # ours should not silently end near-real-time ingestion either.
                log.warning(
                    "IMAP IDLE on %s failed: %s; reconnecting",
                    self.folder,
                    _describe(exc),
                    exc_info=log.isEnabledFor(logging.DEBUG),
                )
            finally:
                self._idling.clear()
            if client is not None:
                _shutdown(client)
            reconnecting = True
            delay = backoff.delay(attempt, base=BACKOFF_BASE, cap=self._max_backoff, rng=self._rng)
            attempt += 1
            log.debug("IMAP IDLE on %s: retry %d in %.1f s", self.folder, attempt, delay)
            self._stop.wait(delay)

    def _prepare(self, client: Any) -> bool:
        """Check for IDLE and select the folder read-only; False when IDLE is unsupported."""
        if not client.has_capability("IDLE"):
            if self._supported is not False:
                log.info("IMAP server lacks IDLE; %s is watched by polling only", self.folder)
            self._supported = False
            _logout(client)
            return False
        self._supported = True
        client.select_folder(self.folder, readonly=True)
        return True

    def _watch(self, client: Any, *, notify: bool) -> None:
        """IDLE until stopped; raises on any connection trouble."""
        client.idle()
        self._idling.set()
        log.info("IMAP IDLE on %s: waiting for new mail", self.folder)
        if notify:
            self._notify("reconnected")
        renew_at = time.monotonic() + self._renew_after
        while not self._stop.is_set():
            wait = max(0.0, min(self._check_interval, renew_at - time.monotonic()))
            started = time.monotonic()
            responses = client.idle_check(timeout=wait)
            early = time.monotonic() - started < wait - 0.01
            if self._stop.is_set():
                break
            self._inspect(responses)
            # Readable yet no response: most likely EOF, which idle_check() swallows.
            if time.monotonic() >= renew_at or (early and not responses):
                self._renew(client)
                renew_at = time.monotonic() + self._renew_after
        _end_idle_and_logout(client)

    def _renew(self, client: Any) -> None:
        """Re-issue IDLE, with a NOOP in between so that a dead connection raises."""
        _text, responses = client.idle_done()
        self._inspect(responses)
        _text, responses = client.noop()
        self._inspect(responses)
        client.idle()
        log.debug("IMAP IDLE on %s: renewed", self.folder)

    def _inspect(self, responses: Iterable[Any]) -> None:
        """Call on_change once for new mail; raise when the server says goodbye."""
        new_mail = False
        for response in responses:
            if not isinstance(response, tuple) or len(response) < 2:
                continue
            if response[0] == b"BYE":
                text = " ".join(_text(part) for part in response[1:])
                raise ConnectionError(f"server closed the connection: {text}")
            if response[1] == b"EXISTS" or (response[1] == b"RECENT" and response[0]):
                new_mail = True
        if new_mail:
            self._notify("new mail")

    def _notify(self, why: str) -> None:
        log.debug("IMAP IDLE on %s: %s, calling on_change", self.folder, why)
        try:
            self._on_change()
        except Exception:
            log.exception("IMAP IDLE on %s: on_change failed", self.folder)


def _describe(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _end_idle_and_logout(client: Any) -> None:
    """Leave IDLE and log out politely; on a broken connection just close it."""
    try:
        client.idle_done()
    except NETWORK_ERRORS as exc:
        log.debug("IMAP IDLE: DONE failed: %s", _describe(exc))
        _shutdown(client)
        return
    _logout(client)


def _logout(client: Any) -> None:
    try:
        client.logout()
    except NETWORK_ERRORS as exc:
        log.debug("IMAP IDLE: LOGOUT failed: %s", _describe(exc))
        _shutdown(client)


def _shutdown(client: Any) -> None:
    try:
        client.shutdown()
    except Exception as exc:  # already closed, or half-open: nothing left to do
        log.debug("IMAP IDLE: closing the connection failed: %s", _describe(exc))
