"""Mail exactly as Gmail, Outlook, Thunderbird, mutt, Windows Live Mail and Apple Mail write it.

The header blocks below are written out byte for byte, the way each client puts them on
the wire (folding, encoded words inside quoted parameters, RFC 2231 continuations that cut
a UTF-8 letter in two, windows-1258 with separate tone marks, macOS's decomposed names),
not built with the email package, which would only test our encoder against our decoder.
Only the attachments (real .xlsx/.docx forms from mail_ingest.samples) and the bodies are
filled in. Each message goes through the real service (`mail-ingest poll` on a Maildir,
once over Dovecot IMAP) and must land with the right unit, NFC file names, recognised
forms, entry counts and status.
"""

from __future__ import annotations

import base64
import json
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from mail_ingest import config as config_module
from mail_ingest.app import open_store
from mail_ingest.cli import cli
from mail_ingest.samples import SampleEntry, mau01_docx, mau01_xlsx, mau02_docx

from conftest import CONFIG, TZ, Deployment

COMMUNE = "Đảng ủy xã Mường So"
AGENCY = "Chi bộ Văn phòng HĐND - UBND huyện"
TWO_AND_TWO = [
    SampleEntry("Hợp tác xã chè Mường So", "tap-the", "kinh-te", "huyen", "Chè Shan tuyết hữu cơ"),
    SampleEntry("Chi hội Phụ nữ Nậm Củm", "tap-the", "van-hoa-xa-hoi", "xa", "Nhà sạch, vườn đẹp"),
    SampleEntry("Lò Văn Thắng", "ca-nhan", "xay-dung-dang", "xa", "Hiến đất làm đường"),
    SampleEntry("Tao Thị Xuân", "ca-nhan", "quoc-phong-an-ninh", "xa", "Tổ tự quản an ninh"),
]
ONE_AND_TWO = TWO_AND_TWO[1:]  # a commune needs 2 collectives: incomplete
ONE_AND_ONE = [
    SampleEntry("Tổ Một cửa huyện", "tap-the", "xay-dung-dang", "huyen", "Một cửa thân thiện"),
    SampleEntry("Phạm Thị Hằng", "ca-nhan", "van-hoa-xa-hoi", "huyen", "Tủ sách pháp luật"),
]


def _models(entries: list[SampleEntry]) -> list[str]:
    return [e.model for e in entries]


def b64(data: bytes) -> bytes:
    """Base64 as mail clients write it: lines of 76 characters, CRLF between them."""
    text = base64.b64encode(data)
    return b"\r\n".join(text[i : i + 76] for i in range(0, len(text), 76))


def wire(template: bytes, **parts: bytes) -> bytes:
    """The template with CRLF line ends (as SMTP carries it) and each {part} filled in."""
    raw = template.replace(b"\n", b"\r\n")
    for name, value in parts.items():
        placeholder = b"{" + name.encode() + b"}"
        assert placeholder in raw, placeholder
        raw = raw.replace(placeholder, value)
    assert not re.search(rb"\{[a-z0-9_]+\}", raw), "a part was left unfilled"
    return raw


# --- Gmail (web): RFC 2047 words inside quoted name= and filename=, Content-ID on each file,
# multipart/alternative inside multipart/mixed, subject folded into two B words.

