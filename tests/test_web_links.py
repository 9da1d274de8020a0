"""[web].public_url: the daily report and the reminders copied to leaders link to Tổng quan."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest
from rich.console import Console
from test_decisions import at, due

from mail_ingest import config as config_module
from mail_ingest import demo
from mail_ingest.config import Config

URL = "https://dvk.example.vn/"


@pytest.fixture(scope="module")
def linked(tmp_path_factory: pytest.TempPathFactory) -> Config:
    outcome = demo.run(tmp_path_factory.mktemp("demo"), Console(file=io.StringIO()))
    path = Path(outcome.config)
    path.write_text(path.read_text("utf-8") + f'\n[web]\npublic_url = "{URL}"\n', "utf-8")
    config = config_module.load(path)
    units = tuple(replace(u, leaders=("bithu.khonglao@gmail.com",))
                  if u.id == "xa-khong-lao" else u for u in config.units)  # fmt: skip
    return replace(config, units=units)


def test_report_and_leaders_reminder_link_to_the_overview(linked: Config) -> None:
    mails = due(linked, at(26, 1, 18))
    [report] = [m for m in mails if m.key.startswith("report:")]
    assert f"Tổng quan: {URL}" in report.text and f'href="{URL}"' in (report.html or "")
    reminders = [m for m in due(linked, at(26, 1, 9)) if m.key.startswith("remind:")]
    with_leader = [m for m in reminders if m.cc]
    assert with_leader and all(URL in m.text and URL in (m.html or "") for m in with_leader)
    assert all(URL not in m.text for m in reminders if not m.cc)  # a unit alone: no link


def test_without_public_url_no_link(linked: Config) -> None:
    plain = replace(linked, web=replace(linked.web, public_url=None))
    for m in due(plain, at(26, 1, 9)) + due(plain, at(26, 1, 18)):
        assert URL not in m.text and "Tổng quan:" not in m.text
