"""The draw-and-predict page of `trainlab serve`, driven in a real headless Chromium: draw a 1 with
pointer events, upload a PNG of a test image and compare with `trainlab predict`."""
import os
import shutil
import sys
import urllib.request
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from tests.conftest import free_port, start_server, stop_server
from trainlab.pipeline.cli import cli

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")
selenium = pytest.importorskip("selenium", reason="selenium is in the test extra: pip install -e '.[test]'")
pytestmark = pytest.mark.skipif(
    not (CHROMIUM and CHROMEDRIVER),
    reason="needs Debian's chromium and chromium-driver (make test installs them when run as root with apt-get)")

NAME = "trainlab-mnist"


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    """A model good enough to read a hand-drawn digit (the shared smoke model is not), exported and served."""
    from tests.conftest import smoke_config
    from trainlab.pipeline.export.stage import export_champion
    from trainlab.pipeline.job import train_and_register
    from trainlab.pipeline.plan import resolve_plan
    tmp = tmp_path_factory.mktemp("page")
    cfg = smoke_config(tmp, **{"data.limit_train": 12000, "data.validation_size": 1000, "model.width": 16,
                               "train.epochs": 2, "augment": []})
    train_and_register(resolve_plan(cfg), echo=lambda line: None)
    path, _ = export_champion(cfg)
    port = free_port()
    trainlab = Path(sys.executable).parent / "trainlab"
    proc = start_server([str(trainlab), "serve", "--model-dir", str(path.parent), "--port", str(port)],
                        f"http://127.0.0.1:{port}/v1/models/{NAME}")
    try:
        yield f"http://127.0.0.1:{port}/", path
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    os.environ.setdefault("SE_OFFLINE", "true")   # never let Selenium Manager look for drivers online
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1000,900",
                     "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    service = Service(CHROMEDRIVER)
    driver = webdriver.Chrome(service=service, options=options)
    try:
        yield driver
    finally:
        driver.quit()
        if service.process is not None and service.process.poll() is None:  # stop the driver by its own PID
            service.process.kill()


def top_class(driver, timeout=30) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    WebDriverWait(driver, timeout).until(lambda d: d.find_element(By.ID, "top-class").text not in ("", "\u2013"))
    return driver.find_element(By.ID, "top-class").text


def open_page(driver, url):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    driver.get(url)
    WebDriverWait(driver, 30).until(lambda d: d.find_element(By.ID, "status").text == "ready")


def test_the_page_is_plain_html_served_offline(page):
    url, _ = page
    html = urllib.request.urlopen(url, timeout=10).read().decode()
    assert f'content="{NAME}"' in html and "/page/page.js" in html
    script = urllib.request.urlopen(url + "page/page.js", timeout=10).read().decode()
    assert "serving_b64" in script and "serving_explain" in script
    assert "http" not in html.replace("http-equiv", "") and "http://" not in script and "https://" not in script


def test_drawing_a_one_predicts_a_one(page, browser, tmp_path):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By
    url, _ = page
    open_page(browser, url)
    assert browser.find_element(By.ID, "model-facts").text.startswith("version 1: 28x28 gray images, 10 classes")
    canvas = browser.find_element(By.ID, "canvas")
    stroke = ActionChains(browser).move_to_element_with_offset(canvas, 0, -95).click_and_hold()
    for _ in range(19):
        stroke = stroke.move_by_offset(0, 10)
    stroke.release().perform()
    browser.find_element(By.ID, "predict").click()
    assert top_class(browser) == "1"
    bars = browser.find_elements(By.CSS_SELECTOR, "#bars li")  # the top 5, most probable first
    assert len(bars) == 5 and bars[0].get_attribute("data-class") == "1" and "top" in bars[0].get_attribute("class")
    assert browser.find_element(By.ID, "shown").text == "the 5 most probable of 10"
    shares = [float(b.find_element(By.CLASS_NAME, "value").text.rstrip("%")) for b in bars]
    assert shares == sorted(shares, reverse=True)
    heatmap = browser.find_element(By.ID, "heatmap")  # Grad-CAM over the drawing, from serving_explain
    assert heatmap.is_displayed() and browser.find_element(By.ID, "heatmap-class").text == "1"
    assert browser.execute_script("return arguments[0].naturalWidth", heatmap) == 28
    shot = Path(os.environ.get("TRAINLAB_TEST_ARTIFACTS", tmp_path)) / "serve-page-heatmap.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))  # the test's artifact: the page with its heatmap
    assert shot.stat().st_size > 10_000


def predicted_class(path, export_path) -> str:
    """The class `trainlab predict` gives the file at ``path``."""
    result = CliRunner().invoke(cli, ["predict", str(path), "--model-dir", str(export_path.parent)])
    assert result.exit_code == 0, result.output
    return result.output.splitlines()[1].split()[1]


def uploaded_class(browser, url, path) -> str:
    """The class the page shows for the file at ``path`` uploaded to it."""
    from selenium.webdriver.common.by import By
    open_page(browser, url)
    browser.find_element(By.ID, "upload").send_keys(str(path))
    return top_class(browser)


def test_an_uploaded_png_gets_the_class_trainlab_predict_gives(page, browser, mnist, tmp_path):
    from selenium.webdriver.common.by import By
    url, export_path = page
    png = tmp_path / "digit.png"
    png.write_bytes(tf.io.encode_png(mnist.x_test[7]).numpy())
    assert uploaded_class(browser, url, png) == predicted_class(png, export_path)
    assert browser.find_element(By.ID, "preview").is_displayed()


def test_an_unreadable_upload_is_an_error_line_not_a_crash(page, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait
    url, _ = page
    bad = tmp_path / "notes.png"
    bad.write_text("not an image")
    open_page(browser, url)
    browser.find_element(By.ID, "upload").send_keys(str(bad))
    WebDriverWait(browser, 20).until(lambda d: d.find_element(By.ID, "status").text.startswith("Error:"))
    assert "not a readable" in browser.find_element(By.ID, "status").text


def test_a_phone_photo_over_the_servers_limits_is_downscaled_on_the_canvas_first(page, browser, mnist, tmp_path):
    """A 1,400 x 1,400 JPEG over 1 MiB, stored sideways with EXIF orientation 6 as a phone stores it: sent as
    is it would get 413; the page draws it smaller (upright) and gets the class `trainlab predict` gives."""
    from selenium.webdriver.common.by import By

    from tests.photos import sideways_jpeg
    url, export_path = page
    digit = np.kron(mnist.x_test[3, ..., 0], np.ones((50, 50), np.uint8))
    noisy = np.clip(digit.astype(int) + np.random.default_rng(0).integers(-40, 40, digit.shape), 0, 255)
    photo = tmp_path / "phone.jpg"
    photo.write_bytes(sideways_jpeg(noisy.astype(np.uint8), 6, quality=95))
    assert photo.stat().st_size > 1024 * 1024
    assert uploaded_class(browser, url, photo) == predicted_class(photo, export_path)
    assert "downscaled 1400x1400 to 1024x1024" in browser.find_element(By.ID, "status").text
