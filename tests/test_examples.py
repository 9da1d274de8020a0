"""The letters of three districts, as the configurations in examples/, exercised end to end.

Each example is used as written except for the mailbox, which points at a Maildir
holding the mail the units of that district would send.
"""

from __future__ import annotations

import io
import json
import re
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner
from rich.console import Console
from test_demo import EXPECTED
from test_labelled import VALUES, Form, build
from test_tables import m3_sheet, m4_word, xlsx

from mail_ingest import config as config_module
from mail_ingest import demo
from mail_ingest.cli import cli

from conftest import Deployment, make_message

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
TZ = ZoneInfo("Asia/Ho_Chi_Minh")


@pytest.mark.parametrize("path", sorted(EXAMPLES.glob("*.toml")), ids=lambda p: p.stem)
def test_every_example_is_a_valid_config(path: Path) -> None:
    config = config_module.load(path)
    assert config.units and config.requirements


def with_maildir(example: str, root: Path) -> Path:
    """The example as written, reading a Maildir instead of the board's IMAP account."""
    text = (EXAMPLES / example).read_text(encoding="utf-8")
    maildir = '[mailbox]\nkind = "maildir"\npath = "mail"\n\n'
    text = re.sub(r"\[mailbox\]\n(?:[^\[\n][^\n]*\n|\n)*", maildir, text)
    path = root / "mail-ingest.toml"
    path.write_text(text, encoding="utf-8")
    return path


def statuses(config: Path, requirement: str, now: str) -> dict[str, dict[str, object]]:
    runner = CliRunner()
    assert runner.invoke(cli, ["--config", str(config), "poll"]).exit_code == 0
    result = runner.invoke(
        cli, ["--config", str(config), "status", "--format", "json", "--requirement",
              requirement, "--now", now],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    return {row["unit"]: row for row in json.loads(result.output)["rows"]}


def test_phong_tho_reads_the_demo_mailbox_as_the_board_would(tmp_path: Path) -> None:
    workspace = demo.run(tmp_path / "demo", Console(file=io.StringIO())).workspace
    config = with_maildir("phong-tho.toml", workspace)
    rows = statuses(config, "dvk-2024-dang-ky", demo.NOW.isoformat())
    assert {unit: (r["status"], r["completed_at"]) for unit, r in rows.items()} == EXPECTED


def m1(model: str, level: str, field: str = "kinh-te") -> tuple[str, bytes]:
    form = Form(values={**VALUES, "model": model, "level": level}, ticked=(field,))
    return f"M1 - {model}.docx", build(form)


def test_tan_yen_counts_levels_on_the_m1_forms(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, "")
    config = with_maildir("tan-yen.toml", tmp_path)
    m3 = ("Danh sach dang ky DVK 2024.xlsx", xlsx(m3_sheet()))
    district = [m1(f"Mô hình cấp huyện số {i}", "Cấp huyện") for i in range(1, 5)]
    province = m1("Cánh đồng lúa chất lượng cao", "Cấp tỉnh")

    def send(sender: str, day: int, month: int, files: list[tuple[str, bytes]]) -> None:
        deployment.deliver(make_message(sender, "Gửi đăng ký Dân vận khéo 2024", files),
                           datetime(2024, month, day, 9, 0, tzinfo=TZ))  # fmt: skip

    # Cao Thượng: the list and five M1s, two messages; complete on 22/02.
    send("danguycaothuong@gmail.com", 20, 2, [m3, province, *district[:2]])
    send("danguycaothuong@gmail.com", 22, 2, district[2:])
    # Nhã Nam: only three district-level models.
    send("danguynhanam@gmail.com", 21, 2, [m3, province, *district[:3]])
    # Ngọc Thiện: complete, but on 28/02 ("chậm nhất ngày 27/02/2024").
    send("danguyngocthien@gmail.com", 28, 2, [m3, province, *district])
    # The police send their list M4 in Word; the Front sends it late.
    send("congantanyen@gmail.com", 26, 2, [("M4 Cong an.docx", m4_word())])
    send("mttqtanyen@gmail.com", 29, 2, [("M4 MTTQ.docx", m4_word())])

    communes = statuses(config, "dvk-2024-xa", "2024-03-01T08:00")
    assert {u: (r["status"], r["completed_at"]) for u, r in communes.items()} == {
        "tt-cao-thuong": ("on_time", "2024-02-22T09:00:00+07:00"),
        "tt-nha-nam": ("incomplete", None),
        "xa-ngoc-thien": ("late", "2024-02-28T09:00:00+07:00"),
        "xa-viet-lap": ("missing", None),
    }
    # The list's own row problems (the sample has some on purpose) go to the unit; its
    # row 17 holds a kind the parser cannot place, which is the board's to check. The
    # quota counts levels, which that doubt cannot change: three district-level M1s are
    # the unit's own shortfall (rules.validation.judge, per rule).
    nha_nam = communes["tt-nha-nam"]
    assert "Dòng 16: chưa ghi tên mô hình" in nha_nam["problems"]
    assert (
        "Mới đăng ký 3 nội dung cấp huyện, yêu cầu ít nhất 4 nội dung cấp huyện"
        in nha_nam["problems"]
    )
    assert any("Dòng 17" in d and "Hội Nông dân" in d for d in nha_nam["doubts"])
    assert communes["tt-cao-thuong"]["deadline"] == "chậm nhất ngày 27/02/2024"
    agencies = statuses(config, "dvk-2024-co-quan", "2024-03-01T08:00")
    assert {u: r["status"] for u, r in agencies.items()} == {
        "llvt-cong-an": "on_time", "cq-ttyt": "missing", "dt-mttq": "late",
    }  # fmt: skip


def test_hon_quan_tracks_each_year_on_its_own(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, "")
    config = with_maildir("hon-quan.toml", tmp_path)
    from test_tables import report

    title = ["BÁO CÁO", "Kết quả thực hiện phong trào thi đua “Dân vận khéo” năm 2023"]
    yearly = report(title, "Năm 2023, Đảng ủy xã đã triển khai " + "nhiều mô hình hiệu quả " * 20)
    deployment.deliver(
        make_message("danguytankhai@gmail.com", "Báo cáo Dân vận khéo 2023",
                     [("Bao cao DVK 2023.docx", yearly)]),
        datetime(2023, 10, 20, 9, 0, tzinfo=TZ),
    )  # fmt: skip
    rows = statuses(config, "bao-cao-nam", "2023-10-25T08:00")
    assert {u: r["status"] for u, r in rows.items()} == {
        "xa-tan-khai": "on_time", "xa-thanh-binh": "missing", "dt-mttq": "missing",
    }  # fmt: skip
    # A year later, last year's report does not count for 2024.
    next_year = statuses(config, "bao-cao-nam", "2024-10-29T08:00")
    assert next_year["xa-tan-khai"]["status"] == "missing"
    assert next_year["xa-tan-khai"]["period"] == "2024"