GMAIL_XLSX = mau01_xlsx(COMMUNE, TWO_AND_TWO)
GMAIL_DOCX = mau02_docx(COMMUNE, _models(TWO_AND_TWO))
GMAIL = wire(
    b"""\
Delivered-To: bandanvan@example.vn
Received: by 2002:a05:7010:6a8e:b0:3b1:9c2e:5d4f with SMTP id j14csp1184127mdf;
        Thu, 25 Jan 2024 01:58:12 -0800 (PST)
X-Received: by 2002:a17:906:4a0f:b0:a2c:1f0e:3d21 with SMTP id r15mr1092437ejq.12.1706176692114;
        Thu, 25 Jan 2024 01:58:12 -0800 (PST)
Return-Path: <DangUy.MuongSo@example.vn>
Received: from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])
        by mx.google.com with SMTPS id a11sor611212ejp.4.2024.01.25.01.58.11
        for <bandanvan@example.vn>
        (Google Transport Security);
        Thu, 25 Jan 2024 01:58:12 -0800 (PST)
DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
        d=example.vn; s=google; t=1706176691; x=1706781491; darn=example.vn;
        h=to:subject:message-id:date:from:mime-version:from:to:cc:subject
         :date:message-id:reply-to;
        bh=q0Y3wq2cO1hXyZ9ZbBvT0x4S0Qm7kQw2y7cFv3fX1bE=;
        b=Zm9vYmFyYmF6cXV4cXV1eGZvb2JhcmJhenF1eHF1dXhmb29iYXJiYXpxdXhxdXV4
         Zm9vYmFyYmF6cXV4cXV1eA==
X-Google-DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;
        d=1e100.net; s=20230601; t=1706176691; x=1706781491;
        h=to:subject:message-id:date:from:mime-version:x-gm-message-state
         :from:to:cc:subject:date:message-id:reply-to;
        bh=q0Y3wq2cO1hXyZ9ZbBvT0x4S0Qm7kQw2y7cFv3fX1bE=;
        b=YmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFyYmF6cXV4Zm9vYmFy
X-Gm-Message-State: AOJu0YzK3q1b8cP1mYx6x0nWq8kG2h7Jd4sFv9R0tL2pQ1aBcDeFgHiJ
\tkLmNoPqRsTuVwXyZ0123456789abcdefg==
X-Google-Smtp-Source: AGHT+IFk2J8t0mQ3pX7aV4bR1cN9sD6eW5fY2gZ0hA3iB8jC7kD4lE1mF6nG==
MIME-Version: 1.0
From: =?UTF-8?B?xJDhuqNuZyDhu6d5IHjDoyBNxrDhu51uZyBTbw==?= <DangUy.MuongSo@example.vn>
Date: Thu, 25 Jan 2024 16:58:00 +0700
Message-ID: <CAKx2v8o5mR+Qz1V0bJ5c7b0XqW3=Jd7nF2kP9qT4uH8wE@mail.gmail.com>
Subject: =?UTF-8?B?xJDhuqNuZyDhu6d5IHjDoyBNxrDhu51uZyBTbyBn4butaSBiaeG7g3UgxJE=?=
\t=?UTF-8?B?xINuZyBrw70gdGhpIMSRdWEg4oCcRMOibiB24bqtbiBraMOpb+KAnSBuxINtIDIwMjQ=?=
To: Ban Dan van Huyen uy <bandanvan@example.vn>
Content-Type: multipart/mixed; boundary="000000000000f1a2c3060fb8d4e3"

--000000000000f1a2c3060fb8d4e3
Content-Type: multipart/alternative; boundary="000000000000f1a2c1060fb8d4e1"

--000000000000f1a2c1060fb8d4e1
Content-Type: text/plain; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

K=C3=ADnh g=E1=BB=ADi Ban D=C3=A2n v=E1=BA=ADn Huy=E1=BB=87n =E1=BB=A7y.

--000000000000f1a2c1060fb8d4e1
Content-Type: text/html; charset="UTF-8"
Content-Transfer-Encoding: quoted-printable

<div dir=3D"ltr">K=C3=ADnh g=E1=BB=ADi Ban D=C3=A2n v=E1=BA=ADn Huy=E1=BB=
=87n =E1=BB=A7y.</div>

--000000000000f1a2c1060fb8d4e1--
--000000000000f1a2c3060fb8d4e3
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;\x20
\tname="=?UTF-8?B?TeG6q3UgMDEgLSDEkMSDbmcga8O9IHRoaSDEkXVhIETDom4gduG6rW4ga2jDqW8gMjAyNC54bHN4?="
Content-Disposition: attachment;\x20
\tfilename="=?UTF-8?B?TeG6q3UgMDEgLSDEkMSDbmcga8O9IHRoaSDEkXVhIETDom4gduG6rW4ga2jDqW8gMjAyNC54bHN4?="
Content-Transfer-Encoding: base64
Content-ID: <f_lrs7k9x10>
X-Attachment-Id: f_lrs7k9x10

{xlsx}
--000000000000f1a2c3060fb8d4e3
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;\x20
\tname="=?UTF-8?B?TeG6q3UgMDIgLSBCw6FvIGPDoW8gbcO0IGjDrG5oIMSRaeG7g20uZG9jeA==?="
Content-Disposition: attachment;\x20
\tfilename="=?UTF-8?B?TeG6q3UgMDIgLSBCw6FvIGPDoW8gbcO0IGjDrG5oIMSRaeG7g20uZG9jeA==?="
Content-Transfer-Encoding: base64
Content-ID: <f_lrs7k9y21>
X-Attachment-Id: f_lrs7k9y21

{docx}
--000000000000f1a2c3060fb8d4e3--
""",
    xlsx=b64(GMAIL_XLSX),
    docx=b64(GMAIL_DOCX),
)

