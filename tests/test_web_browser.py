"""The web page in a real browser: Debian's chromium, driven by Selenium, over waitress.

Skipped without chromium and chromium-driver, unless MAIL_INGEST_REQUIRE_CHROMIUM=1 (CI),
when it fails. The driver's path is given, so Selenium Manager never downloads anything.
"""

from __future__ import annotations

import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import openpyxl
import pytest
from test_web_security import PASSWORD, web_board

from mail_ingest import config as config_module
from mail_ingest.app import open_store
from mail_ingest.web.app import create_app

CHROMIUM, DRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"
REQUIRE_ENV = "MAIL_INGEST_REQUIRE_CHROMIUM"


def _missing(message: str) -> None:
    if os.environ.get(REQUIRE_ENV) == "1":
        pytest.fail(f"{message} ({REQUIRE_ENV}=1)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def served(tmp_path: Path, at: Callable[..., datetime]) -> Iterator[tuple[str, Path]]:
    from waitress.server import create_server

    (tmp_path / "board").mkdir()
    board = web_board(tmp_path / "board", at)
    server = create_server(create_app(config_module.load(board.config)), host="127.0.0.1", port=0)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.effective_port}", board.config  # type: ignore[union-attr]
    server.close()


@pytest.fixture
def browser(tmp_path: Path) -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(DRIVER)):
        _missing("chromium or chromium-driver not found (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(flag)
    options.add_experimental_option(
        "prefs", {"download.default_directory": str(tmp_path / "downloads"),
                  "download.prompt_for_download": False},
    )  # fmt: skip
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_window_size(1280, 900)
    driver.implicitly_wait(10)  # a click that posts a form returns before the next page loads
    yield driver
    driver.quit()


def test_the_board_logs_in_assigns_marks_and_downloads(
    served: tuple[str, Path], browser: object, tmp_path: Path
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver
    from selenium.webdriver.support.ui import Select

    assert isinstance(browser, WebDriver)
    url, config_path = served
    browser.get(url + "/")
    assert "/dang-nhap" in browser.current_url
    browser.find_element(By.NAME, "name").send_keys("can-bo")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    assert _shown(browser, "h1", lambda t: t == "Tổng quan")
    assert "Đảng ủy xã Dào San" in browser.page_source
    assert not browser.find_elements(By.CSS_SELECTOR, "main script, main img")  # escaped

    browser.find_element(By.LINK_TEXT, "Chờ xử lý").click()
    browser.find_element(By.XPATH, "//button[contains(., 'Đảng ủy xã Hoang Thèn')]").click()
    assert _shown(browser, ".flash.ok", lambda t: "Đã xác định thư #1" in t)
    browser.get(url + "/don-vi/xa-hoang-than")
    assert "bao cao xa Hoang Than" in browser.page_source
    browser.get(url + "/?group=xa")
    card = browser.find_element(By.XPATH, "//article[.//a[text()='Đảng ủy xã Hoang Thèn']]")
    assert "Chưa gửi" not in card.text  # its forms count now

    browser.find_element(By.LINK_TEXT, "Ghi nhận bản giấy").click()
    Select(browser.find_element(By.NAME, "unit")).select_by_visible_text("Đảng ủy xã Hoàng Thành")
    browser.find_element(By.NAME, "note").send_keys("Nhận bản giấy tại văn phòng Ban")
    browser.find_element(By.XPATH, "//button[text()='Ghi nhận']").click()
    assert _shown(browser, ".flash.ok", lambda t: "Đã ghi nhận" in t)
    with open_store(config_module.load(config_path)) as store:
        marks = store.manual_submissions()
        assert [(m.unit_id, m.by) for m in marks] == [("xa-hoang-thanh", "can-bo")]

    browser.find_element(By.LINK_TEXT, "Danh sách tổng hợp").click()
    browser.find_element(By.ID, "xlsx").click()
    downloads = tmp_path / "downloads"
    for _ in range(100):  # the browser writes the file in its own time
        done = list(downloads.glob("*.xlsx")) if downloads.exists() else []
        if done:
            break
        time.sleep(0.1)
    assert done, "no workbook downloaded"
    book = openpyxl.load_workbook(done[0])
    assert "Tổng hợp đăng ký" in book.sheetnames

    browser.set_window_size(390, 844)
    for path in (
        "/",
        "/don-vi/xa-dao-san",
        "/cho-xu-ly",
        "/ban-giay",
        "/tong-hop",
        "/thu-di",
        "/thu-di/xem-truoc/report",
        "/he-thong",
    ):
        browser.get(url + path)
        width = browser.execute_script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert width[0] <= width[1], (path, width)


PAGES = ("/", "/don-vi/xa-dao-san", "/cho-xu-ly", "/ban-giay", "/tong-hop", "/thu-di",
         "/thu-di/xem-truoc/remind", "/thu-di/xem-truoc/report", "/he-thong", "/tai-khoan",
         "/dang-nhap")  # fmt: skip
RAW = ("None", "[]", "{'", "<function", "Traceback", "datetime.", "UnitStatus(", "undefined")


def test_every_page_at_desktop_and_phone_width_fits_and_shows_no_raw_values(
    served: tuple[str, Path], browser: object
) -> None:
    """The tour an admin takes; with MAIL_INGEST_WEB_SHOTS=DIR each page is also saved as
    DIR/<width>-<page>.png, for a person to look at (kept out of the repository)."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.remote.webdriver import WebDriver

    assert isinstance(browser, WebDriver)
    url, _ = served
    shots = os.environ.get("MAIL_INGEST_WEB_SHOTS")
    browser.get(url + "/dang-nhap")
    browser.find_element(By.NAME, "name").send_keys("quan-tri")
    browser.find_element(By.NAME, "password").send_keys(PASSWORD)
    browser.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    for width, height in ((1280, 900), (390, 844)):
        browser.set_window_size(width, height)
        for path in PAGES:
            browser.get(url + path)
            text = browser.find_element(By.TAG_NAME, "body").text
            assert not [r for r in RAW if r in text], (path, text)
            scroll = browser.execute_script(
                "return [document.documentElement.scrollWidth, window.innerWidth]"
            )
            assert scroll[0] <= scroll[1], (width, path, scroll)
            if shots:
                Path(shots).mkdir(parents=True, exist_ok=True)
                full = browser.execute_script("return document.body.scrollHeight")
                browser.set_window_size(width, min(max(height, full + 120), 6000))
                name = path.strip("/").replace("/", "_") or "tong-quan"
                browser.save_screenshot(f"{shots}/{width}-{name}.png")
                browser.set_window_size(width, height)


def _shown(browser: Any, css: str, wanted: Callable[[str], bool]) -> bool:
    """Whether the page a click loads shows an element whose text is wanted: the click
    returns before the next page replaces the old one, whose elements then go stale."""
    from selenium.common.exceptions import StaleElementReferenceException, TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def seen(driver: Any) -> bool:
        return any(wanted(e.text) for e in driver.find_elements(By.CSS_SELECTOR, css))

    try:
        return bool(
            WebDriverWait(browser, 15, ignored_exceptions=(StaleElementReferenceException,)).until(
                seen
            )
        )
    except TimeoutException:
        return False
