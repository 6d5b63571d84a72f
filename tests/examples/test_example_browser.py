"""THE browser test: headless Chromium opens the example page, generates a report and
sees its outcome arrive over Server-Sent Events.

Needs the Debian packages `chromium` and `chromium-driver` (/usr/bin/chromium,
/usr/bin/chromedriver; DFLOCK_CHROMIUM / DFLOCK_CHROMEDRIVER point elsewhere).
Selenium gets both paths, so Selenium Manager never downloads anything. Without
them the test is skipped with instructions, except with CI=true, where it fails.
"""

import os
import re
import uuid
from pathlib import Path

import pytest
from examples_support import logs_of, using_redis

CHROMIUM = Path(os.environ.get("DFLOCK_CHROMIUM", "/usr/bin/chromium"))
CHROMEDRIVER = Path(os.environ.get("DFLOCK_CHROMEDRIVER", "/usr/bin/chromedriver"))
PAGE_TIMEOUT_S = 20.0
OUTCOME_TIMEOUT_S = 30.0  # a report renders in about 1 s; this is the deadline


def require_chromium() -> None:
    needed = {"chromium": CHROMIUM, "chromium-driver": CHROMEDRIVER}
    missing = [f"{name} ({path})" for name, path in needed.items() if not os.access(path, os.X_OK)]
    if not missing:
        return
    message = (
        f"the browser test needs headless Chromium; missing: {', '.join(missing)}. "
        "Install with `sudo apt-get install -y chromium chromium-driver` "
        "or run scripts/ensure_chromium.sh"
    )
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing browser fails the test)", pytrace=False)
    pytest.skip(message)


@pytest.fixture
def browser(tmp_path):
    require_chromium()
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = str(CHROMIUM)
    for argument in (
        "--headless=new",
        "--no-sandbox",  # root in a container has no user namespaces for the sandbox
        "--disable-dev-shm-usage",
        "--disable-gpu",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
    ):
        options.add_argument(argument)
    service = Service(str(CHROMEDRIVER), log_output=str(tmp_path / "chromedriver.log"))
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.set_page_load_timeout(PAGE_TIMEOUT_S)
        yield driver
    finally:
        driver.quit()


def test_generate_report_shows_its_outcome(browser, request):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    running = request.getfixturevalue("example_stack")  # started only once Chromium is there
    report = f"browser-{uuid.uuid4().hex[:8]}"
    try:
        browser.get(f"{running.url}/")
        WebDriverWait(browser, PAGE_TIMEOUT_S).until(
            ec.text_to_be_present_in_element((By.ID, "stream-state"), "connected")
        )
        field = browser.find_element(By.ID, "report-id")
        field.clear()
        field.send_keys(report)
        browser.find_element(By.ID, "generate").click()

        last = browser.find_element(By.ID, "last-request")
        task_id = WebDriverWait(browser, PAGE_TIMEOUT_S).until(
            lambda _: last.get_attribute("data-task-id")
        )
        assert last.get_attribute("data-status") == "202", last.text
        line = WebDriverWait(browser, OUTCOME_TIMEOUT_S).until(
            ec.presence_of_element_located((By.ID, f"task-{task_id}"))
        )
        WebDriverWait(browser, OUTCOME_TIMEOUT_S).until(
            lambda _: line.get_attribute("data-outcome") == "succeeded"
        )
    except TimeoutException:
        broker = "Redis" if using_redis() else "the filesystem transport"
        pytest.fail(
            f"the page did not show the outcome in time (broker: {broker}); page text:\n"
            f"{browser.find_element(By.TAG_NAME, 'body').text}\n{logs_of(running)}"
        )
    assert re.fullmatch(rf"{task_id} succeeded \d+\.\d\d s", line.text), line.text
