"""The real dashboard in headless Debian Chromium: every page opens without an error; screenshots for CI.

``streamlit run app.py`` is started on a free local port over the tiny-BERT store of ``test_app``;
Playwright (from PyPI) drives ``/usr/bin/chromium`` and never downloads a browser of its own.
Screenshots land in ``tests/artifacts/`` (git-ignored), one per page.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Iterator

import pytest

from analysis.config import PROJECT_ROOT
from analysis.finetune import list_runs
from analysis.store import Store
from test_app import PAGES, a_run

pytestmark = pytest.mark.browser

READY = ("!document.querySelector('[data-testid=\"stStatusWidget\"]') && "
         "!document.querySelector('[data-stale=\"true\"]') && !document.querySelector('[data-testid=\"stSkeleton\"]')")
CHROMIUM = Path("/usr/bin/chromium")
ARTIFACTS = PROJECT_ROOT / "tests" / "artifacts"
VIEWPORT = {"width": 1440, "height": 900}


def require_browser() -> None:
    """Skip locally without Debian's chromium or Playwright; in CI (``CI=true``) their absence fails."""
    problem = None
    if not CHROMIUM.exists():
        problem = f"{CHROMIUM} is missing (apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "the playwright package is missing (pip install -r requirements.txt)"
    if problem and os.environ.get("CI") == "true":
        pytest.fail(f"browser test cannot run in CI: {problem}")
    if problem:
        pytest.skip(problem)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(dashboard_store, tmp_path_factory) -> Iterator[str]:
    require_browser()
    yield from serve(dashboard_store.root, tmp_path_factory.mktemp("server"))


def serve(store_root: Path, log_dir: Path, **env: str) -> Iterator[str]:
    """``streamlit run app.py`` over ``store_root`` (plus environment ``env``); yields its URL, stops it afterwards."""
    port = free_port()
    env = dict(os.environ, FTGEO_STORE=str(store_root), **env)
    log = open(log_dir / "streamlit.log", "w")
    proc = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "app.py", "--server.port", str(port),
                             "--server.headless", "true", "--server.address", "127.0.0.1"],
                            cwd=PROJECT_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(200):  # up to about a minute for the server to come up
            try:
                urllib.request.urlopen(f"{url}/_stcore/health", timeout=2)
                break
            except OSError:
                if proc.poll() is not None:
                    pytest.fail((log_dir / "streamlit.log").read_text())
                time.sleep(0.3)
        else:
            pytest.fail("streamlit did not start: " + (log_dir / "streamlit.log").read_text())
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