# --- Outlook (Microsoft 365): subject folded over four B words, Thread-Topic, text and html
# in base64, attachments with RFC 2047 in quotes plus size= and creation-date=.

OUTLOOK_01 = mau01_docx(AGENCY, ONE_AND_ONE)
OUTLOOK_02 = mau02_docx(AGENCY, _models(ONE_AND_ONE))
OUTLOOK_TEXT = (
    "Kính gửi Ban Dân vận Huyện ủy,\r\n\r\n"
    "Chi bộ Văn phòng HĐND - UBND huyện xin gửi bổ sung Mẫu 01 và Mẫu 02.\r\n\r\n"
    "Trân trọng./.\r\n"
)
OUTLOOK_HTML = (
    '<html><head><meta http-equiv="Content-Type" content="text/html; charset=utf-8">'
    '</head><body lang="vi-VN"><div class="WordSection1"><p class="MsoNormal">'
    + OUTLOOK_TEXT.replace("\r\n", "<br>")
    + "</p></div></body></html>\r\n"
)
OUTLOOK_SUBJECT_WORDS = b"""\
=?utf-8?B?Q2hpIGLhu5kgVsSDbiBwaMOybmcgSMSQTkQgLSBVQg==?=
 =?utf-8?B?TkQgaHV54buHbiBn4butaSBN4bqrdSAwMSB2w6AgTeG6q3U=?=
 =?utf-8?B?IDAyIMSRxINuZyBrw70g4oCcRMOibiB24bqtbiBraMOpb+KAnQ==?=
 =?utf-8?B?IG7Eg20gMjAyNCAoYuG7lSBzdW5nKQ==?="""
OUTLOOK = wire(
    b"""\
Received: from SG2PR06MB5310.apcprd06.prod.outlook.com (2603:1096:4:1a1::12) by
 KL1PR06MB6213.apcprd06.prod.outlook.com with HTTPS; Fri, 2 Feb 2024 01:30:12
 +0000
From: =?utf-8?B?VsSDbiBwaMOybmcgSMSQTkQgLSBVQk5EIGh1eeG7h24=?=
\t<vanphong@example.vn>
To: "bandanvan@example.vn" <bandanvan@example.vn>
Subject: {subject}
Thread-Topic: {subject}
Thread-Index: AdpVX3Yk0m2QeX8nS5uI9fGk2w1x0Q==
Date: Fri, 2 Feb 2024 01:30:05 +0000
Message-ID:
 <SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422@SG2PR06MB5310.apcprd06.prod.outlook.com>
Accept-Language: vi-VN, en-US
Content-Language: vi-VN
X-MS-Has-Attach: yes
X-MS-TNEF-Correlator:
msip_labels:
x-ms-publictraffictype: Email
x-ms-exchange-organization-authas: Internal
Content-Type: multipart/mixed;
\tboundary="_004_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_"
MIME-Version: 1.0

--_004_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_
Content-Type: multipart/alternative;
\tboundary="_000_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_"

--_000_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_
Content-Type: text/plain; charset="utf-8"
Content-Transfer-Encoding: base64

{text}

--_000_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_
Content-Type: text/html; charset="utf-8"
Content-Transfer-Encoding: base64

{html}

--_000_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_--

--_004_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;
\tname="=?utf-8?B?TeG6q3UgMDEgLSBWxINuIHBow7JuZyBIxJBORC1VQk5ELmRvY3g=?="
Content-Description: =?utf-8?B?TeG6q3UgMDEgLSBWxINuIHBow7JuZyBIxJBORC1VQk5ELmRvY3g=?=
Content-Disposition: attachment;
\tfilename="=?utf-8?B?TeG6q3UgMDEgLSBWxINuIHBow7JuZyBIxJBORC1VQk5ELmRvY3g=?=";
\tsize={size01}; creation-date="Fri, 02 Feb 2024 01:28:44 GMT";
\tmodification-date="Fri, 02 Feb 2024 01:30:04 GMT"
Content-Transfer-Encoding: base64

{docx01}

--_004_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;
\tname="=?utf-8?B?TeG6q3UgMDIgLSBCw6FvIGPDoW8gdMOsbmggaMOsbmggdGjhu7FjIGhp4buHbi5kb2N4?="
Content-Description:
 =?utf-8?B?TeG6q3UgMDIgLSBCw6FvIGPDoW8gdMOsbmggaMOsbmggdGjhu7FjIGhp4buHbi5kb2N4?=
Content-Disposition: attachment;
\tfilename="=?utf-8?B?TeG6q3UgMDIgLSBCw6FvIGPDoW8gdMOsbmggaMOsbmggdGjhu7FjIGhp4buHbi5kb2N4?=";
\tsize={size02}; creation-date="Fri, 02 Feb 2024 01:29:10 GMT";
\tmodification-date="Fri, 02 Feb 2024 01:30:04 GMT"
Content-Transfer-Encoding: base64

{docx02}

--_004_SG2PR06MB53104C2E8B7A1F0D9E3C6A5BB6422SG2PR06MB5310apcp_--
""",
    subject=OUTLOOK_SUBJECT_WORDS.replace(b"\n", b"\r\n"),
    text=b64(OUTLOOK_TEXT.encode()),
    html=b64(OUTLOOK_HTML.encode()),
    size01=str(len(OUTLOOK_01)).encode(),
    docx01=b64(OUTLOOK_01),
    size02=str(len(OUTLOOK_02)).encode(),
    docx02=b64(OUTLOOK_02),
)

