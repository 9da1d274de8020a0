"""`mail-ingest demo` and the page: the command to open it and a demo account when run by
a script, the page itself when asked (--serve) or run in a terminal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from click.testing import CliRunner
from test_web_security import token

from mail_ingest import config as config_module
from mail_ingest import demo
from mail_ingest.app import App
from mail_ingest.cli import cli
from mail_ingest.web.app import create_app


def test_demo_without_a_terminal_prints_the_page_command_and_a_working_account(
    tmp_path: Path,
) -> None:
    result = CliRunner().invoke(cli, ["demo", "--workspace", str(tmp_path / "w")],
                                env={"COLUMNS": "200"})  # fmt: skip
    assert result.exit_code == 0, result.output
    config_path = tmp_path / "w" / "mail-ingest.toml"
    assert f"mail-ingest --config {config_path} web --now {demo.NOW.isoformat()}" in (result.output)
    found = re.search(r"log in as “demo”, password (\S+) \(role staff\)", result.output)
    assert found, result.output
    config = config_module.load(config_path)
    client = create_app(config, demo.NOW).test_client()
    login = client.get("/dang-nhap").text
    answer = client.post("/dang-nhap", data={"name": "demo", "password": found.group(1),
                                             "csrf": token(login)})  # fmt: skip
    assert answer.status_code == 302
    overview = client.get("/").text
    assert "Đảng ủy xã Mường So" in overview and "05/02/2024" in overview  # the demo's day
    review = client.get("/cho-xu-ly").text
    assert "Gửi biểu đăng ký DVK" in review and "lannguyen.pt88@gmail.com" in review
    [held] = App(config).review().held
    csrf = token(review)
    client.post("/cho-xu-ly/gan", data={"csrf": csrf, "message": held.id, "unit": "cq-ttyt"})
    client.post("/ban-giay/ghi-nhan", data={"csrf": csrf, "unit": "dt-mttq",
                "requirement": "dvk-2024-dang-ky", "received": "2024-01-31T10:00",
                "via": "paper", "note": "Bản giấy nộp tại Ban"})  # fmt: skip
    statuses = {s.unit.id: s.status for s in App(config).status(demo.NOW).statuses}
    assert statuses["cq-ttyt"] != "missing" and statuses["dt-mttq"] == "on_time"
    again = CliRunner().invoke(cli, ["demo", "--workspace", str(tmp_path / "w")])
    assert again.exit_code == 0, again.output  # a second run renews the demo account


def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_demo_serve_serves_the_page_until_interrupted(tmp_path: Path) -> None:
    service = subprocess.Popen(
        [sys.executable, "-m", "mail_ingest", "demo", "--workspace", str(tmp_path / "w"),
         "--serve"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1", "COLUMNS": "200"},
        # Ctrl-C as at a terminal, even when the suite runs in the background (`cmd &`
        # starts it with SIGINT ignored, and a child keeps an ignored signal ignored).
        preexec_fn=_interruptible,
    )  # fmt: skip
    try:
        assert service.stdout is not None
        url = None
        for line in service.stdout:
            found = re.search(r"serving the web page on (http://\S+)", line)
            if found:
                url = found.group(1)
                break
        assert url, "no URL printed"
        with urllib.request.urlopen(url + "dang-nhap", timeout=10) as response:
            assert response.status == 200
        service.send_signal(signal.SIGINT)
        service.communicate(timeout=30)
    finally:
        service.kill()
    assert service.returncode == 0
