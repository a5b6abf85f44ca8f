"""derive serve in a real browser: Debian's Chromium driven by Selenium against the real
server (uvicorn on 127.0.0.1), as a student uses it: open, type the course sheet's own
values, submit, read the verdicts."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest

from conftest import ROOT
from derive import check, spec
from derive.solution import Exercise

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.chrome.options import Options  # noqa: E402
from selenium.webdriver.chrome.service import Service  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support import expected_conditions  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM, DRIVER = shutil.which("chromium"), shutil.which("chromedriver")
if not (CHROMIUM and DRIVER):
    if os.environ.get("CI"):
        raise RuntimeError("CI must run the browser test: ./install.sh test installs chromium and chromium-driver")
    pytest.skip("Chromium and its driver are not installed (./install.sh test installs them)", allow_module_level=True)

SHOTS = os.environ.get("DERIVE_SCREENSHOTS")  # a folder to keep the screenshots in, for a person to look at


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    port = free_port()
    results = tmp_path_factory.mktemp("serve") / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "derive", "serve", "--port", str(port), "--results", str(results)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError(proc.stdout.read().decode())
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}", results
    proc.terminate()
    proc.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    options = Options()
    for arg in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"):
        options.add_argument(arg)
    options.binary_location = CHROMIUM
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def screenshot(driver, name: str, width: int) -> None:
    if not SHOTS:
        return
    # Screen by screen, as a person scrolls (one tall picture is too small to read).
    height = driver.execute_script("return document.documentElement.scrollHeight")
    view = driver.execute_script("return window.innerHeight")
    for k, y in enumerate(range(0, height, view)):
        driver.execute_script(f"window.scrollTo(0, {y})")
        driver.save_screenshot(os.path.join(SHOTS, f"{name}-{width}-{k:02d}.png"))


def submit(driver) -> None:
    """Press the form's button and wait for the answer page: a click may return while the
    browser is still between the old page and the new one, where no field can be found."""
    form = driver.find_element(By.TAG_NAME, "form")
    driver.find_element(By.CSS_SELECTOR, "button[type=submit]").click()
    wait = WebDriverWait(driver, 60)
    wait.until(expected_conditions.staleness_of(form))
    wait.until(expected_conditions.presence_of_element_located((By.ID, "summary")))


def row_class(driver, name: str) -> str:
    field = driver.find_element(By.NAME, name)
    return field.find_element(By.XPATH, "..").get_attribute("class")


@pytest.mark.parametrize("width", [1366, 390])
def test_a_student_checks_the_course_sheet_values(server, browser, width):
    url, results = server
    exercise = Exercise(spec.load())
    answers = check.read_answers(ROOT / "tests" / "data" / "reference_sheet_answers.toml",
                                 list(exercise.derivation.index))
    browser.set_window_size(width, 900 if width > 600 else 800)
    browser.get(url + "/")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Backpropagation by hand"
    assert browser.find_element(By.CSS_SELECTOR, "svg.network").is_displayed()
    # MathML is laid out by the browser: a fraction in a field's label has a real height.
    screenshot(browser, "sheet", width)
    for a in answers:
        field = browser.find_element(By.NAME, a.name)
        field.clear()
        field.send_keys(a.written.text)
    submit(browser)
    summary = browser.find_element(By.ID, "summary")
    assert "1 wrong" in summary.text and "2 carried forward" in summary.text
    assert "wrong" in row_class(browser, "w8*")
    assert "carried" in row_class(browser, "yhat'") and "carried" in row_class(browser, "L'")
    assert "correct" in row_class(browser, "w7*")
    carried = browser.find_element(By.NAME, "L'").find_element(By.XPATH, "../p").text
    assert "follows from your" in carried
    # What the student typed stays in the form, for correcting and resubmitting.
    assert browser.find_element(By.NAME, "w8*").get_attribute("value") == "0.7"
    # The page as the browser holds it: no true value of the root error, at any precision.
    source = browser.page_source
    for d in range(2, 7):
        assert f"{0.7563737476781112:.{d}f}" not in source
    screenshot(browser, "checked", width)

    # Corrected and submitted again: w8* is right now, so ŷ' = 1.092, computed from the old
    # 0.7, has no excuse left and is the root error; L' follows from it.
    field = browser.find_element(By.NAME, "w8*")
    field.clear()
    field.send_keys("0.7564")
    submit(browser)
    assert "correct" in row_class(browser, "w8*")
    assert "wrong" in row_class(browser, "yhat'") and "carried" in row_class(browser, "L'")
    assert results.read_text(encoding="utf-8").count("\n") >= 2


def test_the_real_server_survives_an_oversized_body(server):
    url, _ = server
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"POST /e/1 HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\n"
                  b"Content-Length: 10000000\r\n\r\n" + b"h1=" + b"9" * 100_000)
        reply = s.recv(65536).decode(errors="replace")
    assert reply.startswith("HTTP/1.1 413")
    with socket.create_connection((host, int(port)), timeout=10) as s:
        s.sendall(b"GET /e/1 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert s.recv(100).startswith(b"HTTP/1.1 200")