# --- Thunderbird 115: RFC 2231 filename*0*/*1*/*2* whose cuts fall inside "Đ" (C4|90) and
# "ờ" (E1 BB|9D), a Q-encoded subject folded mid-word, 8bit UTF-8 text, format=flowed.

THUNDERBIRD_XLSX = mau01_xlsx(COMMUNE, ONE_AND_TWO)
THUNDERBIRD_DOCX = mau02_docx(COMMUNE, _models(ONE_AND_TWO))
THUNDERBIRD = wire(
    b"""\
Message-ID: <4f1c2a7e-9b3d-4e61-a5c8-2d7f0b1e3c94@example.vn>
Date: Tue, 30 Jan 2024 10:12:47 +0700
MIME-Version: 1.0
User-Agent: Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:115.0) Gecko/20100101
 Thunderbird/115.6.1
Content-Language: vi
To: bandanvan@example.vn
From: =?UTF-8?B?xJDhuqNuZyDhu6d5IHjDoyBNxrDhu51uZyBTbw==?= <dangUY.muongso@EXAMPLE.vn>
Subject: =?UTF-8?Q?G=E1=BB=ADi_l=E1=BA=A1i_M=E1=BA=ABu_01=2C_M=E1=BA=ABu_02_=28b?=
 =?UTF-8?Q?=E1=BB=95_sung=29?=
Content-Type: multipart/mixed; boundary="------------0hBq8Yc2Lk3nWm7XpR5tVs1a"

This is a multi-part message in MIME format.
--------------0hBq8Yc2Lk3nWm7XpR5tVs1a
Content-Type: text/plain; charset=UTF-8; format=flowed
Content-Transfer-Encoding: 8bit

{text}

--------------0hBq8Yc2Lk3nWm7XpR5tVs1a
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
 name="=?UTF-8?B?TeG6q3UgMDEgLSDEkMSDbmcga8O9IHRoaSDEkXVhIA==?=
 =?UTF-8?B?Tcaw4budbmcgU28gKGLhu5Ugc3VuZykueGxzeA==?="
Content-Disposition: attachment;
 filename*0*=UTF-8''M%E1%BA%ABu%2001%20-%20%C4;
 filename*1*=%90%C4%83ng%20k%C3%BD%20thi%20%C4%91ua%20M%C6%B0%E1%BB;
 filename*2*=%9Dng%20So%20%28b%E1%BB%95%20sung%29.xlsx
Content-Transfer-Encoding: base64

{xlsx}
--------------0hBq8Yc2Lk3nWm7XpR5tVs1a
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;
 name="=?UTF-8?B?TeG6q3UgMDIgLSBCw6FvIGPDoW8gKGLhu5Ugc3VuZykuZG9jeA==?="
Content-Disposition: attachment;
 filename*0*=UTF-8''M%E1%BA%ABu%2002%20-%20B%C3%A1o%20c%C3;
 filename*1*=%A1o%20%28b%E1%BB%95%20sung%29.docx
Content-Transfer-Encoding: base64

{docx}
--------------0hBq8Yc2Lk3nWm7XpR5tVs1a--
""",
    text="Kính gửi Ban Dân vận Huyện ủy,\r\nĐảng ủy xã gửi lại Mẫu 01, Mẫu 02.\r\n".encode(),
    xlsx=b64(THUNDERBIRD_XLSX),
    docx=b64(THUNDERBIRD_DOCX),
)

