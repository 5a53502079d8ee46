"""The built site in a real headless browser, offline: every page loads cleanly, every formula renders.

The site is served from 127.0.0.1 by ``http.server``; every request for another address is
refused (and recorded), so a page that needs the network fails here as it would for a reader
without one. The browser is the system's Chromium (Debian package ``chromium``), driven by
Playwright.
"""

from __future__ import annotations

import functools
import http.server
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from docsite import built_site

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")

# What a page reports after KaTeX ran: formulas left as TeX, KaTeX's error boxes, and whether the
# KaTeX fonts (served by the site) are the ones in use.
_MATH_STATE = """() => {
  const formulas = [...document.querySelectorAll('.arithmatex')];
  return {
    formulas: formulas.length,
    unrendered: formulas.filter(f => !f.querySelector('.katex')).map(f => f.textContent.trim()),
    katex_errors: document.querySelectorAll('.katex-error').length,
    fonts: document.fonts.check('16px KaTeX_Main'),
  };
}"""

# Boxes wider than the page's content column: API signatures and the benchmarks table.
_OVERFLOW = """() => {
  const column = document.querySelector('article').getBoundingClientRect();
  const boxes = [...document.querySelectorAll('.doc-signature pre, .lossgrad-benchmarks table')];
  return {
    boxes: boxes.length,
    wide: boxes
      .filter(b => b.scrollWidth > b.clientWidth + 1 || b.getBoundingClientRect().right > column.right + 1)
      .map(b => b.textContent.trim().slice(0, 60)),
  };
}"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base's name
        pass


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Path, str]]:
    site = built_site()
    handler = functools.partial(_Quiet, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def page_report(served: tuple[Path, str]) -> dict[str, dict]:
    """For every page of the site: console errors, page errors, outside requests, math state."""
    assert CHROMIUM is not None, "Chromium is missing: apt-get install chromium"
    site, base = served
    pages = sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))
    report: dict[str, dict] = {}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page()
        current = {"console": [], "errors": [], "outside": []}

        def offline(route):
            if route.request.url.startswith(base):
                route.continue_()
            else:
                current["outside"].append(route.request.url)
                route.abort("internetdisconnected")

        page.route("**/*", offline)
        page.on("console", lambda m: current["console"].append(m.text) if m.type == "error" else 0)
        page.on("pageerror", lambda error: current["errors"].append(str(error)))
        for name in pages:
            current = {"console": [], "errors": [], "outside": []}
            page.goto(base + name, wait_until="networkidle")
            page.evaluate("document.fonts.ready.then(() => true)")
            report[name] = {
                **current,
                **page.evaluate(_MATH_STATE),
                "layout": page.evaluate(_OVERFLOW),
            }
        browser.close()
    return report


def test_every_page_loads_offline_without_errors(page_report):
    assert len(page_report) >= 15
    for name, state in page_report.items():
        assert state["errors"] == [], f"{name}: {state['errors']}"
        assert state["console"] == [], f"{name}: {state['console']}"
        assert state["outside"] == [], f"{name} asked the network for {state['outside']}"


def test_every_formula_becomes_rendered_math(page_report):
    for name, state in page_report.items():
        assert state["unrendered"] == [], f"{name}: left as TeX: {state['unrendered'][:3]}"
        assert state["katex_errors"] == 0 and state["console"] == [], name
        if state["formulas"]:
            assert state["fonts"], f"{name}: the KaTeX fonts did not load"
    # the loss pages carry a formula and a gradient per loss, all of them rendered
    from lossgrad import _catalog

    for family in _catalog.FAMILIES:
        state = page_report[f"losses/{family}/index.html"]
        assert state["formulas"] >= 2 * len(_catalog.by_family(family)), family


def test_signatures_and_the_benchmarks_table_fit_the_page(page_report):
    """At a laptop's width (1280 px), nothing on these pages scrolls sideways."""
    for name in ("api/functional/index.html", "api/modules/index.html", "benchmarks/index.html"):
        layout = page_report[name]["layout"]
        assert layout["boxes"] > 0, name
        assert layout["wide"] == [], f"{name}: {layout['wide'][:3]}"
