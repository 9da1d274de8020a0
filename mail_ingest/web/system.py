"""The Hệ thống page's data: what `health` and `check-config` say, in the board's words."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime, timedelta
from importlib import metadata
from typing import Any

from mail_ingest import __version__, wording
from mail_ingest.app import App
from mail_ingest.web.app import form_names


@dataclass(frozen=True)
class System:
    last_good: datetime | None
    polls: list[dict[str, Any]]
    problems: list[str]
    counts: dict[str, int]
    versions: dict[str, str]
    config_lines: list[str]


def system_data(app: App, at: datetime) -> System:
    """What `health` and `check-config` say, in the board's words, and the latest polls."""
    cfg = app.config
    health = app.health(at)
    held = app.status(at).held
    problems = []
    if health.last_good_poll is None:
        problems.append("Chưa có lần kiểm tra hộp thư nào thành công.")
    elif at - health.last_good_poll > timedelta(minutes=3 * cfg.poll_minutes):
        problems.append("Đã quá lâu chưa kiểm tra được hộp thư.")
    if health.last_failure is not None:
        problems.append(f"Lần kiểm tra hộp thư gần nhất bị lỗi: {health.last_failure[1]}")
    if health.attention:
        problems.append(f"{len(health.attention)} thư gửi đi cần người xem (trang Thư đi).")
    if held:
        problems.append(f"{held} thư chưa xác định được đơn vị gửi (trang Chờ xử lý).")
    polls = [{**p, "started_at": datetime.fromisoformat(str(p["started_at"]))}
             for p in app.polls()]  # fmt: skip
    groups = Counter(u.group for u in cfg.units)
    forms = form_names(cfg)
    lines = [
        f"Tệp cấu hình: {cfg.path}",
        f"Múi giờ: {cfg.timezone.key}",
        f"Hộp thư: {wording.MAILBOX_LABELS.get(cfg.mailbox.kind, cfg.mailbox.kind)}",
        "Đơn vị: " + "; ".join(f"{wording.GROUP_LABELS.get(g, g)}: {n}" for g, n in groups.items()),
        *(f"{r.title}: {', '.join(forms.get(f, f) for f in r.forms)}, {r.schedule.phrase()}"
          for r in cfg.requirements),
    ]  # fmt: skip
    versions = {"mail-ingest": __version__}
    for package in ("flask", "waitress", "openpyxl", "python-docx"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "?"
    return System(health.last_good_poll, polls, problems, app.counts(), versions, lines)