# --- NeoMutt: filename*=utf-8'' (RFC 2231, no continuation), no name= on Content-Type,
# a quoted-printable inline text part, subject folded into two Q words cut inside "gửi".

MUTT_01 = mau01_docx(COMMUNE, TWO_AND_TWO)
MUTT_02 = mau02_docx(COMMUNE, _models(TWO_AND_TWO))
MUTT = wire(
    b"""\
Date: Wed, 31 Jan 2024 23:41:09 +0700
From: =?utf-8?Q?=C4=90=E1=BA=A3ng_=E1=BB=A7y_x=C3=A3_M=C6=B0=E1=BB=9Dng_So?=
 <DangUy.MuongSo@example.vn>
To: bandanvan@example.vn
Subject: =?utf-8?Q?=C4=90=E1=BA=A3ng_=E1=BB=A7y_x=C3=A3_M=C6=B0=E1=BB=9Dng_So_g?=
 =?utf-8?Q?=E1=BB=ADi_M=E1=BA=ABu_01=2C_M=E1=BA=ABu_02?=
Message-ID: <ZbpG5dYx2Qm8sKf1@muongso.example.vn>
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary="h3vwq2zq5kx4mrgl"
Content-Disposition: inline
User-Agent: NeoMutt/20231103

--h3vwq2zq5kx4mrgl
Content-Type: text/plain; charset=utf-8
Content-Disposition: inline
Content-Transfer-Encoding: quoted-printable

K=C3=ADnh g=E1=BB=ADi Ban D=C3=A2n v=E1=BA=ADn Huy=E1=BB=87n =E1=BB=A7y.
=C4=90=E1=BA=A3ng =E1=BB=A7y x=C3=A3 M=C6=B0=E1=BB=9Dng So g=E1=BB=ADi M=E1=
=BA=ABu 01 v=C3=A0 M=E1=BA=ABu 02.

--=20
VP =C4=90=E1=BA=A3ng =E1=BB=A7y x=C3=A3 M=C6=B0=E1=BB=9Dng So

--h3vwq2zq5kx4mrgl
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document
Content-Disposition: attachment;
 filename*=utf-8''M%E1%BA%ABu%2001%20-%20x%C3%A3%20M%C6%B0%E1%BB%9Dng%20So.docx
Content-Transfer-Encoding: base64

{docx01}

--h3vwq2zq5kx4mrgl
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document
Content-Disposition: attachment;
 filename*=utf-8''M%E1%BA%ABu%2002%20-%20B%C3%A1o%20c%C3%A1o%20m%C3%B4%20h%C3%ACnh%20%C4%91i%E1%BB%83m.docx
Content-Transfer-Encoding: base64

{docx02}

--h3vwq2zq5kx4mrgl--
""",
    docx01=b64(MUTT_01),
    docx02=b64(MUTT_02),
)

# --- Windows Live Mail on a Vietnamese Windows: windows-1258 everywhere. That code page
# has "ư", "ă", "â", "ê", "đ" but writes most toned letters as base + combining tone mark
# ("ử" = FD D2, "ò" = o CC), and the subject's two words are cut between a letter and its
# tone mark ("biê" | "̉u").