@pytest.fixture(scope="module")
def browser(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox", "--disable-gpu"])
        yield chromium
        chromium.close()


def open_page(browser, url: str, shot: str, charts: int = 0):
    """Load ``url``, wait until the script has finished and its charts are drawn, screenshot it."""
    page = browser.new_page(viewport=VIEWPORT)
    page.goto(url)
    page.wait_for_selector("h1", timeout=60_000)
    page.wait_for_function(READY, timeout=60_000)
    if charts:
        page.wait_for_function(f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {charts}",
                               timeout=60_000)
    page.wait_for_timeout(400)  # let Plotly finish its transitions
    # Streamlit scrolls inside its main container, so a full-page shot needs a window as tall as the content.
    height = page.evaluate("document.querySelector('[data-testid=\"stMain\"]')?.scrollHeight ?? 0")
    if height > VIEWPORT["height"]:
        page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
        page.wait_for_timeout(600)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{shot}.png"), full_page=True)
    return page


def assert_no_error(page) -> None:
    for selector in ('[data-testid="stException"]', '[data-testid="stAlertContentError"]'):
        assert page.locator(selector).count() == 0, page.locator(selector).first.inner_text()


CHARTS = {"embeddings": 1, "linearity": 1, "distances": 2, "centroids": 2, "layers": 2, "probes": 1, "compare": 2,
          "cross_task": 1, "stability": 2}
"""The figures each page draws for the dashboard store's study."""


def test_every_page_opens_without_error(browser, server, dashboard_store):
    """Every page on the PS-role study's run, the first request a deep link; each draws its figures."""
    run = a_run(dashboard_store, task="ps-role")
    for name in PAGES[1:] + PAGES[:1]:
        path = "" if name == "overview" else name
        page = open_page(browser, f"{server}/{path}?task=ps-role&run={run}&split=train&layer=2", name,
                         CHARTS.get(name, 0))
        assert_no_error(page)
        assert page.locator('[data-testid="stSidebar"] label', has_text="Fine-tuning run").count() == 1
        page.close()


def test_a_fresh_server_opens_deep_links_first(browser, dashboard_store, tmp_path):
    """Regression: on a freshly started server, sessions whose first request is a page's own URL
    (several at once, as after a restart with shared links open) show that page inside the app,
    not the bare ``pages/`` list with "Nothing is stored yet" (see ``ui.ensure_app``)."""
    titles = {"linearity": "Linearity", "layers": "Layers", "embeddings": "Embeddings · layer 1"}
    for url in serve(dashboard_store.root, tmp_path):
        tabs = {name: browser.new_page(viewport=VIEWPORT) for name in titles}
        for name, tab in tabs.items():
            tab.goto(f"{url}/{name}?task=trec-6&layer=1", wait_until="commit")
        for name, tab in tabs.items():
            tab.wait_for_selector("h1", timeout=60_000)
            tab.wait_for_function(READY, timeout=60_000)
            assert tab.locator("h1").first.inner_text() == titles[name]
            assert tab.get_by_text("Nothing is stored yet").count() == 0
            assert tab.locator('[data-testid="stSidebar"] label', has_text="Fine-tuning run").count() == 1
            assert tab.locator('[data-testid="stSidebarNav"]').count() == 0  # no bare pages/ list
            assert_no_error(tab)
            tab.close()


def test_presentation_mode_and_a_shared_link(browser, server):
    page = open_page(browser, f"{server}/embeddings?task=pos&layer=2&present=1", "embeddings-presentation", 1)
    assert_no_error(page)
    assert page.locator("h1").first.inner_text().startswith("Embeddings · layer 2")
    assert page.locator('[data-testid="stToolbar"]').is_hidden()
    assert "present=1" in page.url and "layer=2" in page.url
    page.close()


def test_a_first_study_from_an_empty_store_fills_the_pages_without_a_reload(browser, tiny_bert, tmp_path):
    """The welcome's one click runs a real study (the tiny BERT stands in for the default model); the Overview
    shows its results as they land, and the Distances page then draws its curves, all without a reload."""
    store = tmp_path / "empty-store"
    for url in serve(store, tmp_path, FTGEO_MODEL=str(tiny_bert)):
        page = open_page(browser, url, "welcome")
        assert_no_error(page)
        page.get_by_role("button", name="Compute a first study").click()
        page.get_by_text("The paper's findings").wait_for(timeout=600_000)  # the study entry has landed
        page.wait_for_function(READY, timeout=60_000)
        assert page.get_by_role("heading", name="Welcome").count() == 0
        page.locator('[data-testid="stMain"]').get_by_role("link", name="Distances").click()
        try:
            page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2",
                                   timeout=120_000)
        finally:
            page.screenshot(path=str(ARTIFACTS / "first-study-distances.png"), full_page=True)
        assert page.locator("h1").first.inner_text().startswith("Distances")
        assert_no_error(page)
        page.close()
    runs = list_runs(Store(store))
    assert runs["task"].tolist() == ["ps-role"] and runs["status"].tolist() == ["done"]


def test_the_report_opens_offline(browser):
    import numpy as np
    import pandas as pd

    from analysis.colors import label_colors
    from analysis.figures import embedding_figure, style
    from analysis.report import ReportItem, build_report

    rng = np.random.default_rng(0)
    points = pd.DataFrame(rng.normal(size=(300, 2)), columns=["x", "y"]).assign(
        label=rng.choice(["NOUN", "VERB", "ADJ"], 300), word="word", context="a <b>word</b> here")
    fig = style(embedding_figure(points, label_colors(["ADJ", "NOUN", "VERB"]), title="Layer 12, PCA"))
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / "report.html"
    path.write_text(build_report([ReportItem("Embeddings", "Three labels.\n\nSecond paragraph.", fig)] * 2,
                                 title="Group meeting"))
    context = browser.new_context(viewport=VIEWPORT, offline=True)
    page = context.new_page()
    page.goto(path.as_uri())
    page.wait_for_function("document.querySelectorAll('.js-plotly-plot .main-svg').length >= 2", timeout=30_000)
    page.screenshot(path=str(ARTIFACTS / "report-html.png"), full_page=True)
    assert page.locator("figcaption").first.inner_text().startswith("Figure 1. Embeddings")
    context.close()
