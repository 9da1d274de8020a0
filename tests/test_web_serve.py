"""`mail-ingest run` serves the page too when [web] is configured, and stops it cleanly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from mail_ingest import config as config_module

from conftest import CONFIG, Deployment
from dovecot_server import free_port


def _answers(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            return int(response.status)
    except OSError:
        return None


def test_web_section_decides_whether_run_serves_the_page(tmp_path: Path) -> None:
    for extra, serve in (("", False), ("[web]\nport = 8099\n", True),
                         ("[web]\nport = 8099\nserve = false\n", False)):  # fmt: skip
        board = Deployment(tmp_path, CONFIG + extra)
        assert config_module.load(board.config).web.serve is serve, extra


def test_run_serves_the_page_beside_the_scheduler_and_stops_it_on_sigterm(
    tmp_path: Path,
) -> None:
    port = free_port()
    board = Deployment(tmp_path, CONFIG + f'[web]\nhost = "127.0.0.1"\nport = {port}\n')
    service = subprocess.Popen(
        [sys.executable, "-m", "mail_ingest", "--config", str(board.config), "run"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        deadline = time.monotonic() + 30
        status = None
        while time.monotonic() < deadline and status is None:
            status = _answers(f"http://127.0.0.1:{port}/dang-nhap")
            time.sleep(0.2)
        service.send_signal(signal.SIGTERM)
        output, _ = service.communicate(timeout=30)
    finally:
        service.kill()
    assert status == 200, output
    assert service.returncode == 0, output
    assert "serving the web page" in output and "web page stopped" in output
    with socket.socket() as probe:  # nothing listens any more
        assert probe.connect_ex(("127.0.0.1", port)) != 0
