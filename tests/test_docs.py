"""The documentation site builds with ``mkdocs build --strict``, and its numbers are lossgrad's.

The build runs the docs hook: every loss section, curve and code output is produced by the
library at build time, so the checks below compare the built pages with the library.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from docsite import build_site

from lossgrad import _catalog


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_site(tmp_path_factory.mktemp("site"))


def _text(page: Path) -> str:
    return html.unescape(re.sub(r"<[^>]+>", "", page.read_text(encoding="utf-8")))


def test_every_loss_has_its_section_and_curve(site):
    for entry in _catalog.CATALOG:
        page = site / "losses" / entry.family / "index.html"
        source = page.read_text(encoding="utf-8")
        assert f'id="{entry.key}"' in source, entry.key
        if entry.available():
            svg = site / "img" / "curves" / f"{entry.key}.svg"
            assert svg.read_bytes().lstrip().startswith(b"<?xml"), entry.key
            assert f"img/curves/{entry.key}.svg" in source
            # the example's output on the page is what lossgrad computes now
            assert f"# {_catalog.run_example(entry).output!r}" in _text(page), entry.key


def test_pages_follow_the_tutorial_and_show_real_outputs(site):
    nav = [
        "concepts/loss-cost-objective",
        "concepts/graph",
        "concepts/accumulation",
        "concepts/no-grad",
    ]
    for name in nav:
        assert (site / name / "index.html").exists(), name
    start = _text(site / "getting-started" / "index.html")
    import lossgrad as torch

    loss = torch.nn.MSELoss()
    inp = torch.tensor([[0.5, -1.0], [2.0, 0.0]], requires_grad=True)
    output = loss(inp, torch.tensor([[0.0, 1.0], [1.5, 0.5]]))
    output.backward()
    assert repr(output) in start and repr(inp.grad) in start
    graph = _text(site / "concepts" / "graph" / "index.html")
    assert "True True" in graph  # the hand-derived gradient equals the graph's


def test_api_reference_renders_the_docstrings(site):
    api = _text(site / "api" / "plot" / "index.html")
    assert "plot_losses" in api and "Overlay the curves of several losses" in api
    functional = _text(site / "api" / "functional" / "index.html")
    assert "mse_loss" in functional and "Mean squared error" in functional
    assert (site / "benchmarks" / "index.html").exists()
