"""What people read: one wording module, forms by name, the letter, the contact, names."""

from __future__ import annotations

import email
import io
import re
from dataclasses import replace
from datetime import date, datetime
from email import policy
from zoneinfo import ZoneInfo

import openpyxl
import pytest
from rich.console import Console

from mail_ingest import config as config_module
from mail_ingest import decisions, demo, standing, thread, wording
from mail_ingest.app import open_store
from mail_ingest.config import Config
from mail_ingest.delivery import compose

TZ = ZoneInfo("Asia/Ho_Chi_Minh")
LETTER = "Thực hiện Công văn số 35-CV/BDVHU ngày 23/01/2024 của Ban Dân vận Huyện ủy về"
CONTACT = "đồng chí Nguyễn Văn A"


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Config:
    outcome = demo.run(tmp_path_factory.mktemp("demo"), Console(file=io.StringIO()))
    return config_module.load(outcome.config)


def at(day: int, month: int, hour: int) -> datetime:
    return datetime(2024, month, day, hour, tzinfo=TZ)


def mails(config: Config, now: datetime) -> list[decisions.Outgoing]:
    with open_store(config) as store:
        return decisions.due(config, store, now, force=True)


def test_dates_as_a_letter_writes_them() -> None:
    assert wording.clock(datetime(2024, 2, 5, 10, 30, tzinfo=ZoneInfo("UTC")), TZ) == (
        "17 giờ 30 ngày 05/02/2024"
    )
    assert wording.day(date(2024, 2, 1)) == "ngày 01/02/2024"


@pytest.mark.parametrize(
    "prefixes",
    ["Re: ", "RE: Re: ", "Re: Re: Fwd: TL: Trả lời: ", "fw: AW: WG: SV: ", "TR: Chuyển tiếp: ",
     "Re[2]: ", "tRẢ LỜI: re:", ""],
)  # fmt: skip
@pytest.mark.parametrize("subject", ["Báo cáo Dân vận khéo", "[DVK] Báo cáo: Mẫu 01"])
def test_one_re_whatever_the_prefixes(prefixes: str, subject: str) -> None:
    assert wording.reply_subject(prefixes + subject) == f"Re: {subject}"
    if subject.startswith("[DVK]"):  # a tag in front of the prefixes is kept in front
        assert wording.reply_subject(f"[DVK] {prefixes}Báo cáo") == "Re: [DVK] Báo cáo"


def test_references_keep_the_first_and_the_last_ten() -> None:
    ids = [f"<m{i}@x.vn>" for i in range(30)]
    chain = thread.chain(" ".join(ids), "<own@x.vn>")
    assert chain == (ids[0], *ids[-9:], "<own@x.vn>")
    assert thread.chain("garbage <no-at> \r\nX: y", "<own@x.vn>") == ("<own@x.vn>",)


def test_no_form_id_anywhere_a_person_reads(campaign: Config) -> None:
    """Every mail of the campaign, the workbook and the status table name forms by name."""
    titles = campaign.form_titles()
    texts = []
    for now in (at(25, 1, 10), at(26, 1, 15), at(29, 1, 9), at(1, 2, 18), at(2, 2, 9)):
        for m in mails(campaign, now):
            texts += [m.subject, m.text, m.html or ""]
            for a in m.attachments:
                book = openpyxl.load_workbook(io.BytesIO(a.data))
                texts += [str(c.value) for ws in book for row in ws.iter_rows() for c in row]
        with open_store(campaign) as store:
            statuses = standing.compute(campaign, store, now)
        out = Console(file=io.StringIO(), width=400)
        out.print(standing.as_table(statuses, TZ, now, titles=titles))
        texts.append(out.file.getvalue())  # type: ignore[attr-defined]
    joined = "\n".join(texts)
    for form in titles:
        assert form not in joined, form
    assert titles["mau-01"] in joined and titles["mau-02"] in joined