WINDOWS_1258_XLSX = mau01_xlsx(AGENCY, ONE_AND_ONE)
WINDOWS_1258 = wire(
    b"""\
From: =?windows-1258?Q?V=E3n_pho=CCng_H=D0ND_-_UBND_huy=EA=F2n?= <vanphong@example.vn>
To: <bandanvan@example.vn>
Subject: =?windows-1258?Q?G=FD=D2i_bi=EA?=
\t=?windows-1258?Q?=D2u_m=E2=DEu_01_=F0=E3ng_ky=EC_thi_=F0ua_D=E2n_v=E2=F2n_kh=E9o?=
Date: Mon, 29 Jan 2024 14:05:33 +0700
Message-ID: <A1B2C3D4E5F6478899AABBCCDDEEFF00@VPHUYEN>
MIME-Version: 1.0
Content-Type: multipart/mixed;
\tboundary="----=_NextPart_000_0007_01DA52B4.6B1E3C20"
X-Priority: 3
X-MSMail-Priority: Normal
Importance: Normal
X-Mailer: Microsoft Windows Live Mail 16.4.3528.331
X-MimeOLE: Produced By Microsoft MimeOLE V16.4.3528.331

This is a multi-part message in MIME format.

------=_NextPart_000_0007_01DA52B4.6B1E3C20
Content-Type: text/plain;
\tcharset="windows-1258"
Content-Transfer-Encoding: quoted-printable

Ki=ECnh g=FD=D2i Ban D=E2n v=E2=F2n Huy=EA=F2n u=D2y.

------=_NextPart_000_0007_01DA52B4.6B1E3C20
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
\tname="=?windows-1258?Q?M=E2=DEu_01_V=E3n_pho=CCng.xlsx?="
Content-Transfer-Encoding: base64
Content-Disposition: attachment;
\tfilename="=?windows-1258?Q?M=E2=DEu_01_V=E3n_pho=CCng.xlsx?="

{xlsx}

------=_NextPart_000_0007_01DA52B4.6B1E3C20--

""",
    xlsx=b64(WINDOWS_1258_XLSX),
)

# --- Apple Mail (macOS): file names straight from APFS, i.e. NFD ("ẫ" = a + U+0302 +
# U+0303), as filename*=utf-8'' and as Q words in name=; the subject was pasted from the
# file name, so it is half NFD too, and its words are cut between a letter and its mark.

APPLE_XLSX = mau01_xlsx(COMMUNE, TWO_AND_TWO)
APPLE_DOCX = mau02_docx(COMMUNE, _models(TWO_AND_TWO))
APPLE_MAIL = wire(
    b"""\
From: =?utf-8?Q?=C4=90=E1=BA=A3ng_=E1=BB=A7y_x=C3=A3_M=C6=B0=E1=BB=9Dng_So?=
 <DangUy.MuongSo@example.vn>
Content-Type: multipart/mixed;
\tboundary="Apple-Mail=_5C3E9A1B-7D2F-4E8A-B6C1-0F9D3A2E7B54"
Mime-Version: 1.0 (Mac OS X Mail 16.0 \\(3774.300.61.1.2\\))
Subject: =?utf-8?Q?G=E1=BB=ADi_Ma=CC=82=CC=83u_01_-_=C4=90a?=
 =?utf-8?Q?=CC=89ng_u=CC=89y_xa=CC=83_Mu=CC=9Bo=CC=9B=CC=80ng_So_v=C3=A0_M?=
 =?utf-8?Q?=E1=BA=ABu_02?=
Message-Id: <8E2B4F1A-3C6D-4B9E-A7F0-5D1C2E3B4A69@example.vn>
Date: Thu, 1 Feb 2024 07:55:21 +0700
To: bandanvan@example.vn
X-Mailer: Apple Mail (2.3774.300.61.1.2)


--Apple-Mail=_5C3E9A1B-7D2F-4E8A-B6C1-0F9D3A2E7B54
Content-Transfer-Encoding: quoted-printable
Content-Type: text/plain;
\tcharset=utf-8

K=C3=ADnh g=E1=BB=ADi Ban D=C3=A2n v=E1=BA=ADn Huy=E1=BB=87n =E1=BB=A7y.

--Apple-Mail=_5C3E9A1B-7D2F-4E8A-B6C1-0F9D3A2E7B54
Content-Disposition: attachment;
\tfilename*=utf-8''Ma%CC%82%CC%83u%2001%20-%20%C4%90a%CC%89ng%20u%CC%89y%20xa%CC%83%20Mu%CC%9Bo%CC%9B%CC%80ng%20So.xlsx
Content-Type: application/vnd.openxmlformats-officedocument.spreadsheetml.sheet;
\tx-unix-mode=0644;
\tname="=?utf-8?Q?Ma=CC=82=CC=83u_01_-_=C4=90a=CC=89ng_u=CC=89y_xa=CC=83_?=
 =?utf-8?Q?Mu=CC=9Bo=CC=9B=CC=80ng_So=2Exlsx?="
Content-Transfer-Encoding: base64

{xlsx}
--Apple-Mail=_5C3E9A1B-7D2F-4E8A-B6C1-0F9D3A2E7B54
Content-Disposition: attachment;
\tfilename*=utf-8''Ma%CC%82%CC%83u%2002%20-%20Ba%CC%81o%20ca%CC%81o.docx
Content-Type: application/vnd.openxmlformats-officedocument.wordprocessingml.document;
\tx-unix-mode=0644;
\tname="=?utf-8?Q?Ma=CC=82=CC=83u_02_-_Ba=CC=81o_ca=CC=81o=2Edocx?="
Content-Transfer-Encoding: base64

{docx}
--Apple-Mail=_5C3E9A1B-7D2F-4E8A-B6C1-0F9D3A2E7B54--
""",
    xlsx=b64(APPLE_XLSX),
    docx=b64(APPLE_DOCX),
)


