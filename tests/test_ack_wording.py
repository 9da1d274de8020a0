"""What a receipt says of a .zip whose files were read, and of a scan (issue 13, defect 8)."""

from __future__ import annotations

import io
import zipfile
from datetime import datetime, timedelta
from pathlib import Path

from mail_ingest import config as config_module
from mail_ingest import decisions
from mail_ingest.app import open_store, poll_config
from mail_ingest.samples import SampleEntry, mau01_xlsx, mau02_docx

from conftest import CONFIG, Deployment, make_message

COMMUNE = "Đảng ủy xã Mường So <DangUy.MuongSo@example.vn>"
SMTP = '[smtp]\nkind = "file"\npath = "outbox"\nsender = "Ban Dân vận <bdv@example.vn>"\n'
ENTRIES = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết"),
    SampleEntry("Chi hội Phụ nữ Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản"),
]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_a_read_zip_and_a_scan_are_worded_as_what_happened(tmp_path: Path) -> None:
    deployment = Deployment(tmp_path, CONFIG.replace("[storage]", SMTP + "[storage]", 1))
    bundle = _zip({
        "Mẫu 01.xlsx": mau01_xlsx("Đảng ủy xã Mường So", ENTRIES),
        "Mẫu 02.docx": mau02_docx("Đảng ủy xã Mường So", [e.model for e in ENTRIES]),
    })  # fmt: skip
    received = datetime.fromisoformat("2024-01-20T09:00+07:00")
    deployment.deliver(
        make_message(COMMUNE, files=[("hồ sơ.zip", bundle), ("scan.pdf", b"%PDF-1.4\n%%EOF")]),
        received,
    )
    config = config_module.load(deployment.config)
    poll_config(config)
    with open_store(config) as store:
        [ack] = decisions.due(config, store, received + timedelta(minutes=5), ("ack",))
    assert "xem đề nghị bên dưới" not in ack.text
    assert "- Tệp “hồ sơ.zip”: tệp nén, đã mở và đọc 2 tệp bên trong" in ack.text
    assert "- Tệp “hồ sơ.zip/Mẫu 01.xlsx”: " in ack.text
    assert "- Tệp “scan.pdf”: bản chụp/bản scan, đã nhận; Ban Dân vận sẽ xem trực tiếp." in ack.text
    assert "Đề nghị đơn vị kiểm tra, bổ sung" not in ack.text  # nothing to ask: complete
