"""`mail-ingest demo`: the Phong Thổ campaign of 2024 in a throwaway workspace.

Letter 35-CV/BDVHU asks every unit for mẫu 01 and mẫu 02 "trước ngày 01/02/2024";
communes register at least 2 collectives and 2 individuals, other units 1 and 1.
The demo writes that letter as a config, fills a real Maildir with the mail ten
units plausibly sent (real .xlsx/.docx from the sample generator), runs the real
pipeline and prints the status as the board would see it on 05/02/2024.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from mailbox import Maildir, MaildirMessage
from pathlib import Path
from zoneinfo import ZoneInfo

from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import standing
from mail_ingest.app import open_store, poll_config
from mail_ingest.pipeline import PollResult
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
NOW = datetime(2024, 2, 5, 8, 0, tzinfo=TZ)
BOARD = "bandanvanphongtho@gmail.com"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

# (id, name, group, address)
UNITS = [
    ("xa-muong-so", "Đảng ủy xã Mường So", "xa", "danguymuongso@gmail.com"),
    ("xa-dao-san", "Đảng ủy xã Dào San", "xa", "dangbodaosan@gmail.com"),
    ("xa-si-lo-lau", "Đảng ủy xã Sì Lở Lầu", "xa", "vanphongdanguysilolau@gmail.com"),
    ("xa-ma-li-pho", "Đảng ủy xã Ma Li Pho", "xa", "danguymalipho@gmail.com"),
    ("xa-khong-lao", "Đảng ủy xã Khổng Lào", "xa", "danguykhonglao@gmail.com"),
    ("tt-phong-tho", "Đảng ủy thị trấn Phong Thổ", "xa", "danguythitranphongtho@gmail.com"),
    (
        "cq-vp-hdnd-ubnd",
        "Chi bộ Văn phòng HĐND - UBND huyện",
        "co-quan",
        "vanphong.ubndphongtho@gmail.com",
    ),
    ("cq-ttyt", "Đảng bộ Trung tâm Y tế huyện", "co-quan", "ttytphongtho@gmail.com"),
    ("dt-mttq", "Chi bộ Ủy ban MTTQ Việt Nam huyện", "doan-the", "mttqphongtho@gmail.com"),
    ("llvt-cong-an", "Đảng ủy Công an huyện", "llvt", "congan.phongtho@gmail.com"),
]

CONFIG = """\
# Demo workspace: letter 35-CV/BDVHU of the Phong Thổ district board, 2024.
timezone = "Asia/Ho_Chi_Minh"

[mailbox]
kind = "maildir"
path = "mail"

[smtp]
kind = "file"
path = "outbox"
sender = "Ban Dân vận Huyện ủy Phong Thổ <{board}>"

[storage]
path = "data"

[report]
recipients = ["lanhdao.phongtho@gmail.com"]

[notify]
contact = "đồng chí Nguyễn Văn A, Phó Trưởng Ban Dân vận Huyện ủy, điện thoại 0912 345 678"
{units}
[[requirements]]
id = "dvk-2024-dang-ky"
title = "Đăng ký thi đua “Dân vận khéo” năm 2024"
forms = ["mau-01", "mau-02"]
before = 2024-02-01
reminders = [-3, 1]
letter = {{ number = "35-CV/BDVHU", date = 2024-01-23, by = "Ban Dân vận Huyện ủy", about = "tiếp tục đẩy mạnh thực hiện phong trào thi đua “Dân vận khéo” năm 2024" }}

