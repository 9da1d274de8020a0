"""The page served beside the scheduler by `mail-ingest run` (when [web] is configured):
waitress in a thread of the service's process, closed when the service stops."""

from __future__ import annotations

import logging
import threading
from datetime import datetime

from mail_ingest.config import Config
from mail_ingest.errors import ConfigError

log = logging.getLogger(__name__)


class PageServer:
    """waitress on [web] host:port, listening from construction, serving once started."""

    def __init__(
        self, config: Config, host: str | None = None, port: int | None = None,
        clock: datetime | None = None,
    ) -> None:  # fmt: skip
        import waitress

        from mail_ingest.web.app import create_app

        host = host or config.web.host
        port = config.web.port if port is None else port
        try:
            self.server = waitress.create_server(
                create_app(config, clock), host=host, port=port, threads=4, ident="mail-ingest"
            )
        except OSError as exc:
            raise ConfigError(f"[web]: cannot listen on {host}:{port}: {exc}") from exc
        self.url = f"http://{host}:{self.server.effective_port}/"
        self.thread = threading.Thread(target=self.server.run, name="web-page", daemon=True)

    def start(self) -> None:
        self.thread.start()
        log.info("serving the web page on %s", self.url)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop listening, let running requests finish (waitress waits up to 5 s), close."""
        from waitress import wasyncore

        self.server.task_dispatcher.shutdown()
        wasyncore.close_all(getattr(self.server, "map", None) or self.server._map)
        self.thread.join(timeout)
        log.info("web page stopped")


def serve_forever(
    config: Config, host: str | None = None, port: int | None = None,
    clock: datetime | None = None, banner: str = "",
) -> None:  # fmt: skip
    """`mail-ingest web` (and the demo): the page until Ctrl-C or SIGTERM."""
    import signal

    page = PageServer(config, host, port, clock)
    print(f"serving the web page on {page.url} (Ctrl-C stops it){banner}", flush=True)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        page.server.run()  # waitress's own loop: Ctrl-C ends it
    finally:
        signal.signal(signal.SIGTERM, previous)