@dataclass(frozen=True)
class Case:
    raw: bytes
    received: datetime
    unit: str
    subject: str
    files: tuple[tuple[str, str, int], ...]  # (NFC file name, form id, entries read)
    status: str
    completed_at: str | None
    problems: tuple[str, ...] = ()


def _at(day: int, month: int, hour: int, minute: int, second: int = 0) -> datetime:
    return datetime(2024, month, day, hour, minute, second, tzinfo=TZ)


CASES = {
    "gmail": Case(
        GMAIL,
        _at(25, 1, 16, 58, 12),
        "xa-muong-so",
        "Đảng ủy xã Mường So gửi biểu đăng ký thi đua “Dân vận khéo” năm 2024",
        (
            ("Mẫu 01 - Đăng ký thi đua Dân vận khéo 2024.xlsx", "mau-01", 4),
            ("Mẫu 02 - Báo cáo mô hình điểm.docx", "mau-02", 0),
        ),
        "on_time",
        "2024-01-25T16:58:12+07:00",
    ),
    "outlook": Case(
        OUTLOOK,
        _at(2, 2, 8, 30, 12),
        "cq-vp",
        "Chi bộ Văn phòng HĐND - UBND huyện gửi Mẫu 01 và Mẫu 02 đăng ký “Dân vận khéo” "
        "năm 2024 (bổ sung)",
        (
            ("Mẫu 01 - Văn phòng HĐND-UBND.docx", "mau-01", 2),
            ("Mẫu 02 - Báo cáo tình hình thực hiện.docx", "mau-02", 0),
        ),
        "late",
        "2024-02-02T08:30:12+07:00",
    ),
    "thunderbird": Case(
        THUNDERBIRD,
        _at(30, 1, 10, 12, 50),
        "xa-muong-so",
        "Gửi lại Mẫu 01, Mẫu 02 (bổ sung)",
        (
            ("Mẫu 01 - Đăng ký thi đua Mường So (bổ sung).xlsx", "mau-01", 3),
            ("Mẫu 02 - Báo cáo (bổ sung).docx", "mau-02", 0),
        ),
        "incomplete",
        None,
        ("Mới đăng ký 1 tập thể, yêu cầu ít nhất 2 tập thể",),
    ),
    "mutt": Case(
        MUTT,
        _at(31, 1, 23, 41, 12),
        "xa-muong-so",
        "Đảng ủy xã Mường So gửi Mẫu 01, Mẫu 02",
        (
            ("Mẫu 01 - xã Mường So.docx", "mau-01", 4),
            ("Mẫu 02 - Báo cáo mô hình điểm.docx", "mau-02", 0),
        ),
        "on_time",
        "2024-01-31T23:41:12+07:00",
    ),
    "windows-1258": Case(
        WINDOWS_1258,
        _at(29, 1, 14, 5, 40),
        "cq-vp",
        "Gửi biểu mẫu 01 đăng ký thi đua Dân vận khéo",
        (("Mẫu 01 Văn phòng.xlsx", "mau-01", 2),),
        "incomplete",
        None,
        ("Chưa nhận được Báo cáo tình hình thực hiện mô hình điểm (mẫu số 02)",),
    ),
    "apple-mail-nfd": Case(
        APPLE_MAIL,
        _at(1, 2, 7, 55, 30),
        "xa-muong-so",
        "Gửi Mẫu 01 - Đảng ủy xã Mường So và Mẫu 02",
        (
            ("Mẫu 01 - Đảng ủy xã Mường So.xlsx", "mau-01", 4),
            ("Mẫu 02 - Báo cáo.docx", "mau-02", 0),
        ),
        "late",
        "2024-02-01T07:55:30+07:00",
    ),
}