[requirements.rules]
min_collectives = {{ xa = 2, default = 1 }}
min_individuals = {{ xa = 2, default = 1 }}
"""

E = SampleEntry
MUONG_SO = [
    E("Hợp tác xã chè Shan tuyết Mường So", "tap-the", "kinh-te", "huyen", "Mô hình trồng chè Shan tuyết theo hướng hữu cơ"),
    E("Chi hội Phụ nữ bản Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Mô hình “Nhà sạch, vườn đẹp”"),
    E("Lò Văn Thắng, Bí thư chi bộ bản Khổng Khau", "ca-nhan", "xay-dung-dang", "xa", "Vận động nhân dân hiến đất làm đường nội đồng"),
    E("Tao Thị Xuân, Trưởng bản Phiêng Pẳn", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản an ninh trật tự bản Phiêng Pẳn"),
]  # fmt: skip
DAO_SAN_FIRST = [
    E("Đoàn Thanh niên xã Dào San", "tap-the", "kinh-te", "xa", "Thanh niên giúp nhau phát triển kinh tế"),
    E("Giàng A Chá, Trưởng bản Tả Phìn", "ca-nhan", "kinh-te", "xa", "Trồng thảo quả dưới tán rừng"),
    E("Lý Thị Mai, Chi hội trưởng phụ nữ", "ca-nhan", "van-hoa-xa-hoi", "xa", "Xóa bỏ tảo hôn trong đồng bào Mông"),
]  # fmt: skip
DAO_SAN_FIXED = [
    *DAO_SAN_FIRST,
    E("Hội Cựu chiến binh xã Dào San", "tap-the", "quoc-phong-an-ninh", "xa", "Cựu chiến binh tham gia giữ gìn an ninh biên giới"),
]  # fmt: skip
SI_LO_LAU = [
    E("Hội Nông dân xã Sì Lở Lầu", "tap-the", "kinh-te", "huyen", "Trồng cây thảo quả, tăng thu nhập"),
    E("Đồn Biên phòng Sì Lở Lầu và Đoàn xã", "tap-the", "quoc-phong-an-ninh", "xa", "Đỡ đầu học sinh nghèo vùng biên"),
    E("Phàn Văn Lở, Bí thư chi bộ bản Thà Giàng Phố", "ca-nhan", "xay-dung-dang", "xa", "Xây dựng chi bộ trong sạch vững mạnh"),
    E("Chảo Thị Mẩy, Y tá thôn bản", "ca-nhan", "van-hoa-xa-hoi", "xa", "Vận động phụ nữ sinh con tại trạm y tế"),
]  # fmt: skip
MA_LI_PHO = [
    E("Chi bộ bản Ma Li Pho", "tap-the", "xay-dung-dang", "xa", "Sinh hoạt chi bộ gắn với nhiệm vụ chính trị của bản"),
    E("Hội Phụ nữ xã Ma Li Pho", "tap-the", "kinh-te", "xa", "Phụ nữ nuôi lợn đen bản địa"),
    E("Vàng A Sử, Trưởng bản", "ca-nhan", "kinh-te", "xa", "Chuyển đổi cây trồng trên đất dốc"),
    E("Sần Thị Dung, Giáo viên", "ca-nhan", "van-hoa-xa-hoi", "xa", "Vận động học sinh đến trường"),
]  # fmt: skip
PHONG_THO = [
    E("Tổ dân phố số 3", "tap-the", "van-hoa-xa-hoi", "xa", "Tuyến phố văn minh, sạch đẹp"),
    E("Hội Cựu chiến binh thị trấn", "tap-the", "quoc-phong-an-ninh", "xa", "Camera an ninh tổ dân phố"),
    E("Nguyễn Văn Hùng, Tổ trưởng tổ dân phố số 1", "ca-nhan", "kinh-te", "xa", "Vận động hộ kinh doanh giữ vệ sinh chợ"),
    E("Lò Thị Hoa, Chi hội trưởng phụ nữ", "ca-nhan", "van-hoa-xa-hoi", "xa", "Câu lạc bộ dân ca dân tộc Thái"),
]  # fmt: skip
VAN_PHONG = [
    E("Văn phòng HĐND - UBND huyện", "tap-the", "xay-dung-dang", "huyen", "Cải cách thủ tục hành chính “một cửa”"),
    E("Trần Minh Đức, Chánh Văn phòng", "ca-nhan", "xay-dung-dang", "huyen", "Tiếp công dân và giải quyết kiến nghị đúng hạn"),
]  # fmt: skip
MTTQ = [
    E("Ban Thường trực Ủy ban MTTQ huyện", "tap-the", "van-hoa-xa-hoi", "huyen", "Mái ấm Đại đoàn kết cho hộ nghèo"),
    E("Đèo Văn Sơn, Phó Chủ tịch", "ca-nhan", "van-hoa-xa-hoi", "huyen", "Vận động xã hội hóa xây nhà văn hóa bản"),
]  # fmt: skip
CONG_AN = [
    E("Đội Cảnh sát quản lý hành chính", "tap-the", "quoc-phong-an-ninh", "huyen", "Làm căn cước công dân lưu động tại bản"),
    E("Thiếu tá Lường Văn Dũng", "ca-nhan", "quoc-phong-an-ninh", "xa", "Công an xã bám bản, bám dân"),
]  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    workspace: Path
    config: Path
    poll: PollResult


def run(workspace: Path | None, console: Console | None = None, web: bool | None = None) -> Outcome:
    """Build the workspace, ingest the mail, print the status; returns where it all is.
    With `web`, the page's part too: served (True) or its command printed (False)."""
    console = console or Console()
    root = workspace or Path(tempfile.mkdtemp(prefix="mail-ingest-demo-"))
    config_path = build(root)
    config = config_module.load(config_path)
    result = poll_config(config)
    with open_store(config) as store:
        statuses = standing.compute(config, store, NOW)
    console.print(standing.as_table(statuses, config.timezone, NOW, titles=config.form_titles()))
    console.print(
        f"\nIngested {result.new} messages ({', '.join(f'{k} {v}' for k, v in sorted(result.outcomes.items()))}).\n"
        f"Workspace: {root}\n"
        f"  config   {config_path}\n  mailbox  {root / 'mail'}\n  store    {config.storage}\n"
        f"Try: mail-ingest --config {config_path} status --now {NOW.isoformat()} --format json\n"
        f"     mail-ingest --config {config_path} messages\n"
        f"     mail-ingest --config {config_path} report --now {NOW.isoformat()} --dry-run\n"
        f"     mail-ingest --config {config_path} remind --now 2024-01-26T09:00 --dry-run"
    )
    if web is not None:  # the command: a held message, a demo account, the page
        from mail_ingest.web import demo as web_demo

        web_demo.start(config_path, NOW, console, serve=web)
    return Outcome(root, config_path, result)