def test_mails_cite_the_letter_and_name_the_contact(campaign: Config) -> None:
    found = mails(campaign, at(26, 1, 15)) + mails(campaign, at(29, 1, 9))
    kinds = {m.key.split(":")[0] for m in found}
    assert {"ack", "remind", "report"} <= kinds
    for m in found:
        assert CONTACT in m.text and CONTACT in (m.html or ""), m.key
        if m.key.startswith(("ack:", "remind:")):
            assert LETTER in m.text, m.key
        assert "không trả lời" not in m.text
    bare = replace(
        campaign,
        notify=replace(campaign.notify, contact=""),
        requirements=tuple(replace(r, letter=None) for r in campaign.requirements),
    )
    for m in mails(bare, at(29, 1, 9)):
        assert "Công văn" not in m.text and "liên hệ" not in m.text and "None" not in m.text
        if m.key.startswith("remind:"):
            assert "đề nghị các đơn vị gửi hồ sơ Đăng ký thi đua" in m.text
    for m in found + mails(bare, at(29, 1, 9)):  # no sentence glued to the next by a template
        glued = re.search(r"[.:;!?][A-ZÀ-ỸĐ]", m.text)
        assert glued is None, (m.key, m.text[max(0, glued.start() - 40) : glued.end() + 20])


def test_incomplete_ack_invites_a_reply_in_its_thread(campaign: Config) -> None:
    [ack] = [m for m in mails(campaign, at(26, 1, 15)) if "Dào San" in m.to[0] and
             m.key.startswith("ack:")]  # fmt: skip
    assert "Đơn vị có thể trả lời thư này, đính kèm tệp đã bổ sung" in ack.text
    raw = compose(ack, "Ban Dân vận <bdv@example.vn>", at(26, 1, 15)).as_bytes()
    sent = email.message_from_bytes(raw, policy=policy.default)
    assert sent["In-Reply-To"] == ack.in_reply_to
    assert str(sent["References"]).split()[-1] == ack.in_reply_to


def test_recipients_by_name_round_trip(campaign: Config) -> None:
    for m in mails(campaign, at(29, 1, 9)):
        raw = compose(m, "Ban Dân vận <bdv@example.vn>", at(29, 1, 9)).as_bytes()
        assert all(ord(c) < 128 for c in raw.split(b"\n\n")[0].decode("ascii"))
        [to] = email.message_from_bytes(raw, policy=policy.default)["To"].addresses
        if m.key.startswith("report:"):
            assert (to.display_name, to.addr_spec) == (
                "Ban Dân vận Huyện ủy Phong Thổ", "lanhdao.phongtho@gmail.com"
            )  # fmt: skip
        else:
            unit = next(u for u in campaign.units if to.addr_spec in u.emails)
            assert to.display_name == unit.name


def test_report_counts_checking_only_when_some(campaign: Config) -> None:
    now = at(1, 2, 18)
    with open_store(campaign) as store:
        [report] = [d for d in decisions.decide(campaign, store, now, force=True)
                    if d.kind == "report"]  # fmt: skip
    assert report.context["counts"]["checking"] == 0
    assert "Chờ kiểm tra" not in decisions.render(campaign, report).text
    counts = {**report.context["counts"], "checking": 2}
    some = replace(report, context={**report.context, "counts": counts}, sheet=None)
    assert "- Chờ kiểm tra: 2" in decisions.render(campaign, some).text


def test_deciding_apart_from_sending_and_its_names_still_read_from_decisions() -> None:
    """decisions.py stays a readable size; what web/ and app.py import from it still works."""
    from pathlib import Path

    from mail_ingest import decision, sending

    source = Path(decisions.__file__).read_text(encoding="utf-8")
    assert len(source.splitlines()) <= 400
    assert decisions.Decision is decision.Decision and decisions.Sheet is decision.Sheet
    assert decisions.send is sending.send and decisions.render is sending.render
    for name in ("GROUP_LABELS", "ACK_LABELS", "Kind", "Outgoing", "send_due", "due"):
        assert hasattr(decisions, name), name