def run(config: Path, *args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(
        cli, ["--config", str(config), *args], env=env or {}, catch_exceptions=False
    )


def check(config: Path, cases: list[Case], env: dict[str, str] | None = None) -> None:
    """Every case's message recorded, attributed, parsed and judged as expected."""
    loaded = config_module.load(config)
    with open_store(loaded) as store:
        recorded = {m.subject: m for m in store.messages()}
        submissions = store.submissions()
    status = run(config, "status", "--format", "json", "--now", "2024-02-10T08:00+07:00", env=env)
    assert status.exit_code == 0, status.output
    rows = {row["unit"]: row for row in json.loads(status.output)["rows"]}
    for case in cases:
        assert unicodedata.is_normalized("NFC", case.subject)
        message = recorded[case.subject]  # the subject decoded and stored in NFC
        assert (message.unit_id, message.outcome) == (case.unit, "submission"), message
        assert message.forms == tuple(form for _, form, _ in case.files)

        [submission] = submissions[case.unit]
        assert submission.received_at == case.received
        stored = [(f.filename, f.form, len(f.entries)) for f in submission.files]
        assert stored == list(case.files)
        for name, *_ in stored:
            assert unicodedata.is_normalized("NFC", name), ascii(name)
        assert [f.problems for f in submission.files] == [()] * len(case.files)

        row = rows[case.unit]
        assert (row["status"], row["completed_at"]) == (case.status, case.completed_at)
        assert row["forms"] == sorted({form for _, form, _ in case.files})
        assert row["entries"] == sum(n for *_, n in case.files)
        assert row["problems"] == list(case.problems)


@pytest.mark.parametrize("client", list(CASES))
def test_client_header_style_is_read_into_unit_forms_and_status(
    deployment: Deployment, client: str
) -> None:
    case = CASES[client]
    deployment.deliver(case.raw, case.received)
    result = run(deployment.config, "poll")
    assert result.exit_code == 0, result.output
    assert result.output.startswith("fetched 1, new 1: submission 1"), result.output
    check(deployment.config, [case])


@pytest.mark.dovecot
def test_the_same_messages_over_imap(tmp_path: Path, imap_account: Any) -> None:
    """Apple Mail's NFD names and windows-1258, through Dovecot's APPEND and FETCH."""
    mailbox = (
        "[mailbox]\n"
        'kind = "imap"\n'
        f'host = "{imap_account.host}"\n'
        f"port = {imap_account.port}\n"
        'security = "none"\n'
        f'username = "{imap_account.username}"\n'
        'password_env = "TEST_IMAP_PASSWORD"\n'
    )
    text = CONFIG.replace('[mailbox]\nkind = "maildir"\npath = "mail"\n', mailbox)
    assert text != CONFIG
    config = tmp_path / "mail-ingest.toml"
    config.write_text(text, encoding="utf-8")
    env = {"TEST_IMAP_PASSWORD": imap_account.password}
    cases = [CASES["apple-mail-nfd"], CASES["windows-1258"]]
    for case in cases:
        imap_account.append(case.raw, case.received)

    result = run(config, "poll", env=env)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("fetched 2, new 2: submission 2"), result.output
    check(config, cases, env)