def build(root: Path) -> Path:
    """Write the config and the Maildir; returns the config's path."""
    root.mkdir(parents=True, exist_ok=True)
    units = "".join(
        f'\n[[units]]\nid = "{i}"\nname = "{n}"\ngroup = "{g}"\nemails = ["{a}"]\n'
        for i, n, g, a in UNITS
    )
    config_path = root / "mail-ingest.toml"
    config_path.write_text(CONFIG.format(board=BOARD, units=units), encoding="utf-8")
    box = Maildir(root / "mail", create=True)
    for when, message in _mail():
        key = box.add(MaildirMessage(message))
        stamp = when.timestamp()
        os.utime(root / "mail" / "new" / key, (stamp, stamp))  # delivery time, as Dovecot sets it
    return config_path


def _mail() -> list[tuple[datetime, EmailMessage]]:
    """The mail the board received, as (arrival, message)."""
    names = {unit_id: (name, address) for unit_id, name, _, address in UNITS}

    def at(day: int, month: int, hour: int, minute: int) -> datetime:
        return datetime(2024, month, day, hour, minute, tzinfo=TZ)

    def mail(
        unit: str, when: datetime, subject: str, body: str, *files: tuple[str, bytes]
    ) -> tuple[datetime, EmailMessage]:
        name, address = names[unit]
        return when, _message(f"{name} <{address}>", when, subject, body, files)

    return [
        mail("xa-muong-so", at(25, 1, 9, 12), "V/v gửi biểu đăng ký thi đua Dân vận khéo năm 2024",
             "Kính gửi Ban Dân vận Huyện ủy,\nĐảng ủy xã Mường So gửi biểu mẫu 01 và báo cáo mẫu 02.\nTrân trọng.",
             ("Mau 01 - Dang ky DVK 2024 - Muong So.xlsx", mau01_xlsx("Đảng ủy xã Mường So", MUONG_SO)),
             ("Mau 02 - Bao cao mo hinh diem - Muong So.docx", mau02_docx("Đảng ủy xã Mường So", [e.model for e in MUONG_SO]))),
        mail("xa-dao-san", at(26, 1, 14, 5), "bao cao dan van kheo xa Dao San",
             "Gửi Ban Dân vận biểu đăng ký và báo cáo của xã Dào San.",
             ("Bieu dang ky DVK xa Dao San.xlsx", mau01_xlsx("Đảng ủy xã Dào San", DAO_SAN_FIRST)),
             ("Bao cao mo hinh diem Dao San.docx", mau02_docx("Đảng ủy xã Dào San", [e.model for e in DAO_SAN_FIRST]))),
        mail("xa-dao-san", at(30, 1, 15, 40), "Re: bao cao dan van kheo xa Dao San (bổ sung)",
             "Xã Dào San gửi lại biểu mẫu 01 đã bổ sung tập thể thứ hai theo hướng dẫn.",
             ("Bieu dang ky DVK xa Dao San (bo sung).xlsx", mau01_xlsx("Đảng ủy xã Dào San", DAO_SAN_FIXED))),
        mail("xa-si-lo-lau", at(2, 2, 8, 30), "Gửi biểu mẫu Dân vận khéo xã Sì Lở Lầu (gửi chậm)",
             "Do đường truyền mạng tại xã bị gián đoạn, Đảng ủy xã xin gửi chậm.",
             ("Mau01_SiLoLau.xlsx", mau01_xlsx("Đảng ủy xã Sì Lở Lầu", SI_LO_LAU)),
             ("Mau02_SiLoLau.docx", mau02_docx("Đảng ủy xã Sì Lở Lầu", [e.model for e in SI_LO_LAU]))),
        mail("xa-ma-li-pho", at(29, 1, 10, 20), "Fwd: Mẫu 01",
             "Đảng ủy xã Ma Li Pho gửi biểu đăng ký (dạng Word).",
             ("Mau 01 Ma Li Pho.docx", mau01_docx("Đảng ủy xã Ma Li Pho", MA_LI_PHO))),
        mail("tt-phong-tho", at(31, 1, 23, 58), "Thị trấn Phong Thổ gửi đăng ký Dân vận khéo 2024",
             "Kính gửi Ban Dân vận Huyện ủy biểu mẫu 01 và mẫu 02 của Đảng ủy thị trấn.",
             ("Mau 01 TT Phong Tho.xlsx", mau01_xlsx("Đảng ủy thị trấn Phong Thổ", PHONG_THO)),
             ("Mau 02 TT Phong Tho.docx", mau02_docx("Đảng ủy thị trấn Phong Thổ", [e.model for e in PHONG_THO]))),
        mail("cq-vp-hdnd-ubnd", at(22, 1, 16, 45), "Văn phòng HĐND-UBND huyện gửi đăng ký DVK",
             "Chi bộ Văn phòng gửi biểu đăng ký và báo cáo.",
             ("Mau 01 VP HDND-UBND.xlsx", mau01_xlsx("Chi bộ Văn phòng HĐND - UBND huyện", VAN_PHONG)),
             ("Mau 02 VP HDND-UBND.docx", mau02_docx("Chi bộ Văn phòng HĐND - UBND huyện", [e.model for e in VAN_PHONG]))),
        _auto_reply(names["cq-ttyt"], at(29, 1, 7, 3)),
        mail("dt-mttq", at(30, 1, 9, 0), "MTTQ huyện gửi biểu mẫu 01",
             "Gửi trước biểu mẫu 01; báo cáo mẫu 02 sẽ gửi sau.",
             ("Mau 01 MTTQ huyen.xlsx", mau01_xlsx("Chi bộ Ủy ban MTTQ Việt Nam huyện", MTTQ))),
        mail("dt-mttq", at(1, 2, 7, 45), "MTTQ huyện gửi báo cáo mẫu 02",
             "Gửi báo cáo tình hình thực hiện mô hình điểm.",
             ("Mau 02 MTTQ huyen.docx", mau02_docx("Chi bộ Ủy ban MTTQ Việt Nam huyện", [e.model for e in MTTQ]))),
        mail("llvt-cong-an", at(31, 1, 11, 15), "Công an huyện gửi đăng ký thi đua Dân vận khéo",
             "Gửi Ban Dân vận biểu mẫu 01 và 02.",
             ("Mau 01 Cong an huyen.xlsx", mau01_xlsx("Đảng ủy Công an huyện", CONG_AN)[:3000]),
             ("Mau 02 Cong an huyen.docx", mau02_docx("Đảng ủy Công an huyện", [e.model for e in CONG_AN]))),
        (at(27, 1, 20, 10), _message(
            "Giàng Seo Páo <giangseopao1985@gmail.com>", at(27, 1, 20, 10),
            "gui bieu dan van kheo", "Em gửi biểu của xã ạ.",
            [("Mau 01.xlsx", mau01_xlsx("Đảng ủy xã Khổng Lào", MA_LI_PHO[:2]))])),
    ]  # fmt: skip


def _auto_reply(unit: tuple[str, str], when: datetime) -> tuple[datetime, EmailMessage]:
    name, address = unit
    message = _message(
        f"{name} <{address}>", when, "Trả lời tự động: Đôn đốc gửi biểu đăng ký Dân vận khéo",
        "Tôi đang đi công tác đến hết ngày 05/02/2024. Mọi việc xin liên hệ đồng chí Phó Bí thư.", [],
    )  # fmt: skip
    message["Auto-Submitted"] = "auto-replied"
    return when, message


def _message(
    sender: str,
    when: datetime,
    subject: str,
    body: str,
    files: list[tuple[str, bytes]] | tuple[tuple[str, bytes], ...],
) -> EmailMessage:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = f"Ban Dân vận Huyện ủy Phong Thổ <{BOARD}>"
    message["Subject"] = subject
    # The sender's clock is a few minutes off, as real ones are: arrival time is what counts.
    message["Date"] = format_datetime(when - timedelta(minutes=3))
    message["Message-ID"] = make_msgid(domain="gmail.com")
    message.set_content(body)
    for filename, data in files:
        maintype, subtype = (XLSX if filename.endswith(".xlsx") else DOCX).split("/")
        message.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    return message
