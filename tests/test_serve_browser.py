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
from derive.misconceptions import MISCONCEPTIONS
from derive.solution import Exercise
from test_serve_graph import GRAPH_OPTIMIZERS, load_spec, steps_oracle

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
    yield from serving(tmp_path_factory)


@pytest.fixture(scope="module")
def graph_server(tmp_path_factory):
    yield from serving(tmp_path_factory, *(str(ROOT / "examples" / f"{n}.toml") for n in GRAPH_OPTIMIZERS))


def serving(tmp_path_factory, *paths: str):
    """derive serve on a free port, for as long as the tests of this module run."""
    port = free_port()
    results = tmp_path_factory.mktemp("serve") / "results.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "derive", "serve", *paths, "--port", str(port),
                             "--results", str(results)],
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


def overflowing(driver) -> list[str]:
    """What sticks out: the page wider than the window, or a field's label running into its input."""
    return driver.execute_script("""
        const out = [];
        const root = document.documentElement;
        if (root.scrollWidth > root.clientWidth) out.push('page ' + root.scrollWidth + ' > ' + root.clientWidth);
        for (const row of document.querySelectorAll('.row')) {
            const label = row.querySelector('label').getBoundingClientRect();
            const input = row.querySelector('input').getBoundingClientRect();
            if (label.right > input.left + 1 && label.bottom > input.top + 1) out.push(row.id + ' label over its input');
            if (label.right > row.getBoundingClientRect().right) out.push(row.id + ' label outside its row');
        }
        return out;""")


@pytest.mark.parametrize("width", [1366, 390])
def test_a_student_checks_the_steps_of_an_optimizer_on_a_graph(graph_server, browser, width):
    url, results = graph_server
    spec = load_spec("graph_momentum_bowl")
    values = steps_oracle(spec)
    browser.set_window_size(width, 900 if width > 600 else 800)
    for n, name in enumerate(GRAPH_OPTIMIZERS, start=1):  # every page laid out; the bowl's is worked below
        browser.get(f"{url}/e/{n}")
        assert not overflowing(browser), name
        screenshot(browser, f"{name}-sheet", width)
    browser.get(url + "/e/2")
    assert browser.find_element(By.TAG_NAME, "h1").text == "Momentum on an ill-conditioned bowl"
    assert "the first 3 steps of gradient descent with momentum" in browser.find_element(By.CLASS_NAME, "parts").text
    legends = [" ".join(e.text.split()).replace(" :", ":") for e in browser.find_elements(By.TAG_NAME, "legend")]
    assert legends[2:] == [f"(c) Minimising f: step {k} of 3" for k in (1, 2, 3)] + ["(c) Minimising f: after 3 steps"]
    # MathML is laid out: a label with primes, a subscript or a superscript is a box about a
    # line high, not raw text; the rule's fractions stand at full size
    for name in ("df''/dx2", "v_x1[2]", "x1*[3]"):
        label = browser.find_element(By.NAME, name).find_element(By.XPATH, "../label/*[local-name()='math']")
        assert 14 <= label.size["height"] <= 60 and 20 <= label.size["width"] <= 140, name
    # Every value up to step 2 from the oracle, but the velocity of step 2 started again from
    # zero (v = g), and x1 after step 2 computed from it.
    typed = {n: f"{v:.4f}" for n, v in values.items() if "[3]" not in n and "''" not in n}
    typed["v_x1[2]"] = f"{values['g_x1[2]']:.4f}"
    typed["x1*[2]"] = f"{values['x1*'] - 0.6 * values['g_x1[2]']:.4f}"
    for name, text in typed.items():
        field = browser.find_element(By.NAME, name)
        field.clear()
        field.send_keys(text)
    submit(browser)
    summary = browser.find_element(By.ID, "summary")
    assert "1 wrong, 1 carried forward" in summary.text and f"{len(typed) - 2} correct" in summary.text
    assert MISCONCEPTIONS["state_not_carried"].title in summary.text
    assert "wrong" in row_class(browser, "v_x1[2]") and "carried" in row_class(browser, "x1*[2]")
    assert "correct" in row_class(browser, "v_x2[2]") and "correct" in row_class(browser, "x1*")
    why = browser.find_element(By.NAME, "v_x1[2]").find_element(By.XPATH, "../p").text
    assert MISCONCEPTIONS["state_not_carried"].title in why
    assert browser.find_element(By.NAME, "v_x1[2]").get_attribute("value") == typed["v_x1[2]"]
    source = browser.page_source
    for d in range(2, 7):
        assert f"{values['v_x1[2]']:.{d}f}" not in source  # the true velocity is not told
    assert not overflowing(browser)
    screenshot(browser, "graph_momentum_bowl-checked", width)
    assert results.read_text(encoding="utf-8").count("\n") >= 1
